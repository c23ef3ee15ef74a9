/**
 * Micro-benchmark of `Balancer.pick()` for every kind, with 3 and 20 targets: the cost the balancer adds to
 * each proxied request. A plain loop timed with performance.now(); the targets' `active` counts move as the
 * picks go so least-connections and power-of-two-choices do real comparisons, and consistent hashing gets a
 * different key each pick (hash + binary search), from a list built before timing.
 *
 * Run after a build: `node dist/bench/micro/balancers.js`.
 */
import { BALANCER_KINDS, createBalancer, type BalancerKind, type BalancerTarget } from '../../src/upstreams/balancers/index.js';

const PICKS = 2_000_000;
const WARMUP = 200_000;
const KEYS = 4096; // a power of two, so the key index is a mask

class BenchTarget implements BalancerTarget {
  active = 0;
  available = true;
  constructor(readonly id: string, readonly weight: number) {}
}

function run(kind: BalancerKind, size: number): number {
  const targets: BenchTarget[] = [];
  for (let i = 0; i < size; i++) targets.push(new BenchTarget(`http://10.0.${i >> 8}.${i & 255}:8080`, 1 + (i % 3)));
  const keys: string[] = [];
  for (let i = 0; i < KEYS; i++) keys.push(`session-${i * 7919}`);
  const balancer = createBalancer(kind, targets);
  const loop = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const t = balancer.pick(keys[i & (KEYS - 1)], null)!;
      // Keep a little load on the targets: one request in, one (elsewhere) out.
      t.active++;
      const other = targets[i % size];
      if (other.active > 0) other.active--;
    }
  };
  loop(WARMUP);
  const start = performance.now();
  loop(PICKS);
  return ((performance.now() - start) * 1e6) / PICKS;
}

console.log(`balancer pick(), ${PICKS.toLocaleString('en')} picks each (includes ~1-2 ns of loop bookkeeping)`);
for (const size of [3, 20]) {
  for (const kind of BALANCER_KINDS) {
    console.log(`${kind.padEnd(18)} ${String(size).padStart(2)} targets  ${run(kind, size).toFixed(1).padStart(6)} ns/pick`);
  }
}
