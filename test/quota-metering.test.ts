/**
 * Quotas and usage metering through the real gateway, with the memory store and the real Redis: a daily plan
 * quota that resets at local midnight in the plan's time zone and a monthly route quota at the month's end
 * (an injected clock), the quota's headers, and usage counted exactly per consumer x route x status class x
 * hour.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem } from './helpers/raw.js';
import { needRedis, REDIS_URL, uniquePrefix, dropPrefix } from './helpers/redis.js';

const STORES = [
  { name: 'memory', yaml: (_p: string) => 'store: memory' },
  { name: 'redis', yaml: (p: string) => `store: { redis: { url: "${REDIS_URL}", keyPrefix: "${p}", timeout: 5s } }` },
] as const;

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
let upstream: Upstream | undefined;
const prefixes: string[] = [];
after(async () => {
  await upstream?.close();
  for (const p of prefixes) await dropPrefix(p);
});

async function gateway(store: (typeof STORES)[number], body: string, clock: { now: () => number }): Promise<TestGateway> {
  upstream ??= await startUpstream('api', (req, res) => {
    const status = req.url!.includes('fail') ? 503 : req.url!.includes('gone') ? 404 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{}');
  });
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return startTestGateway(`${store.yaml(prefix)}
services:
  api: { targets: ["${upstream.url}"], passiveHealth: { failures: 1000 }, retries: 0 }
consumers:
  acme: { plan: daily, keys: ["sha256:${sha('gh_test_acme_0123456789')}"] }
  bob: { keys: ["sha256:${sha('gh_test_bob_0123456789')}"] }
auth:
  key: { apiKey: { format: any } }
${body}`, { wallClock: clock.now });
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'timed out waiting for the meter');
}

const acme = { 'x-api-key': 'gh_test_acme_0123456789' };
const bob = { 'x-api-key': 'gh_test_bob_0123456789' };

for (const store of STORES) {
  describe(`quotas and metering (${store.name} store)`, () => {
    test('a plan\'s daily quota resets at local midnight in the plan\'s time zone', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      // 23:59:58 in New York (EST, UTC-5) on 2026-11-22 is 04:59:58Z on the 23rd.
      const clock = { t: Date.parse('2026-11-23T04:59:58Z'), now: () => clock.t };
      const gw = await gateway(store, `plans:
  daily: { quota: { limit: 3, per: day }, timeZone: America/New_York }
routes:
  - { name: api, match: { path: /api/* }, service: api, auth: [key], quota: {} }
`, clock);
      try {
        const first = await request(`${gw.url}/api/x`, { headers: acme });
        assert.equal(first.status, 200);
        assert.equal(first.headers['ratelimit-policy'], '"quota";q=3;w=86400');
        assert.equal(first.headers.ratelimit, '"quota";r=2;t=2');
        for (let i = 0; i < 2; i++) assert.equal((await request(`${gw.url}/api/x`, { headers: acme })).status, 200);
        const spent = await request(`${gw.url}/api/x`, { headers: acme });
        assertProblem(spent, 429, 'GH_QUOTA_EXCEEDED');
        assert.equal(spent.json.resetAt, '2026-11-23T05:00:00.000Z', 'midnight in New York');
        assert.equal(spent.headers['retry-after'], '2');
        assert.match(spent.json.detail, /quota of 3 calls per day is spent/);
        assert.equal((await request(`${gw.url}/api/x`, { headers: bob })).status, 200, 'a caller without a plan quota is not limited');
        clock.t += 1_999;
        assert.equal((await request(`${gw.url}/api/x`, { headers: acme })).status, 429, '1 ms before midnight');
        clock.t += 1;
        const fresh = await request(`${gw.url}/api/x`, { headers: acme });
        assert.equal(fresh.status, 200, 'a new day, a new quota');
        assert.equal(fresh.headers.ratelimit, '"quota";r=2;t=86400');
      } finally {
        await gw.close();
      }
    });

    test('a route\'s monthly quota resets on the 1st; rate limit and quota headers appear together', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const clock = { t: Date.parse('2026-11-30T23:59:59Z'), now: () => clock.t };
      const gw = await gateway(store, `plans:
  daily: {}
routes:
  - name: api
    match: { path: /api/* }
    service: api
    auth: [key]
    quota: { limit: 2, per: month }
    rate-limit: { limit: 100, per: 1m }
`, clock);
      try {
        const r = await request(`${gw.url}/api/x`, { headers: bob });
        assert.equal(r.status, 200);
        assert.deepEqual(r.headers['ratelimit-policy'], ['"100-per-1m";q=100;w=60', '"quota";q=2;w=2592000']);
        assert.equal((await request(`${gw.url}/api/x`, { headers: bob })).status, 200);
        const spent = await request(`${gw.url}/api/x`, { headers: bob });
        assertProblem(spent, 429, 'GH_QUOTA_EXCEEDED');
        assert.equal(spent.json.resetAt, '2026-12-01T00:00:00.000Z');
        assert.equal((await request(`${gw.url}/api/x`, { headers: acme })).status, 200, 'quotas are per consumer');
        clock.t += 1_000;
        const december = await request(`${gw.url}/api/x`, { headers: bob });
        assert.equal(december.status, 200);
        assert.match(String(december.headers.ratelimit), /"quota";r=1;t=2678400/);
      } finally {
        await gw.close();
      }
    });

    test('usage is counted exactly per consumer x route x status class x hour', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const hour = Date.parse('2026-11-22T10:00:00Z');
      const clock = { t: hour + 59 * 60_000, now: () => clock.t };
      const gw = await gateway(store, `plans:
  daily: {}
routes:
  - { name: orders, match: { path: /orders/* }, service: api, auth: [key] }
  - { name: open, match: { path: /open/* }, service: api }
`, clock);
      try {
        const send = async (n: number, path: string, headers: Record<string, string> = {}): Promise<void> => {
          await Promise.all(Array.from({ length: n }, () => request(`${gw.url}${path}`, { headers })));
        };
        await send(7, '/orders/1', acme);
        await send(3, '/orders/gone', acme);
        await send(2, '/orders/fail', acme);
        await send(4, '/orders/1'); // no key: 401, counted under '-'
        await send(5, '/open/1', bob); // no auth on this route: the key is not checked, counted under '-'
        // Requests are counted when their response closes, which may come a moment after the client has read it.
        await waitFor(() => gw.counters.meter!.recorded === 21);
        clock.t += 60_000; // the next hour
        await send(6, '/orders/1', acme);
        await waitFor(() => gw.counters.meter!.recorded === 27);
        await gw.counters.meter!.flush();
        const rows = await gw.counters.store.readUsage('acme', hour, hour + 2 * 3_600_000);
        assert.deepEqual(rows.map((r) => [r.hour - hour, r.route, r.statusClass, r.count]), [
          [0, 'orders', 2, 7],
          [0, 'orders', 4, 3],
          [0, 'orders', 5, 2],
          [3_600_000, 'orders', 2, 6],
        ]);
        const anon = await gw.counters.store.readUsage('-', hour, hour + 3_600_000);
        assert.deepEqual(anon.map((r) => [r.route, r.statusClass, r.count]), [['open', 2, 5], ['orders', 4, 4]]);
      } finally {
        await gw.close();
      }
    });
  });
}
