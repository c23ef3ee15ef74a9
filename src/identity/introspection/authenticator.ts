/**
 * The `introspection` authentication method (RFC 7662): a bearer token is POSTed to the authorization
 * server, which says whether it is active and what it carries. Per request: find the token, refuse it past
 * `maxTokenSize`, answer from the cache (keyed by the token's SHA-256, bounded in size, each entry within
 * the token's `exp` and `cacheTtl`; inactive answers for `negativeCacheTtl`), else call the endpoint — one
 * call per token at a time, concurrent requests with the same token share it.
 *
 * The endpoint down (timeout, connection refused, non-200, not JSON) refuses the request with 401, never
 * lets it through, and logs a warning (at most one per 10 s); such failures are not cached.
 */
import { hash } from 'node:crypto';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { AuthMethodDefinition } from '../methods.js';
import { ABSENT, type AuthResult, type Authenticator, type AuthenticatorContext, type ConsumerDirectory } from '../types.js';
import type { Exchange } from '../../core/exchange.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { checkClaimOptions, ClaimMapping, removeHeaders } from '../claims.js';
import { bearerToken, headerOf } from '../token.js';
import { TtlCache } from '../ttl-cache.js';
import { FetchFailure, fetchText, isSafeUrl, newIdentityAgent, safeUrl } from '../fetch.js';
import { IntrospectionSchema, type IntrospectionConfig } from './schema.js';

const refuse = (reason: string): AuthResult => Object.freeze({ kind: 'invalid', reason, error: 'invalid_token' });
const TOO_LARGE = refuse('token larger than maxTokenSize');
const INACTIVE = refuse('token inactive (introspection)');
const EXPIRED = refuse('token expired');
const NOT_YET_VALID = refuse('token not yet valid (nbf)');
const WRONG_ISSUER = refuse('issuer mismatch');
const WRONG_AUDIENCE = refuse('audience mismatch');
const UNAVAILABLE = refuse('introspection endpoint unavailable');

/** WARN_EVERY_MS spaces the warnings about a failing endpoint. */
const WARN_EVERY_MS = 10_000;

/** IntrospectionAuthenticator checks bearer tokens with an RFC 7662 endpoint. */
export class IntrospectionAuthenticator implements Authenticator {
  readonly name: string;
  readonly challenge: string;
  readonly credentialHeaders: readonly string[];
  readonly credentialQuery: readonly string[];
  /** calls counts the calls made to the endpoint (tests, diagnostics). */
  calls: number;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxTokenSize: number;
  private readonly maxResponse: number;
  private readonly issuer: string | null;
  private readonly audience: readonly string[] | null;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly cache: TtlCache<AuthResult> | null;
  private readonly inflight: Map<string, Promise<AuthResult>>;
  private readonly mapping: ClaimMapping;
  private readonly claimHeaders: readonly string[];
  private readonly consumers: ConsumerDirectory;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly agent: Agent;
  private readonly closing: AbortController;
  private lastWarnAt: number;
  private suppressed: number;

  constructor(config: IntrospectionConfig, ctx: Pick<AuthenticatorContext, 'name' | 'consumers' | 'now' | 'log'>) {
    this.name = ctx.name;
    this.challenge = 'Bearer realm="gatehouse"';
    this.calls = 0;
    this.url = config.url;
    this.headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (config.clientId !== undefined) {
      const basic = `${formEncode(config.clientId)}:${formEncode(config.clientSecret ?? '')}`;
      this.headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    }
    this.timeoutMs = parseDuration(config.timeout);
    this.maxTokenSize = parseSize(config.maxTokenSize);
    this.maxResponse = parseSize(config.maxResponseSize);
    this.issuer = config.issuer ?? null;
    this.audience = config.audience === undefined ? null : typeof config.audience === 'string' ? [config.audience] : config.audience;
    this.ttlMs = parseDuration(config.cacheTtl);
    this.negativeTtlMs = parseDuration(config.negativeCacheTtl);
    this.cache = config.cacheSize > 0 && (this.ttlMs > 0 || this.negativeTtlMs > 0) ? new TtlCache(config.cacheSize) : null;
    this.inflight = new Map();
    this.mapping = new ClaimMapping(config);
    this.claimHeaders = this.mapping.headerNames;
    this.credentialHeaders = Object.freeze(['authorization', ...this.claimHeaders]);
    this.credentialQuery = Object.freeze([]);
    this.consumers = ctx.consumers;
    this.now = ctx.now;
    this.log = ctx.log;
    this.agent = newIdentityAgent(this.timeoutMs);
    this.closing = new AbortController();
    this.lastWarnAt = -Infinity;
    this.suppressed = 0;
    if (!isSafeUrl(config.url)) ctx.log.warn({ event: 'introspection_insecure_url', auth: ctx.name, url: safeUrl(config.url) }, 'the introspection URL is plain http off loopback: tokens and the client secret travel in clear; use https');
  }

  authenticate(ex: Exchange): AuthResult | Promise<AuthResult> {
    const v = headerOf(ex.upstreamHeaders, 'authorization');
    if (v === undefined) return ABSENT;
    const token = bearerToken(v);
    if (token === null) return ABSENT;
    if (token.length > this.maxTokenSize) return TOO_LARGE;
    const key = hash('sha256', token, 'base64');
    if (this.cache !== null) {
      const hit = this.cache.get(key, this.now());
      if (hit !== undefined) return this.accepted(ex, hit);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) return this.join(ex, pending);
    return this.lookup(ex, token, key);
  }

  private async lookup(ex: Exchange, token: string, key: string): Promise<AuthResult> {
    const p = this.introspect(token, key);
    this.inflight.set(key, p);
    try {
      return this.accepted(ex, await p);
    } finally {
      this.inflight.delete(key);
    }
  }

  private async join(ex: Exchange, p: Promise<AuthResult>): Promise<AuthResult> {
    return this.accepted(ex, await p);
  }

  /** accepted removes a client's copies of the claim headers (even when the route forwards credentials). */
  private accepted(ex: Exchange, r: AuthResult): AuthResult {
    if (r.kind === 'ok' && this.claimHeaders.length > 0) removeHeaders(ex.upstreamHeaders, this.claimHeaders);
    return r;
  }

  /** introspect calls the endpoint once and turns the answer into a verdict (cached when it is one). */
  private async introspect(token: string, key: string): Promise<AuthResult> {
    this.calls++;
    let text: string;
    try {
      const r = await fetchText(this.agent, this.url, {
        method: 'POST',
        headers: this.headers,
        body: `token=${formEncode(token)}&token_type_hint=access_token`,
        timeoutMs: this.timeoutMs,
        maxBytes: this.maxResponse,
        signal: this.closing.signal,
      });
      if (r.status !== 200) throw new FetchFailure(`status ${r.status}`);
      text = r.text;
    } catch (err) {
      return this.unavailable(err instanceof FetchFailure ? err.reason : 'unexpected error');
    }
    let doc: unknown;
    try { doc = JSON.parse(text); } catch { return this.unavailable('the answer is not JSON'); }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof (doc as { active?: unknown }).active !== 'boolean') {
      return this.unavailable('the answer has no boolean `active`');
    }
    const now = this.now();
    const claims = doc as Record<string, unknown>;
    if (claims.active !== true) return this.remember(key, INACTIVE, now + this.negativeTtlMs, now);
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : null;
    if (exp !== null && exp <= now) return this.remember(key, EXPIRED, now + this.negativeTtlMs, now);
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now) return NOT_YET_VALID;
    const iss = typeof claims.iss === 'string' ? claims.iss : null;
    if (this.issuer !== null && iss !== null && iss !== this.issuer) return this.remember(key, WRONG_ISSUER, now + this.negativeTtlMs, now);
    if (this.audience !== null && !audienceMatches(claims.aud, this.audience)) return this.remember(key, WRONG_AUDIENCE, now + this.negativeTtlMs, now);
    const result = this.mapping.identify(Object.freeze(claims), this.name, this.issuer ?? iss ?? '', this.consumers, exp);
    if (result.kind !== 'ok') return this.remember(key, result, now + this.negativeTtlMs, now);
    Object.freeze(result.identity);
    Object.freeze(result);
    const until = exp === null ? now + this.ttlMs : Math.min(exp, now + this.ttlMs);
    return this.remember(key, result, until, now);
  }

  private remember(key: string, r: AuthResult, until: number, now: number): AuthResult {
    if (this.cache !== null && !this.closing.signal.aborted) this.cache.set(key, r, until, 1, now);
    return r;
  }

  private unavailable(reason: string): AuthResult {
    if (this.closing.signal.aborted) return UNAVAILABLE;
    const t = performance.now();
    if (t - this.lastWarnAt >= WARN_EVERY_MS) {
      this.log.warn({ event: 'introspection_failed', auth: this.name, url: safeUrl(this.url), reason, suppressed: this.suppressed }, 'token introspection failed; the request is refused');
      this.lastWarnAt = t;
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
    return UNAVAILABLE;
  }

  close(): Promise<void> {
    this.closing.abort();
    this.cache?.clear();
    return this.agent.destroy().catch(() => undefined);
  }
}

/** audienceMatches: `aud` (a string or a list) contains one of the accepted audiences. */
function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) return aud.some((a) => typeof a === 'string' && accepted.includes(a));
  return false;
}

/** formEncode is application/x-www-form-urlencoded encoding of one value (RFC 6749 §2.3.1, Appendix B). */
function formEncode(s: string): string {
  return encodeURIComponent(s).replaceAll('%20', '+');
}

/** checkIntrospection returns config problems of an `introspection:` entry. */
export function checkIntrospection(c: IntrospectionConfig): [string, string][] {
  const out: [string, string][] = [];
  try { new URL(c.url); } catch { out.push(['.url', 'is not a valid URL']); }
  if (c.clientId !== undefined && c.clientSecret === undefined) out.push(['.clientSecret', 'is required with clientId']);
  if (c.clientSecret !== undefined && c.clientId === undefined) out.push(['.clientId', 'is required with clientSecret']);
  out.push(...checkClaimOptions(c));
  return out;
}

/** introspection is the method definition registered in src/identity/methods.ts. */
export const introspection: AuthMethodDefinition<typeof IntrospectionSchema> = {
  key: 'introspection',
  schema: IntrospectionSchema,
  check: (config) => checkIntrospection(config),
  create: (config, ctx) => new IntrospectionAuthenticator(config, ctx),
};
