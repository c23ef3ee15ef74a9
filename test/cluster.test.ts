/**
 * `gatehouse start --workers 2`, the real CLI as a child process, against a real upstream: connections are
 * spread over both workers (each access line says which worker served it); a rate limit of 10 lets exactly
 * 10 of 50 concurrent requests through although both workers serve them (the primary holds the counters);
 * /metrics counts every worker's requests; a config edit reaches both workers; a rolling restart
 * (`gatehouse reload`) under continuous traffic fails no request and keeps the counters; a worker killed with
 * SIGKILL under traffic is replaced, failing at most the requests in flight; SIGTERM drains a slow request
 * and stops everything with exit 0.
 *
 * Clients open a new connection per request (agent: false): a keep-alive connection belongs to one worker,
 * and a connection closed by a worker that is stopping, between two requests, is a client retry, not a lost
 * request.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUpstream, type Upstream } from './helpers/upstream.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repo, 'bin', 'gatehouse.js');
/** Requests a client loop keeps in flight. */
const CONCURRENCY = 4;

type Line = Record<string, unknown>;

/** Cluster is a running `gatehouse start --workers 2` with its stdout parsed into lines. */
class Cluster {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly #waiters: { pred: (l: Line) => boolean; from: number; resolve: (l: Line) => void }[] = [];
  #buffer = '';
  stderr = '';

  constructor(file: string) {
    this.child = spawn(process.execPath, [bin, 'start', '-c', file, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => { this.stderr += c.toString(); });
    this.child.stdout!.on('data', (c: Buffer) => {
      this.#buffer += c.toString();
      let nl;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const text = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        // Workers share stdout: a line cut by another process's write is skipped, not fatal.
        try { this.lines.push(JSON.parse(text) as Line); } catch { continue; }
        const line = this.lines[this.lines.length - 1]!;
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
          if (this.#waiters[i]!.pred(line)) { this.#waiters[i]!.resolve(line); this.#waiters.splice(i, 1); }
        }
      }
    });
  }

  /** waitFor resolves with the first line at index `from` or later that matches `pred`. */
  waitFor(pred: (l: Line) => boolean, from = 0, timeoutMs = 15_000): Promise<Line> {
    const seen = this.lines.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a line; stderr: ${this.stderr}\nlast lines: ${JSON.stringify(this.lines.slice(-8))}`)), timeoutMs);
      this.#waiters.push({ pred, from, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  event(name: string, from = 0): Promise<Line> {
    return this.waitFor((l) => l.event === name, from);
  }

  access(from = 0): Line[] {
    return this.lines.slice(from).filter((l) => l.type === 'access');
  }
}

/** fetchStatus sends GET on a new connection; resolves with the status, or 0 when the request failed or timed out. */
function fetchStatus(url: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(timeoutMs, () => req.destroy());
  });
}

/** ClientLoop keeps CONCURRENCY requests in flight until stopped, counting outcomes. */
class ClientLoop {
  ok = 0;
  failed: number[] = [];
  inFlight = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(url: string) {
    const one = async (): Promise<void> => {
      while (this.#running) {
        this.inFlight++;
        // A connection the primary was handing to a worker as it was killed stays open (Node's cluster
        // module keeps its end) until the client gives up: a short timeout counts it failed, as it is.
        const status = await fetchStatus(url, 2000);
        this.inFlight--;
        if (status === 200) this.ok++;
        else this.failed.push(status);
      }
    };
    this.#done = Promise.all(Array.from({ length: CONCURRENCY }, one)).then(() => undefined);
  }

  /** until resolves once `n` more requests have succeeded. */
  async until(n: number): Promise<void> {
    const target = this.ok + n;
    while (this.ok < target) await new Promise((r) => setTimeout(r, 5));
  }

  stop(): Promise<void> {
    this.#running = false;
    return this.#done;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
  });
}

function countBy(lines: Line[], key: string): Map<unknown, number> {
  const m = new Map<unknown, number>();
  for (const l of lines) m.set(l[key], (m.get(l[key]) ?? 0) + 1);
  return m;
}

describe('gatehouse start --workers 2', () => {
  let upstream: Upstream;
  let cluster: Cluster;
  let file = '';
  let url = '';
  let adminUrl = '';
  const config = (extraRoute: string): string => `listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 5s }
admin: { port: ${adminPort} }
services:
  api: { targets: ["${upstream.url}"] }
routes:
  - name: free
    match: { path: /free }
    service: api
  - name: slow
    match: { path: /slow }
    service: api
  - name: limited
    match: { path: /limited }
    service: api
    rate-limit: { limit: 10, per: 1h, by: ip }
${extraRoute}`;
  let adminPort = 0;

  before(async () => {
    upstream = await startUpstream('api', (req, res) => {
      const send = (): void => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); };
      if (req.url === '/slow') setTimeout(send, 400);
      else send();
    });
    adminPort = await freePort();
    file = join(mkdtempSync(join(tmpdir(), 'gatehouse-workers-')), 'gatehouse.yaml');
    writeFileSync(file, config(''));
    cluster = new Cluster(file);
    await cluster.event('cluster_started');
    url = (await cluster.event('started')).url as string;
    adminUrl = `http://127.0.0.1:${adminPort}`;
  });

  after(async () => {
    if (cluster.child.exitCode === null) cluster.child.kill('SIGKILL');
    await upstream.close();
  });

  test('connections are spread over both workers', async () => {
    const from = cluster.lines.length;
    for (let i = 0; i < 20; i++) assert.equal(await fetchStatus(`${url}/free`), 200);
    await cluster.waitFor(() => cluster.access(from).filter((l) => l.route === 'free').length === 20, from);
    const byWorker = countBy(cluster.access(from).filter((l) => l.route === 'free'), 'worker');
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2]);
    for (const n of byWorker.values()) assert.ok(n >= 5, `spread: ${JSON.stringify([...byWorker])}`);
  });

  test('a limit of 10 lets exactly 10 of 50 concurrent requests through, across both workers', async () => {
    const from = cluster.lines.length;
    const statuses = await Promise.all(Array.from({ length: 50 }, () => fetchStatus(`${url}/limited`)));
    assert.equal(statuses.filter((s) => s === 200).length, 10);
    assert.equal(statuses.filter((s) => s === 429).length, 40);
    await cluster.waitFor(() => cluster.access(from).filter((l) => l.route === 'limited').length === 50, from);
    // Both workers answered some of them: the count is shared, not per worker.
    assert.deepEqual([...countBy(cluster.access(from).filter((l) => l.route === 'limited'), 'worker').keys()].sort(), [1, 2]);
  });

  test('/metrics counts the requests of every worker', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      get(`${adminUrl}/metrics`, { agent: false }, (res) => { let body = ''; res.on('data', (c: Buffer) => { body += c.toString(); }); res.on('end', () => resolve(body)); }).on('error', reject);
    });
    assert.match(text, /gatehouse_requests_total\{route="free",service="api",method="GET",status_class="2xx"\} 20\n/);
    assert.match(text, /gatehouse_rate_limit_rejections_total\{route="limited",kind="rate"\} 40\n/);
    assert.match(text, /gatehouse_store_up 1\n/);
  });

  test('a config edit is hot-reloaded by every worker', async () => {
    const from = cluster.lines.length;
    writeFileSync(file, config('  - name: added\n    match: { path: /added }\n    service: api\n'));
    await cluster.waitFor((l) => l.event === 'config_reloaded' && l.worker === 1, from);
    await cluster.waitFor((l) => l.event === 'config_reloaded' && l.worker === 2, from);
    for (let i = 0; i < 6; i++) assert.equal(await fetchStatus(`${url}/added`), 200);
  });

  test('gatehouse reload restarts the workers one at a time without failing a request; the counters survive', async () => {
    const from = cluster.lines.length;
    const loop = new ClientLoop(`${url}/free`);
    await loop.until(20);
    const r = spawnSync(process.execPath, [bin, 'reload', '-c', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sent SIGHUP to gatehouse \(pid \d+\)/);
    await cluster.event('rolling_restart_done', from);
    await loop.until(20);
    await loop.stop();
    assert.deepEqual(loop.failed, []);
    assert.equal(cluster.lines.slice(from).filter((l) => l.event === 'worker_ready').length, 2);
    await cluster.waitFor(() => cluster.lines.slice(from).filter((l) => l.event === 'worker_stopped').length === 2, from);
    // New workers, same store: the limit is still used up.
    assert.equal(await fetchStatus(`${url}/limited`), 429);
  });

  test('a worker killed under traffic is replaced; only requests in flight on it fail', async () => {
    const from = cluster.lines.length;
    const ready = cluster.lines.filter((l) => l.event === 'worker_ready' && l.worker === 2);
    const victim = ready[ready.length - 1]!.pid as number;
    const loop = new ClientLoop(`${url}/free`);
    await loop.until(20);
    process.kill(victim, 'SIGKILL');
    const exited = await cluster.event('worker_exited', from);
    assert.equal(exited.pid, victim);
    const replaced = await cluster.waitFor((l) => l.event === 'worker_ready' && l.worker === 2, from);
    assert.notEqual(replaced.pid, victim);
    const after = cluster.lines.length;
    await loop.until(40);
    await loop.stop();
    assert.ok(loop.failed.length <= CONCURRENCY, `failed: ${JSON.stringify(loop.failed)}`);
    assert.ok(loop.failed.every((s) => s === 0), 'failures are dropped connections, never an error answer');
    // The replacement serves.
    assert.ok(cluster.access(after).some((l) => l.worker === 2), 'the new worker 2 serves');
  });

  test('SIGTERM drains a request in flight, stops every worker and exits 0', async () => {
    const from = cluster.lines.length;
    const slow = fetchStatus(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    const code = new Promise<number | null>((resolve) => { cluster.child.on('exit', (c) => resolve(c)); });
    cluster.child.kill('SIGTERM');
    assert.equal(await slow, 200);
    assert.equal(await code, 0);
    assert.equal(cluster.lines.slice(from).filter((l) => l.event === 'worker_stopped').length, 2);
    assert.ok(cluster.lines.some((l) => l.event === 'stopped' && l.worker === undefined), 'the primary logged its stop');
    assert.equal(existsSync(join(file, '..', '.gatehouse.pid')), false, 'the pid file is removed');
  });
});
