/**
 * The JWKS cache of one issuer: fetches the key set with a bounded call (dedicated undici Agent, deadline,
 * size cap, no redirects), hands keys to jose through `createLocalJWKSet` (which imports each key once per
 * algorithm), refreshes in the background before the keys expire, refetches on an unknown `kid` at most once
 * per cooldown, and keeps serving the last keys while the issuer cannot be reached.
 *
 * Why not jose's createRemoteJWKSet: past its max age it blocks every verification on a refetch and fails
 * them all while the issuer is down (no stale keys), reads bodies of any size, and after a failed fetch lets
 * every token with an unknown `kid` trigger another one (its cooldown counts from the last success).
 *
 * Caches are shared by URL and settings across config generations (reference counted): a hot reload keeps
 * the warm keys instead of starting with none, which matters most when the issuer is down at that moment.
 */
import type { CryptoKey, FlattenedJWSInput, JWSHeaderParameters, JSONWebKeySet, LocalJWKSet } from 'jose';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import { FetchFailure, fetchText, newIdentityAgent, safeUrl } from '../fetch.js';
import { JOSE } from './jose.js';

/** JwksSettings bound one cache (all durations in ms, sizes in bytes). */
export interface JwksSettings {
  readonly url: string;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
  readonly cooldownMs: number;
}

/** JwksUnavailable: no key set was ever fetched (the issuer has been unreachable since the config loaded). */
export class JwksUnavailable extends Error {
  constructor() { super('no JWKS keys available'); }
}

/** REFRESH_AT is the share of the TTL after which a background refresh starts, so keys never go stale while the issuer answers. */
const REFRESH_AT = 0.8;
const ACCEPT = { accept: 'application/jwk-set+json, application/json' };

type LocalSet = LocalJWKSet;

/** isNoMatchingKey: jose's JWKSNoMatchingKey, by its stable code (jose itself is loaded lazily). */
function isNoMatchingKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_JWKS_NO_MATCHING_KEY';
}

/** JwksCache holds the key set of one JWKS URL. */
export class JwksCache {
  readonly settings: JwksSettings;
  /** version changes whenever the key set changes; caches of verified tokens compare it. */
  version: number;
  /** refs counts the authenticators (of any config generation) using this cache. */
  refs: number;
  /** getKey is the jose key resolver (bound once). */
  readonly getKey: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;
  /** fetches counts every fetch started (for tests and diagnostics). */
  fetches: number;
  private keys: LocalSet | null;
  private text: string | null;
  private keyCount: number;
  /** performance.now() of the last successful fetch, and of the last attempt. */
  private fetchedAt: number;
  private attemptedAt: number;
  private inflight: Promise<boolean> | null;
  private timer: NodeJS.Timeout | null;
  private staleLogged: boolean;
  private failures: number;
  private closed: boolean;
  private readonly closing: AbortController;
  private readonly agent: Agent;
  private readonly log: Logger;
  /** The URL as logged (no user info or query). */
  private readonly logUrl: string;

  constructor(settings: JwksSettings, log: Logger) {
    this.settings = settings;
    this.version = 0;
    this.refs = 0;
    this.fetches = 0;
    this.keys = null;
    this.text = null;
    this.keyCount = 0;
    this.fetchedAt = -Infinity;
    this.attemptedAt = -Infinity;
    this.inflight = null;
    this.timer = null;
    this.staleLogged = false;
    this.failures = 0;
    this.closed = false;
    this.closing = new AbortController();
    this.agent = newIdentityAgent(settings.timeoutMs);
    this.log = log;
    this.logUrl = safeUrl(settings.url);
    this.getKey = this.resolve.bind(this);
  }

  /** start begins the first fetch without waiting for it: startup never blocks on the issuer. */
  start(): void {
    void this.refresh();
  }

  /** ready is true once a key set was fetched. */
  get ready(): boolean { return this.keys !== null; }

  /**
   * resolve finds the key for a token header. No keys yet: wait for the fetch in flight (bounded by the
   * timeout) or start one if the cooldown allows. Unknown `kid`: refetch once per cooldown, then retry.
   */
  private async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (this.keys === null) {
      if (this.inflight !== null || this.mayFetch()) await this.refresh();
      if (this.keys === null) throw new JwksUnavailable();
    } else if (this.inflight === null && performance.now() - this.fetchedAt > this.settings.ttlMs && this.mayFetch()) {
      // Past the TTL (the background refresh failed or was late): refresh, but serve the current keys now.
      void this.refresh();
    }
    try {
      return await this.keys!(header, token);
    } catch (err) {
      if (!isNoMatchingKey(err)) throw err;
      if (this.inflight === null && !this.mayFetch()) throw err;
      await this.refresh();
      return this.keys!(header, token);
    }
  }

  private mayFetch(): boolean {
    return !this.closed && performance.now() - this.attemptedAt >= this.settings.cooldownMs;
  }

  /** refresh fetches the key set (one fetch at a time; concurrent callers share it); true on success. */
  refresh(): Promise<boolean> {
    if (this.inflight !== null) return this.inflight;
    if (this.closed) return Promise.resolve(false);
    this.attemptedAt = performance.now();
    this.fetches++;
    const p = this.fetchOnce();
    this.inflight = p;
    void p.finally(() => { if (this.inflight === p) this.inflight = null; });
    return p;
  }

  private async fetchOnce(): Promise<boolean> {
    const s = this.settings;
    try {
      const r = await fetchText(this.agent, s.url, { method: 'GET', headers: ACCEPT, timeoutMs: s.timeoutMs, maxBytes: s.maxBytes, signal: this.closing.signal });
      if (r.status !== 200) throw new FetchFailure(`status ${r.status}`);
      if (r.text !== this.text) {
        let doc: unknown;
        try { doc = JSON.parse(r.text); } catch { throw new FetchFailure('the document is not JSON'); }
        let set: LocalSet;
        try { set = JOSE.get().createLocalJWKSet(doc as JSONWebKeySet); } catch { throw new FetchFailure('the document is not a JWK Set'); }
        const first = this.keys === null;
        this.keys = set;
        this.text = r.text;
        this.keyCount = (doc as JSONWebKeySet).keys.length;
        this.version++;
        this.log.info({ event: 'jwks_updated', url: this.logUrl, keys: this.keyCount, first }, first ? 'JWKS keys fetched' : 'JWKS keys changed');
      }
      if (this.closed) return true;
      this.fetchedAt = performance.now();
      if (this.failures > 0) this.log.info({ event: 'jwks_recovered', url: this.logUrl, failures: this.failures }, 'JWKS fetch works again');
      this.failures = 0;
      this.staleLogged = false;
      this.schedule(Math.max(1, s.ttlMs * REFRESH_AT));
      return true;
    } catch (err) {
      if (this.closed) return false;
      this.failures++;
      const reason = err instanceof FetchFailure ? err.reason : 'unexpected error';
      this.log.warn({ event: 'jwks_fetch_failed', url: this.logUrl, reason, failures: this.failures, cachedKeys: this.keyCount }, this.keys === null ? 'JWKS fetch failed; tokens of this issuer cannot be verified yet' : 'JWKS fetch failed; the cached keys stay in use');
      if (this.keys !== null && !this.staleLogged && performance.now() - this.fetchedAt > s.ttlMs) {
        this.staleLogged = true;
        this.log.warn({ event: 'jwks_stale', url: this.logUrl, ageMs: Math.round(performance.now() - this.fetchedAt) }, 'serving JWKS keys past their TTL while the issuer is unreachable');
      }
      this.schedule(s.cooldownMs);
      return false;
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(backgroundRefresh, delayMs, this);
    this.timer.unref();
  }

  /** close stops timers, aborts a fetch in flight and closes the Agent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.closing.abort();
    return this.agent.destroy().catch(() => undefined);
  }
}

function backgroundRefresh(c: JwksCache): void { void c.refresh(); }

const SHARED = new Map<string, JwksCache>();

function keyOf(s: JwksSettings): string {
  return `${s.url}\n${s.timeoutMs}\n${s.maxBytes}\n${s.ttlMs}\n${s.cooldownMs}`;
}

/** acquireJwks returns the shared cache for these settings, creating (and starting) it when none is open. */
export function acquireJwks(settings: JwksSettings, log: Logger): JwksCache {
  const key = keyOf(settings);
  let c = SHARED.get(key);
  if (c === undefined) {
    c = new JwksCache(settings, log);
    SHARED.set(key, c);
    c.start();
  }
  c.refs++;
  return c;
}

/** releaseJwks gives a cache back; the last user closes it. */
export function releaseJwks(c: JwksCache): Promise<void> {
  if (--c.refs > 0) return Promise.resolve();
  const key = keyOf(c.settings);
  if (SHARED.get(key) === c) SHARED.delete(key);
  return c.close();
}
