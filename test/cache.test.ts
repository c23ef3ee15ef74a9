/**
 * `cache` through the real gateway against a real upstream that counts its calls: hits and misses, `Age`,
 * `Cache-Control` (max-age on an injected wall clock, no-store, private), `Set-Cookie`, `Vary`,
 * stale-while-revalidate with one background refresh, ETag revalidation (a 304 renews the entry), 100
 * concurrent misses making one upstream call, authenticated requests, purges through the admin API and the
 * CLI; and two instances sharing one cache through Redis.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as undiciRequest } from 'undici';
import { startUpstream, freePort, type Upstream, type UpstreamHandler } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { header, LISTEN } from './helpers/raw.js';
import { needRedis, REDIS_URL, uniquePrefix, dropPrefix } from './helpers/redis.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';
import { runCachePurge } from '../src/cli/cache.js';
import { CliError } from '../src/cli/usage.js';

const ACME = newApiKey();
const BETA = newApiKey();
const TOKEN = 'cache-test-admin-token-0123456789';
const T0 = Date.UTC(2026, 0, 1);

/** Holds the upstream's refreshes of /fresh1 until the test opens it (so several stale answers meet one refresh). */
let gate: Promise<void> | null = null;
let openGate: () => void = () => {};

/** What the upstream answers, by the path after the route's prefix; every body names its call number. */
function answer(up: Upstream, gw: () => TestGateway | undefined): UpstreamHandler {
  return async (req, res, r) => {
    const n = up.received.filter((x) => x.url === r.url).length;
    const path = r.url.replace(/^\/[a-z]+/, '').split('?')[0]!;
    const text = (status: number, headers: Record<string, string | string[]>, body: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    };
    if (path.startsWith('/plain')) return text(200, { 'x-cache': 'FROM-UPSTREAM' }, `${r.url} #${n}`);
    switch (path) {
      case '/maxage': return text(200, { 'cache-control': 'max-age=10' }, `maxage #${n}`);
      case '/nostore': return text(200, { 'cache-control': 'no-store' }, `nostore #${n}`);
      case '/private': return text(200, { 'cache-control': 'private, max-age=60' }, `private #${n}`);
      case '/cookie': return text(200, { 'set-cookie': 'session=1' }, `cookie #${n}`);
      case '/missing': return text(404, {}, `missing #${n}`);
      case '/error': return text(500, {}, `error #${n}`);
      case '/vary': return text(200, { vary: 'Accept-Language' }, `${String(req.headers['accept-language'])} #${n}`);
      case '/fresh1':
        if (n > 1 && gate !== null) await gate;
        return text(200, { 'cache-control': 'max-age=1' }, `fresh1 #${n}`);
      case '/etag':
        if (req.headers['if-none-match'] === '"e1"') { res.writeHead(304, { etag: '"e1"', 'cache-control': 'max-age=1' }); res.end(); return; }
        return text(200, { etag: '"e1"', 'cache-control': 'max-age=1' }, `etag #${n}`);
      case '/hang': await new Promise((d) => setTimeout(d, 800)); return text(200, {}, `hang #${n}`);
      case '/big': return text(200, {}, 'x'.repeat(1024 * 1024 + 1));
      case '/slow': {
        // Hold the answer until all 100 requests are inside the gateway, so they all find the first in flight.
        const deadline = Date.now() + 5000;
        while ((gw()?.gateway.runtime.inflight ?? 0) < 100 && Date.now() < deadline) await new Promise((d) => setTimeout(d, 5));
        return text(200, {}, `slow #${n}`);
      }
      default: return text(200, {}, `other #${n}`);
    }
  };
}

function config(upUrl: string, adminPort: number, admin = true): string {
  return `${LISTEN}
${admin ? `admin: { host: 127.0.0.1, port: ${adminPort}, token: ${TOKEN} }` : ''}
services:
  up: { targets: ['${upUrl}'], retries: 0 }
consumers:
  acme: { keys: [${hashApiKey(ACME)}] }
  beta: { keys: [${hashApiKey(BETA)}] }
auth:
  key: { apiKey: { header: x-api-key } }
routes:
  - { name: cached, match: { path: /c/* }, service: up, cache: { ttl: 60s } }
  - { name: swr, match: { path: /s/* }, service: up, cache: { staleWhileRevalidate: 30s } }
  - { name: authed, match: { path: /a/* }, service: up, auth: [key], cache: {} }
  - { name: mine, match: { path: /p/* }, service: up, auth: [key], cache: { byConsumer: true } }
  - { name: lock, match: { path: /l/* }, service: up, cache: { lockTimeout: 100ms } }
  - { name: stub, match: { path: /stub }, static: { json: { hello: world } }, cache: {} }
  - { name: plain, match: { path: /n/* }, service: up }
`;
}

const calls = (up: Upstream, url: string): number => up.received.filter((r) => r.url === url).length;

describe('response cache', () => {
  let up: Upstream;
  let gw: TestGateway | undefined;
  let g: TestGateway;
  let base: string;
  let adminPort: number;
  let now = T0;
  before(async () => {
    up = await startUpstream('up');
    up.handler = answer(up, () => gw);
    adminPort = await freePort();
    gw = g = await startTestGateway(config(up.url, adminPort), { wallClock: () => now });
    base = g.url;
  });
  after(async () => {
    await g.close();
    await up.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> => request(base + path, { method, headers });
  const xc = (r: Reply): string => header(r, 'x-cache');

  test('a miss goes upstream once; hits follow with Age, the upstream X-Cache is replaced, HEAD is served from the entry', async () => {
    const a = await get('/c/plain/1');
    assert.equal(a.status, 200);
    assert.equal(xc(a), 'MISS');
    assert.equal(a.body, '/c/plain/1 #1');
    now += 5000;
    const b = await get('/c/plain/1');
    assert.equal(xc(b), 'HIT');
    assert.equal(b.body, '/c/plain/1 #1');
    assert.equal(header(b, 'age'), '5');
    assert.equal(header(b, 'content-type'), 'text/plain');
    assert.equal(header(b, 'content-length'), String(b.body.length));
    assert.match(header(b, 'x-request-id'), /.+/);
    assert.notEqual(header(b, 'x-request-id'), header(a, 'x-request-id'), 'each answer has its own request id');
    const h = await get('/c/plain/1', {}, 'HEAD');
    assert.equal(xc(h), 'HIT');
    assert.equal(h.body, '');
    assert.equal(calls(up, '/c/plain/1'), 1);
    const access = g.access.filter((l) => l.path === '/c/plain/1').map((l) => l.cache);
    assert.deepEqual(access, ['miss', 'hit', 'hit'], 'the access log names the outcome');
  });

  test('query parameters are part of the key, in any order', async () => {
    assert.equal(xc(await get('/c/plain/q?b=1&a=2')), 'MISS');
    assert.equal(xc(await get('/c/plain/q?a=2&b=1')), 'HIT');
    assert.equal(xc(await get('/c/plain/q?a=3&b=1')), 'MISS');
  });

  test('max-age: fresh until it passes, then fetched again', async () => {
    assert.equal(xc(await get('/c/maxage')), 'MISS');
    now += 9000;
    assert.equal(xc(await get('/c/maxage')), 'HIT');
    now += 1500;
    const r = await get('/c/maxage');
    assert.equal(xc(r), 'MISS');
    assert.equal(r.body, 'maxage #2');
  });

  test('no-store, private, Set-Cookie and uncacheable statuses are not stored; 404 is', async () => {
    for (const p of ['/c/nostore', '/c/private', '/c/cookie', '/c/error']) {
      assert.equal(xc(await get(p)), 'MISS', p);
      const again = await get(p);
      assert.equal(xc(again), 'MISS', p);
      assert.equal(calls(up, p), 2, p);
    }
    assert.equal(header(await get('/c/cookie'), 'set-cookie'), 'session=1', 'the cookie still reaches its client');
    assert.equal(xc(await get('/c/missing')), 'MISS');
    const hit = await get('/c/missing');
    assert.equal(hit.status, 404);
    assert.equal(xc(hit), 'HIT');
  });

  test('Vary: Accept-Language keeps variants apart', async () => {
    const de = await get('/c/vary', { 'accept-language': 'de' });
    const fr = await get('/c/vary', { 'accept-language': 'fr' });
    const de2 = await get('/c/vary', { 'accept-language': 'de' });
    const fr2 = await get('/c/vary', { 'accept-language': 'fr' });
    const none = await get('/c/vary');
    assert.deepEqual([xc(de), xc(fr), xc(de2), xc(fr2), xc(none)], ['MISS', 'MISS', 'HIT', 'HIT', 'MISS']);
    assert.equal(de2.body, 'de #1');
    assert.equal(fr2.body, 'fr #2');
    assert.equal(none.body, 'undefined #3');
    assert.equal(calls(up, '/c/vary'), 3);
  });

  test('stale-while-revalidate: STALE at once, one background refresh, then HIT with the new copy', async () => {
    assert.equal(xc(await get('/s/fresh1')), 'MISS');
    now += 2000;
    gate = new Promise((open) => { openGate = open; });
    for (let i = 0; i < 3; i++) {
      const s = await get('/s/fresh1');
      assert.equal(xc(s), 'STALE');
      assert.equal(s.body, 'fresh1 #1');
      assert.equal(header(s, 'age'), '2');
    }
    openGate();
    let r: Reply;
    const deadline = Date.now() + 5000;
    do r = await get('/s/fresh1'); while (xc(r) !== 'HIT' && Date.now() < deadline);
    assert.equal(xc(r), 'HIT');
    assert.equal(r.body, 'fresh1 #2');
    assert.equal(calls(up, '/s/fresh1'), 2, 'one refresh for all the stale answers');
  });

  test('revalidation with the ETag: a 304 renews the entry; a client with the ETag gets 304', async () => {
    assert.equal(xc(await get('/s/etag')), 'MISS');
    now += 2000;
    assert.equal(xc(await get('/s/etag')), 'STALE');
    let r: Reply;
    const deadline = Date.now() + 5000;
    do r = await get('/s/etag'); while (xc(r) !== 'HIT' && Date.now() < deadline);
    assert.equal(r.body, 'etag #1', 'the body kept from the first answer');
    const sent = up.received.filter((x) => x.url === '/s/etag');
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.headers['if-none-match'], '"e1"', 'the refresh was conditional');
    const cond = await get('/s/etag', { 'if-none-match': '"e1"' });
    assert.equal(cond.status, 304);
    assert.equal(xc(cond), 'HIT');
    assert.equal(cond.body, '');
    assert.equal(header(cond, 'etag'), '"e1"');
    assert.equal(calls(up, '/s/etag'), 2);
  });

  test('a client validator on a miss is not forwarded, so the answer can be stored', async () => {
    const r = await get('/c/plain/cond', { 'if-none-match': '"zzz"' });
    assert.equal(r.status, 200);
    assert.equal(up.received.find((x) => x.url === '/c/plain/cond')!.headers['if-none-match'], undefined);
    assert.equal(xc(await get('/c/plain/cond')), 'HIT');
  });

  test('100 concurrent misses for one key make one upstream call', async () => {
    const agent = new Agent({ connections: 128 });
    try {
      const replies = await Promise.all(Array.from({ length: 100 }, async () => {
        const res = await undiciRequest(`${base}/c/slow`, { dispatcher: agent });
        return { xc: String(res.headers['x-cache']), body: await res.body.text() };
      }));
      assert.equal(calls(up, '/c/slow'), 1);
      assert.equal(replies.filter((x) => x.xc === 'MISS').length, 1);
      assert.equal(replies.filter((x) => x.xc === 'HIT').length, 99);
      assert.ok(replies.every((x) => x.body === 'slow #1'));
    } finally {
      await agent.close();
    }
  });

  test('concurrent misses wait at most lockTimeout for the first one, then go to the backend themselves', async () => {
    const t0 = performance.now();
    const replies = await Promise.all([get('/l/hang'), get('/l/hang'), get('/l/hang')]);
    assert.ok(replies.every((r) => r.status === 200));
    assert.equal(calls(up, '/l/hang'), 3, 'the waiters did not wait for the slow first answer');
    assert.ok(performance.now() - t0 < 1500, 'nobody waited for another request\'s 800 ms answer (that would take 1600 ms)');
  });

  test('responses larger than maxEntrySize pass through and are not stored', async () => {
    const a = await get('/c/big');
    assert.equal(a.body.length, 1024 * 1024 + 1);
    assert.equal(xc(await get('/c/big')), 'MISS');
    assert.equal(calls(up, '/c/big'), 2);
  });

  test('authenticated requests bypass a shared cache; byConsumer keeps one entry per consumer', async () => {
    assert.equal(xc(await get('/a/x', { 'x-api-key': ACME })), 'BYPASS');
    assert.equal(xc(await get('/a/x', { 'x-api-key': ACME })), 'BYPASS');
    assert.equal(calls(up, '/a/x'), 2);
    assert.equal(xc(await get('/c/plain/auth', { authorization: 'Bearer abc' })), 'BYPASS', 'Authorization without auth on the route');
    assert.equal(xc(await get('/c/plain/auth', { authorization: 'Bearer abc' })), 'BYPASS');
    const p1 = await get('/p/x', { 'x-api-key': ACME });
    const p2 = await get('/p/x', { 'x-api-key': ACME });
    const p3 = await get('/p/x', { 'x-api-key': BETA });
    assert.deepEqual([xc(p1), xc(p2), xc(p3)], ['MISS', 'HIT', 'MISS']);
    assert.equal(p2.body, p1.body);
    assert.notEqual(p3.body, p1.body);
    assert.equal(xc(await get('/c/plain/post', {}, 'POST')), 'BYPASS');
    assert.equal(xc(await get('/n/x')), '', 'a route without cache says nothing');
  });

  test('a static route is cached too', async () => {
    assert.equal(xc(await get('/stub')), 'MISS');
    const r = await get('/stub');
    assert.equal(xc(r), 'HIT');
    assert.deepEqual(r.json, { hello: 'world' });
  });

  test('purge through the admin API: by prefix, by route; token and browser checks', async () => {
    for (const p of ['/c/plain/users/1', '/c/plain/users/2', '/c/plain/orders/1']) await get(p);
    const purge = (query: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Reply> =>
      request(`${g.adminUrl}/cache/purge?${query}`, { method: 'POST', headers });
    assert.equal((await purge('route=cached', {})).status, 401);
    assert.equal((await purge('route=cached', { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' })).status, 403);
    assert.equal((await request(`${g.adminUrl}/cache/purge?route=cached`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 405);
    assert.equal((await purge('route=nope')).status, 404);
    assert.equal((await purge('route=plain')).status, 400);
    assert.equal((await purge('route=cached&prefix=users')).status, 400);
    const byPrefix = await purge(`route=cached&prefix=${encodeURIComponent('/c/plain/users/')}`);
    assert.equal(byPrefix.status, 200);
    assert.equal(byPrefix.json.purged, 2);
    assert.equal(xc(await get('/c/plain/users/1')), 'MISS');
    assert.equal(xc(await get('/c/plain/orders/1')), 'HIT', 'outside the prefix');
    const all = await purge('route=cached');
    assert.ok(all.json.purged >= 2);
    assert.equal(xc(await get('/c/plain/orders/1')), 'MISS');
    assert.equal(xc(await get('/stub')), 'HIT', 'another route keeps its entries');
  });

  test('purge through the CLI (which calls the admin API for a memory cache)', async () => {
    await get('/c/plain/cli/1');
    await get('/c/plain/cli/2');
    assert.equal(xc(await get('/c/plain/cli/1')), 'HIT');
    let printed = '';
    const n = await runCachePurge({ file: g.file, route: 'cached', prefix: '/c/plain/cli/' }, (s) => { printed += s; });
    assert.equal(n, 2);
    assert.equal(printed, 'purged 2 cache entries of route cached under /c/plain/cli/\n');
    assert.equal(xc(await get('/c/plain/cli/1')), 'MISS');
    await assert.rejects(runCachePurge({ file: g.file, route: 'plain' }, () => {}), (e: Error) => e instanceof CliError && /has no cache/.test(e.message));
    await assert.rejects(runCachePurge({ file: g.file }, () => {}), (e: Error) => e instanceof CliError && /--route/.test(e.message));
    // Without `admin:` a memory cache cannot be reached from outside the process: a clear error (exit 2).
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cache-'));
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, config(up.url, 0, false));
    await assert.rejects(runCachePurge({ file, route: 'cached' }, () => {}), (e: Error) => e instanceof CliError && /admin/.test(e.message));
  });

  test('entries survive a reload that keeps the route\'s cache settings; changed settings start empty', async () => {
    await get('/c/plain/reload');
    assert.equal(xc(await get('/c/plain/reload')), 'HIT');
    const yaml = config(up.url, adminPort);
    g.writeConfig(`${yaml}  - { name: extra, match: { path: /x/* }, service: up }\n`);
    assert.equal(await g.reload(), true);
    assert.equal(xc(await get('/c/plain/reload')), 'HIT', 'same settings: same entries');
    g.writeConfig(yaml.replace('cache: { ttl: 60s }', 'cache: { ttl: 30s }'));
    assert.equal(await g.reload(), true);
    assert.equal(xc(await get('/c/plain/reload')), 'MISS', 'new settings: a new cache');
  });
});

describe('a cache shared through Redis', () => {
  let up: Upstream | undefined;
  const gws: TestGateway[] = [];
  let prefix = '';
  after(async () => {
    for (const x of gws) await x.close();
    await up?.close();
    if (prefix) await dropPrefix(prefix);
  });

  test('a miss on one instance is a hit on the other; a CLI purge in Redis empties both', { timeout: 30_000 }, async (t) => {
    if (!(await needRedis(t))) return;
    up = await startUpstream('up');
    up.handler = answer(up, () => undefined);
    prefix = uniquePrefix();
    const yaml = `${LISTEN}
store: { redis: { url: "${REDIS_URL}", keyPrefix: "${prefix}", timeout: 2s } }
services:
  up: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: shared, match: { path: /c/* }, service: up, cache: { store: redis, staleWhileRevalidate: 10s } }
`;
    const a = await startTestGateway(yaml);
    gws.push(a);
    const b = await startTestGateway(yaml);
    gws.push(b);
    // Behind one load balancer the instances see one Host; the host is part of the key.
    const host = { host: 'api.example.com' };
    const ra = await request(`${a.url}/c/plain/r`, { headers: host });
    assert.equal(header(ra, 'x-cache'), 'MISS');
    const rb = await request(`${b.url}/c/plain/r`, { headers: host });
    assert.equal(header(rb, 'x-cache'), 'HIT');
    assert.equal(rb.body, ra.body);
    assert.equal(calls(up, '/c/plain/r'), 1);
    // Vary across instances.
    assert.equal(header(await request(`${a.url}/c/vary`, { headers: { ...host, 'accept-language': 'de' } }), 'x-cache'), 'MISS');
    const vb = await request(`${b.url}/c/vary`, { headers: { ...host, 'accept-language': 'de' } });
    assert.equal(header(vb, 'x-cache'), 'HIT');
    assert.equal(vb.body, 'de #1');
    assert.equal(header(await request(`${b.url}/c/vary`, { headers: { ...host, 'accept-language': 'fr' } }), 'x-cache'), 'MISS');

    let printed = '';
    const n = await runCachePurge({ file: a.file, route: 'shared', prefix: '/c/plain/' }, (s) => { printed += s; });
    assert.equal(n, 1);
    assert.match(printed, /^purged 1 cache entry of route shared/);
    assert.equal(header(await request(`${b.url}/c/plain/r`, { headers: host }), 'x-cache'), 'MISS');
    assert.equal(header(await request(`${a.url}/c/plain/r`, { headers: host }), 'x-cache'), 'HIT');
    assert.equal(header(await request(`${a.url}/c/vary`, { headers: { ...host, 'accept-language': 'de' } }), 'x-cache'), 'HIT', 'outside the prefix');
  });

  test('with Redis away the cache fails open: every request goes to the backend', { timeout: 30_000 }, async () => {
    const u = await startUpstream('down');
    const port = await freePort();
    const x = await startTestGateway(`${LISTEN}
store: { redis: { url: "redis://127.0.0.1:${port}", timeout: 100ms } }
# The meter's flush at shutdown would wait for the absent Redis; this test is about the cache.
metering: { enabled: false }
services:
  up: { targets: ['${u.url}'], retries: 0 }
routes:
  - { name: shared, match: { path: /* }, service: up, cache: { store: redis } }
`);
    gws.push(x);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await request(`${x.url}/thing`);
        assert.equal(r.status, 200);
        assert.equal(header(r, 'x-cache'), 'MISS');
      }
      assert.equal(u.received.length, 3);
      assert.equal(x.logs.filter((l) => l.event === 'cache_store_down').length, 1, 'the outage is logged once');
    } finally {
      await u.close();
    }
  });
});
