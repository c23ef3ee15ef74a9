/**
 * Three gateways on one private Redis, everything at once (issue 9): limits exact across the three, a response
 * cache shared by them, an admin change through one applied by all within a second; then Redis is killed
 * (SIGKILL) and started again on the same port while a client keeps sending to all three. With `failMode:
 * open` they keep serving (the limited route unlimited, the cache falling back to the upstream); when Redis
 * is back they use it again without a restart (limits, cache, a second config change), and the usage Redis
 * holds adds up exactly to the answers clients got, those served during the outage included (the meter keeps
 * its counts and resends its batch until Redis takes it).
 *
 * The private Redis keeps an append-only file fsynced on every write (`appendfsync always`), as a Redis that
 * holds usage and the config would in production, so the crash loses nothing Redis acknowledged. (One started
 * empty would lose the usage and the config stored before the crash, which no gateway can make exact.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, freePort } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { header } from './helpers/raw.js';
import { uniquePrefix, needRedisServer, startPrivateRedis, stopPrivateRedis } from './helpers/redis.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const TOKEN = 'instances-redis-admin-token-0123456789';
const ACME = newApiKey();
const BETA = newApiKey();
/** How long Redis stays away, in ms: past the store's reconnection delays of 100, 200, 400 and 800 ms. */
const OUTAGE_MS = 2500;
/** Behind one load balancer the instances see one Host; the host is part of the cache key. */
const HOST = { host: 'api.example.com' };

const config = (up: string, redisPort: number, prefix: string): string => `
listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 1s }
admin: { host: 127.0.0.1, port: 0, token: ${TOKEN}, changes: redis }
store: { redis: { url: "redis://127.0.0.1:${redisPort}", keyPrefix: "${prefix}", failMode: open, timeout: 250ms } }
metering: { enabled: true, flushInterval: 200ms }
consumers:
  acme: { keys: ["${hashApiKey(ACME)}"] }
  beta: { keys: ["${hashApiKey(BETA)}"] }
auth:
  key: { apiKey: { header: x-api-key } }
services:
  up: { targets: ["${up}"], retries: 0 }
routes:
  - { name: limited, match: { path: /limited/* }, service: up, auth: [key], rate-limit: { limit: 30, per: 1h, by: consumer } }
  - { name: cached, match: { path: /c/* }, service: up, cache: { ttl: 60s, store: redis } }
`;

function api(gw: TestGateway, method: string, path: string, body?: unknown): Promise<Reply> {
  return request(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** waitFor polls `cond` every 10 ms until it holds; throws after `ms`. */
async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** untilAll polls `path` on every gateway until it answers `status`; resolves with the ms each took from `since`. */
function untilAll(gws: TestGateway[], path: string, status: number, since: number, ms: number): Promise<number[]> {
  return Promise.all(gws.map(async (gw) => {
    await waitFor(async () => (await request(`${gw.url}${path}`)).status === status, ms, `${path} to answer ${status} on ${gw.url}`);
    return performance.now() - since;
  }));
}

/** Sample is one answer the client loop got. */
interface Sample { start: number; gw: number; kind: 'limited' | 'cached'; status: number; limitHeader: boolean; xcache: string }

test('three instances on one Redis: exact limits, shared cache, shared config, exact usage, and a Redis crash mid-run', { timeout: 60_000 }, async (t) => {
  if (!needRedisServer(t)) return;
  const up = await startUpstream('up');
  const calls = (url: string): number => up.received.filter((r) => r.url === url).length;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  const port = await freePort();
  let redis: ChildProcess | null = await startPrivateRedis(port, { dir });
  const gws: TestGateway[] = [];
  let running = false;
  t.after(async () => {
    running = false;
    // Gateways first: their meters flush into the Redis still running.
    for (const g of gws) await g.close();
    await stopPrivateRedis(redis);
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const prefix = uniquePrefix();
  // One after the other: the first stores its file in Redis as version 1, the others read it.
  for (let i = 0; i < 3; i++) gws.push(await startTestGateway(config(up.url, port, prefix)));
  const [a, b, c] = gws as [TestGateway, TestGateway, TestGateway];

  // What clients were answered, per consumer and status class: the usage must come out exactly so.
  const sent: Record<string, number[]> = { acme: [0, 0, 0, 0, 0, 0], beta: [0, 0, 0, 0, 0, 0] };
  let anonCached = 0;
  const asConsumer = async (who: 'acme' | 'beta', gw: TestGateway, path: string): Promise<Reply> => {
    const r = await request(`${gw.url}${path}`, { headers: { 'x-api-key': who === 'acme' ? ACME : BETA } });
    sent[who]![(r.status / 100) | 0]!++;
    return r;
  };
  const cached = async (gw: TestGateway, path: string): Promise<Reply> => {
    const r = await request(`${gw.url}${path}`, { headers: HOST });
    anonCached++;
    return r;
  };
  const roundRobin = async (who: 'acme' | 'beta', path: string): Promise<number[]> =>
    (await Promise.all(Array.from({ length: 60 }, (_, i) => asConsumer(who, gws[i % 3]!, path)))).map((r) => r.status);
  const count = (statuses: number[], s: number): number => statuses.filter((x) => x === s).length;

  // 1) Exact limits: 60 concurrent requests spread over the three, 30 pass.
  const first = await roundRobin('acme', '/limited/x');
  assert.equal(count(first, 200), 30, `statuses: ${first.join(',')}`);
  assert.equal(count(first, 429), 30);
  assert.equal(calls('/limited/x'), 30, 'only the allowed requests reached the upstream');

  // 2) Shared cache: a miss on A is a hit on B and C; the upstream saw the path once.
  const ma = await cached(a, '/c/shared');
  assert.equal(header(ma, 'x-cache'), 'MISS');
  for (const g of [b, c]) {
    const r = await cached(g, '/c/shared');
    assert.equal(header(r, 'x-cache'), 'HIT');
    assert.equal(r.body, ma.body);
  }
  assert.equal(calls('/c/shared'), 1);

  // 3) A change through B's admin API is live on all three within a second.
  const put1 = performance.now();
  const r1 = await api(b, 'PUT', '/api/routes/added', { match: { path: '/added/*' }, service: 'up' });
  assert.equal(r1.status, 201, r1.body);
  const took1 = await untilAll(gws, '/added/x', 200, put1, 3000);
  assert.ok(Math.max(...took1) < 1000, `applied after ${took1.map((x) => x.toFixed(0)).join(', ')} ms`);

  // 4) Redis killed while a client keeps sending to all three: acme on the limited route (its 30 are used up,
  // so 429 while Redis counts) and one cached path (a hit while Redis holds it).
  assert.equal(header(await cached(a, '/c/loop'), 'x-cache'), 'MISS');
  const samples: Sample[] = [];
  running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const g = i % 3;
      const kind = Math.floor(i / 3) % 2 === 0 ? 'limited' : 'cached';
      const start = performance.now();
      let r: Reply | null = null;
      try {
        r = kind === 'limited' ? await asConsumer('acme', gws[g]!, '/limited/x') : await cached(gws[g]!, '/c/loop');
      } catch { /* recorded as status 0 */ }
      samples.push({ start, gw: g, kind, status: r?.status ?? 0, limitHeader: r?.headers.ratelimit !== undefined, xcache: r === null ? '' : header(r, 'x-cache') });
      await new Promise((d) => setTimeout(d, 3));
    }
  })();
  await waitFor(() => samples.length >= 12, 5000, 'samples before the crash');
  const before = samples.slice();
  for (const s of before) assert.deepEqual([s.status, s.kind === 'cached' ? s.xcache : s.limitHeader], s.kind === 'limited' ? [429, true] : [200, 'HIT']);

  await stopPrivateRedis(redis);
  redis = null;
  const downAt = performance.now();
  await waitFor(() => gws.every((g) => !g.counters.store.health.up), 5000, 'every instance to see the outage');
  // Redis stays away for OUTAGE_MS (so the clients' reconnection backoffs grow as in a real outage), and at
  // least until each instance served both routes without it and each meter's flush failed.
  await waitFor(() => performance.now() - downAt >= OUTAGE_MS, OUTAGE_MS + 1000, 'the outage to last');
  await waitFor(() => {
    const d = samples.filter((s) => s.start > downAt);
    return [0, 1, 2].every((g) => d.filter((s) => s.gw === g && s.kind === 'limited').length >= 5 && d.filter((s) => s.gw === g && s.kind === 'cached').length >= 5)
      && gws.every((g) => g.logs.some((l) => l.event === 'usage_flush_failed'));
  }, 10_000, 'requests served during the outage and a failed usage flush on each instance');
  const during = samples.filter((s) => s.start > downAt);
  for (const s of during) {
    if (s.kind === 'limited') {
      assert.equal(s.status, 200, 'failMode open: the limited route serves while its counter cannot be checked');
      assert.equal(s.limitHeader, false, 'no made-up counts while Redis is away');
    } else {
      assert.equal(s.status, 200);
      assert.equal(s.xcache, 'MISS', 'the cache falls back to the upstream');
    }
  }

  redis = await startPrivateRedis(port, { dir });
  const upAt = performance.now();
  const outageMs = upAt - downAt;
  // A second change through B as soon as B can store it (its config connection reconnects with a backoff):
  // a new limited route, seen by all three.
  const change2 = (async () => {
    let r: Reply;
    for (;;) {
      r = await api(b, 'PUT', '/api/routes/limited2', { match: { path: '/limited2/*' }, service: 'up', auth: ['key'], 'rate-limit': { limit: 30, per: '1h', by: 'consumer' } });
      if (r.status === 201) break;
      assert.ok(r.status === 409 || r.status === 503, `${r.status} ${r.body}`);
      assert.ok(performance.now() - upAt < 10_000, `the change was still refused 10 s after Redis came back: ${r.body}`);
      await new Promise((d) => setTimeout(d, 20));
    }
    const stored = performance.now();
    const all = await untilAll(gws, '/limited2/x', 401, upAt, 10_000);
    return { storedAfter: stored - upAt, allAfter: all, fromStore: Math.max(...all) - (stored - upAt) };
  })();
  // Each instance recovers on its own: its store reconnects, the limit answers 429 again (acme's counter
  // survived the crash), the cached path is a hit again.
  const recovery = await Promise.all([0, 1, 2].map(async (g) => {
    await waitFor(() => gws[g]!.counters.store.health.up, 10_000, `instance ${g}'s store to reconnect`);
    const store = performance.now() - upAt;
    await waitFor(() => samples.some((s) => s.start > upAt && s.gw === g && s.kind === 'limited' && s.status === 429), 10_000, `instance ${g} to enforce the limit again`);
    await waitFor(() => samples.some((s) => s.start > upAt && s.gw === g && s.kind === 'cached' && s.xcache === 'HIT'), 10_000, `instance ${g} to hit the cache again`);
    return { store, served: performance.now() - upAt };
  }));
  const cfg = await change2;
  running = false;
  await loop;

  // Whatever the moment, no client saw a 5xx or a failed connection: only 200 or 429 (limited), 200 (cached).
  for (const s of samples) assert.ok(s.kind === 'limited' ? s.status === 200 || s.status === 429 : s.status === 200, `${s.kind} on ${s.gw}: ${s.status}`);
  // Once an instance served from Redis again, it never fell back: the last answers are 429 and HIT everywhere.
  for (let g = 0; g < 3; g++) {
    assert.equal(samples.filter((s) => s.gw === g && s.kind === 'limited').at(-1)!.status, 429);
    assert.equal(samples.filter((s) => s.gw === g && s.kind === 'cached').at(-1)!.xcache, 'HIT');
  }
  // Every cache miss (and only a miss) reached the upstream.
  assert.equal(calls('/c/loop'), 1 + samples.filter((s) => s.kind === 'cached' && s.xcache === 'MISS').length);
  for (const g of gws) {
    assert.equal(g.logs.filter((l) => l.event === 'store_down').length, 1, 'one outage, logged once');
    assert.equal(g.logs.filter((l) => l.event === 'store_recovered').length, 1);
    assert.equal(g.counters.store.health.outages, 1);
  }

  // After recovery: a new key on the old route and a new route (from the second change) are exact again.
  const betaRun = await roundRobin('beta', '/limited/x');
  assert.deepEqual([count(betaRun, 200), count(betaRun, 429)], [30, 30], `beta: ${betaRun.join(',')}`);
  const acme2 = await roundRobin('acme', '/limited2/x');
  assert.deepEqual([count(acme2, 200), count(acme2, 429)], [30, 30], `acme on limited2: ${acme2.join(',')}`);
  // The cache is shared again: the entry from before the crash, and a new one.
  for (const g of gws) assert.equal(header(await cached(g, '/c/shared'), 'x-cache'), 'HIT');
  assert.equal(calls('/c/shared'), 1);
  assert.equal(header(await cached(c, '/c/after'), 'x-cache'), 'MISS');
  for (const g of [a, b]) assert.equal(header(await cached(g, '/c/after'), 'x-cache'), 'HIT');
  assert.equal(calls('/c/after'), 1);

  // 5) Usage: once every meter has written what it counted, Redis holds exactly what clients were answered,
  // per status class, the requests served during the outage included and none counted twice.
  for (const g of gws) await waitFor(() => g.counters.meter!.flush(), 5000, 'the meter to flush');
  for (const g of gws) assert.ok(g.logs.some((l) => l.event === 'usage_flush_recovered'), 'the batch held during the outage was written');
  const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const usage = async (who: string): Promise<{ route: string; status: string; count: number }[]> => {
    const r = await api(c, 'GET', `/api/consumers/${who}/usage?from=${encodeURIComponent(from)}`);
    assert.equal(r.status, 200, r.body);
    return r.json;
  };
  const byClass = (rows: { status: string; count: number }[]): number[] => {
    const out = [0, 0, 0, 0, 0, 0];
    for (const row of rows) out[Number(row.status[0])]! += row.count;
    return out;
  };
  const acmeRows = await usage('acme');
  assert.deepEqual(byClass(acmeRows), sent.acme, `acme usage ${JSON.stringify(acmeRows)}`);
  assert.deepEqual(byClass(await usage('beta')), sent.beta);
  const anon = (await usage('-')).filter((r) => r.route === 'cached');
  assert.deepEqual(byClass(anon), [0, 0, anonCached, 0, 0, 0]);
  const servedDuring = during.filter((s) => s.kind === 'limited').length;
  assert.ok(sent.acme![2]! >= 30 + 30 + servedDuring, 'the 200s served unlimited during the outage are in the usage');

  t.diagnostic(`outage ${outageMs.toFixed(0)} ms, ${samples.length} loop requests (${during.length} after the kill)`);
  t.diagnostic(`first change applied by all after ${took1.map((x) => x.toFixed(0)).join('/')} ms`);
  t.diagnostic(`after Redis restart: store up ${recovery.map((x) => x.store.toFixed(0)).join('/')} ms; limit+cache served from Redis ${recovery.map((x) => x.served.toFixed(0)).join('/')} ms`);
  t.diagnostic(`second change stored ${cfg.storedAfter.toFixed(0)} ms after restart, live on all ${cfg.allAfter.map((x) => x.toFixed(0)).join('/')} ms after restart (${cfg.fromStore.toFixed(0)} ms after it was stored)`);
  assert.ok(Math.max(...cfg.allAfter) < 3000, `second change live on all three ${cfg.allAfter.map((x) => x.toFixed(0)).join('/')} ms after Redis came back`);
  assert.ok(cfg.fromStore < 1000, `second change live on all three ${cfg.fromStore.toFixed(0)} ms after it was stored`);
});
