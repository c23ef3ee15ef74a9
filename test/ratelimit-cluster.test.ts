/**
 * Three Gatehouse processes (the real CLI) sharing one real Redis: a limit of 10 holds exactly across them
 * under 50 concurrent requests; usage metered by all three adds up exactly to the requests sent (flushed at
 * graceful shutdown), as `gatehouse usage` reads it; and `gatehouse statement` prices it by a tiered plan to
 * the total computed by hand.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { request } from './helpers/http.js';
import { needRedis, REDIS_URL, uniquePrefix, dropPrefix } from './helpers/redis.js';
import { calendarPeriod } from '../src/billing/calendar.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repo, 'bin', 'gatehouse.js');

interface Instance { child: ChildProcess; url: string; out: () => string }

/** startInstance runs `gatehouse start` and resolves with the URL it prints. */
function startInstance(file: string): Promise<Instance> {
  // --workers 1: three single processes, each counting in Redis (not one machine's cluster).
  const child = spawn(process.execPath, [bin, 'start', '-c', file, '--no-watch', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no listening line within 20 s: ${out}`)); }, 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/[0-9.:]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1]!, out: () => out }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gatehouse exited with ${code}: ${out}`)); });
  });
}

/** stop sends SIGTERM (graceful: the meter flushes) and waits for exit 0. */
function stop(i: Instance): Promise<number | null> {
  if (i.child.exitCode !== null) return Promise.resolve(i.child.exitCode);
  return new Promise((resolve) => { i.child.removeAllListeners('exit'); i.child.on('exit', (code) => resolve(code)); i.child.kill('SIGTERM'); });
}

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');

describe('three instances on one Redis', () => {
  let upstream: Upstream | undefined;
  let prefix = '';
  const instances: Instance[] = [];
  after(async () => {
    for (const i of instances) if (i.child.exitCode === null) i.child.kill('SIGKILL');
    await upstream?.close();
    if (prefix) await dropPrefix(prefix);
  });

  test('limits stay exact, usage adds up, and the statement prices it', { timeout: 90_000 }, async (t) => {
    if (!(await needRedis(t))) return;
    upstream = await startUpstream('api', (req, res) => {
      const status = req.url!.startsWith('/missing') ? 404 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
    prefix = uniquePrefix();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, `listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 5s }
store: { redis: { url: "${REDIS_URL}", keyPrefix: "${prefix}", timeout: 5s } }
metering: { flushInterval: 200ms }
plans:
  metered:
    timeZone: Europe/Berlin
    pricing:
      currency: EUR
      included: 10
      tiers:
        - { upTo: 20, perCall: "0.0125" }
        - { perCall: "0.004" }
      fee: "1.00"
consumers:
  acme: { plan: metered, keys: ["sha256:${sha('gh_test_acme_key')}"] }
auth:
  key: { apiKey: { format: any } }
services:
  api: { targets: ["${upstream.url}"] }
routes:
  - { name: limited, match: { path: /limited }, service: api, rate-limit: { limit: 10, per: 1h, by: route } }
  - { name: orders, match: { path: /orders }, service: api, auth: [key] }
  - { name: missing, match: { path: /missing }, service: api, auth: [key] }
`);
    const period = calendarPeriod(Date.now(), 'month', 'Europe/Berlin');
    instances.push(...await Promise.all([startInstance(file), startInstance(file), startInstance(file)]));

    // 50 concurrent requests spread over the three instances: exactly 10 pass.
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => request(`${instances[i % 3]!.url}/limited`)));
    const statuses = replies.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 40);

    // Usage through all three: 25 successful and 7 not-found calls by acme.
    const key = { 'x-api-key': 'gh_test_acme_key' };
    const calls = [
      ...Array.from({ length: 25 }, (_, i) => request(`${instances[i % 3]!.url}/orders`, { headers: key })),
      ...Array.from({ length: 7 }, (_, i) => request(`${instances[i % 3]!.url}/missing`, { headers: key })),
    ];
    const got = await Promise.all(calls);
    assert.equal(got.filter((r) => r.status === 200).length, 25);
    assert.equal(got.filter((r) => r.status === 404).length, 7);
    for (const i of instances) assert.equal(await stop(i), 0, i.out());

    const usage = spawnSync(process.execPath, [bin, 'usage', '-c', file, '--consumer', 'acme', '--from', new Date(period.start).toISOString(), '--json'], { encoding: 'utf8' });
    assert.equal(usage.status, 0, usage.stderr);
    const rows = JSON.parse(usage.stdout) as { route: string; status: string; count: number }[];
    const sum = (route: string, status: string): number => rows.filter((r) => r.route === route && r.status === status).reduce((a, r) => a + r.count, 0);
    assert.equal(sum('orders', '2xx'), 25);
    assert.equal(sum('missing', '4xx'), 7);
    assert.equal(rows.reduce((a, r) => a + r.count, 0), 32, 'nothing else was counted for acme');
    const anon = spawnSync(process.execPath, [bin, 'usage', '-c', file, '--consumer', '-', '--from', new Date(period.start).toISOString(), '--json'], { encoding: 'utf8' });
    const anonRows = JSON.parse(anon.stdout) as { route: string; status: string; count: number }[];
    assert.equal(anonRows.filter((r) => r.route === 'limited').reduce((a, r) => a + r.count, 0), 50, 'every request is metered, limited ones too');

    // 25 billable calls (404s are not billable by default): 10 included, 10 at 0.0125 (calls 11-20), 5 at
    // 0.004 (calls 21-25): 0.125 + 0.020 = 0.145 EUR, plus the 1.00 fee = 1.145, rounded half-up to 1.15.
    const st = spawnSync(process.execPath, [bin, 'statement', '-c', file, '--consumer', 'acme', '--period', period.id, '--json'], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    const statement = JSON.parse(st.stdout) as { totalMinor: number; total: string; currency: string; routes: { route: string; amountMinor: number }[]; fee: { amountMinor: number } };
    assert.equal(statement.currency, 'EUR');
    assert.equal(statement.totalMinor, 115);
    assert.equal(statement.total, '1.15');
    const lineSum = statement.routes.reduce((a, l) => a + l.amountMinor, 0) + statement.fee.amountMinor;
    assert.equal(lineSum, statement.totalMinor, 'the lines add up exactly to the total');
  });
});
