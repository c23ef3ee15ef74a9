/**
 * Access logs and the admin listener through the real gateway: a request's line carries every field and no
 * secret (the whole log output is searched for the key, the token, the cookie and a redacted query value);
 * sampling keeps errors and slow requests; a file destination; /healthz, /readyz and the admin token; and
 * readiness flipping when the store goes down and when a critical service loses its last target.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, rawRequest } from './helpers/http.js';
import { needRedis, startPrivateRedis, stopPrivateRedis } from './helpers/redis.js';

const KEY = 'gh_test_observability_key_0123456789';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl';
const COOKIE = 'session=cookie-secret-4242';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const sha = (k: string): string => createHash('sha256').update(k).digest('hex');

let upstream: Upstream;
after(async () => { await upstream?.close(); });

async function up(): Promise<Upstream> {
  upstream ??= await startUpstream('api', (req, res) => {
    const slow = req.url!.startsWith('/api/slow');
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('hello world'); }, slow ? 400 : 0);
  });
  return upstream;
}

async function settle(gw: TestGateway, n: number): Promise<void> {
  for (let i = 0; i < 300 && gw.access.length < n; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('access log', () => {
  test('one line per request with every field, and no secret anywhere in the output', async () => {
    const u = await up();
    const gw = await startTestGateway(`log: { access: { redactQuery: [token] } }
consumers:
  acme: { keys: ["sha256:${sha(KEY)}"] }
auth:
  key: { apiKey: { format: any, query: apikey } }
services:
  api: { targets: ["${u.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api, auth: [key], rate-limit: { limit: 100, per: 1m } }
`);
    try {
      const r = await request(`${gw.url}/api//orders/./7?token=${TOKEN}&page=2`, { method: 'POST', body: 'x'.repeat(123), headers: { 'x-api-key': KEY, authorization: `Bearer ${TOKEN}`, cookie: COOKIE } });
      assert.equal(r.status, 200);
      const viaQuery = await request(`${gw.url}/api/q?apikey=${KEY}`);
      assert.equal(viaQuery.status, 200);
      const denied = await request(`${gw.url}/api/x?apikey=not-a-valid-key-but-secret-ish`);
      assert.equal(denied.status, 401);
      await settle(gw, 3);
      assert.equal(gw.access.length, 3);
      const line = gw.access[0]!;
      assert.equal(line.type, 'access');
      assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T/);
      assert.equal(line.requestId, r.headers['x-request-id']);
      assert.equal(line.method, 'POST');
      assert.equal(line.path, '/api/orders/7', 'the normalized path');
      assert.equal(line.query, 'token=[REDACTED]&page=2');
      assert.equal(line.status, 200);
      assert.equal(line.route, 'api');
      assert.equal(line.service, 'api');
      assert.equal(line.target, u.url);
      assert.equal(line.consumer, 'acme');
      assert.equal(line.clientIp, '127.0.0.1');
      assert.equal(line.bytesIn, 123);
      assert.equal(line.bytesOut, 11);
      assert.equal(typeof line.durationMs, 'number');
      assert.equal(typeof line.upstreamMs, 'number');
      assert.ok((line.upstreamMs as number) <= (line.durationMs as number));
      assert.equal(line.attempts, 1);
      assert.equal(line.limit, 'allowed');
      assert.equal(line.cache, null);
      assert.equal(line.error, null);
      assert.equal(gw.access[1]!.query, undefined, 'the API key parameter is removed before logging');
      assert.equal(gw.access[2]!.error, 'GH_UNAUTHORIZED');
      assert.equal(gw.access[2]!.query, undefined, 'a refused key parameter is removed too');
      const everything = JSON.stringify(gw.access) + JSON.stringify(gw.logs);
      for (const secret of [KEY, TOKEN, 'cookie-secret-4242', 'not-a-valid-key-but-secret-ish']) assert.ok(!everything.includes(secret), `${secret} leaked into the logs`);
    } finally {
      await gw.close();
    }
  });

  test('sampling drops ordinary requests but keeps errors and slow ones; requests refused early are logged', async () => {
    const u = await up();
    const gw = await startTestGateway(`log: { access: { sample: 0, slow: 150ms } }
services:
  api: { targets: ["${u.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api }
`);
    try {
      for (let i = 0; i < 5; i++) assert.equal((await request(`${gw.url}/api/fast`)).status, 200);
      assert.equal((await request(`${gw.url}/nowhere`)).status, 404);
      assert.equal((await request(`${gw.url}/api/slow`)).status, 200);
      assert.equal((await request(`${gw.url}/api/%00`)).status, 400);
      await settle(gw, 3);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(gw.access.map((l) => [l.status, l.route, l.slow ?? false, l.error]), [
        [404, null, false, 'GH_ROUTE_NOT_FOUND'],
        [200, 'api', true, null],
        [400, null, false, 'GH_BAD_PATH_ENCODING'],
      ]);
      assert.equal(gw.access[2]!.path, '', 'a refused target is not logged');
    } finally {
      await gw.close();
    }
  });

  test('requests the HTTP parser refuses, and CONNECT, are logged too', async () => {
    const u = await up();
    const gw = await startTestGateway(`services:
  api: { targets: ["${u.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api }
`);
    try {
      const bad = await rawRequest(gw.port, 'GET /api/x HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n');
      assert.match(bad, /^HTTP\/1\.1 400/);
      const connect = await rawRequest(gw.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      assert.match(connect, /^HTTP\/1\.1 405/);
      await settle(gw, 2);
      assert.deepEqual(gw.access.map((l) => [l.method, l.status, l.error, l.path, l.route]), [
        ['-', 400, 'GH_BAD_REQUEST', '', null],
        ['CONNECT', 405, 'GH_METHOD_NOT_ALLOWED', '', null],
      ]);
      assert.ok((gw.access[0]!.bytesOut as number) > 0);
    } finally {
      await gw.close();
    }
  });

  test('to a file', async () => {
    const u = await up();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-access-'));
    const file = join(dir, 'logs', 'access.log');
    const gw = await startTestGateway(`log: { access: { file: "${file}" } }
services:
  api: { targets: ["${u.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api }
`);
    for (let i = 0; i < 3; i++) await request(`${gw.url}/api/f${i}`);
    // Lines are written in chunks, and at least once a second: a quiet gateway's lines arrive while it runs.
    const read = (): string => { try { return readFileSync(file, 'utf8'); } catch { return ''; } };
    for (let i = 0; i < 60 && read().split('\n').length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(read().split('\n').length, 4, 'three lines within three seconds, before shutdown');
    await gw.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.path), ['/api/f0', '/api/f1', '/api/f2']);
    assert.equal(gw.access.length, 0, 'nothing on stdout');
  });
});

test('an access log path that cannot be written refuses to start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-access-'));
  await assert.rejects(startTestGateway(`log: { access: { file: "${dir}" } }
services:
  api: { targets: ["http://127.0.0.1:9"] }
routes: []
`), /EISDIR/);
});

describe('admin listener', () => {
  test('healthz, readyz, and the token on everything else', async () => {
    const u = await up();
    const gw = await startTestGateway(`admin: { host: 127.0.0.1, port: 0, token: ${ADMIN_TOKEN} }
services:
  api: { targets: ["${u.url}"], critical: true }
routes:
  - { name: api, match: { path: /api/* }, service: api }
`);
    try {
      assert.ok(gw.adminUrl);
      const h = await request(`${gw.adminUrl}/healthz`);
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'ok' });
      const r = await request(`${gw.adminUrl}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(r.json.ready, true);
      assert.equal(r.json.checks.shutdown, false);
      assert.deepEqual(r.json.checks.services.api, { critical: true, available: 1, targets: 1 });
      // With the default failMode (open) a store outage is reported but does not make the gateway unready.
      const { readiness } = await import('../src/admin/server.js');
      const down = { store: { health: { up: false, outages: 1 } }, failMode: 'open' } as unknown as Parameters<typeof readiness>[1];
      assert.equal(readiness(gw.gateway.runtime, down).ready, true);
      assert.equal(readiness(gw.gateway.runtime, down).checks.store, 'down');
      assert.equal(readiness(gw.gateway.runtime, { ...down, failMode: 'closed' } as typeof down).ready, false);
      assert.equal(readiness(gw.gateway.runtime, gw.counters, true).ready, false, 'not ready while draining');
      const m = await request(`${gw.adminUrl}/metrics`);
      assert.equal(m.status, 401);
      assert.equal(m.headers['content-type'], 'application/problem+json');
      const wrong = await request(`${gw.adminUrl}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } });
      assert.equal(wrong.status, 401);
      const post = await request(`${gw.adminUrl}/healthz`, { method: 'POST' });
      assert.equal(post.status, 405);
      // Metrics through the admin listener, with the token: the requests just sent are counted.
      for (let i = 0; i < 3; i++) assert.equal((await request(`${gw.url}/api/m`)).status, 200);
      assert.equal((await request(`${gw.url}/nowhere`)).status, 404);
      await new Promise((res) => setTimeout(res, 50));
      const text = (await request(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body;
      assert.match(text, /gatehouse_requests_total\{route="api",service="api",method="GET",status_class="2xx"\} 3/);
      assert.match(text, /gatehouse_requests_total\{route="-",service="-",method="GET",status_class="4xx"\} 1/);
      assert.match(text, /gatehouse_upstream_target_healthy\{service="api",target="[^"]+"\} 1/);
      assert.match(text, /process_cpu_user_seconds_total/);
    } finally {
      await gw.close();
    }
  });

  test('an admin listener off loopback needs a token', async () => {
    await assert.rejects(startTestGateway(`admin: { host: 0.0.0.0, port: 0 }
services:
  api: { targets: ["http://127.0.0.1:9"] }
routes: []
`), /admin\.token: is required when admin\.host is not a loopback address/);
  });

  test('readiness: a critical service with no available target is not ready', async () => {
    const dead = await freePort();
    const gw = await startTestGateway(`admin: { port: 0 }
services:
  api: { targets: ["http://127.0.0.1:${dead}"], critical: true, healthCheck: { path: /health, interval: 100ms, unhealthy: 1 } }
  extra: { targets: ["http://127.0.0.1:${dead}"], healthCheck: { path: /health, interval: 100ms, unhealthy: 1 } }
routes:
  - { name: api, match: { path: /api/* }, service: api }
`);
    try {
      let r = await request(`${gw.adminUrl}/readyz`);
      for (let i = 0; i < 100 && r.status === 200; i++) { await new Promise((res) => setTimeout(res, 50)); r = await request(`${gw.adminUrl}/readyz`); }
      assert.equal(r.status, 503);
      assert.equal(r.json.ready, false);
      assert.deepEqual(r.json.checks.services.api, { critical: true, available: 0, targets: 1 });
      assert.equal(r.json.checks.services.extra.critical, false);
    } finally {
      await gw.close();
    }
  });

  test('readiness flips when the store goes down and back when it returns', { timeout: 60_000 }, async (t) => {
    if (!(await needRedis(t))) return;
    const port = await freePort();
    const startRedis = (): Promise<ChildProcess> => startPrivateRedis(port);
    const kill = stopPrivateRedis;
    let redis = await startRedis();
    const u = await up();
    const gw = await startTestGateway(`admin: { port: 0 }
store: { redis: { url: "redis://127.0.0.1:${port}", timeout: 300ms, failMode: closed } }
services:
  api: { targets: ["${u.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 100, per: 1m } }
`);
    const ready = async (): Promise<number> => (await request(`${gw.adminUrl}/readyz`)).status;
    const until = async (status: number): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        // A request through a limited route is what notices an outage soonest; readiness reads the store's health.
        await request(`${gw.url}/api/x`);
        if ((await ready()) === status) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`readiness never became ${status}`);
    };
    try {
      assert.equal(await ready(), 200);
      await kill(redis);
      await until(503);
      const body = (await request(`${gw.adminUrl}/readyz`)).json;
      assert.equal(body.checks.store, 'down');
      redis = await startRedis();
      await until(200);
      // A Redis that hangs without closing its connection, and no limited request to notice: the probe asks.
      redis.kill('SIGSTOP');
      try {
        let status = 200;
        for (let i = 0; i < 100 && status === 200; i++) { await new Promise((r) => setTimeout(r, 100)); status = await ready(); }
        assert.equal(status, 503, 'readiness pings the store itself');
      } finally {
        redis.kill('SIGCONT');
      }
      for (let i = 0; i < 200 && (await ready()) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await ready(), 200);
    } finally {
      await gw.close();
      await kill(redis);
    }
  });
});
