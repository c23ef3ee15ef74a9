/**
 * The circuit breaker through the real gateway: `failures` consecutive failures open it, and then the
 * gateway answers 503 GH_CIRCUIT_OPEN with Retry-After at once without calling the service; after
 * `cooldown` one trial goes through; its success closes the circuit, its failure opens it again. Each
 * transition is logged.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { startUpstream, echo, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { assertProblem, client, events, send, sleep } from './upstreams-support.js';

interface Flaky extends Upstream { status: number; delayMs: number }

async function flaky(name: string): Promise<Flaky> {
  const up = (await startUpstream(name)) as Flaky;
  up.status = 200;
  up.delayMs = 0;
  const base = echo(name);
  up.handler = (req, res, r) => {
    const answer = (): void => {
      if (up.status === 200) base(req, res, r);
      else res.writeHead(up.status).end('failing');
    };
    if (up.delayMs > 0) setTimeout(answer, up.delayMs); else answer();
  };
  return up;
}

/**
 * The breaker cooldown of the first test, in ms. The checks made while the circuit is open must all fit in
 * one cooldown: a second leaves a loaded machine most of it as slack (300 ms left little), and the sleeps
 * that wait past a cooldown are exact lower bounds. Retry-After is still 1 (whole seconds, rounded up).
 */
const COOLDOWN = 1000;

describe('circuit breaker', () => {
  test('opens after `failures` failures, refuses without calling the service, half-opens after `cooldown`; a failed trial reopens, a good one closes', { timeout: 15_000 }, async () => {
    const up = await flaky('up');
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${up.url}"]
    retries: 0
    passiveHealth: { failures: 1000 }
    circuitBreaker: { failures: 3, cooldown: ${COOLDOWN}ms }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 8);
    try {
      // Two failures, a success (resets the run), then three failures in a row.
      up.status = 502;
      assert.equal((await send(pool, '/x')).status, 502);
      assert.equal((await send(pool, '/x')).status, 502);
      up.status = 200;
      assert.equal((await send(pool, '/x')).status, 200);
      up.status = 503;
      for (let i = 0; i < 2; i++) assert.equal((await send(pool, '/x')).status, 503);
      assert.equal(events(gw, 'circuit_open').length, 0, 'not open before the third consecutive failure');
      assert.equal((await send(pool, '/x')).status, 503, 'the third failure is the upstream\'s own answer');
      const open = events(gw, 'circuit_open');
      assert.equal(open.length, 1);
      assert.equal(open[0]!.service, 's');
      assert.equal(open[0]!.from, 'closed');
      assert.equal(open[0]!.level, 40);
      const openedAt = Date.now();

      // Open: answered by the gateway at once, the upstream is not called.
      const calls = up.received.length;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const r = await send(pool, '/x');
        // At once: not held until the circuit half-opens (a cooldown away).
        assert.ok(performance.now() - t0 < COOLDOWN / 2, 'an open circuit answers at once');
        assertProblem(r, 503, 'GH_CIRCUIT_OPEN', [up]);
        assert.equal(r.headers['retry-after'], '1');
      }
      assert.equal(up.received.length, calls, 'no request reached the service while the circuit was open');

      // After the cooldown: one trial at a time (halfOpenRequests: 1). It fails (slowly): the others that
      // arrive meanwhile are refused, and the circuit opens again.
      await sleep(Math.max(0, COOLDOWN + 50 - (Date.now() - openedAt)));
      up.status = 502;
      up.delayMs = 150;
      const burst = await Promise.all(Array.from({ length: 5 }, () => send(pool, '/x')));
      assert.equal(up.received.length, calls + 1, 'exactly one trial request');
      assert.deepEqual(burst.map((r) => r.status).sort(), [502, 503, 503, 503, 503]);
      for (const r of burst.filter((x) => x.status === 503)) assert.equal(JSON.parse(r.body).code, 'GH_CIRCUIT_OPEN');
      assert.equal(events(gw, 'circuit_half_open').length, 1);
      assert.equal(events(gw, 'circuit_open').length, 2, 'a failed trial opens the circuit again');
      const reopenedAt = Date.now();
      assertProblem(await send(pool, '/x'), 503, 'GH_CIRCUIT_OPEN');

      // After another cooldown the trial succeeds: closed, and traffic flows.
      up.status = 200;
      up.delayMs = 0;
      await sleep(Math.max(0, COOLDOWN + 50 - (Date.now() - reopenedAt)));
      assert.equal((await send(pool, '/x')).status, 200);
      const closed = events(gw, 'circuit_closed');
      assert.equal(closed.length, 1);
      assert.equal(closed[0]!.from, 'half-open');
      assert.equal(closed[0]!.level, 30);
      const before = up.received.length;
      for (let i = 0; i < 10; i++) assert.equal((await send(pool, '/x')).status, 200);
      assert.equal(up.received.length, before + 10);
    } finally {
      await pool.close();
      await gw.close();
      await up.close();
    }
  });

  test('a trial that ends on the client\'s side (body over the limit) gives its half-open slot back', { timeout: 10_000 }, async () => {
    const up = await flaky('up');
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${up.url}"]
    retries: 0
    passiveHealth: { failures: 1000 }
    circuitBreaker: { failures: 1, cooldown: 300ms }
routes:
  - { name: r, match: { path: /* }, service: s, body-limit: 1kb }
`);
    const pool = client(gw, 2);
    try {
      up.status = 502;
      assert.equal((await send(pool, '/x')).status, 502);
      assert.equal(events(gw, 'circuit_open').length, 1);
      await sleep(350);
      // The trial is a chunked upload that exceeds the route's body limit: the gateway stops it (413), which
      // says nothing about the service's health.
      const res = await pool.request({ path: '/upload', method: 'POST', body: Readable.from([Buffer.alloc(800, 'a'), Buffer.alloc(800, 'b')]) })
        .then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), () => ({ status: 0, body: '' }));
      if (res.status !== 0) assertProblem({ ...res, headers: { 'content-type': 'application/problem+json' } }, 413, 'GH_BODY_TOO_LARGE');
      // The slot is free again at once: the next request is the trial, succeeds and closes the circuit.
      up.status = 200;
      const next = await send(pool, '/x');
      assert.equal(next.status, 200, next.body);
      assert.equal(events(gw, 'circuit_closed').length, 1);
    } finally {
      await pool.close();
      await gw.close();
      await up.close();
    }
  });

  test('connection failures open it too; Retry-After counts the seconds left', { timeout: 10_000 }, async () => {
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s:
    targets: ["http://127.0.0.1:${dead}"]
    retries: 0
    passiveHealth: { failures: 1000 }
    circuitBreaker: { failures: 2, cooldown: 5s }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      assertProblem(await send(pool, '/x'), 502, 'GH_UPSTREAM_UNAVAILABLE', [{ port: dead }]);
      assertProblem(await send(pool, '/x'), 502, 'GH_UPSTREAM_UNAVAILABLE', [{ port: dead }]);
      const r = await send(pool, '/x');
      assertProblem(r, 503, 'GH_CIRCUIT_OPEN', [{ port: dead }]);
      assert.equal(r.headers['retry-after'], '5');
      assert.equal(events(gw, 'circuit_open').length, 1);
    } finally {
      await pool.close();
      await gw.close();
    }
  });
});
