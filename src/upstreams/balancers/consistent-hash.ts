/**
 * Consistent hashing on a ring (Karger et al., as in nginx's `hash ... consistent` and Envoy's ring_hash).
 * Each target owns VNODES_PER_WEIGHT points per unit of weight; a key belongs to the first point clockwise
 * from its hash. When the owner is unavailable or is `avoid`, the walk continues clockwise to the next
 * available target, so a target leaving moves only its own keys, and they spread over the others in
 * proportion to weight; a key whose owner stays never moves.
 *
 * The ring is two parallel typed arrays (point hashes sorted, owner indices) built once; a pick is one string
 * hash, one binary search and, usually, one step. With every target down the walk covers the whole ring once
 * (e.g. 3 targets: 480 steps), which is acceptable on a path that is answering 503 anyway.
 */
import { RoundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerTarget } from './types.js';

/**
 * VNODES_PER_WEIGHT is the number of ring points per unit of weight. 160 is ketama's (and nginx's) choice:
 * with 3 targets the largest share stays within a few percent of fair, at a ring of a few KB.
 */
export const VNODES_PER_WEIGHT = 160;

/**
 * hash32 is FNV-1a over the string's UTF-16 code units, finished with murmur3's fmix32. FNV-1a is fast and
 * allocation-free, but alone it leaves near-identical inputs (`a#1`, `a#2`, ...) close together on the ring;
 * the finaliser spreads them. Not cryptographic: a client choosing keys can choose its target, which is what
 * hashing on a client-supplied key means anyway.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** ConsistentHashBalancer maps a hash key to a target on a ring; without a key it is round-robin. */
export class ConsistentHashBalancer<T extends BalancerTarget> implements Balancer<T> {
  readonly #targets: readonly T[];
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;
  readonly #fallback: RoundRobinBalancer<T>;

  constructor(targets: readonly T[]) {
    this.#targets = targets;
    this.#fallback = new RoundRobinBalancer(targets);
    // Build time, so clarity beats allocation here.
    const entries: { hash: number; index: number }[] = [];
    for (let i = 0; i < targets.length; i++) {
      const id = targets[i].id;
      const count = VNODES_PER_WEIGHT * targets[i].weight;
      for (let v = 0; v < count; v++) entries.push({ hash: hash32(`${id}#${v}`), index: i });
    }
    // Ties (a 32-bit collision) are ordered by id, so the ring does not depend on the order targets are listed.
    entries.sort((a, b) => a.hash - b.hash || compareIds(targets[a.index].id, targets[b.index].id));
    this.#points = new Uint32Array(entries.length);
    this.#owners = new Uint32Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      this.#points[i] = entries[i].hash;
      this.#owners[i] = entries[i].index;
    }
  }

  pick(hashKey: string | undefined, avoid: T | null): T | null {
    if (hashKey === undefined) return this.#fallback.pick(undefined, avoid);
    const points = this.#points;
    const owners = this.#owners;
    const targets = this.#targets;
    const size = points.length;
    const h = hash32(hashKey);
    // Lower bound: the first point at or after h; past the last point the ring wraps to the first.
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    let pos = lo === size ? 0 : lo;
    let avoidAvailable = false;
    for (let step = 0; step < size; step++) {
      const t = targets[owners[pos]];
      if (t.available) {
        if (t !== avoid) return t;
        avoidAvailable = true;
      }
      if (++pos === size) pos = 0;
    }
    return avoidAvailable ? avoid : null;
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
