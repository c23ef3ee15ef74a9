/**
 * `cache`: response caching for GET and HEAD, in the `cache` stage (after authentication, limits and
 * validation; just before the backend).
 *
 * - Hit: the stored response is written with sendResponse (the route's response hooks, the request id, the
 *   features' headers) plus `X-Cache: HIT` and `Age`, and the chain stops. With the memory store this is
 *   synchronous: one key concatenation, two Map operations, no promise.
 * - Miss: the request goes on to the backend with `X-Cache: MISS` and a ResponseTap (CacheTap) that keeps a
 *   copy of the response as it is written, and stores it at the end if its status, `Cache-Control`, `Vary`,
 *   `Set-Cookie` and size allow. Concurrent misses for one key wait for the first one's response (a Flight,
 *   bounded by `lockTimeout`) and are then served from the new entry.
 * - Stale (past freshness, within its stale-while-revalidate window): served at once with `X-Cache: STALE`,
 *   and one background request per key (conditional when the entry has a validator: a 304 renews it) brings
 *   a fresh copy. Only proxied routes without body hooks refresh in the background (the background request
 *   goes straight to the service, past the route's response processing); elsewhere a stale entry is a miss.
 * - Bypass (`X-Cache: BYPASS`): methods other than GET/HEAD, requests with a body, `Range` or `Upgrade`, and
 *   requests with `Authorization` or an authenticated caller unless `shareAuthenticated` or `byConsumer`.
 *
 * Single flight and background refreshes are per instance, also with the Redis store: N instances missing
 * one key at once make at most N upstream calls.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { defineFeature, type Feature, type FeatureContext } from '../../core/feature.js';
import type { Exchange, ResponseTap } from '../../core/exchange.js';
import type { Clock } from '../../core/clock.js';
import type { Runtime } from '../../core/runtime.js';
import type { Service } from '../../upstreams/service.js';
import type { RedisStore } from '../../stores/redis.js';
import { sendResponse, type SendOptions } from '../../backends/respond.js';
import { callService } from '../../upstreams/call.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { CacheSchema, type CacheConfig } from './schema.js';
import { CacheKeyBuilder, pathKeyPrefix, routeKeyPrefix, variantKey, type QueryMode } from './key.js';
import { CacheEntry, type CacheStore } from './store.js';
import { MemoryCacheStore } from './memory-store.js';
import { RedisCacheStore } from './redis-store.js';
import { ageMs, etagMatches, freshnessMs, headerValues, notModifiedSince, parseCacheControl, parseVary } from './policy.js';

const PROCESSED: SendOptions = { processed: true };
const X_MISS: readonly string[] = ['x-cache', 'MISS'];
const X_BYPASS: readonly string[] = ['x-cache', 'BYPASS'];
/** An upstream's own `X-Cache` would contradict the gateway's. */
const REMOVED: ReadonlySet<string> = new Set(['x-cache']);
/** Response headers never stored: `age` is recomputed on each hit. */
const NOT_STORED: ReadonlySet<string> = new Set(['age', 'x-cache']);
/** Headers a 304 carries (RFC 9110 §15.4.5), and those a 304 from the upstream updates in a stored entry. */
const NOT_MODIFIED_HEADERS: ReadonlySet<string> = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);
const UPDATED_BY_304: ReadonlySet<string> = new Set(['cache-control', 'date', 'etag', 'expires', 'last-modified', 'age']);
/** A client's validators are not forwarded on a miss, so the answer is a whole response that can be stored. */
const CLIENT_VALIDATORS: ReadonlySet<string> = new Set(['if-none-match', 'if-modified-since']);
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'x-request-id']);
/** Longest time a background refresh may take, headers and body. */
const REFRESH_TIMEOUT_MS = 15_000;
const NO_HEADERS: readonly string[] = [];
const EMPTY = Buffer.alloc(0);
/** Keys of the stores kept in Counters.shared (alive as long as the configured store). */
const SHARED_REDIS = 'cache:redis';
const SHARED_MEMORY = 'cache:memory:';

/** CacheFeature caches one route's responses. */
export class CacheFeature implements Feature {
  readonly name = 'cache';
  readonly removeResponseHeaders = REMOVED;
  readonly route: string;
  /** Where the config asks entries to live (`store`); tools that compile without Redis use memory regardless. */
  readonly storeKind: 'memory' | 'redis';
  readonly store: CacheStore;
  readonly keys: CacheKeyBuilder;
  readonly statuses: ReadonlySet<number>;
  readonly ttlMs: number;
  readonly staleMs: number;
  readonly maxEntrySize: number;
  readonly lockTimeoutMs: number;
  readonly byConsumer: boolean;
  readonly shareAuthenticated: boolean;
  readonly storeSetCookie: boolean;
  /** Bumped by each purge: responses that were on their way when it happened are not stored. */
  epoch: number;
  readonly #now: Clock;
  readonly #service: Service | null;
  readonly #log: Logger;
  readonly #flights: Map<string, Flight>;
  readonly #refreshing: Set<string>;
  /** The memory store this feature holds a reference on, with its key in `#shared`, or null. */
  readonly #memory: MemoryCacheStore | null;
  readonly #shared: Map<string, unknown>;

  constructor(config: CacheConfig, ctx: FeatureContext) {
    this.route = ctx.routeName;
    this.storeKind = config.store;
    this.keys = new CacheKeyBuilder(ctx.routeName, queryMode(config.query), config.headers.map((h) => h.toLowerCase()), config.byConsumer);
    this.statuses = new Set(config.statuses);
    this.ttlMs = parseDuration(config.ttl);
    this.staleMs = parseDuration(config.staleWhileRevalidate);
    this.maxEntrySize = parseSize(config.maxEntrySize);
    this.lockTimeoutMs = parseDuration(config.lockTimeout);
    this.byConsumer = config.byConsumer;
    this.shareAuthenticated = config.shareAuthenticated;
    this.storeSetCookie = config.storeSetCookie;
    this.epoch = 0;
    // Wall-clock time: entries in Redis are read by other instances, and `Age` is about real seconds.
    this.#now = ctx.counters.wallClock;
    this.#service = ctx.service;
    this.#log = ctx.log;
    this.#flights = new Map();
    this.#refreshing = new Set();
    const shared = ctx.counters.shared;
    this.#shared = shared;
    if (config.store === 'redis' && ctx.counters.store.kind === 'redis') {
      let r = shared.get(SHARED_REDIS) as RedisCacheStore | undefined;
      if (r === undefined) {
        const rs = ctx.counters.store as RedisStore;
        r = new RedisCacheStore(rs.client, rs.keyPrefix, ctx.log, ctx.counters.wallClock);
        shared.set(SHARED_REDIS, r);
      }
      this.store = r;
      this.#memory = null;
      return;
    }
    if (config.store === 'redis' && ctx.storeKind !== 'redis') {
      ctx.log.error({ event: 'cache_store_mismatch', route: ctx.routeName }, 'cache.store is redis but the top-level store is memory: this route caches in memory');
    }
    // One store per route, kept across reloads while the route's cache settings (and service) stay the same.
    const k = SHARED_MEMORY + ctx.routeName;
    const fingerprint = JSON.stringify([config, ctx.service?.name ?? null]);
    let m = shared.get(k);
    if (!(m instanceof MemoryCacheStore) || m.fingerprint !== fingerprint) {
      m = new MemoryCacheStore(parseSize(config.maxSize), ctx.counters.wallClock, fingerprint);
      shared.set(k, m);
    }
    const memory = m as MemoryCacheStore;
    memory.refs++;
    this.store = memory;
    this.#memory = memory;
  }

  /** now reads the cache's clock (wall-clock Unix ms). */
  now(): number {
    return this.#now();
  }

  onRequest(ex: Exchange): void | Promise<void> {
    const method = ex.req.method;
    const h = ex.req.headers;
    if ((method !== 'GET' && method !== 'HEAD') || ex.bodyLength !== 0 || h.range !== undefined || h.upgrade !== undefined || !this.#mayUse(ex)) return bypass(ex);
    const key = this.keys.base(ex);
    if (key === null) return bypass(ex);
    const found = this.store.get(key);
    if (found instanceof Promise) return this.#lookedUp(ex, key, found);
    return this.#found(ex, key, found, false);
  }

  /** purge deletes the route's entries, or those whose path (and query) starts with `prefix`; resolves with how many keys went. */
  purge(prefix?: string): Promise<number> {
    this.epoch++;
    return this.store.purge(prefix === undefined ? routeKeyPrefix(this.route) : pathKeyPrefix(this.route, prefix));
  }

  close(): void {
    for (const f of [...this.#flights.values()]) f.finish();
    const m = this.#memory;
    if (m === null) return;
    m.refs--;
    if (m.refs > 0) return;
    const k = SHARED_MEMORY + this.route;
    if (this.#shared.get(k) === m) this.#shared.delete(k);
    m.clear();
  }

  /** Requests with credentials use the cache only per consumer (`byConsumer`) or when sharing is allowed. */
  #mayUse(ex: Exchange): boolean {
    if (ex.identity === null && ex.req.headers.authorization === undefined) return true;
    if (this.byConsumer && ex.identity !== null) return true;
    return this.shareAuthenticated;
  }

  async #lookedUp(ex: Exchange, key: string, pending: Promise<CacheEntry | null>): Promise<void> {
    return this.#found(ex, key, await pending, false);
  }

  /** Follows a Vary index to the request's variant, then answers. */
  #found(ex: Exchange, base: string, entry: CacheEntry | null, waited: boolean): void | Promise<void> {
    if (entry === null || entry.vary === null) return this.#answer(ex, base, base, entry, waited);
    const key = variantKey(base, entry.vary, ex.upstreamHeaders);
    const variant = this.store.get(key);
    if (variant instanceof Promise) return this.#variantLookedUp(ex, base, key, variant, waited);
    return this.#answer(ex, base, key, variant, waited);
  }

  async #variantLookedUp(ex: Exchange, base: string, key: string, pending: Promise<CacheEntry | null>, waited: boolean): Promise<void> {
    return this.#answer(ex, base, key, await pending, waited);
  }

  #answer(ex: Exchange, base: string, key: string, entry: CacheEntry | null, waited: boolean): void | Promise<void> {
    if (entry !== null) {
      const now = this.#now();
      if (now < entry.freshUntil) return this.#serve(ex, entry, now, 'hit');
      if (this.#service !== null && ex.route!.onResponseBody === null) {
        this.#serve(ex, entry, now, 'stale');
        this.#refresh(ex, base, key, entry);
        return;
      }
      // A stale entry on a route that cannot refresh it in the background: fetched again, as a miss.
    }
    ex.cacheOutcome = 'miss';
    if (ex.req.method === 'HEAD') {
      // A HEAD answer has no body to store; HEAD is served from GET's entries only.
      ex.addResponseHeaders(X_MISS);
      return;
    }
    const flight = this.#flights.get(key);
    // After one wait, a request goes to the backend itself: a slow or uncacheable first response never
    // makes the others wait twice.
    if (flight !== undefined && !waited) return this.#wait(ex, base, flight);
    ex.addResponseHeaders(X_MISS);
    let lead: Flight | null = null;
    if (flight === undefined) {
      lead = new Flight(key, this.#flights, this.lockTimeoutMs);
      this.#flights.set(key, lead);
    }
    if (ex.req.headers['if-none-match'] !== undefined || ex.req.headers['if-modified-since'] !== undefined) dropHeaders(ex.upstreamHeaders, CLIENT_VALIDATORS);
    ex.tap = new CacheTap(this, base, ex.upstreamHeaders.slice(), lead);
  }

  async #wait(ex: Exchange, base: string, flight: Flight): Promise<void> {
    await flight.wait();
    const found = this.store.get(base);
    return this.#found(ex, base, found instanceof Promise ? await found : found, true);
  }

  /** Writes a stored response (or a 304 when the client's validator matches) and stops the chain. */
  #serve(ex: Exchange, entry: CacheEntry, now: number, outcome: 'hit' | 'stale'): void {
    ex.cacheOutcome = outcome;
    const age = now <= entry.dateMs ? 0 : Math.floor((now - entry.dateMs) / 1000);
    ex.addResponseHeaders(['x-cache', outcome === 'hit' ? 'HIT' : 'STALE', 'age', String(age)]);
    if (entry.status === 200 && clientHasCopy(ex, entry)) sendResponse(ex, 304, pick(entry.headers, NOT_MODIFIED_HEADERS), null, PROCESSED);
    else sendResponse(ex, entry.status, entry.headers, entry.body, PROCESSED);
    ex.replied = true;
  }

  /** Starts one background refresh of `key` unless one is under way. */
  #refresh(ex: Exchange, base: string, key: string, entry: CacheEntry): void {
    if (this.#refreshing.has(key)) return;
    this.#refreshing.add(key);
    const request = ex.upstreamHeaders.slice();
    const headers = request.slice();
    dropHeaders(headers, CLIENT_VALIDATORS);
    if (entry.etag !== null) headers.push('if-none-match', entry.etag);
    if (entry.lastModified !== null) headers.push('if-modified-since', entry.lastModified);
    const path = ex.query === '' ? ex.upstreamPath : ex.upstreamPath + '?' + ex.query;
    void this.#revalidate(base, key, entry, path, request, headers, ex.route!.removeResponseHeaders, this.epoch);
  }

  async #revalidate(base: string, key: string, entry: CacheEntry, path: string, request: readonly string[], headers: readonly string[], remove: ReadonlySet<string>, epoch: number): Promise<void> {
    try {
      const r = await callService(this.#service!, { method: 'GET', path, headers, body: null, timeoutMs: REFRESH_TIMEOUT_MS, maxBytes: this.maxEntrySize }, null);
      if (!r.ok) {
        this.#log.debug({ event: 'cache_refresh_failed', route: this.route, code: r.code }, 'background refresh of a cached response failed; the stale copy stays');
        return;
      }
      if (epoch !== this.epoch) return;
      const at = this.#now();
      if (r.status === 304) {
        await this.storeResponse(base, request, entry.status, renewed(entry.headers, r.headers), entry.body, at);
        return;
      }
      if (!this.statuses.has(r.status)) return;
      await this.storeResponse(base, request, r.status, responseHeaders(r.headers, remove), r.body, at);
    } catch (err) {
      this.#log.warn({ event: 'cache_refresh_failed', route: this.route, err: (err as Error).message }, 'background refresh of a cached response failed');
    } finally {
      this.#refreshing.delete(key);
    }
  }

  /**
   * storeResponse stores a response (to a request with these upstream headers) under `base`, or under its
   * variant with a Vary index at `base`, if its `Cache-Control`, `Set-Cookie`, `Vary` and freshness allow.
   * Status and size were checked by the caller. Freshness counts from `receivedAt`, when its headers arrived
   * (RFC 9111's response_time), not from when its body ended.
   */
  storeResponse(base: string, request: readonly string[], status: number, headers: readonly string[], body: Buffer, receivedAt: number): void | Promise<void> {
    const cc = parseCacheControl(headerValues(headers, 'cache-control'));
    if (cc.noStore || cc.noCache || cc.isPrivate) return;
    if (!this.storeSetCookie && headerValues(headers, 'set-cookie') !== undefined) return;
    const vary = parseVary(headerValues(headers, 'vary'));
    if (vary === '*') return;
    const now = receivedAt;
    const fresh = freshnessMs(cc, headers, now, this.ttlMs);
    const stale = cc.staleWhileRevalidate >= 0 ? cc.staleWhileRevalidate * 1000 : cc.mustRevalidate ? 0 : this.staleMs;
    if (fresh + stale <= 0) return;
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!NOT_STORED.has(headers[i]!)) kept.push(headers[i]!, headers[i + 1]!);
    const key = vary === null ? base : variantKey(base, vary, request);
    const entry = new CacheEntry(status, kept, body, now - ageMs(headers), now + fresh, now + fresh + stale, null,
      headerValues(headers, 'etag') ?? null, headerValues(headers, 'last-modified') ?? null, key.length);
    if (vary === null) return this.store.set(key, entry);
    const index = new CacheEntry(0, NO_HEADERS, EMPTY, now, entry.freshUntil, entry.staleUntil, vary, null, null, base.length);
    const a = this.store.set(base, index);
    const b = this.store.set(key, entry);
    if (a instanceof Promise || b instanceof Promise) return settleBoth(a, b);
  }
}

/**
 * CacheTap keeps a copy of a missed response as the backend writes it (body chunks up to `maxEntrySize`),
 * stores it when it ends whole, and ends the key's Flight either way.
 */
class CacheTap implements ResponseTap {
  readonly #feature: CacheFeature;
  readonly #base: string;
  /** The request headers as sent upstream, for the variant key of a response with `Vary`. */
  readonly #request: readonly string[];
  readonly #flight: Flight | null;
  readonly #epoch: number;
  /** Wall-clock ms when the response headers came. */
  #receivedAt: number;
  #status: number;
  #headers: string[] | null;
  #chunks: Buffer[];
  #size: number;

  constructor(feature: CacheFeature, base: string, request: readonly string[], flight: Flight | null) {
    this.#feature = feature;
    this.#base = base;
    this.#request = request;
    this.#flight = flight;
    this.#epoch = feature.epoch;
    this.#receivedAt = 0;
    this.#status = 0;
    this.#headers = null;
    this.#chunks = [];
    this.#size = 0;
  }

  onHead(status: number, headers: readonly string[]): void {
    if (!this.#feature.statuses.has(status)) return;
    const length = headerValues(headers, 'content-length');
    if (length !== undefined && Number(length) > this.#feature.maxEntrySize) return;
    this.#status = status;
    this.#receivedAt = this.#feature.now();
    // A copy: the caller goes on to append the gateway's own headers to this very list.
    this.#headers = headers.slice();
  }

  onData(chunk: Buffer): void {
    if (this.#headers === null) return;
    this.#size += chunk.length;
    if (this.#size > this.#feature.maxEntrySize) {
      this.#headers = null;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(chunk);
  }

  onEnd(): void {
    const headers = this.#headers;
    const feature = this.#feature;
    if (headers === null || this.#epoch !== feature.epoch) { this.#flight?.finish(); return; }
    // Copied into one buffer of its own: chunks may be views of larger buffers the entry would keep alive.
    const body = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    let stored: void | Promise<void>;
    try {
      stored = feature.storeResponse(this.#base, this.#request, this.#status, headers, body, this.#receivedAt);
    } catch {
      stored = undefined;
    }
    if (stored instanceof Promise) void this.#finishAfter(stored);
    else this.#flight?.finish();
  }

  onAbort(): void {
    this.#headers = null;
    this.#chunks = [];
    this.#flight?.finish();
  }

  async #finishAfter(stored: Promise<void>): Promise<void> {
    try { await stored; } finally { this.#flight?.finish(); }
  }
}

/**
 * Flight is the first miss of a key while its response is on the way; concurrent misses wait on it, and are
 * released when the response was stored (or not), or after `lockTimeout` whatever happened.
 */
class Flight {
  readonly key: string;
  readonly #owner: Map<string, Flight>;
  readonly #timer: NodeJS.Timeout;
  #waiting: Promise<void> | null;
  #release: (() => void) | null;
  #done: boolean;

  constructor(key: string, owner: Map<string, Flight>, timeoutMs: number) {
    this.key = key;
    this.#owner = owner;
    this.#waiting = null;
    this.#release = null;
    this.#done = false;
    // One timer per flight (not per waiter), so a response that never ends cannot hold anyone past it.
    this.#timer = setTimeout(endFlight, timeoutMs, this);
    this.#timer.unref();
  }

  /** wait resolves when the flight ends. */
  wait(): Promise<void> {
    if (this.#done) return Promise.resolve();
    this.#waiting ??= new Promise<void>((resolve) => { this.#release = resolve; });
    return this.#waiting;
  }

  /** finish ends the flight (once) and releases its waiters. */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    if (this.#owner.get(this.key) === this) this.#owner.delete(this.key);
    this.#release?.();
  }
}

function endFlight(f: Flight): void {
  f.finish();
}

function bypass(ex: Exchange): void {
  ex.cacheOutcome = 'bypass';
  ex.addResponseHeaders(X_BYPASS);
}

function queryMode(q: CacheConfig['query']): QueryMode {
  return q === 'all' || q === 'ignore' ? q : new Set(q);
}

async function settleBoth(a: void | Promise<void>, b: void | Promise<void>): Promise<void> {
  await a;
  await b;
}

/** dropHeaders removes every header named in `names` from a flat list, in place. */
function dropHeaders(headers: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (names.has(headers[r]!)) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}

/** pick keeps the headers named in `names`. */
function pick(headers: readonly string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (names.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

/** clientHasCopy says whether the client's validators match the entry (If-None-Match wins over If-Modified-Since). */
function clientHasCopy(ex: Exchange, entry: CacheEntry): boolean {
  const h = ex.req.headers;
  const inm = h['if-none-match'];
  if (inm !== undefined) return entry.etag !== null && etagMatches(inm, entry.etag);
  const ims = h['if-modified-since'];
  return ims !== undefined && entry.lastModified !== null && notModifiedSince(ims, entry.lastModified);
}

/** responseHeaders flattens an upstream's headers for storing: hop-by-hop, Connection-listed and removed ones left out. */
function responseHeaders(h: IncomingHttpHeaders, remove: ReadonlySet<string>): string[] {
  const conn = h.connection;
  const listed = typeof conn === 'string' ? conn.toLowerCase().split(',').map((t) => t.trim()) : null;
  const out: string[] = [];
  for (const name in h) {
    if (HOP_BY_HOP.has(name) || remove.has(name) || (listed !== null && listed.includes(name))) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  return out;
}

/** renewed is a stored entry's headers updated by a 304's (RFC 9111 §4.3.4): its freshness and validators. */
function renewed(stored: readonly string[], fresh: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) {
    const name = stored[i]!;
    if (UPDATED_BY_304.has(name) && fresh[name] !== undefined) continue;
    out.push(name, stored[i + 1]!);
  }
  for (const name of UPDATED_BY_304) {
    const v = fresh[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  return out;
}

/** PurgeOutcome is what purgeCache did: how many keys it deleted, or why it could not. */
export type PurgeOutcome = { readonly ok: true; readonly purged: number } | { readonly ok: false; readonly reason: 'unknown-route' | 'no-cache' | 'bad-prefix' };

/**
 * purgeCache deletes the cached responses of route `route` in a running generation: all of them, or those
 * whose path (and query) starts with `prefix` (which must start with `/`). Rejects when the store cannot be
 * reached. Used by the admin API (`POST /cache/purge`).
 */
export async function purgeCache(rt: Runtime, route: string, prefix?: string): Promise<PurgeOutcome> {
  if (prefix !== undefined && !prefix.startsWith('/')) return { ok: false, reason: 'bad-prefix' };
  const r = rt.routes.find((x) => x.name === route);
  if (r === undefined) return { ok: false, reason: 'unknown-route' };
  const f = cacheFeatureOf(r.features);
  if (f === null) return { ok: false, reason: 'no-cache' };
  return { ok: true, purged: await f.purge(prefix) };
}

/** cacheFeatureOf finds the cache among a route's features. */
export function cacheFeatureOf(features: readonly Feature[]): CacheFeature | null {
  for (const f of features) if (f instanceof CacheFeature) return f;
  return null;
}

/** cache is the feature definition registered in src/features/index.ts. */
export const cache = defineFeature({
  key: 'cache',
  stage: 'cache',
  schema: CacheSchema,
  scopes: ['route', 'service', 'defaults'],
  check(config, ctx) {
    const out: [string, string][] = [];
    config.statuses.forEach((s, i) => {
      if (s === 206 || s === 304) out.push([`statuses[${i}]`, `${s} responses are never stored (partial and not-modified answers describe another response)`]);
    });
    if (config.store === 'memory' && parseSize(config.maxEntrySize) > parseSize(config.maxSize)) out.push(['maxEntrySize', 'is larger than maxSize: no response could be stored']);
    if (config.store === 'redis' && ctx.storeKind === 'memory') out.push(['store', 'is redis, but the top-level `store:` is memory: set `store: { redis: { url } }` to share the cache, or use `store: memory` here']);
    return out;
  },
  create: (config, ctx) => new CacheFeature(config, ctx),
});
