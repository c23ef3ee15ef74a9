/**
 * A bounded cache whose entries expire at a time each one chooses (a token's `exp`), used for verified JWTs
 * and introspection answers. Bounded by a total weight (bytes for JWTs, entries for introspection):
 * inserting past it evicts the oldest entries first. Hits do not reorder entries (FIFO rather than LRU):
 * a hot token evicted by newer ones costs one more verification, and a hit stays one Map lookup.
 */

interface Entry<V> {
  readonly value: V;
  /** Unix ms after which the entry is gone. */
  readonly expiresAt: number;
  readonly weight: number;
}

/** TtlCache maps string keys to values until each entry's expiry, within a total weight. */
export class TtlCache<V> {
  readonly maxWeight: number;
  private readonly map: Map<string, Entry<V>>;
  private weight: number;

  constructor(maxWeight: number) {
    this.maxWeight = maxWeight;
    this.map = new Map();
    this.weight = 0;
  }

  /** get returns the value of a live entry, or undefined (an expired entry is removed). */
  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.map.delete(key);
      this.weight -= e.weight;
      return undefined;
    }
    return e.value;
  }

  /** set stores a value until `expiresAt` (Unix ms); an entry heavier than the whole cache is not kept. */
  set(key: string, value: V, expiresAt: number, weight: number, now: number): void {
    if (weight > this.maxWeight || expiresAt <= now) return;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.weight -= old.weight;
    }
    // Oldest first: Map iterates in insertion order.
    for (const [k, e] of this.map) {
      if (this.weight + weight <= this.maxWeight && e.expiresAt > now) break;
      this.map.delete(k);
      this.weight -= e.weight;
    }
    this.map.set(key, { value, expiresAt, weight });
    this.weight += weight;
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.weight -= e.weight;
  }

  clear(): void {
    this.map.clear();
    this.weight = 0;
  }

  get size(): number { return this.map.size; }
}
