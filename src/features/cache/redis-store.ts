/**
 * The response cache in Redis, shared by every gateway on the same Redis and `store.redis.keyPrefix`. It
 * uses the connection of the configured store (src/stores/redis.ts): commands fail at once while Redis is
 * down and are bounded by `store.redis.timeout` otherwise. The cache fails open: a lookup that fails is a
 * miss, a write that fails is skipped, and the outage is logged once when it starts and once when it ends.
 *
 * Keys are `<keyPrefix>cache:` followed by the cache key (key.ts), unhashed, so a purge by route or path
 * prefix is a SCAN over a pattern. Values are one binary blob: a format byte, the length of a JSON header
 * (status, headers, times, Vary, validators), that JSON, then the body. Expiry is Redis's own (PX).
 */
import type { Redis } from 'ioredis';
import type { RedisClient } from '../../stores/redis-connect.js';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { CacheEntry, type CacheStore } from './store.js';

/** The format byte of a stored value; another byte (a value written by a later version) reads as a miss. */
const FORMAT = 1;
/** Keys asked for per SCAN step and deleted per UNLINK during a purge. */
const SCAN_COUNT = 1000;

/** RedisCacheStore keeps cache entries in Redis. */
export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis' as const;
  readonly #client: RedisClient;
  /** `<keyPrefix>cache:` */
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #now: Clock;
  /** Whether the last command failed (so an outage is logged once, and its end once). */
  #failing: boolean;

  constructor(client: RedisClient, keyPrefix: string, log: Logger, now: Clock) {
    this.#client = client;
    this.#prefix = keyPrefix + 'cache:';
    this.#log = log;
    this.#now = now;
    this.#failing = false;
  }

  async get(key: string): Promise<CacheEntry | null> {
    let value: Buffer | null;
    try {
      value = await this.#client.getBuffer(this.#prefix + key);
    } catch (err) {
      this.#failed(err as Error);
      return null;
    }
    this.#worked();
    if (value === null) return null;
    const entry = decodeEntry(value, key.length);
    // Redis expires the key itself; instances whose clocks differ slightly still agree on what is stale.
    return entry === null || entry.staleUntil <= this.#now() ? null : entry;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    const ttl = Math.ceil(entry.staleUntil - this.#now());
    if (ttl <= 0) return;
    try {
      await this.#client.set(this.#prefix + key, encodeEntry(entry), 'PX', ttl);
      this.#worked();
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  /**
   * purge deletes every key under the prefix, SCANning in steps (Redis keeps serving in between) and
   * UNLINKing each step's keys (freed in the background). Unlike get and set it rejects when Redis cannot
   * be reached: a purge that silently did nothing would mislead the operator. On a Redis Cluster each
   * primary is scanned in turn, and keys are unlinked one per command (in one pipeline per step): the keys
   * of one step lie in many slots, which one UNLINK may not span.
   */
  async purge(prefix: string): Promise<number> {
    const pattern = escapeGlob(this.#prefix + prefix) + '*';
    const cluster = this.#client.isCluster;
    const nodes: readonly Redis[] = cluster ? (this.#client as unknown as { nodes(role: 'master'): Redis[] }).nodes('master') : [this.#client as Redis];
    let n = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        if (keys.length === 0) continue;
        if (!cluster) {
          n += await node.unlink(...keys);
          continue;
        }
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        for (const [err, count] of (await pipeline.exec()) ?? []) {
          if (err !== null) throw err;
          n += Number(count);
        }
      } while (cursor !== '0');
    }
    return n;
  }

  #failed(err: Error): void {
    if (this.#failing) return;
    this.#failing = true;
    // The library's message goes to the log only; the request is simply a miss.
    this.#log.warn({ event: 'cache_store_down', store: 'redis', err: err.message }, 'the response cache cannot reach Redis: requests go to the backend until it answers again');
  }

  #worked(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#log.info({ event: 'cache_store_up', store: 'redis' }, 'the response cache reaches Redis again');
  }
}

/** escapeGlob makes `text` match itself literally in a Redis MATCH pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** encodeEntry turns an entry into the stored blob. */
export function encodeEntry(e: CacheEntry): Buffer {
  const meta = Buffer.from(JSON.stringify([e.status, e.headers, e.dateMs, e.freshUntil, e.staleUntil, e.vary, e.etag, e.lastModified]));
  const out = Buffer.allocUnsafe(5 + meta.length + e.body.length);
  out[0] = FORMAT;
  out.writeUInt32BE(meta.length, 1);
  meta.copy(out, 5);
  e.body.copy(out, 5 + meta.length);
  return out;
}

/** decodeEntry reads a stored blob back; null when it is not one this version wrote. */
export function decodeEntry(buf: Buffer, keyLength: number): CacheEntry | null {
  if (buf.length < 5 || buf[0] !== FORMAT) return null;
  const len = buf.readUInt32BE(1);
  if (5 + len > buf.length) return null;
  try {
    const m = JSON.parse(buf.toString('utf8', 5, 5 + len)) as [number, string[], number, number, number, string[] | null, string | null, string | null];
    if (!Array.isArray(m) || m.length !== 8 || !Array.isArray(m[1])) return null;
    return new CacheEntry(m[0], m[1], buf.subarray(5 + len), m[2], m[3], m[4], m[5], m[6], m[7], keyLength);
  } catch {
    return null;
  }
}
