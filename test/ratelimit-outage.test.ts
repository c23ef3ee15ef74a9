/**
 * Redis stopped mid-test, through the real gateway: with `failMode: closed` limited routes answer 503
 * `GH_STORE_UNAVAILABLE` and forward nothing; with `open` they serve unlimited. Either way the outage is
 * logged once, not per request, and when Redis comes back the limits are enforced again without a restart.
 * A private redis-server on a free port is stopped and started, so other tests keep the shared one.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem } from './helpers/raw.js';
import { needRedis, startPrivateRedis as startRedis, stopPrivateRedis as stopRedis } from './helpers/redis.js';

async function waitUntil(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

describe('Redis outage', () => {
  let upstream: Upstream | undefined;
  const servers: ChildProcess[] = [];
  after(async () => {
    for (const s of servers) await stopRedis(s);
    await upstream?.close();
  });

  for (const mode of ['closed', 'open'] as const) {
    test(`failMode ${mode}: the outage is handled, logged once, and Redis is used again when it returns`, { timeout: 60_000 }, async (t) => {
      if (!(await needRedis(t))) return;
      upstream ??= await startUpstream('api');
      const port = await freePort();
      let redis = await startRedis(port);
      servers.push(redis);
      const gw = await startTestGateway(`store: { redis: { url: "redis://127.0.0.1:${port}", failMode: ${mode}, timeout: 500ms } }
services:
  api: { targets: ["${upstream.url}"] }
routes:
  - { name: api, match: { path: /api/* }, service: api, rate-limit: { limit: 3, per: 1h, by: route } }
`);
      try {
        for (let i = 0; i < 3; i++) assert.equal((await request(`${gw.url}/api/x`)).status, 200);
        assert.equal((await request(`${gw.url}/api/x`)).status, 429);

        await stopRedis(redis);
        const before = upstream.received.length;
        const during = [];
        for (let i = 0; i < 10; i++) during.push(await request(`${gw.url}/api/x`));
        if (mode === 'closed') {
          for (const r of during) assertProblem(r, 503, 'GH_STORE_UNAVAILABLE');
          assert.equal(upstream.received.length, before, 'nothing is forwarded while limits cannot be checked');
        } else {
          for (const r of during) assert.equal(r.status, 200);
          assert.equal(upstream.received.length - before, 10);
          assert.equal(during[0]!.headers.ratelimit, undefined, 'no made-up counts while the store is away');
        }
        assert.equal(gw.logs.filter((l) => l.event === 'store_down').length, 1, 'one log line for the outage, not one per request');
        assert.equal(gw.counters.store.health.up, false);
        assert.equal(gw.counters.store.health.outages, 1);

        redis = await startRedis(port);
        servers.push(redis);
        // A fresh Redis has no counters: 3 more pass, then the limit holds again.
        await waitUntil(async () => (await request(`${gw.url}/api/x`)).headers.ratelimit !== undefined, 20_000, 'the limit to be enforced again');
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await request(`${gw.url}/api/x`)).status);
        assert.equal(statuses.filter((s) => s === 429).length >= 2, true, `after recovery the limit of 3 holds: ${statuses.join(',')}`);
        assert.equal(statuses.at(-1), 429);
        assert.equal(gw.logs.filter((l) => l.event === 'store_recovered').length, 1);
        assert.equal(gw.counters.store.health.up, true);
      } finally {
        await gw.close();
      }
    });
  }
});
