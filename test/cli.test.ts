/**
 * The gatehouse command as users run it: exit codes and output of validate, routes, schema, --version,
 * --help, and start printing where it listens.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/http.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repo, 'bin', 'gatehouse.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: repo });
const tmp = (text: string): string => {
  const f = join(mkdtempSync(join(tmpdir(), 'gatehouse-cli-')), 'gatehouse.yaml');
  writeFileSync(f, text);
  return f;
};

describe('gatehouse CLI', () => {
  test('--version and --help', () => {
    const v = run('--version');
    assert.equal(v.status, 0);
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    assert.equal(v.stdout.trim(), `gatehouse ${pkg.version}`);
    const h = run('--help');
    assert.equal(h.status, 0);
    for (const cmd of ['start', 'validate', 'routes', 'schema', 'demo']) assert.match(h.stdout, new RegExp(`gatehouse ${cmd}`));
    assert.equal(run().status, 2);
    assert.equal(run('frobnicate').status, 2);
  });

  test('validate: exit 0 on the bundled example, 1 with every problem on a bad config', () => {
    const ok = run('validate', '-c', 'examples/gatehouse.yaml');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /valid \(3 routes, 2 services\)/);
    const bad = run('validate', '-c', tmp('services:\n  a: { targets: [http://127.0.0.1:1], balnce: random }\nroutes:\n  - name: a\n    match: { path: x }\n    service: b\n'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /2 problems/);
    assert.match(bad.stderr, /services\.a: unknown key "balnce" \(did you mean "balance"\?\) \(gatehouse\.yaml:2\)/);
    assert.match(bad.stderr, /routes\[0\]\.match\.path: must start with \/ \(gatehouse\.yaml:5\)/);
    const missing = run('validate', '-c', '/nonexistent/gatehouse.yaml');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /file not found/);
  });

  test('validate warns about routes that can never match', () => {
    const r = run('validate', '-c', tmp('services:\n  a: { targets: [http://127.0.0.1:1] }\nroutes:\n  - name: all\n    match: { path: /api/* }\n    service: a\n    priority: 1\n  - name: users\n    match: { path: /api/users }\n    service: a\n'));
    assert.equal(r.status, 0);
    assert.match(r.stdout, /warning: routes\[1\] "users" can never match: every request it matches is taken first by routes\[0\] "all" \(gatehouse\.yaml:8\)/);
  });

  test('routes prints the table in match order, as text and JSON', () => {
    const r = run('routes', '-c', 'examples/gatehouse.yaml');
    assert.equal(r.status, 0);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^ORDER\s+NAME\s+PRIORITY\s+HOST\s+METHODS\s+PATH/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[1]), ['orders', 'users-v2', 'users']);
    const j = run('routes', '-c', 'examples/gatehouse.yaml', '--json');
    assert.deepEqual((JSON.parse(j.stdout) as { name: string }[]).map((x) => x.name), ['orders', 'users-v2', 'users']);
  });

  test('schema prints a JSON Schema that documents keys', () => {
    const r = run('schema');
    assert.equal(r.status, 0);
    const s = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    assert.match(s.$schema, /json-schema\.org/);
    assert.deepEqual(Object.keys(s.properties).sort(), ['$schema', 'admin', 'auth', 'consumers', 'defaults', 'limits', 'listen', 'log', 'metering', 'metrics', 'plans', 'routes', 'routing', 'services', 'store', 'tracing', 'trustedProxies']);
  });

  test('start prints where it listens and serves; SIGTERM exits 0', async () => {
    const up = await startUpstream('cli');
    const file = tmp(`listen: { host: 127.0.0.1, port: 0 }\nservices:\n  a: { targets: ["${up.url}"] }\nroutes:\n  - name: a\n    match: { path: /* }\n    service: a\n`);
    const child = spawn(process.execPath, [bin, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/[0-9.:]+) \(1 route, 1 service\)/.exec(out);
        if (m) { clearTimeout(t); resolve(m[1]!); }
      });
    });
    const r = await request(`${url}/hello`);
    assert.equal(r.json.url, '/hello');
    const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve); child.kill('SIGTERM'); });
    assert.equal(code, 0);
    await up.close();
  });

  test('SIGHUP reloads the config file; a bad one is refused and the old one keeps serving', async () => {
    const up = await startUpstream('hup');
    const cfg = (path: string) => `listen: { host: 127.0.0.1, port: 0 }\nservices:\n  a: { targets: ["${up.url}"] }\nroutes:\n  - name: a\n    match: { path: ${path} }\n    service: a\n`;
    const file = tmp(cfg('/one'));
    // --no-watch: only the signal can have reloaded it. --workers 1: one process, where SIGHUP is a hot reload
    // (a cluster's primary answers it with a rolling restart: test/cluster.test.ts).
    const child = spawn(process.execPath, [bin, 'start', '-c', file, '--no-watch', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const waitFor = (re: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${out}`)), 10_000);
      const check = (): void => { const m = re.exec(out); if (m) { clearTimeout(t); child.stdout.off('data', onData); resolve(m); } };
      const onData = (c: Buffer): void => { out += c.toString(); check(); };
      child.stdout.on('data', onData);
      check();
    });
    try {
      const url = (await waitFor(/listening on (http:\/\/[0-9.:]+)/))[1]!;
      assert.equal((await request(`${url}/one`)).status, 200);
      writeFileSync(file, cfg('/two'));
      child.kill('SIGHUP');
      await waitFor(/"event":"config_reloaded"/);
      assert.equal((await request(`${url}/two`)).status, 200);
      assert.equal((await request(`${url}/one`)).status, 404);
      writeFileSync(file, cfg('no-slash'));
      child.kill('SIGHUP');
      await waitFor(/"event":"reload_refused"/);
      assert.equal((await request(`${url}/two`)).status, 200);
    } finally {
      await new Promise<void>((resolve) => { child.on('exit', () => resolve()); child.kill('SIGTERM'); });
      await up.close();
    }
  });

  test('start refuses a bad config with exit 1 and the problems on stderr', () => {
    const r = run('start', '-c', tmp('routes:\n  - name: x\n    match: { path: /x }\n    service: ghost\n'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /routes\[0\]\.service: unknown service "ghost" \(gatehouse\.yaml:4\)/);
  });
});
