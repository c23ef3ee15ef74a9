/**
 * Rate limits through the real gateway, with the memory store and with the real Redis: exact counts under
 * concurrency, window rollover on an injected clock, two limits combined, the IETF headers' remaining
 * counts, plan limits, legacy headers, and bypass attempts (path variants, rotating X-Forwarded-For from an
 * untrusted client) that must all land on one counter.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, rawRequest } from './helpers/http.js';
import { parseRaw, assertProblem } from './helpers/raw.js';
import { needRedis, REDIS_URL, uniquePrefix, dropPrefix } from './helpers/redis.js';

/** A hand-driven wall clock, starting on a whole minute so window arithmetic in the tests is simple. */
class TestClock {
  t = Date.UTC(2026, 10, 22, 10, 0, 0);
  readonly now = (): number => this.t;
}

const STORES = [
  { name: 'memory', yaml: (_p: string) => 'store: memory' },
  { name: 'redis', yaml: (p: string) => `store: { redis: { url: "${REDIS_URL}", keyPrefix: "${p}", timeout: 5s } }` },
] as const;

let upstream: Upstream;
const prefixes: string[] = [];

after(async () => {
  await upstream?.close();
  for (const p of prefixes) await dropPrefix(p);
});

async function gateway(store: (typeof STORES)[number], body: string, clock?: TestClock): Promise<TestGateway> {
  upstream ??= await startUpstream('api');
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return startTestGateway(`${store.yaml(prefix)}
services:
  api: { targets: ["${upstream.url}"] }
${body}`, clock ? { wallClock: clock.now } : {});
}

function get(gw: TestGateway, path = '/api/x', headers: Record<string, string> = {}) {
  return request(gw.url + path, { headers });
}

for (const store of STORES) {
  describe(`rate limits (${store.name} store)`, () => {
    test('50 concurrent requests against a limit of 10 let exactly 10 through', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const gw = await gateway(store, `routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 10, per: 1h, by: route } }
`);
      try {
        const before = upstream.received.length;
        const replies = await Promise.all(Array.from({ length: 50 }, () => get(gw)));
        const ok = replies.filter((r) => r.status === 200);
        const limited = replies.filter((r) => r.status === 429);
        assert.equal(ok.length, 10);
        assert.equal(limited.length, 40);
        assert.equal(upstream.received.length - before, 10, 'only the allowed requests reach the upstream');
        for (const r of limited) {
          assertProblem(r, 429, 'GH_RATE_LIMITED');
          assert.match(String(r.headers['retry-after']), /^\d+$/);
          assert.equal(r.headers['ratelimit-policy'], '"10-per-1h";q=10;w=3600');
          assert.match(String(r.headers.ratelimit), /^"10-per-1h";r=0;t=\d+$/);
        }
        const remaining = ok.map((r) => Number(/r=(\d+)/.exec(String(r.headers.ratelimit))![1])).sort((a, b) => a - b);
        assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each allowed request saw its own remaining count');
      } finally {
        await gw.close();
      }
    });

    test('a fixed window rolls over exactly at its end; Retry-After says when', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const clock = new TestClock();
      const gw = await gateway(store, `routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 3, per: 10s, algorithm: fixed-window, by: ip } }
`, clock);
      try {
        clock.t += 2_500;
        for (let i = 0; i < 3; i++) assert.equal((await get(gw)).status, 200);
        const denied = await get(gw);
        assertProblem(denied, 429, 'GH_RATE_LIMITED');
        assert.equal(denied.headers['retry-after'], '8', '7.5 s left in the window, rounded up');
        assert.equal(denied.headers.ratelimit, '"3-per-10s";r=0;t=8');
        clock.t += 7_499; // 1 ms before the window ends
        assert.equal((await get(gw)).status, 429);
        clock.t += 1; // the next window
        const fresh = await get(gw);
        assert.equal(fresh.status, 200);
        assert.equal(fresh.headers.ratelimit, '"3-per-10s";r=2;t=10');
      } finally {
        await gw.close();
      }
    });

    test('a sliding window lets requests back in as the previous window fades', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const clock = new TestClock();
      const gw = await gateway(store, `routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 4, per: 10s, by: ip } }
`, clock);
      try {
        for (let i = 0; i < 4; i++) assert.equal((await get(gw)).status, 200);
        clock.t += 10_000; // next window: the previous 4 still weigh 4 x (10 - 0) / 10 = 4
        assert.equal((await get(gw)).status, 429);
        clock.t += 2_500; // weight 4 x 0.75 = 3: one request fits
        assert.equal((await get(gw)).status, 200);
        assert.equal((await get(gw)).status, 429);
        clock.t += 7_500; // the old window is gone; 1 counted in the (now previous) window, weight 1
        assert.equal((await get(gw)).status, 200);
      } finally {
        await gw.close();
      }
    });

    test('two limits on one route combine, and the headers carry both remaining counts', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const clock = new TestClock();
      const gw = await gateway(store, `routes:
  - name: api
    match: { path: /api/* }
    service: api
    rate-limit:
      - { limit: 3, per: 1s, algorithm: fixed-window, by: ip }
      - { limit: 5, per: 1m, algorithm: fixed-window, by: ip, name: minute }
`, clock);
      try {
        const seen: string[] = [];
        for (let i = 0; i < 3; i++) seen.push(String((await get(gw)).headers.ratelimit));
        assert.deepEqual(seen, [
          '"3-per-1s";r=2;t=1, "minute";r=4;t=60',
          '"3-per-1s";r=1;t=1, "minute";r=3;t=60',
          '"3-per-1s";r=0;t=1, "minute";r=2;t=60',
        ]);
        const bySecond = await get(gw);
        assert.equal(bySecond.status, 429, 'the per-second limit refuses');
        assert.equal(bySecond.headers['ratelimit-policy'], '"3-per-1s";q=3;w=1, "minute";q=5;w=60');
        clock.t += 1_000;
        assert.equal((await get(gw)).status, 200);
        const last = await get(gw);
        assert.equal(last.status, 200);
        assert.equal(last.headers.ratelimit, '"3-per-1s";r=1;t=1, "minute";r=0;t=59');
        const byMinute = await get(gw);
        assert.equal(byMinute.status, 429, 'the per-minute limit refuses though the second has room');
        assert.equal(byMinute.headers['retry-after'], '59');
        clock.t += 59_000;
        assert.equal((await get(gw)).status, 200);
      } finally {
        await gw.close();
      }
    });

    test('path variants and rotating X-Forwarded-For from an untrusted client are one key', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const gw = await gateway(store, `routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 5, per: 1h, by: ip } }
`);
      try {
        const variants = ['/api/x', '//api/x', '/api/./x', '/api/y/../x', '/api/x/', '/api/%78', '/api/x?a=1', '/api//x'];
        let ok = 0;
        for (let i = 0; i < 16; i++) {
          const path = variants[i % variants.length]!;
          const raw = parseRaw(await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.${i}.${i}\r\nX-Real-IP: 10.1.${i}.1\r\nConnection: close\r\n\r\n`));
          if (raw.status === 200) ok++;
          else assert.equal(raw.status, 429, `${path}: ${raw.status}`);
        }
        assert.equal(ok, 5, 'every variant from the same socket address shares one counter');
      } finally {
        await gw.close();
      }
    });

    test('plan limits replace the route\'s, per consumer; legacy headers where configured', async (t) => {
      if (store.name === 'redis' && !(await needRedis(t))) return;
      const gw = await gateway(store, `plans:
  gold: { rate-limit: { limit: 4, per: 1h, legacyHeaders: true } }
consumers:
  acme: { plan: gold, keys: ["sha256:${sha('gh_test_acme_0123456789')}"] }
  bob: { keys: ["sha256:${sha('gh_test_bob_0123456789')}"] }
  carol: { plan: gold, keys: ["sha256:${sha('gh_test_carol_0123456789')}"] }
auth:
  key: { apiKey: { format: any } }
routes:
  - { name: api, match: { path: /api/* }, service: api, auth: [key], rate-limit: { limit: 2, per: 1h } }
`);
      try {
        const run = async (key: string, n: number): Promise<number[]> => {
          const out: number[] = [];
          for (let i = 0; i < n; i++) out.push((await get(gw, '/api/x', { 'x-api-key': key })).status);
          return out;
        };
        assert.deepEqual(await run('gh_test_bob_0123456789', 3), [200, 200, 429], 'no plan: the route\'s 2 per hour');
        assert.deepEqual(await run('gh_test_acme_0123456789', 5), [200, 200, 200, 200, 429], 'gold: the plan\'s 4 per hour');
        const carol = await get(gw, '/api/x', { 'x-api-key': 'gh_test_carol_0123456789' });
        assert.equal(carol.status, 200, 'each consumer has a counter of its own');
        assert.equal(carol.headers['x-ratelimit-limit'], '4');
        assert.equal(carol.headers['x-ratelimit-remaining'], '3');
        assert.match(String(carol.headers['x-ratelimit-reset']), /^\d+$/);
        assert.equal(carol.headers['ratelimit-policy'], '"4-per-1h";q=4;w=3600');
        const bob = await get(gw, '/api/x', { 'x-api-key': 'gh_test_bob_0123456789' });
        assert.equal(bob.headers['x-ratelimit-limit'], undefined, 'the route\'s own limit has no legacy headers');
      } finally {
        await gw.close();
      }
    });
  });
}

import { createHash } from 'node:crypto';
function sha(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

describe('rate limits: reloads, upstream headers, IPv6', () => {
  test('a reload that changes only metering keeps the counters; the upstream\'s own limit headers never reach the client', async () => {
    upstream ??= await startUpstream('api');
    const own = await startUpstream('own', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', ratelimit: '"up";r=999;t=1', 'ratelimit-policy': '"up";q=999;w=1', 'x-ratelimit-remaining': '999' });
      res.end('ok');
    });
    const yaml = (flush: string) => `metering: { flushInterval: ${flush} }
services:
  api: { targets: ["${own.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 3, per: 1h, by: route } }
`;
    const gw = await startTestGateway(yaml('1s'));
    try {
      const first = await get(gw);
      assert.match(String(first.headers.ratelimit), /^"3-per-1h";r=2;t=\d+$/);
      assert.equal(first.headers['ratelimit-policy'], '"3-per-1h";q=3;w=3600');
      assert.equal(first.headers['x-ratelimit-remaining'], undefined);
      assert.equal((await get(gw)).status, 200);
      gw.writeConfig(yaml('2s'));
      assert.equal(await gw.reload(), true);
      assert.equal((await get(gw)).status, 200);
      assert.equal((await get(gw)).status, 429, 'the count survived the reload');
    } finally {
      await gw.close();
      await own.close();
    }
  });

  test('IPv6 clients are counted by their /64', async () => {
    const { ipKey } = await import('../src/features/rate-limit/limits.js');
    assert.equal(ipKey('203.0.113.9'), '203.0.113.9');
    assert.equal(ipKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), ipKey('2001:db8:0:1::1'));
    assert.notEqual(ipKey('2001:db8:0:1::1'), ipKey('2001:db8:0:2::1'));
    assert.equal(ipKey('2001:db8::1'), '2001:db8:0:0::/64');
  });
});
