/**
 * The in-memory response cache of one route: an LRU bounded by bytes (bodies, headers and keys), with
 * entries forgotten once past their staleUntil. A Map keeps insertion order, so moving an entry to the end
 * on each hit makes the first key the least recently used; eviction drops from the front until the total
 * fits. Lookups are synchronous: a hit costs two Map operations and no promise.
 *
 * One store per route (not one for the process): a route with large answers cannot evict a busy route's
 * small ones, a purge of a route is one clear, and the budget is set where caching is. It lives in
 * `Counters.shared`, so it survives config reloads that keep the route's cache settings (see feature.ts).
 */
import type { Clock } from '../../core/clock.js';
import type { CacheEntry, CacheStore } from './store.js';

/** MemoryCacheStore is a byte-bounded LRU of cache entries. */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory' as const;
  /** Largest total of entry sizes kept, in bytes. */
  readonly maxBytes: number;
  /** What the store was built for (the route's cache settings): a reload that changes them starts afresh. */
  readonly fingerprint: string;
  /** How many live features use this store (see CacheFeature.close). */
  refs: number;
  readonly #entries: Map<string, CacheEntry>;
  readonly #now: Clock;
  #bytes: number;

  constructor(maxBytes: number, now: Clock, fingerprint = '') {
    this.maxBytes = maxBytes;
    this.fingerprint = fingerprint;
    this.refs = 0;
    this.#entries = new Map();
    this.#now = now;
    this.#bytes = 0;
  }

  /** bytes is the total size of the entries held. */
  get bytes(): number { return this.#bytes; }

  /** count is the number of entries held (expired ones included until touched or evicted). */
  get count(): number { return this.#entries.size; }

  get(key: string): CacheEntry | null {
    const map = this.#entries;
    const entry = map.get(key);
    if (entry === undefined) return null;
    if (entry.staleUntil <= this.#now()) {
      map.delete(key);
      this.#bytes -= entry.size;
      return null;
    }
    // Most recently used goes last.
    map.delete(key);
    map.set(key, entry);
    return entry;
  }

  set(key: string, entry: CacheEntry): void {
    const map = this.#entries;
    const old = map.get(key);
    if (old !== undefined) { map.delete(key); this.#bytes -= old.size; }
    if (entry.size > this.maxBytes) return;
    map.set(key, entry);
    this.#bytes += entry.size;
    if (this.#bytes <= this.maxBytes) return;
    for (const [k, e] of map) {
      map.delete(k);
      this.#bytes -= e.size;
      if (this.#bytes <= this.maxBytes) break;
    }
  }

  purge(prefix: string): Promise<number> {
    return Promise.resolve(this.purgeNow(prefix));
  }

  /** purgeNow deletes the keys starting with `prefix` and returns how many it deleted. */
  purgeNow(prefix: string): number {
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (!k.startsWith(prefix)) continue;
      this.#entries.delete(k);
      this.#bytes -= e.size;
      n++;
    }
    return n;
  }

  /** clear forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
