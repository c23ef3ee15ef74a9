/**
 * Limits compiled once at config load: the fixed part of each counter key, the policy text of the headers,
 * and how the caller's part of the key is found. Keys are built only from trusted parts: the route's name
 * (never the raw path, so `/a`, `//a` and `/a/` share a counter), the authenticated consumer, the client IP
 * as the trusted-proxy rules establish it, and, for `header:NAME`, a hash of the value (never the raw text
 * a client sent).
 */
import { createHash } from 'node:crypto';
import type { Exchange } from '../../core/exchange.js';
import type { LimitAlgorithm, LimitCheck, LimitState } from '../../stores/types.js';
import type { FailMode } from '../../stores/counters.js';
import { parseDuration } from '../../config/units.js';
import { entriesOf, type RateLimitConfig, type RateLimitEntryConfig } from './schema.js';

/** KeyPart kinds, as small integers for a switch on the hot path. */
const enum Part { Consumer, Ip, Route, Header }

/** CompiledLimit is one limit with everything the hot path needs prebuilt. */
export interface CompiledLimit {
  readonly name: string;
  readonly algorithm: LimitAlgorithm;
  readonly limit: number;
  readonly windowMs: number;
  /** `rl:{<route>}:<policy>:` — the key's fixed part. */
  readonly prefix: string;
  readonly parts: readonly Part[];
  /** Header names (lower-case) for Part.Header entries, aligned with `parts` (empty string elsewhere). */
  readonly headers: readonly string[];
  readonly legacy: boolean;
}

/** LimitSet is the limits that apply together to one caller on one route, with their policy header. */
export interface LimitSet {
  readonly limits: readonly CompiledLimit[];
  /** Value of `RateLimit-Policy`: `"10-per-1s";q=10;w=1, ...`. */
  readonly policy: string;
  readonly legacy: boolean;
}

/** policyName gives an entry's name in the headers: its own, or `<limit>-per-<per>`. */
export function policyName(e: RateLimitEntryConfig): string {
  return e.name ?? `${e.limit}-per-${e.per}`;
}

/** compileLimits builds the limit set of a route (scope `route`) or of a plan on a route (`plan.<name>`). */
export function compileLimits(config: RateLimitConfig, routeName: string, scope: string): LimitSet {
  const limits = entriesOf(config).map((e, i): CompiledLimit => {
    const by = Array.isArray(e.by) ? e.by : [e.by];
    return {
      name: policyName(e),
      algorithm: e.algorithm,
      limit: e.limit,
      windowMs: parseDuration(e.per),
      // The index keeps two unnamed limits with equal numbers apart; the name is not part of the key, so
      // renaming a policy does not reset its counters. The route is the key's hash tag: on Redis Cluster
      // every counter one request checks (all in one script) must be in one slot.
      prefix: `rl:{${routeName}}:${scope}${i}:`,
      parts: by.map(partOf),
      headers: by.map((b) => (b.startsWith('header:') ? b.slice(7).toLowerCase() : '')),
      legacy: e.legacyHeaders,
    };
  });
  return {
    limits,
    policy: limits.map((l) => `"${l.name}";q=${l.limit};w=${Math.ceil(l.windowMs / 1000)}`).join(', '),
    legacy: limits.some((l) => l.legacy),
  };
}

function partOf(by: string): Part {
  if (by === 'consumer') return Part.Consumer;
  if (by === 'ip') return Part.Ip;
  if (by === 'route') return Part.Route;
  return Part.Header;
}

/** checkLimits returns problems the schema cannot express, as [relative path, message]. */
export function checkLimits(config: RateLimitConfig): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [];
  const list = entriesOf(config);
  const names = new Map<string, number>();
  list.forEach((e, i) => {
    const at = Array.isArray(config) ? [i] : [];
    if (parseDuration(e.per) < 1000) out.push([[...at, 'per'], 'must be at least 1s']);
    const name = policyName(e);
    const first = names.get(name);
    if (first !== undefined) out.push([[...at, 'name'], `policy name "${name}" is used twice (also by entry ${first}); give one a different name`]);
    else names.set(name, i);
  });
  return out;
}

/** callerKey is the caller's part of a key: who, by the limit's `by` parts, joined with `|`. */
export function callerKey(l: CompiledLimit, ex: Exchange): string {
  if (l.parts.length === 1) return partKey(l.parts[0]!, l.headers[0]!, ex);
  let key = '';
  for (let i = 0; i < l.parts.length; i++) key += (i === 0 ? '' : '|') + partKey(l.parts[i]!, l.headers[i]!, ex);
  return key;
}

function partKey(part: Part, header: string, ex: Exchange): string {
  switch (part) {
    case Part.Consumer: return consumerKey(ex);
    case Part.Ip: return 'i=' + ipKey(ex.clientIp);
    case Part.Route: return 'r';
    case Part.Header: {
      const v = ex.req.headers[header];
      if (v === undefined || v === '') return 'i=' + ipKey(ex.clientIp);
      return 'h=' + digest(Array.isArray(v) ? v.join(',') : v);
    }
  }
}

/** LIMIT_HEADERS are the response headers the gateway owns on a limited route. */
export const LIMIT_HEADERS: ReadonlySet<string> = new Set(['ratelimit', 'ratelimit-policy', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);

/**
 * ipKey is the counter key of a client address: IPv4 as it is, IPv6 by its /64 prefix. One subscriber gets
 * a whole /64 and can rotate through it at will, so per-address IPv6 counters would be no limit at all.
 */
export function ipKey(ip: string): string {
  if (ip.indexOf(':') === -1) return ip;
  return ipv6Prefix64(ip);
}

/** ipv6Prefix64 returns the first four groups of an IPv6 address, expanded (`2001:db8:0:1::/64`). */
function ipv6Prefix64(ip: string): string {
  const zone = ip.indexOf('%');
  const addr = zone === -1 ? ip : ip.slice(0, zone);
  const dbl = addr.indexOf('::');
  let groups: string[];
  if (dbl === -1) groups = addr.split(':');
  else {
    const head = dbl === 0 ? [] : addr.slice(0, dbl).split(':');
    const tail = dbl + 2 >= addr.length ? [] : addr.slice(dbl + 2).split(':');
    // An embedded IPv4 tail (::ffff:1.2.3.4) takes two groups; it sits in the last 64 bits, which are dropped.
    const tailGroups = tail.length > 0 && tail[tail.length - 1]!.includes('.') ? tail.length + 1 : tail.length;
    groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'), ...tail];
  }
  let out = '';
  for (let i = 0; i < 4; i++) out += (i === 0 ? '' : ':') + (parseInt(groups[i] ?? '0', 16) || 0).toString(16);
  return out + '::/64';
}

/**
 * consumerKey is the key part of the caller as `by: consumer` counts it (rate limits and quotas alike): the
 * consumer, else the verified subject of an authenticated caller with no consumer (hashed: it may be long),
 * else the trusted client IP.
 */
export function consumerKey(ex: Exchange): string {
  const id = ex.identity;
  if (id === null) return 'i=' + ipKey(ex.clientIp);
  if (id.consumer !== null) return 'c=' + id.consumer.id;
  return 's=' + digest(id.method + '\n' + id.subject);
}

/**
 * storeUnavailable applies the fail mode when the store could not answer a limit check (the store logs the
 * outage once, not per request): `open` lets the request through unlimited, `closed` refuses it with 503.
 */
export function storeUnavailable(ex: Exchange, failMode: FailMode): void {
  if (failMode === 'open') { ex.limitOutcome = 'store-down-open'; return; }
  ex.limitOutcome = 'store-down-closed';
  ex.fail('GH_STORE_UNAVAILABLE', { headers: ['retry-after', '1'] });
}

/** digest shortens a caller-supplied value to a fixed-size key part (128 bits of SHA-256, base64url). */
function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** checksFor builds the store checks of a limit set for one request. */
export function checksFor(set: LimitSet, ex: Exchange): LimitCheck[] {
  const out: LimitCheck[] = new Array(set.limits.length);
  for (let i = 0; i < set.limits.length; i++) {
    const l = set.limits[i]!;
    out[i] = { key: l.prefix + callerKey(l, ex), algorithm: l.algorithm, limit: l.limit, windowMs: l.windowMs };
  }
  return out;
}

/** rateLimitValue renders the `RateLimit` header: `"10-per-1s";r=7;t=1, ...`. */
export function rateLimitValue(set: LimitSet, states: readonly LimitState[]): string {
  let out = '';
  for (let i = 0; i < set.limits.length; i++) {
    const s = states[i]!;
    out += `${i === 0 ? '' : ', '}"${set.limits[i]!.name}";r=${s.remaining};t=${Math.ceil(s.resetMs / 1000)}`;
  }
  return out;
}

/** tightest returns the index of the limit closest to running out (least remaining; the later reset on a tie). */
export function tightest(states: readonly LimitState[]): number {
  let best = 0;
  for (let i = 1; i < states.length; i++) {
    const a = states[i]!, b = states[best]!;
    if (a.remaining < b.remaining || (a.remaining === b.remaining && a.resetMs > b.resetMs)) best = i;
  }
  return best;
}

/** retryAfterSeconds is the wait before every denying limit allows again, in whole seconds (at least 1). */
export function retryAfterSeconds(states: readonly LimitState[]): number {
  let ms = 0;
  for (const s of states) if (s.retryAfterMs > ms) ms = s.retryAfterMs;
  return Math.max(1, Math.ceil(ms / 1000));
}
