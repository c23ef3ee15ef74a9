/**
 * Target health through the real gateway: active health checks (probes eject and re-admit a target, with
 * their log events), passive health (consecutive failures from real traffic eject a target for a cooldown,
 * then exactly one trial request decides), and the answer when no target is left.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, echo, freePort, type Upstream, type UpstreamHandler } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { assertProblem, client, counts, events, resetReceived, runPool, send, sleep, waitFor } from './upstreams-support.js';

/** A switchable upstream: `/health` answers 200 or 503; every other path answers `status` (echo when 200). */
interface Switchable extends Upstream {
  healthy: boolean;
  status: number;
  /** Verdicts of the probes answered, in order. */
  probes: boolean[];
  /** Delay before answering a non-health request, in ms. */
  delayMs: number;
}

async function switchable(name: string): Promise<Switchable> {
  const up = (await startUpstream(name)) as Switchable;
  up.healthy = true;
  up.status = 200;
  up.probes = [];
  up.delayMs = 0;
  const base = echo(name);
  const handler: UpstreamHandler = (req, res, r) => {
    if (req.url === '/health') {
      up.probes.push(up.healthy);
      res.writeHead(up.healthy ? 200 : 503).end();
      return;
    }
    const answer = (): void => {
      if (up.status === 200) base(req, res, r);
      else res.writeHead(up.status, { 'x-upstream': name }).end('upstream says no');
    };
    if (up.delayMs > 0) setTimeout(answer, up.delayMs); else answer();
  };
  up.handler = handler;
  return up;
}

/** onEvent calls `fn` synchronously when the gateway logs `event` (the log sink pushes as pino writes). */
function onEvent(gw: TestGateway, event: string, fn: (line: Record<string, unknown>) => void): void {
  const logs = gw.logs;
  const push = logs.push.bind(logs);
  logs.push = (...items: Record<string, unknown>[]): number => {
    for (const l of items) if (l.event === event) fn(l);
    return push(...items);
  };
}

const nonHealth = (u: Upstream): number => u.received.filter((r) => r.url !== '/health').length;

/**
 * The passive-health cooldown of the tests below, in ms. Each phase of a test must fit inside a cooldown
 * (or a doubled one) while some traffic runs: a second leaves a loaded machine hundreds of ms of slack
 * where 300-400 ms left it little, and the sleeps that wait past a cooldown are exact lower bounds.
 */
const COOLDOWN = 1000;

describe('active health checks', () => {
  test('a target failing `unhealthy` probes is ejected and avoided; `healthy` successes re-admit it', { timeout: 20_000 }, async () => {
    const a = await switchable('a');
    const b = await switchable('b');
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${a.url}", "${b.url}"]
    healthCheck: { path: /health, interval: 100ms, timeout: 300ms, unhealthy: 3, healthy: 2 }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 4);
    try {
      await waitFor(() => b.probes.length >= 2, 2000, 'the first probes');
      assert.ok(b.received.some((r) => r.url === '/health' && r.headers['user-agent'] === 'gatehouse-health-check'));
      for (let i = 0; i < 10; i++) assert.equal((await send(pool, '/x')).status, 200);
      assert.deepEqual(counts([a, b], '/x'), { a: 5, b: 5 });

      // b starts failing: it must take exactly 3 failed probes (no fewer) to be ejected.
      let failedAtEjection = -1;
      onEvent(gw, 'target_ejected', () => { failedAtEjection = b.probes.filter((ok) => !ok).length; });
      const t0 = Date.now();
      b.healthy = false;
      await waitFor(() => events(gw, 'target_ejected').length > 0, 3000, 'b to be ejected');
      const ejectedAfter = Date.now() - t0;
      assert.equal(failedAtEjection, 3, 'failed probes when the target was ejected');
      const ejected = events(gw, 'target_ejected')[0]!;
      assert.equal(ejected.target, b.url);
      assert.equal(ejected.service, 's');
      assert.equal(ejected.reason, 'health check');
      assert.equal(ejected.level, 40, 'an ejection is a warning');
      assert.ok(ejectedAfter >= 150 && ejectedAfter < 2000, `ejected after ${ejectedAfter} ms`);

      resetReceived([a, b]);
      await runPool(30, 4, async () => { assert.equal((await send(pool, '/x')).status, 200); });
      assert.deepEqual(counts([a, b], '/x'), { a: 30, b: 0 });

      // b recovers: 2 good probes in a row re-admit it, not 1.
      let goodAtReadmission = -1;
      const probesBefore = b.probes.length;
      onEvent(gw, 'target_healthy', () => { goodAtReadmission = b.probes.slice(probesBefore).filter((ok) => ok).length; });
      b.healthy = true;
      await waitFor(() => events(gw, 'target_healthy').length > 0, 3000, 'b to be healthy again');
      assert.equal(goodAtReadmission, 2, 'good probes when the target was re-admitted');
      assert.equal(events(gw, 'target_healthy')[0]!.target, b.url);
      resetReceived([a, b]);
      for (let i = 0; i < 10; i++) assert.equal((await send(pool, '/x')).status, 200);
      assert.deepEqual(counts([a, b], '/x'), { a: 5, b: 5 });
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  test('a target that refuses connections fails its probes too; no healthy target → 503 GH_NO_HEALTHY_TARGET', { timeout: 15_000 }, async () => {
    const a = await switchable('a');
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${a.url}", "http://127.0.0.1:${dead}"]
    healthCheck: { path: /health, interval: 100ms, timeout: 300ms, unhealthy: 1, healthy: 1 }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 4);
    try {
      await waitFor(() => events(gw, 'target_ejected').length === 1, 3000, 'the refused target to be ejected');
      assert.equal(events(gw, 'target_ejected')[0]!.target, `http://127.0.0.1:${dead}`);
      resetReceived([a]);
      for (let i = 0; i < 6; i++) assert.equal((await send(pool, '/x')).status, 200);
      assert.equal(nonHealth(a), 6);

      a.healthy = false;
      await waitFor(() => events(gw, 'target_ejected').length === 2, 3000, 'the last target to be ejected');
      resetReceived([a]);
      const r = await send(pool, '/x');
      assertProblem(r, 503, 'GH_NO_HEALTHY_TARGET', [a, { port: dead }]);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(nonHealth(a), 0, 'no request reaches an ejected target');
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
    }
  });
});

describe('passive health', () => {
  test('consecutive 502/503/504 eject a target for `cooldown`; then one trial: failure doubles the ejection, success re-admits', { timeout: 20_000 }, async () => {
    const a = await switchable('a');
    const b = await switchable('b');
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${a.url}", "${b.url}"]
    retries: 0
    passiveHealth: { failures: 3, cooldown: ${COOLDOWN}ms, maxCooldown: ${8 * COOLDOWN}ms }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 16);
    try {
      // b answers 502, 503, 504 in turn: each counts. Round-robin alternates a, b.
      const statuses = [502, 503, 504];
      for (let i = 0; i < 6; i++) {
        if (i % 2 === 1) b.status = statuses[(i - 1) / 2]!;
        const r = await send(pool, '/x');
        assert.equal(r.status, i % 2 === 0 ? 200 : b.status, 'the upstream\'s own failure status passes through');
      }
      const ej = events(gw, 'target_ejected');
      assert.equal(ej.length, 1);
      assert.equal(ej[0]!.target, b.url);
      assert.equal(ej[0]!.reason, 'consecutive failures');
      const ejectedAt = Date.now();

      // During the cooldown every request goes to a.
      resetReceived([a, b]);
      await runPool(20, 4, async () => { assert.equal((await send(pool, '/x')).status, 200); });
      assert.deepEqual(counts([a, b]), { a: 20, b: 0 });

      // After the cooldown: exactly one trial reaches b, even with 10 requests in flight at once.
      await sleep(Math.max(0, COOLDOWN + 50 - (Date.now() - ejectedAt)));
      resetReceived([a, b]);
      b.delayMs = 150; // the trial takes a while, so the others are picked while it is in flight
      b.status = 503;
      const burst = await Promise.all(Array.from({ length: 10 }, () => send(pool, '/x')));
      assert.deepEqual(counts([a, b]), { a: 9, b: 1 }, 'one trial request in half-open');
      assert.equal(burst.filter((r) => r.status === 503).length, 1);
      // The trial failed: ejected again, for twice the cooldown.
      const again = events(gw, 'target_ejected');
      assert.equal(again.length, 2);
      const reEjectedAt = Date.now();
      // Past one cooldown (it really was doubled), with most of the second one left for the requests.
      await sleep(COOLDOWN + 100);
      resetReceived([a, b]);
      for (let i = 0; i < 6; i++) await send(pool, '/x');
      assert.equal(counts([a, b]).b, 0, `still ejected ${COOLDOWN + 100} ms into a doubled (${2 * COOLDOWN} ms) cooldown`);

      // b recovers; after the doubled cooldown one trial succeeds and b is re-admitted.
      b.status = 200;
      b.delayMs = 0;
      await sleep(Math.max(0, 2 * COOLDOWN + 50 - (Date.now() - reEjectedAt)));
      resetReceived([a, b]);
      for (let i = 0; i < 10; i++) assert.equal((await send(pool, '/x')).status, 200);
      assert.ok(counts([a, b]).b! >= 4, `b back in rotation: ${JSON.stringify(counts([a, b]))}`);
      const readmitted = events(gw, 'target_readmitted');
      assert.equal(readmitted.length, 1);
      assert.equal(readmitted[0]!.target, b.url);
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  test('a success resets the count: failures must be consecutive', { timeout: 10_000 }, async () => {
    const b = await switchable('b');
    const gw = await startTestGateway(`
services:
  s: { targets: ["${b.url}"], retries: 0, passiveHealth: { failures: 3, cooldown: 10s } }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      for (let round = 0; round < 4; round++) {
        b.status = 502;
        assert.equal((await send(pool, '/x')).status, 502);
        assert.equal((await send(pool, '/x')).status, 502);
        b.status = 200;
        assert.equal((await send(pool, '/x')).status, 200);
      }
      assert.equal(events(gw, 'target_ejected').length, 0);
      // 500 is not in passiveHealth.statuses: never a failure.
      b.status = 500;
      for (let i = 0; i < 5; i++) assert.equal((await send(pool, '/x')).status, 500);
      assert.equal(events(gw, 'target_ejected').length, 0);
    } finally {
      await pool.close();
      await gw.close();
      await b.close();
    }
  });

  test('connection failures count: a refused target is ejected and then skipped without a connect attempt', { timeout: 10_000 }, async () => {
    const a = await switchable('a');
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s:
    targets: ["http://127.0.0.1:${dead}", "${a.url}"]
    retries: 0
    passiveHealth: { failures: 2, cooldown: ${COOLDOWN}ms }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) replies.push(await send(pool, '/x'));
      // Round-robin starts with the dead target: refused, ok, refused (ejected), ok.
      assert.deepEqual(replies.map((r) => r.status), [502, 200, 502, 200]);
      assertProblem(replies[0]!, 502, 'GH_UPSTREAM_UNAVAILABLE', [a, { port: dead }]);
      assert.equal(events(gw, 'target_ejected').length, 1);
      const ejectedAt = Date.now();
      for (let i = 0; i < 10; i++) assert.equal((await send(pool, '/x')).status, 200);
      // After the cooldown, one trial goes to the dead target and fails: 502 once, then ejected again.
      await sleep(Math.max(0, COOLDOWN + 50 - (Date.now() - ejectedAt)));
      const after = [];
      for (let i = 0; i < 6; i++) after.push((await send(pool, '/x')).status);
      assert.equal(after.filter((s) => s === 502).length, 1, `one trial after the cooldown: ${after.join(' ')}`);
      assert.equal(events(gw, 'target_ejected').length, 2);
    } finally {
      await pool.close();
      await gw.close();
      await a.close();
    }
  });
});
