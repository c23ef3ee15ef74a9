/**
 * What the response cache keeps and where: the stored entry (one response, or the Vary index of a resource)
 * and the CacheStore contract that the in-memory LRU (memory-store.ts) and Redis (redis-store.ts) implement.
 * Keys are plain strings built by key.ts; their format makes a purge by route or path prefix a key-prefix
 * match, so both stores purge the same way.
 */

/**
 * CacheEntry is one stored response, or (when `vary` is not null) the Vary index of a resource: the names of
 * the request headers its responses vary on, under the resource's base key, with the responses themselves
 * under variant keys (key.ts variantKey). Times are wall-clock Unix ms, so instances sharing Redis agree.
 * Every field is set in the constructor: entries on the hit path share one hidden class.
 */
export class CacheEntry {
  /** Response status (0 for a Vary index). */
  readonly status: number;
  /** Response headers as the backend gave them, flat [lower-case name, value, ...]; never `age` or `set-cookie` unless configured. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** When the response was generated (stored time minus its `Age` on arrival): the base of the `Age` header. */
  readonly dateMs: number;
  /** Until when the entry is fresh (served as HIT). */
  readonly freshUntil: number;
  /** Until when it may be served stale while being refreshed (STALE); the store forgets it then. */
  readonly staleUntil: number;
  /** The Vary index's header names (lower-case, sorted), or null for a response. */
  readonly vary: readonly string[] | null;
  /** The validators, for conditional requests (revalidation, and a client's If-None-Match on a hit). */
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** Approximate bytes the entry holds in memory (body, headers, key), for the LRU's budget. */
  readonly size: number;

  constructor(status: number, headers: readonly string[], body: Buffer, dateMs: number, freshUntil: number, staleUntil: number,
    vary: readonly string[] | null, etag: string | null, lastModified: string | null, keyLength: number) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.dateMs = dateMs;
    this.freshUntil = freshUntil;
    this.staleUntil = staleUntil;
    this.vary = vary;
    this.etag = etag;
    this.lastModified = lastModified;
    let size = ENTRY_OVERHEAD + body.length + keyLength * 2;
    for (let i = 0; i < headers.length; i++) size += headers[i]!.length * 2 + 16;
    if (vary !== null) for (let i = 0; i < vary.length; i++) size += vary[i]!.length * 2 + 16;
    this.size = size;
  }
}

/** Bytes counted per entry beyond its strings and body: the object, the Map slot, the Buffer's own header. */
const ENTRY_OVERHEAD = 256;

/** CacheStoreKind names where entries live. */
export type CacheStoreKind = 'memory' | 'redis';

/**
 * CacheStore keeps entries under string keys. get and set MUST NOT throw or reject: a store that cannot
 * answer behaves as empty (get gives null, set does nothing), so the cache fails open to the backend.
 */
export interface CacheStore {
  readonly kind: CacheStoreKind;
  /**
   * get returns the entry under `key`, or null when there is none or it has passed its staleUntil. The
   * memory store answers synchronously (no promise on the hit path); Redis resolves after one round trip.
   */
  get(key: string): CacheEntry | null | Promise<CacheEntry | null>;
  /** set stores `entry` under `key` until its staleUntil (replacing what was there); resolves once stored or given up. */
  set(key: string, entry: CacheEntry): void | Promise<void>;
  /** purge deletes every key that starts with `prefix` and resolves with how many; it rejects when the store cannot be reached. */
  purge(prefix: string): Promise<number>;
}
