/**
 * Balancer tests: one conformance suite run against every kind (the contract in types.ts), then what is
 * particular to each algorithm: weight ratios, load preference, and the consistent-hash ring's stability.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BALANCER_KINDS,
  ConsistentHashBalancer,
  LeastConnectionsBalancer,
  RandomBalancer,
  RoundRobinBalancer,
  SingleTargetBalancer,
  createBalancer,
  hash32,
  type Balancer,
  type BalancerTarget,
} from './index.js';

/** FakeTarget is a target whose live state the test sets by hand. */
class FakeTarget implements BalancerTarget {
  active = 0;
  available = true;
  constructor(readonly id: string, readonly weight = 1) {}
}

function targets(...weights: number[]): FakeTarget[] {
  return weights.map((w, i) => new FakeTarget(`http://10.0.0.${i + 1}:80`, w));
}

/** mulberry32 is a tiny seeded PRNG, so statistical tests are deterministic. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function counts<T extends BalancerTarget>(b: Balancer<T>, ts: readonly T[], picks: number, key?: (i: number) => string): number[] {
  const out = ts.map(() => 0);
  for (let i = 0; i < picks; i++) {
    const t = b.pick(key === undefined ? undefined : key(i), null);
    assert.ok(t !== null);
    out[ts.indexOf(t)]++;
  }
  return out;
}

function assertShares(actual: number[], weights: number[], tolerance: number): void {
  const total = actual.reduce((a, b) => a + b, 0);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    const expected = (total * weights[i]) / weightSum;
    const error = Math.abs(actual[i] - expected) / expected;
    assert.ok(error <= tolerance, `target ${i}: ${actual[i]} picks, expected ${expected.toFixed(0)} (off by ${(error * 100).toFixed(1)}%)`);
  }
}

describe('balancer conformance', () => {
  for (const kind of BALANCER_KINDS) {
    for (const weights of [[1], [1, 1, 1], [1, 2, 3, 1, 5]]) {
      describe(`${kind} over ${weights.length} target(s)`, () => {
        const keyOf = (i: number): string | undefined => (i % 3 === 0 ? undefined : `key-${i}`);

        test('returns null when no target is available', () => {
          const ts = targets(...weights);
          const b = createBalancer(kind, ts);
          for (const t of ts) t.available = false;
          for (let i = 0; i < 20; i++) {
            assert.equal(b.pick(keyOf(i), null), null);
            assert.equal(b.pick(keyOf(i), ts[i % ts.length]), null);
          }
        });

        test('never returns an unavailable target, and avoids `avoid` when it can', () => {
          const ts = targets(...weights);
          const b = createBalancer(kind, ts);
          const rnd = mulberry32(7);
          for (let round = 0; round < 300; round++) {
            for (const t of ts) {
              t.available = rnd() < 0.6;
              t.active = Math.floor(rnd() * 4);
            }
            const avoid = rnd() < 0.3 ? null : ts[Math.floor(rnd() * ts.length)];
            const others = ts.filter((t) => t.available && t !== avoid).length;
            for (let i = 0; i < 10; i++) {
              const got = b.pick(keyOf(round * 10 + i), avoid);
              if (others > 0) {
                assert.ok(got !== null && got.available && got !== avoid, `round ${round}: got ${got?.id}`);
              } else if (avoid !== null && avoid.available) {
                assert.equal(got, avoid, 'avoid is the only available target: a retry to it beats none');
              } else {
                assert.equal(got, null);
              }
            }
          }
        });

        test('reaches every available target', () => {
          const ts = targets(...weights);
          const b = createBalancer(kind, ts);
          ts[ts.length - 1].available = ts.length === 1;
          const seen = new Set<BalancerTarget>();
          for (let i = 0; i < 2000; i++) seen.add(b.pick(keyOf(i), null)!);
          assert.equal(seen.size, Math.max(1, ts.length - 1));
        });
      });
    }
  }

  test('a single target gets the trivial balancer, whatever the kind', () => {
    for (const kind of BALANCER_KINDS) assert.ok(createBalancer(kind, targets(3)) instanceof SingleTargetBalancer);
  });

  test('createBalancer rejects targets that break the contract', () => {
    assert.throws(() => createBalancer('round-robin', []), /at least one target/);
    assert.throws(() => createBalancer('random', targets(1, 0)), /weight 0; expected an integer >= 1/);
    assert.throws(() => createBalancer('random', targets(1, 1.5)), /weight 1.5/);
    const dup = [new FakeTarget('a'), new FakeTarget('a')];
    assert.throws(() => createBalancer('least-connections', dup), /target a is listed twice/);
  });
});

describe('round-robin', () => {
  test('weights 1:2:3 over 10,000 picks are within 5%', () => {
    const ts = targets(1, 2, 3);
    assertShares(counts(new RoundRobinBalancer(ts), ts, 10_000), [1, 2, 3], 0.05);
  });

  test('is smooth: weights 5:1:1 interleave as nginx does (a a b a c a a)', () => {
    const ts = targets(5, 1, 1);
    const b = new RoundRobinBalancer(ts);
    const seq = [];
    for (let i = 0; i < 7; i++) seq.push('abc'[ts.indexOf(b.pick(undefined, null)!)]);
    assert.equal(seq.join(' '), 'a a b a c a a');
  });

  test('an unavailable target sits out and the rest keep their ratio', () => {
    const ts = targets(1, 2, 3);
    ts[1].available = false;
    const got = counts(new RoundRobinBalancer(ts), ts, 4000);
    assert.deepEqual(got, [1000, 0, 3000]);
  });
});

describe('least-connections', () => {
  test('prefers the idle target', () => {
    const ts = targets(1, 1, 1);
    ts[0].active = 5;
    ts[2].active = 3;
    const b = new LeastConnectionsBalancer(ts);
    for (let i = 0; i < 10; i++) assert.equal(b.pick(undefined, null), ts[1]);
  });

  test('compares load per unit of weight', () => {
    const ts = targets(1, 3);
    ts[0].active = 1; // 1 per unit
    ts[1].active = 2; // 0.67 per unit
    assert.equal(new LeastConnectionsBalancer(ts).pick(undefined, null), ts[1]);
  });

  test('ties rotate instead of always going to the first target', () => {
    const ts = targets(1, 1, 1);
    assert.deepEqual(counts(new LeastConnectionsBalancer(ts), ts, 300), [100, 100, 100]);
    ts[0].active = 1;
    const b = new LeastConnectionsBalancer(ts);
    assert.deepEqual([b.pick(undefined, null), b.pick(undefined, null), b.pick(undefined, null)], [ts[1], ts[2], ts[1]]);
  });

  test('idle targets share ties in proportion to weight', () => {
    const ts = targets(1, 2, 3);
    assert.deepEqual(counts(new LeastConnectionsBalancer(ts), ts, 600), [100, 200, 300]);
  });

  test('spreads concurrent requests by weight as they pile up', () => {
    const ts = targets(1, 2, 3);
    const b = new LeastConnectionsBalancer(ts);
    for (let i = 0; i < 60; i++) b.pick(undefined, null)!.active++;
    assert.deepEqual(ts.map((t) => t.active), [10, 20, 30]);
  });
});

describe('random (power of two choices)', () => {
  test('weights 1:2:3 over 10,000 picks are within 5% (seeded)', () => {
    const ts = targets(1, 2, 3);
    assertShares(counts(new RandomBalancer(ts, mulberry32(42)), ts, 10_000), [1, 2, 3], 0.05);
  });

  test('of two targets it always takes the less loaded one', () => {
    const ts = targets(1, 1);
    ts[0].active = 4;
    const b = new RandomBalancer(ts, mulberry32(1));
    for (let i = 0; i < 100; i++) assert.equal(b.pick(undefined, null), ts[1]);
  });

  test('an idle target among busy ones gets most of the traffic', () => {
    const ts = targets(1, 1, 1, 1);
    for (const t of ts) t.active = 10;
    ts[2].active = 0;
    const got = counts(new RandomBalancer(ts, mulberry32(3)), ts, 10_000);
    // It is in the drawn pair with probability 1/2.
    assert.ok(got[2] > 4500 && got[2] < 5500, `idle target got ${got[2]}`);
  });

  test('with one available target it takes it', () => {
    const ts = targets(1, 1, 1);
    ts[0].available = false;
    ts[2].available = false;
    const b = new RandomBalancer(ts, mulberry32(5));
    for (let i = 0; i < 20; i++) assert.equal(b.pick(undefined, null), ts[1]);
  });
});

describe('consistent-hash', () => {
  const KEYS = 10_000;
  const key = (i: number): string => `user-${i}`;

  test('hash32 is pinned: changing it remaps every key on every gateway', () => {
    assert.equal(hash32(''), hash32(''));
    // FNV-1a('gatehouse') then fmix32, checked against an independent implementation.
    assert.equal(hash32('gatehouse'), 0x0e684471);
    assert.notEqual(hash32('user-1'), hash32('user-2'));
  });

  test('the same key always goes to the same target, whatever order targets are listed in', () => {
    const ts = targets(1, 1, 1);
    const a = new ConsistentHashBalancer(ts);
    const b = new ConsistentHashBalancer([...ts].reverse());
    for (let i = 0; i < 1000; i++) {
      const first = a.pick(key(i), null);
      assert.equal(a.pick(key(i), null), first);
      assert.equal(b.pick(key(i), null), first);
    }
  });

  test('keys spread evenly over equal targets, and by weight over weighted ones', () => {
    const even = targets(1, 1, 1);
    assertShares(counts(new ConsistentHashBalancer(even), even, KEYS, key), [1, 1, 1], 0.15);
    const weighted = targets(1, 2, 3);
    assertShares(counts(new ConsistentHashBalancer(weighted), weighted, KEYS, key), [1, 2, 3], 0.15);
  });

  test('when one of three targets leaves, no other key moves and its keys spread over the other two', () => {
    const ts = targets(1, 1, 1);
    const b = new ConsistentHashBalancer(ts);
    const before = [];
    for (let i = 0; i < KEYS; i++) before.push(b.pick(key(i), null)!);
    const gone = ts[1];
    gone.available = false;
    const movedTo = new Map<BalancerTarget, number>();
    for (let i = 0; i < KEYS; i++) {
      const now = b.pick(key(i), null)!;
      if (before[i] !== gone) assert.equal(now, before[i], `key ${key(i)} moved although its target stayed`);
      else movedTo.set(now, (movedTo.get(now) ?? 0) + 1);
    }
    const moved = before.filter((t) => t === gone).length;
    assert.equal(movedTo.size, 2);
    for (const [t, n] of movedTo) assert.ok(n > moved * 0.3, `${t.id} took only ${n} of ${moved} moved keys`);

    // And when it comes back, every key returns to where it was.
    gone.available = true;
    for (let i = 0; i < KEYS; i++) assert.equal(b.pick(key(i), null), before[i]);
  });

  test('avoiding a key\'s owner sends it where the owner leaving would', () => {
    const ts = targets(1, 2, 1);
    const b = new ConsistentHashBalancer(ts);
    for (let i = 0; i < 2000; i++) {
      const owner = b.pick(key(i), null)!;
      const retry = b.pick(key(i), owner);
      owner.available = false;
      assert.equal(b.pick(key(i), null), retry);
      owner.available = true;
    }
  });

  test('without a hash key it falls back to round-robin', () => {
    const ts = targets(1, 2, 3);
    assert.deepEqual(counts(new ConsistentHashBalancer(ts), ts, 600), [100, 200, 300]);
  });
});
