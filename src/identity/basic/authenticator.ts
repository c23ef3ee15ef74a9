/**
 * The `basic` authentication method: `Authorization: Basic base64(user:password)` (RFC 7617) checked against
 * the bcrypt or scrypt hash in `consumers.<id>.basic`. A check costs a password hash by design (50–100 ms),
 * so successful checks are remembered for a short time, and an unknown user name costs the same hash (against
 * a dummy of the same cost) so names cannot be probed by timing.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuthMethodDefinition } from '../methods.js';
import { ABSENT, type AuthResult, type Authenticator, type AuthenticatorContext, type ConsumerDirectory } from '../types.js';
import type { Exchange } from '../../core/exchange.js';
import { parseDuration } from '../../config/units.js';
import { TtlCache } from '../ttl-cache.js';
import { BasicSchema, type BasicConfig } from './schema.js';
import { costKey, dummyLike, parsePasswordHash, SCRYPT_DEFAULTS, verifyPassword, type PasswordHash, BCRYPT } from './password-hash.js';

/** BASIC_CACHE_MAX bounds the success cache (entries); the oldest entry makes room for a new one. */
export const BASIC_CACHE_MAX = 10_000;
/** Longest base64 credential read (bytes of the token); longer is refused without decoding. */
const MAX_TOKEN = 4096;

const MALFORMED: AuthResult = Object.freeze({ kind: 'invalid', reason: 'malformed Basic credentials' });
const NO_COLON: AuthResult = Object.freeze({ kind: 'invalid', reason: 'Basic credentials without a colon' });
const UNKNOWN_USER: AuthResult = Object.freeze({ kind: 'invalid', reason: 'unknown user' });
const WRONG_PASSWORD: AuthResult = Object.freeze({ kind: 'invalid', reason: 'wrong password' });
const BAD_HASH: AuthResult = Object.freeze({ kind: 'invalid', reason: 'the stored password hash is not valid' });

const NO_SCOPES: ReadonlySet<string> = new Set();
const NO_HEADERS: readonly string[] = Object.freeze([]);
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The default dummy: what `gatehouse keys hash-password` makes, used when the directory cannot list hashes. */
const DEFAULT_DUMMY_OF: PasswordHash = { kind: 'scrypt', N: SCRYPT_DEFAULTS.N, r: SCRYPT_DEFAULTS.r, p: SCRYPT_DEFAULTS.p, salt: Buffer.alloc(SCRYPT_DEFAULTS.saltBytes), hash: Buffer.alloc(SCRYPT_DEFAULTS.hashBytes) };



/** BasicAuthenticator checks `Authorization: Basic` credentials. */
export class BasicAuthenticator implements Authenticator {
  readonly name: string;
  readonly challenge: string;
  readonly credentialHeaders: readonly string[] = Object.freeze(['authorization']);
  readonly credentialQuery: readonly string[] = Object.freeze([]);
  private readonly consumers: ConsumerDirectory;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly cacheTtl: number;
  /** Successful checks by HMAC of the token (a per-generation random key: the map holds no usable secret). */
  private readonly cache: TtlCache<AuthResult>;
  /** Checks under way by HMAC of the token: a burst of identical requests costs one hash. */
  private readonly inflight: Map<string, Promise<AuthResult>>;
  private readonly cacheKey: Buffer;
  /** Every stored hash, parsed at load (the text is the key: the config is fixed for this generation). */
  private readonly parsed: Map<string, PasswordHash>;
  private readonly dummy: PasswordHash;

  constructor(config: BasicConfig, ctx: Pick<AuthenticatorContext, 'name' | 'consumers' | 'now' | 'log'>) {
    this.name = ctx.name;
    this.challenge = `Basic realm="${config.realm}", charset="UTF-8"`;
    this.consumers = ctx.consumers;
    this.now = ctx.now;
    this.log = ctx.log;
    this.cacheTtl = parseDuration(config.cacheTtl);
    this.cache = new TtlCache(BASIC_CACHE_MAX);
    this.inflight = new Map();
    this.cacheKey = randomBytes(32);
    this.parsed = new Map();
    this.dummy = dummyLike(this.indexHashes() ?? DEFAULT_DUMMY_OF);
  }

  /**
   * Parses every stored hash: a bad hash is a config error naming its consumer. Returns the most common kind
   * and cost among them (the model of the dummy), or null when no consumer has Basic credentials.
   */
  private indexHashes(): PasswordHash | null {
    const counts = new Map<string, { h: PasswordHash; n: number }>();
    for (const [, { consumer, passwordHash }] of this.consumers.basicUsers()) {
      const h = parsePasswordHash(passwordHash);
      if (typeof h === 'string') throw new Error(`consumers.${consumer.id}.basic.password: ${h}`);
      this.parsed.set(passwordHash, h);
      const k = costKey(h);
      const c = counts.get(k);
      if (c === undefined) counts.set(k, { h, n: 1 }); else c.n++;
    }
    let best: { h: PasswordHash; n: number } | null = null;
    for (const c of counts.values()) if (best === null || c.n > best.n) best = c;
    return best === null ? null : best.h;
  }

  authenticate(ex: Exchange): AuthResult | Promise<AuthResult> {
    let value: string | undefined;
    const h = ex.upstreamHeaders;
    // The core refuses a request with two Authorization headers, so the first is the only one.
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'authorization') { value = h[i + 1]!; break; }
    if (value === undefined || !isBasicScheme(value)) return ABSENT; // no credential, or another scheme's (Bearer)
    let start = 5;
    while (start < value.length && value.charCodeAt(start) === 32) start++;
    const token = value.slice(start);
    if (token.length === 0 || token.length > MAX_TOKEN || !isBase64(token)) return MALFORMED;
    let key = '';
    if (this.cacheTtl > 0) {
      key = createHmac('sha256', this.cacheKey).update(token).digest('base64');
      const hit = this.cache.get(key, this.now());
      if (hit !== undefined) return hit;
      const pending = this.inflight.get(key);
      if (pending !== undefined) return pending;
    }
    let text: string;
    try { text = UTF8.decode(Buffer.from(token, 'base64')); } catch { return MALFORMED; }
    const colon = text.indexOf(':');
    if (colon === -1) return NO_COLON;
    if (colon === 0) return MALFORMED;
    const p = this.check(text.slice(0, colon), text.slice(colon + 1), key);
    if (key !== '') this.inflight.set(key, p);
    return p;
  }

  /** Verifies a user's password (or a dummy, for an unknown user) and caches success. */
  private async check(username: string, password: string, key: string): Promise<AuthResult> {
    try {
      const user = this.consumers.byBasicUser(username);
      if (user === undefined) {
        await verifyPassword(password, this.dummy);
        return UNKNOWN_USER;
      }
      // Parsed at load: every user's hash is in the map (indexHashes refused the config otherwise).
      const stored = this.parsed.get(user.passwordHash)!;
      let ok: boolean;
      try { ok = await verifyPassword(password, stored); } catch (err) {
        this.log.error({ event: 'basic_check_failed', authenticator: this.name, consumer: user.consumer.id, err: (err as Error).message }, 'password check failed');
        return BAD_HASH;
      }
      if (!ok) return WRONG_PASSWORD;
      const result: AuthResult = {
        kind: 'ok',
        identity: { consumer: user.consumer, subject: user.consumer.id, method: this.name, claims: null, scopes: NO_SCOPES, expiresAt: null, upstreamHeaders: NO_HEADERS },
      };
      if (key !== '') this.remember(key, result);
      return result;
    } finally {
      if (key !== '') this.inflight.delete(key);
    }
  }

  private remember(key: string, result: AuthResult): void {
    const now = this.now();
    this.cache.set(key, result, now + this.cacheTtl, 1, now);
  }

  close(): void {
    this.cache.clear();
  }
}

/** isBasicScheme: the value starts with `Basic` (any case) followed by a space or nothing. */
function isBasicScheme(v: string): boolean {
  if (v.length < 5 || (v.length > 5 && v.charCodeAt(5) !== 32)) return false;
  return (v.charCodeAt(0) | 0x20) === 98 && (v.charCodeAt(1) | 0x20) === 97 && (v.charCodeAt(2) | 0x20) === 115
    && (v.charCodeAt(3) | 0x20) === 105 && (v.charCodeAt(4) | 0x20) === 99;
}

/**
 * isBase64 checks standard base64 (RFC 4648 §4) strictly, padded or not: Buffer.from() would silently skip
 * stray characters and decode `!!dXNlcjpwdw==` as if it were valid.
 */
function isBase64(s: string): boolean {
  let end = s.length;
  if (end > 0 && s.charCodeAt(end - 1) === 61) end--;
  if (end > 0 && s.charCodeAt(end - 1) === 61) end--;
  const padded = end !== s.length;
  if (padded ? s.length % 4 !== 0 : end % 4 === 1) return false;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47)) return false;
  }
  return true;
}

/**
 * basic is the method definition registered in src/identity/methods.ts. (A typed constant rather than a
 * defineAuthMethod call: methods.ts imports this file, and a value import back would be a cycle.)
 */
export const basic: AuthMethodDefinition<typeof BasicSchema> = {
  key: 'basic',
  schema: BasicSchema,
  preload: () => BCRYPT.load(),
  create: (config, ctx) => new BasicAuthenticator(config, ctx),
};
