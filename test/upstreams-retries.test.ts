/**
 * Retries through the real gateway: which failures are tried again on another target (connection failures,
 * the `statuses` list), which methods (idempotent by default, `methods:` to widen), what a request body
 * allows (only a connection that never opened), `retries: 0`, and the retry budget that keeps a failing
 * service from receiving a retry storm.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { RETRY_FLOOR_PER_SECOND } from '../src/upstreams/service.js';
import { assertProblem, client, counts, runPool, send } from './upstreams-support.js';

/** statusUpstream answers every request with `status` and its name. */
function statusUpstream(name: string, status: number): Promise<Upstream> {
  return startUpstream(name, (_req, res, r) => {
    res.writeHead(status, { 'x-upstream': name, 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name, bodyBytes: r.bodyBytes }));
  }, { keepBody: true });
}

const route = 'routes:\n  - { name: r, match: { path: /* }, service: s }\n';

describe('retries', () => {
  test('GET to a refused target is retried on another target and succeeds', { timeout: 10_000 }, async () => {
    const a = await statusUpstream('a', 200);
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s:
    targets: ["http://127.0.0.1:${dead}", "${a.url}"]
    # Half of these requests need a retry: lift the budget (tested below) so it does not cap them.
    retries: { attempts: 2, budget: 1 }
    passiveHealth: { failures: 1000 }
${route}`);
    const pool = client(gw, 4);
    try {
      for (let i = 0; i < 10; i++) {
        const r = await send(pool, '/x');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-upstream'], 'a');
      }
      assert.equal(a.received.length, 10);
      for (const m of ['HEAD', 'OPTIONS', 'PUT', 'DELETE']) assert.equal((await send(pool, '/x', { method: m })).status, 200, m);
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
    }
  });

  test('POST is not retried by default: 502 GH_UPSTREAM_UNAVAILABLE when it meets the refused target', { timeout: 10_000 }, async () => {
    const a = await statusUpstream('a', 200);
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s: { targets: ["http://127.0.0.1:${dead}", "${a.url}"], passiveHealth: { failures: 1000 } }
${route}`);
    const pool = client(gw, 4);
    try {
      // Round-robin: the first request goes to the first target, the second to the other.
      const first = await send(pool, '/x', { method: 'POST', body: 'order=1' });
      assertProblem(first, 502, 'GH_UPSTREAM_UNAVAILABLE', [a, { port: dead }]);
      assert.equal((await send(pool, '/x', { method: 'POST', body: 'order=2' })).status, 200);
      const noBody = await send(pool, '/x', { method: 'POST' });
      assertProblem(noBody, 502, 'GH_UPSTREAM_UNAVAILABLE');
      assert.equal(a.received.length, 1);
      assert.equal(a.received[0]!.body, 'order=2');
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
    }
  });

  test('`methods: [POST]`: a POST with a body is retried after a connection failure, whole; never after a response', { timeout: 10_000 }, async () => {
    const a = await statusUpstream('a', 200);
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s:
    targets: ["http://127.0.0.1:${dead}", "${a.url}"]
    retries: { attempts: 2, methods: [POST], statuses: [503] }
    passiveHealth: { failures: 1000 }
${route}`);
    const pool = client(gw, 4);
    try {
      // Declared length: the first attempt meets the refused target, the body goes to `a` intact.
      const r1 = await send(pool, '/x', { method: 'POST', body: 'x'.repeat(10_000) });
      assert.equal(r1.status, 200, r1.body);
      assert.equal(JSON.parse(r1.body).bodyBytes, 10_000);
      // Chunked (streamed) body: the same.
      await send(pool, '/x', { method: 'POST', body: 'align' }); // round-robin: put the next pick on the dead target
      const res = await pool.request({ path: '/x', method: 'POST', body: Readable.from([Buffer.from('chunk-1;'), Buffer.from('chunk-2')]) });
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      assert.equal(a.received.at(-1)!.body, 'chunk-1;chunk-2');
      // GET is not in `methods` any more: not retried.
      a.received.length = 0;
      const gets = [await send(pool, '/x'), await send(pool, '/x')];
      assert.deepEqual(gets.map((g) => g.status).sort(), [200, 502]);
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
    }

    // A POST with a body that got a 503 is not retried: the upstream has read the body.
    const busy = await statusUpstream('busy', 503);
    const ok = await statusUpstream('ok', 200);
    const gw2 = await startTestGateway(`
services:
  s:
    targets: ["${busy.url}", "${ok.url}"]
    retries: { attempts: 2, methods: [POST], statuses: [503] }
    passiveHealth: { failures: 1000 }
${route}`);
    const pool2 = client(gw2, 4);
    try {
      const r = await send(pool2, '/x', { method: 'POST', body: 'payload' });
      assert.equal(r.status, 503);
      assert.deepEqual(counts([busy, ok]), { busy: 1, ok: 0 });
      // Without a body, a POST is retried on 503 like any allowed method.
      const r2 = await send(pool2, '/x', { method: 'POST' });
      assert.equal(r2.status, 200);
      assert.equal(r2.headers['x-upstream'], 'ok');
    } finally {
      await pool2.close();
      await gw2.close();
      await busy.close();
      await ok.close();
    }
  });

  test('503 is retried on another target; 500 (not in `statuses`) is passed through', { timeout: 10_000 }, async () => {
    const busy = await statusUpstream('busy', 503);
    const broken = await statusUpstream('broken', 500);
    const ok = await statusUpstream('ok', 200);
    const gw = await startTestGateway(`
services:
  s503: { targets: ["${busy.url}", "${ok.url}"], passiveHealth: { failures: 1000 } }
  s500: { targets: ["${broken.url}", "${ok.url}"], passiveHealth: { failures: 1000 } }
routes:
  - { name: r503, match: { path: /busy }, service: s503 }
  - { name: r500, match: { path: /broken }, service: s500 }
`);
    const pool = client(gw, 4);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await send(pool, '/busy');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-upstream'], 'ok');
      }
      assert.equal(busy.received.length, 3, 'round-robin sent every other first attempt to the 503 target');
      assert.equal(ok.received.length, 6);
      ok.received.length = 0;
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await send(pool, '/broken')).status);
      assert.deepEqual(statuses.sort(), [200, 200, 200, 500, 500, 500]);
      assert.equal(broken.received.length, 3);
      assert.equal(ok.received.length, 3, 'no 500 was retried');
    } finally {
      await pool.close();
      await gw.close();
      await Promise.all([busy, broken, ok].map((u) => u.close()));
    }
  });

  test('`retries: 0` → no retry; with every target failing, attempts stop at 1 + attempts', { timeout: 10_000 }, async () => {
    const b1 = await statusUpstream('b1', 503);
    const b2 = await statusUpstream('b2', 503);
    const ok = await statusUpstream('ok', 200);
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  none: { targets: ["${b1.url}", "${ok.url}"], retries: 0, passiveHealth: { failures: 1000 } }
  refused: { targets: ["http://127.0.0.1:${dead}", "${ok.url}"], retries: 0, passiveHealth: { failures: 1000 } }
  three: { targets: ["${b1.url}", "${b2.url}"], retries: 2, passiveHealth: { failures: 1000 } }
routes:
  - { name: none, match: { path: /none }, service: none }
  - { name: refused, match: { path: /refused }, service: refused }
  - { name: three, match: { path: /three }, service: three }
`);
    const pool = client(gw, 4);
    try {
      assert.equal((await send(pool, '/none')).status, 503);
      assert.equal((await send(pool, '/none')).status, 200);
      assert.equal(b1.received.length, 1);
      assert.equal(ok.received.length, 1);
      assertProblem(await send(pool, '/refused'), 502, 'GH_UPSTREAM_UNAVAILABLE');
      assert.equal(ok.received.length, 1);

      b1.received.length = 0;
      const r = await send(pool, '/three');
      assert.equal(r.status, 503, 'the last attempt\'s answer is passed through');
      // 1 try + 2 retries, alternating between the two targets (a retry avoids the target just tried).
      assert.equal(b1.received.length + b2.received.length, 3);
      assert.ok(b1.received.length >= 1 && b2.received.length >= 1);
    } finally {
      await pool.close();
      await gw.close();
      await Promise.all([b1, b2, ok].map((u) => u.close()));
    }
  });

  test('retry budget 0.2: extra attempts stay within 20% of requests plus the per-second floor', { timeout: 20_000 }, async (t) => {
    const b1 = await statusUpstream('b1', 503);
    const b2 = await statusUpstream('b2', 503);
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${b1.url}", "${b2.url}"]
    retries: { attempts: 2, statuses: [503], budget: 0.2 }
    passiveHealth: { failures: 100000 }
${route}`);
    const pool = client(gw, 8);
    try {
      const N = 400;
      const t0 = Date.now();
      await runPool(N, 8, async () => { assert.equal((await send(pool, '/x')).status, 503); });
      const seconds = Math.ceil((Date.now() - t0) / 1000);
      const attempts = b1.received.length + b2.received.length;
      const extra = attempts - N;
      // Each clock second may add up to the floor's retries beyond the ratio; the run spans `seconds` + 1 of them at most.
      const bound = 0.2 * N + RETRY_FLOOR_PER_SECOND * (seconds + 1);
      t.diagnostic(`${N} requests, ${attempts} upstream attempts: ${extra} retries (bound ${bound}; without a budget: ${2 * N})`);
      assert.ok(extra <= bound, `${extra} retries exceed the budget bound ${bound}`);
      assert.ok(extra >= 0.2 * N - 2, `${extra} retries: the budget should be spent, not withheld`);
    } finally {
      await pool.close();
      await gw.close();
      await b1.close();
      await b2.close();
    }
  });
});
