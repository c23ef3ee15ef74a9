/**
 * Unit tests for the per-service and per-target state machines: the circuit breaker, passive health
 * (outlier ejection) and the retry budget. Time is a ManualClock, so no test sleeps.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../core/clock.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { PassiveHealth } from './passive-health.js';
import { RetryBudget } from './retry-budget.js';

describe('CircuitBreaker', () => {
  function breaker(halfOpenRequests = 1): { b: CircuitBreaker; clock: ManualClock; log: string[] } {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ failures: 3, cooldownMs: 5000, halfOpenRequests }, clock.now);
    const log: string[] = [];
    b.onStateChange = (from: CircuitState, to: CircuitState) => log.push(`${from}->${to}`);
    return { b, clock, log };
  }
  function trip(b: CircuitBreaker): void {
    for (let i = 0; i < 3; i++) {
      assert.equal(b.allow(), true);
      b.onFailure();
    }
  }

  test('stays closed below the failure threshold, and a success resets the run', () => {
    const { b, log } = breaker();
    b.onFailure();
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    b.onFailure();
    assert.equal(b.state, 'closed');
    assert.equal(b.allow(), true);
    assert.deepEqual(log, []);
  });

  test('opens after `failures` consecutive failures and refuses requests', () => {
    const { b, log } = breaker();
    trip(b);
    assert.equal(b.state, 'open');
    assert.equal(b.allow(), false);
    assert.deepEqual(log, ['closed->open']);
  });

  test('retryAfterSeconds is the ceiling of the time left open, at least 1', () => {
    const { b, clock } = breaker();
    assert.equal(b.retryAfterSeconds(), 1);
    trip(b);
    assert.equal(b.retryAfterSeconds(), 5);
    clock.advance(1);
    assert.equal(b.retryAfterSeconds(), 5);
    clock.advance(1499);
    assert.equal(b.retryAfterSeconds(), 4);
    clock.advance(3400);
    assert.equal(b.retryAfterSeconds(), 1);
    clock.advance(100);
    assert.equal(b.retryAfterSeconds(), 1);
  });

  test('late results of requests sent before it opened change nothing', () => {
    const { b, clock } = breaker();
    trip(b);
    clock.advance(4000);
    b.onSuccess();
    b.onFailure();
    assert.equal(b.state, 'open');
    assert.equal(b.retryAfterSeconds(), 1, 'a late failure must not extend the cooldown');
  });

  test('turns half-open after the cooldown and admits at most halfOpenRequests trials', () => {
    const { b, clock, log } = breaker(2);
    trip(b);
    clock.advance(4999);
    assert.equal(b.allow(), false);
    clock.advance(1);
    assert.equal(b.state, 'half-open');
    assert.equal(b.allow(), true);
    assert.equal(b.allow(), true);
    assert.equal(b.allow(), false);
    assert.deepEqual(log, ['closed->open', 'open->half-open']);
  });

  test('a trial success closes it', () => {
    const { b, clock, log } = breaker();
    trip(b);
    clock.advance(5000);
    assert.equal(b.allow(), true);
    b.onSuccess();
    assert.equal(b.state, 'closed');
    assert.equal(b.allow(), true);
    assert.deepEqual(log, ['closed->open', 'open->half-open', 'half-open->closed']);
    // The failure run starts over after closing.
    b.onFailure();
    b.onFailure();
    assert.equal(b.state, 'closed');
  });

  test('a trial failure opens it again for a fresh cooldown', () => {
    const { b, clock, log } = breaker();
    trip(b);
    clock.advance(5000);
    assert.equal(b.allow(), true);
    clock.advance(700);
    b.onFailure();
    assert.equal(b.state, 'open');
    assert.equal(b.retryAfterSeconds(), 5);
    clock.advance(4999);
    assert.equal(b.allow(), false);
    clock.advance(1);
    assert.equal(b.allow(), true);
    assert.deepEqual(log, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open']);
  });

  test('release gives a trial slot back without a verdict', () => {
    const { b, clock } = breaker(1);
    trip(b);
    clock.advance(5000);
    assert.equal(b.allow(), true);
    assert.equal(b.allow(), false);
    b.release();
    assert.equal(b.state, 'half-open');
    assert.equal(b.allow(), true);
    assert.equal(b.allow(), false);
  });

  test('release outside half-open is harmless', () => {
    const { b, clock } = breaker(1);
    b.release();
    trip(b);
    b.release();
    clock.advance(5000);
    assert.equal(b.allow(), true);
    assert.equal(b.allow(), false);
  });

  test('trial slots held a whole cooldown with no verdict are reclaimed', () => {
    const { b, clock } = breaker(1);
    trip(b);
    clock.advance(5000);
    assert.equal(b.allow(), true);
    clock.advance(4999);
    assert.equal(b.allow(), false);
    clock.advance(1);
    assert.equal(b.allow(), true);
  });

  test('rejects nonsense options', () => {
    const clock = new ManualClock();
    assert.throws(() => new CircuitBreaker({ failures: 0, cooldownMs: 1, halfOpenRequests: 1 }, clock.now), /failures/);
    assert.throws(() => new CircuitBreaker({ failures: 1, cooldownMs: -1, halfOpenRequests: 1 }, clock.now), /cooldownMs/);
    assert.throws(() => new CircuitBreaker({ failures: 1, cooldownMs: 1, halfOpenRequests: 0 }, clock.now), /halfOpenRequests/);
  });
});

describe('PassiveHealth', () => {
  function health(): { h: PassiveHealth; clock: ManualClock; log: string[] } {
    const clock = new ManualClock();
    clock.t = 1000;
    const h = new PassiveHealth({ failures: 2, cooldownMs: 1000, maxCooldownMs: 5000 }, clock.now);
    const log: string[] = [];
    h.onChange = (ejected: boolean, ms: number) => log.push(`${ejected ? 'ejected' : 'readmitted'} ${ms}`);
    return { h, clock, log };
  }
  function fail(h: PassiveHealth): void {
    h.onDispatch();
    h.onFailure();
  }

  test('is not ejected below the threshold, and a success resets the run', () => {
    const { h, log } = health();
    fail(h);
    h.onSuccess();
    fail(h);
    assert.equal(h.ejected, false);
    assert.equal(h.ejectedUntil, 0);
    assert.deepEqual(log, []);
  });

  test('ejects after `failures` consecutive failures, for cooldownMs', () => {
    const { h, clock, log } = health();
    fail(h);
    fail(h);
    assert.equal(h.ejected, true);
    assert.equal(h.halfOpen, false);
    assert.equal(h.ejectedUntil, 2000);
    assert.deepEqual(log, ['ejected 1000']);
    clock.advance(999);
    assert.equal(h.ejected, true);
    h.onSuccess(); // a late answer to a request sent before the ejection
    assert.equal(h.ejected, true);
  });

  test('after the cooldown it is half-open: available for exactly one trial', () => {
    const { h, clock } = health();
    fail(h);
    fail(h);
    clock.advance(1000);
    assert.equal(h.halfOpen, true);
    assert.equal(h.ejected, false);
    h.onDispatch();
    assert.equal(h.ejected, true, 'the trial is in flight: nobody else may pick the target');
    h.release();
    assert.equal(h.ejected, false, 'a trial with no verdict frees the slot');
  });

  test('a trial success readmits the target and resets everything', () => {
    const { h, clock, log } = health();
    fail(h);
    fail(h);
    clock.advance(1000);
    h.onDispatch();
    h.onSuccess();
    assert.equal(h.ejected, false);
    assert.equal(h.halfOpen, false);
    assert.equal(h.ejectedUntil, 0);
    assert.equal(h.cooldownMs, 1000);
    fail(h);
    assert.equal(h.ejected, false, 'the failure run starts over');
    assert.deepEqual(log, ['ejected 1000', 'readmitted 0']);
  });

  test('each failed trial doubles the cooldown up to maxCooldownMs; a success resets it', () => {
    const { h, clock, log } = health();
    fail(h);
    fail(h);
    const cooldowns = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(h.ejectedUntil - clock.t);
      assert.equal(h.ejected, false);
      fail(h);
      assert.equal(h.ejected, true);
      assert.equal(h.ejectedUntil, clock.t + h.cooldownMs);
      cooldowns.push(h.cooldownMs);
    }
    assert.deepEqual(cooldowns, [2000, 4000, 5000, 5000, 5000]);
    clock.advance(5000);
    h.onDispatch();
    h.onSuccess();
    fail(h);
    fail(h);
    assert.equal(h.cooldownMs, 1000);
    assert.deepEqual(log, ['ejected 1000', 'ejected 2000', 'ejected 4000', 'ejected 5000', 'ejected 5000', 'ejected 5000', 'readmitted 0', 'ejected 1000']);
  });

  test('a trial with no verdict for a whole cooldown is presumed lost', () => {
    const { h, clock } = health();
    fail(h);
    fail(h);
    clock.advance(1000);
    h.onDispatch();
    clock.advance(999);
    assert.equal(h.ejected, true);
    clock.advance(1);
    assert.equal(h.ejected, false);
  });

  test('rejects nonsense options', () => {
    const clock = new ManualClock();
    assert.throws(() => new PassiveHealth({ failures: 0, cooldownMs: 1, maxCooldownMs: 1 }, clock.now), /failures/);
    assert.throws(() => new PassiveHealth({ failures: 1, cooldownMs: 10, maxCooldownMs: 5 }, clock.now), /maxCooldownMs/);
  });
});

describe('RetryBudget', () => {
  function drain(b: RetryBudget): number {
    let n = 0;
    while (b.tryAcquire()) n++;
    return n;
  }

  test('20% of 1000 requests lets exactly 200 retries through', () => {
    for (const minPerSecond of [0, 3]) {
      const clock = new ManualClock();
      const b = new RetryBudget({ ratio: 0.2, minPerSecond, windowMs: 10_000 }, clock.now);
      for (let i = 0; i < 1000; i++) b.onRequest();
      assert.equal(drain(b), 200, `minPerSecond ${minPerSecond}: the floor adds nothing under real traffic`);
    }
  });

  test('defaults are 20%, 3 per second, 10 s', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({}, clock.now);
    for (let i = 0; i < 1000; i++) b.onRequest();
    assert.equal(drain(b), 200);
    clock.advance(9999);
    assert.equal(drain(b), 3, 'still in the window: only the floor');
    clock.advance(1);
    assert.equal(drain(b), 3, 'the requests have left the window: only the floor');
  });

  test('with no traffic the floor allows minPerSecond retries each second', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 3, windowMs: 10_000 }, clock.now);
    assert.equal(drain(b), 3);
    clock.advance(500);
    assert.equal(drain(b), 0, 'same second');
    clock.advance(500);
    assert.equal(drain(b), 3);
    clock.advance(60_000);
    assert.equal(drain(b), 3);
  });

  test('at low traffic the floor, not the ratio, decides', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 3, windowMs: 10_000 }, clock.now);
    for (let i = 0; i < 10; i++) b.onRequest(); // the ratio alone would allow 2
    assert.equal(drain(b), 3);
    clock.advance(1000);
    assert.equal(drain(b), 3);
  });

  test('requests leave the window bucket by bucket', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 3000 }, clock.now);
    for (let i = 0; i < 10; i++) b.onRequest(); // second 0
    clock.advance(1000);
    for (let i = 0; i < 20; i++) b.onRequest(); // second 1
    assert.equal(drain(b), 15);
    clock.advance(2000); // second 3: second 0 has left, 20 requests and 15 retries remain
    assert.equal(drain(b), 0);
    clock.advance(1000); // second 4: second 1 has left too
    assert.equal(drain(b), 0);
    for (let i = 0; i < 4; i++) b.onRequest();
    assert.equal(drain(b), 2);
  });

  test('over any window, retries never exceed ratio x requests plus the per-second floor', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 3, windowMs: 10_000 }, clock.now);
    let seed = 12345;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const requests: number[] = [];
    const retries: number[] = [];
    for (let s = 0; s < 120; s++) {
      let req = 0;
      let ret = 0;
      for (let ms = 0; ms < 1000; ms += 50) {
        const n = Math.floor(rnd() * (s % 30 < 10 ? 20 : 2));
        for (let i = 0; i < n; i++) b.onRequest();
        req += n;
        // Clients that fail a lot: try to retry often.
        for (let i = 0; i < 4; i++) if (b.tryAcquire()) ret++;
        clock.advance(50);
      }
      requests.push(req);
      retries.push(ret);
      assert.ok(ret >= 3, `second ${s}: the floor must always allow 3, got ${ret}`);
    }
    for (let s = 0; s + 10 <= requests.length; s++) {
      let req = 0;
      let ret = 0;
      for (let i = s; i < s + 10; i++) {
        req += requests[i];
        ret += retries[i];
      }
      assert.ok(ret <= 0.2 * req + 3 * 10, `window at ${s}s: ${ret} retries for ${req} requests`);
    }
  });

  test('rejects nonsense options', () => {
    const clock = new ManualClock();
    assert.throws(() => new RetryBudget({ ratio: -1 }, clock.now), /ratio/);
    assert.throws(() => new RetryBudget({ windowMs: 0 }, clock.now), /windowMs/);
  });
});
