/**
 * Load balancing through the real gateway, against real upstream servers on port 0: the share each target
 * receives under weighted round-robin and power-of-two-choices, least-connections steering new requests
 * away from a target that holds slow ones, and consistent hashing on a header, a cookie and the client IP,
 * including how keys move (and do not move) when one target leaves the ring.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startUpstream, echo, type Received, type Upstream, type UpstreamHandler } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { client, counts, events, resetReceived, runPool, send, waitFor, within } from './upstreams-support.js';

const TOTAL = 10_000;
const CONCURRENCY = 32;
/** Tolerance of a target's share, relative to its expected share (5%). */
const TOLERANCE = 0.05;

function weightedService(balance: string, ups: readonly Upstream[]): string {
  return `
services:
  s:
    balance: ${balance}
    targets:
${ups.map((u, i) => `      - { url: "${u.url}", weight: ${i + 1} }`).join('\n')}
routes:
  - { name: r, match: { path: /* }, service: s }
`;
}

/** drive sends TOTAL GETs through the gateway with CONCURRENCY in flight and returns the time taken in ms. */
async function drive(gw: TestGateway): Promise<number> {
  const pool = client(gw, CONCURRENCY);
  try {
    const t0 = performance.now();
    await runPool(TOTAL, CONCURRENCY, async () => {
      const r = await send(pool, '/spread');
      assert.equal(r.status, 200);
    });
    return performance.now() - t0;
  } finally {
    await pool.close();
  }
}

describe('weighted distribution (weights 1:2:3, 10,000 requests, 32 in flight, keep-alive)', () => {
  let ups: Upstream[];
  before(async () => { ups = await Promise.all(['w1', 'w2', 'w3'].map((n) => startUpstream(n))); });
  after(async () => { await Promise.all(ups.map((u) => u.close())); });

  for (const balance of ['round-robin', 'random']) {
    test(`${balance}: each target's share is within 5% of weight / total`, { timeout: 30_000 }, async (t) => {
      resetReceived(ups);
      const gw = await startTestGateway(weightedService(balance, ups));
      try {
        const ms = await drive(gw);
        const c = counts(ups, '/spread');
        t.diagnostic(`${balance}: ${TOTAL} requests in ${ms.toFixed(0)} ms (${Math.round(TOTAL / (ms / 1000))} req/s); received ${JSON.stringify(c)}`);
        assert.equal(c.w1! + c.w2! + c.w3!, TOTAL);
        ups.forEach((u, i) => within(c[u.name]! / TOTAL / ((i + 1) / 6), 1, TOLERANCE, `${balance} ${u.name} (weight ${i + 1}) relative share`));
        if (balance === 'round-robin') {
          // Smooth weighted round-robin is exact over whole cycles of 6 picks.
          assert.deepEqual(c, { w1: 1667, w2: 3333, w3: 5000 });
        }
      } finally {
        await gw.close();
      }
    });
  }
});

describe('least-connections', () => {
  test('new requests go to the idle target while the other holds slow requests', { timeout: 15_000 }, async () => {
    const held: ServerResponse[] = [];
    const holding = (name: string): UpstreamHandler => (req: IncomingMessage, res: ServerResponse, r: Received) => {
      if (req.url === '/slow') { held.push(res); return; }
      echo(name)(req, res, r);
    };
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    a.handler = holding('a');
    b.handler = holding('b');
    const gw = await startTestGateway(`
services:
  s: { balance: least-connections, targets: ["${a.url}", "${b.url}"] }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 16);
    try {
      // The first request breaks the tie between two idle targets; whichever it lands on is now the busy one.
      const slow = send(pool, '/slow');
      await waitFor(() => held.length === 1, 2000, 'the slow request to reach an upstream');
      const busy = a.received.some((r) => r.url === '/slow') ? a : b;
      const idle = busy === a ? b : a;
      // Sequential requests: every one should see busy=1, idle=0 in flight.
      for (let i = 0; i < 20; i++) assert.equal((await send(pool, '/fast')).headers['x-upstream'], idle.name);
      // Once the slow request is answered both are idle again and ties alternate.
      held.shift()!.end('done');
      assert.equal((await slow).status, 200);
      resetReceived([a, b]);
      for (let i = 0; i < 10; i++) await send(pool, '/fast');
      assert.deepEqual(counts([a, b], '/fast'), { a: 5, b: 5 });
    } finally {
      for (const r of held) r.end();
      await pool.close();
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  test('under load a slow target receives far fewer requests than a fast one', { timeout: 15_000 }, async (t) => {
    const slowUp = await startUpstream('slow', (req, res, r) => { setTimeout(() => echo('slow')(req, res, r), 100); });
    const fastUp = await startUpstream('fast');
    const gw = await startTestGateway(`
services:
  s: { balance: least-connections, targets: ["${slowUp.url}", "${fastUp.url}"] }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 8);
    try {
      await runPool(400, 8, async () => { assert.equal((await send(pool, '/x')).status, 200); });
      const c = counts([slowUp, fastUp]);
      t.diagnostic(`least-connections, 400 requests, 8 in flight: ${JSON.stringify(c)}`);
      // Round-robin would give each 200. The slow one holds a request for 100 ms; the fast one answers in
      // well under a millisecond, so it should take the overwhelming majority.
      assert.ok(c.slow! < 60, `slow target got ${c.slow} of 400`);
    } finally {
      await pool.close();
      await gw.close();
      await slowUp.close();
      await fastUp.close();
    }
  });
});

/** targetOf sends one request and returns the upstream name that answered it. */
async function targetOf(pool: ReturnType<typeof client>, headers: Record<string, string>): Promise<string> {
  const r = await send(pool, '/hash', { headers });
  assert.equal(r.status, 200, r.body);
  return String(r.headers['x-upstream']);
}

describe('consistent-hash', () => {
  let ups: Upstream[];
  const healthy = new Map<string, boolean>();
  before(async () => {
    ups = await Promise.all(['h1', 'h2', 'h3'].map((n) => startUpstream(n)));
    for (const u of ups) {
      healthy.set(u.name, true);
      const base = echo(u.name);
      u.handler = (req, res, r) => {
        if (req.url === '/health') { res.writeHead(healthy.get(u.name) ? 200 : 503).end(); return; }
        base(req, res, r);
      };
    }
  });
  after(async () => { await Promise.all(ups.map((u) => u.close())); });

  const hashService = (hashOn: string, extra = ''): string => `
${extra}
services:
  s:
    balance: consistent-hash
    hashOn: "${hashOn}"
    healthCheck: { path: /health, interval: 100ms, timeout: 500ms, unhealthy: 1, healthy: 1 }
    targets: [${ups.map((u) => `"${u.url}"`).join(', ')}]
routes:
  - { name: r, match: { path: /* }, service: s }
`;

  test('header:x-user — same key, same target; a target that leaves takes only its own keys, which spread over the rest', { timeout: 20_000 }, async (t) => {
    for (const u of ups) healthy.set(u.name, true);
    const gw = await startTestGateway(hashService('header:x-user'));
    const pool = client(gw, 8);
    try {
      const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
      const before = new Map<string, string>();
      await runPool(keys.length, 8, async (i) => { before.set(keys[i]!, await targetOf(pool, { 'x-user': keys[i]! })); });
      // Stable: asking again gives the same target for every key.
      await runPool(keys.length, 8, async (i) => { assert.equal(await targetOf(pool, { 'x-user': keys[i]! }), before.get(keys[i]!)); });
      const perTarget = (m: Map<string, string>): Record<string, number> => {
        const c: Record<string, number> = {};
        for (const v of m.values()) c[v] = (c[v] ?? 0) + 1;
        return c;
      };
      t.diagnostic(`300 keys over 3 targets: ${JSON.stringify(perTarget(before))}`);
      for (const u of ups) assert.ok((perTarget(before)[u.name] ?? 0) >= 50, `${u.name} owns too few keys: ${JSON.stringify(perTarget(before))}`);

      // Take h2 down: its health check fails and it is ejected.
      const down = ups[1]!;
      healthy.set(down.name, false);
      await waitFor(() => events(gw, 'target_ejected').some((e) => e.target === down.url), 3000, 'h2 to be ejected');
      const afterDown = new Map<string, string>();
      await runPool(keys.length, 8, async (i) => { afterDown.set(keys[i]!, await targetOf(pool, { 'x-user': keys[i]! })); });
      const moved: Record<string, number> = {};
      for (const k of keys) {
        const was = before.get(k)!;
        const now = afterDown.get(k)!;
        assert.notEqual(now, down.name, `${k} still sent to the ejected target`);
        if (was !== down.name) assert.equal(now, was, `${k} moved from ${was} to ${now} although ${was} stayed up`);
        else moved[now] = (moved[now] ?? 0) + 1;
      }
      t.diagnostic(`keys of the ejected target moved to: ${JSON.stringify(moved)}`);
      assert.ok((moved.h1 ?? 0) > 0 && (moved.h3 ?? 0) > 0, `the ejected target's keys went to one target only: ${JSON.stringify(moved)}`);

      // Back up: every key returns to its original target.
      healthy.set(down.name, true);
      await waitFor(() => events(gw, 'target_healthy').some((e) => e.target === down.url), 3000, 'h2 to be healthy again');
      await runPool(keys.length, 8, async (i) => { assert.equal(await targetOf(pool, { 'x-user': keys[i]! }), before.get(keys[i]!)); });

      // Requests without the key are spread round-robin.
      const noKey = new Set<string>();
      for (let i = 0; i < 6; i++) noKey.add(await targetOf(pool, {}));
      assert.equal(noKey.size, 3);
    } finally {
      await pool.close();
      await gw.close();
    }
  });

  test('a target that stops (connection refused) loses only its own keys', { timeout: 20_000 }, async () => {
    // No health check here: requests to the stopped target fail to connect, are retried on the next target
    // of the ring, and passive health ejects it. The client never sees an error.
    const extra = await Promise.all(['s1', 's2', 's3'].map((n) => startUpstream(n)));
    const gw = await startTestGateway(`
services:
  s:
    balance: consistent-hash
    hashOn: "header:x-user"
    targets: [${extra.map((u) => `"${u.url}"`).join(', ')}]
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 8);
    try {
      const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
      const before = new Map<string, string>();
      for (const k of keys) before.set(k, await targetOf(pool, { 'x-user': k }));
      await extra[0]!.close();
      const moved = new Set<string>();
      for (const k of keys) {
        const now = await targetOf(pool, { 'x-user': k });
        if (before.get(k) !== 's1') assert.equal(now, before.get(k), `${k} moved although its target stayed up`);
        else moved.add(now);
      }
      assert.ok(!moved.has('s1'));
      assert.deepEqual([...moved].sort(), ['s2', 's3']);
      assert.ok(events(gw, 'target_ejected').some((e) => e.target === extra[0]!.url && e.reason === 'consecutive failures'));
    } finally {
      await pool.close();
      await gw.close();
      await Promise.all(extra.slice(1).map((u) => u.close()));
    }
  });

  test('cookie:session — the session cookie picks the target, other cookies do not matter', { timeout: 15_000 }, async () => {
    const gw = await startTestGateway(hashService('cookie:session'));
    const pool = client(gw, 8);
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const first = await targetOf(pool, { cookie: `session=s${i}` });
        seen.add(first);
        assert.equal(await targetOf(pool, { cookie: `theme=dark; session=s${i}; lang=en` }), first);
        assert.equal(await targetOf(pool, { cookie: `session=s${i}; theme=light` }), first);
      }
      assert.equal(seen.size, 3, 'sessions are spread over all targets');
    } finally {
      await pool.close();
      await gw.close();
    }
  });

  test('ip — the trusted client IP picks the target; an untrusted X-Forwarded-For cannot steer it', { timeout: 15_000 }, async () => {
    // Behind a trusted proxy (127.0.0.1) the client IP comes from X-Forwarded-For.
    const gw = await startTestGateway(hashService('ip', 'trustedProxies: [127.0.0.1]'));
    const pool = client(gw, 8);
    try {
      const seen = new Map<string, string>();
      for (let i = 1; i <= 60; i++) seen.set(`10.0.0.${i}`, await targetOf(pool, { 'x-forwarded-for': `10.0.0.${i}` }));
      for (const [ip, target] of seen) assert.equal(await targetOf(pool, { 'x-forwarded-for': ip }), target);
      assert.equal(new Set(seen.values()).size, 3, 'client IPs are spread over all targets');
    } finally {
      await pool.close();
      await gw.close();
    }
    // With no trusted proxy the socket address (127.0.0.1) is the key whatever the header says.
    const gw2 = await startTestGateway(hashService('ip'));
    const pool2 = client(gw2, 8);
    try {
      const all = new Set<string>();
      for (let i = 1; i <= 30; i++) all.add(await targetOf(pool2, { 'x-forwarded-for': `10.0.0.${i}` }));
      assert.equal(all.size, 1, `spoofed X-Forwarded-For moved requests: ${[...all].join(', ')}`);
    } finally {
      await pool2.close();
      await gw2.close();
    }
  });
});
