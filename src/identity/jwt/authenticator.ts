/**
 * The `jwt` authentication method: one issuer per entry. Per request: find the token (header or cookie),
 * refuse it past `maxTokenSize` before any parsing, answer from the cache of verified tokens when it is
 * there (synchronously: no promise at all), otherwise read the unverified `iss` — another issuer's token is
 * left to the next method (ABSENT), so several entries serve several issuers — and verify it with jose:
 * pinned algorithms, the configured key source only (never `jku`, `x5u`, `x5c` or an embedded `jwk`),
 * `exp` required, `nbf`, `iss`, `aud` (and `typ` when set) checked with the clock skew.
 */
import { createPublicKey, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { CryptoKey, JWSHeaderParameters, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { AuthMethodDefinition } from '../methods.js';
import { ABSENT, type AuthResult, type Authenticator, type AuthenticatorContext, type ConsumerDirectory } from '../types.js';
import type { Exchange } from '../../core/exchange.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { checkClaimOptions, ClaimMapping, removeHeaders } from '../claims.js';
import { bearerToken, cookieValue, headerOf, peekIssuer } from '../token.js';
import { MANY, queryValue } from '../api-key/authenticator.js';
import { TtlCache } from '../ttl-cache.js';
import { isSafeUrl, safeUrl } from '../fetch.js';
import { acquireJwks, JwksUnavailable, releaseJwks, type JwksCache } from './jwks.js';
import { JwtSchema, type JwtAlgorithm, type JwtConfig } from './schema.js';
import { JOSE, type JoseModule } from './jose.js';

/** Refusals are shared constants; `reason` is for debug logs only, `error` for a `WWW-Authenticate` error attribute. */
const refuse = (reason: string): AuthResult => Object.freeze({ kind: 'invalid', reason, error: 'invalid_token' });
const TOO_LARGE = refuse('token larger than maxTokenSize');
const SEVERAL_TOKENS = refuse('token given more than once in the query');
const EXPIRED = refuse('token expired');
const NOT_YET_VALID = refuse('token not yet valid (nbf)');
const WRONG_AUDIENCE = refuse('audience mismatch');
const WRONG_ISSUER = refuse('issuer mismatch');
const WRONG_TYPE = refuse('typ header mismatch');
const MISSING_EXP = refuse('token has no exp');
const BAD_CLAIMS = refuse('claims invalid');
const ALG_NOT_ALLOWED = refuse('algorithm not allowed');
const BAD_SIGNATURE = refuse('signature invalid');
const NO_KEY = refuse('no key of the issuer matches the token (kid/alg)');
const SEVERAL_KEYS = refuse('several keys of the issuer match a token without kid');
const MALFORMED = refuse('malformed token');
const UNUSABLE_KEY = refuse('key not usable with the token algorithm');
const KEYS_UNAVAILABLE = refuse('issuer keys unavailable (JWKS never fetched)');
const REFUSED = refuse('token refused');

/** REQUIRED_CLAIMS: jose checks `exp` only when present; it is required here. */
const REQUIRED_CLAIMS = ['exp'];

const HMAC_BITS: Partial<Record<JwtAlgorithm, number>> = { HS256: 256, HS384: 384, HS512: 512 };
const isHmac = (a: string): boolean => a.startsWith('HS');

/** Headers that cannot carry the token: the gateway handles them itself. */
const RESERVED_TOKEN_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'proxy-connection', 'te',
  'trailer', 'expect', 'cookie', 'proxy-authorization', 'forwarded', 'x-real-ip', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host', 'x-request-id', 'x-authenticated-subject',
]);

/** A verified token in the cache, with the key-set version it was verified against. */
interface Verified {
  readonly result: AuthResult;
  readonly version: number;
}

/** JwtAuthenticator verifies the JWTs of one issuer. */
export class JwtAuthenticator implements Authenticator {
  readonly name: string;
  readonly challenge: string;
  readonly credentialHeaders: readonly string[];
  readonly credentialQuery: readonly string[];
  readonly credentialCookies: readonly string[];
  readonly issuer: string;
  private readonly audience: string | string[];
  private readonly algorithms: JwtAlgorithm[];
  private readonly typ: string | undefined;
  private readonly skewMs: number;
  private readonly maxTokenSize: number;
  /** Header to read (lower-case), or null when the token comes from a cookie. */
  private readonly header: string | null;
  private readonly bearer: boolean;
  private readonly cookie: string | null;
  /** Query parameter that may carry the token, or null. */
  private readonly query: string | null;
  /** The key: a public KeyObject (jose caches its CryptoKey per algorithm), or a resolver (JWKS, HMAC). */
  private readonly key: KeyObject | JWTVerifyGetKey;
  /** The JWKS cache, or null for a PEM key or a secret. */
  readonly jwks: JwksCache | null;
  private readonly hmacKeys: ReadonlyMap<string, Promise<CryptoKey>> | null;
  private readonly mapping: ClaimMapping;
  private readonly claimHeaders: readonly string[];
  private readonly consumers: ConsumerDirectory;
  private readonly now: () => number;
  private readonly cache: TtlCache<Verified> | null;
  private readonly jwtVerify: JoseModule['jwtVerify'];
  private closed: boolean;

  constructor(config: JwtConfig, ctx: Pick<AuthenticatorContext, 'name' | 'consumers' | 'now' | 'configDir' | 'log'>) {
    this.name = ctx.name;
    this.challenge = 'Bearer realm="gatehouse"';
    // Loaded by the method's preload before compile; get() throws if that was forgotten.
    this.jwtVerify = JOSE.get().jwtVerify;
    this.issuer = config.issuer;
    this.audience = config.audience;
    this.algorithms = [...config.algorithms];
    this.typ = config.typ;
    this.skewMs = parseDuration(config.clockSkew);
    this.maxTokenSize = parseSize(config.maxTokenSize);
    this.cookie = config.cookie ?? null;
    this.header = this.cookie === null ? config.header.toLowerCase() : null;
    this.bearer = this.header === 'authorization';
    this.mapping = new ClaimMapping(config);
    this.claimHeaders = this.mapping.headerNames;
    this.credentialHeaders = Object.freeze([...(this.header === null ? [] : [this.header]), ...this.claimHeaders]);
    this.query = config.query ?? null;
    this.credentialQuery = Object.freeze(this.query === null ? [] : [this.query]);
    this.credentialCookies = Object.freeze(this.cookie === null ? [] : [this.cookie]);
    this.consumers = ctx.consumers;
    this.now = ctx.now;
    const cacheBytes = parseSize(config.verifiedCache);
    this.cache = cacheBytes > 0 ? new TtlCache(cacheBytes) : null;
    this.closed = false;
    this.hmacKeys = null;
    this.jwks = null;
    if (config.secret !== undefined) {
      const bytes = Buffer.from(config.secret, config.secretEncoding);
      const keys = new Map<string, Promise<CryptoKey>>();
      // Imported once per algorithm: jose would import a raw secret again for every verification.
      for (const alg of this.algorithms) {
        const p = webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']) as Promise<CryptoKey>;
        p.catch(() => undefined);
        keys.set(alg, p);
      }
      this.hmacKeys = keys;
      this.key = this.hmacKey.bind(this);
    } else if (config.publicKey !== undefined) {
      this.key = loadPublicKey(config.publicKey, ctx.configDir);
    } else {
      const url = config.jwks!;
      if (!isSafeUrl(url)) ctx.log.warn({ event: 'jwks_insecure_url', auth: ctx.name, url: safeUrl(url) }, 'the JWKS URL is plain http off loopback: keys could be replaced in transit; use https');
      this.jwks = acquireJwks({
        url,
        timeoutMs: parseDuration(config.jwksTimeout),
        maxBytes: parseSize(config.jwksMaxSize),
        ttlMs: parseDuration(config.jwksCacheTtl),
        cooldownMs: parseDuration(config.jwksCooldown),
      }, ctx.log);
      this.key = this.jwks.getKey;
    }
  }

  authenticate(ex: Exchange): AuthResult | Promise<AuthResult> {
    let token = this.tokenOf(ex.upstreamHeaders);
    if (token === null && this.query !== null && ex.query !== '') {
      const q = queryValue(ex.query, this.query);
      if (q === MANY) return SEVERAL_TOKENS;
      if (q !== undefined && q !== '') token = q;
    }
    if (token === null) return ABSENT;
    if (token.length > this.maxTokenSize) return TOO_LARGE;
    const cache = this.cache;
    if (cache !== null) {
      const hit = cache.get(token, this.now());
      if (hit !== undefined) {
        if (hit.version === this.keysVersion()) return this.accepted(ex, hit.result);
        cache.delete(token);
      }
    }
    // Unverified, only to route the token: another issuer's (or an opaque) token is for the next method.
    if (peekIssuer(token) !== this.issuer) return ABSENT;
    return this.verify(ex, token);
  }

  private tokenOf(h: readonly string[]): string | null {
    if (this.cookie !== null) return cookieValue(h, this.cookie);
    const v = headerOf(h, this.header!);
    if (v === undefined) return null;
    if (this.bearer) return bearerToken(v);
    const t = v.trim();
    return t === '' ? null : t;
  }

  private keysVersion(): number { return this.jwks === null ? 0 : this.jwks.version; }

  private async verify(ex: Exchange, token: string): Promise<AuthResult> {
    // The version before verification: if the key set changes meanwhile (an unknown-kid refetch), the entry
    // is stale at once and the token verified again, rather than outliving a key the new set dropped.
    const version = this.keysVersion();
    const now = this.now();
    const options: JWTVerifyOptions = {
      issuer: this.issuer,
      audience: this.audience,
      algorithms: this.algorithms,
      clockTolerance: this.skewMs / 1000,
      requiredClaims: REQUIRED_CLAIMS,
      currentDate: new Date(now),
    };
    if (this.typ !== undefined) options.typ = this.typ;
    let payload: Record<string, unknown>;
    try {
      payload = (await this.jwtVerify(token, this.key as Parameters<JoseModule['jwtVerify']>[1], options)).payload;
    } catch (err) {
      return refusalOf(err);
    }
    const exp = payload.exp as number;
    const result = this.mapping.identify(Object.freeze(payload), this.name, this.issuer, this.consumers, exp * 1000);
    if (result.kind === 'ok' && this.cache !== null && !this.closed) {
      Object.freeze(result.identity);
      Object.freeze(result);
      this.cache.set(token, { result, version }, exp * 1000 + this.skewMs, token.length * 2 + 256, now);
    }
    return this.accepted(ex, result);
  }

  /** accepted removes a client's copies of the claim headers (even when the route forwards credentials). */
  private accepted(ex: Exchange, r: AuthResult): AuthResult {
    if (r.kind === 'ok' && this.claimHeaders.length > 0) removeHeaders(ex.upstreamHeaders, this.claimHeaders);
    return r;
  }

  private hmacKey(header: JWSHeaderParameters): Promise<CryptoKey> {
    // jose has already checked `alg` against `algorithms`, so the key is there.
    return this.hmacKeys!.get(header.alg!)!;
  }

  close(): Promise<void> {
    // Idempotent: the JWKS cache is reference counted, and a second release would close it under another user.
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.cache?.clear();
    return this.jwks === null ? Promise.resolve() : releaseJwks(this.jwks);
  }
}

/**
 * refusalOf maps a jose error to a refusal, by jose's stable error codes (jose is loaded lazily, so no
 * instanceof), without copying library text anywhere a client could see.
 */
function refusalOf(err: unknown): AuthResult {
  if (err instanceof JwksUnavailable) return KEYS_UNAVAILABLE;
  if (err instanceof TypeError) return UNUSABLE_KEY;
  const e = err as { code?: unknown; claim?: unknown } | null;
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED': return EXPIRED;
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      switch (e.claim) {
        case 'nbf': return NOT_YET_VALID;
        case 'aud': return WRONG_AUDIENCE;
        case 'iss': return WRONG_ISSUER;
        case 'typ': return WRONG_TYPE;
        case 'exp': return MISSING_EXP;
        default: return BAD_CLAIMS;
      }
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return ALG_NOT_ALLOWED;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return BAD_SIGNATURE;
    case 'ERR_JWKS_NO_MATCHING_KEY': return NO_KEY;
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return SEVERAL_KEYS;
    case 'ERR_JWS_INVALID': case 'ERR_JWT_INVALID': case 'ERR_JOSE_NOT_SUPPORTED': return MALFORMED;
    default: return REFUSED;
  }
}

/** readPem returns the PEM text of `publicKey`: inline, or read from a file relative to the config. */
function readPem(value: string, configDir: string): string {
  if (value.includes('-----BEGIN')) return value;
  const path = isAbsolute(value) ? value : resolve(configDir, value);
  if (!existsSync(path)) throw new Error(`file not found: ${value} (relative to the config file)`);
  return readFileSync(path, 'utf8');
}

/** loadPublicKey parses a PEM public key or certificate; throws an Error whose message is a config problem. */
export function loadPublicKey(value: string, configDir: string): KeyObject {
  const pem = readPem(value, configDir);
  if (pem.includes('PRIVATE KEY-----')) throw new Error('is a private key; give the public key (e.g. `openssl pkey -in key.pem -pubout`), the gateway only verifies');
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey;
    return createPublicKey(pem);
  } catch {
    throw new Error('is not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate');
  }
}

/** keyProblem says why a public key cannot verify one of `algorithms`, or null. */
export function keyProblem(key: KeyObject, algorithms: readonly string[]): string | null {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const curves: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
  for (const alg of algorithms) {
    if (alg.startsWith('RS') || alg.startsWith('PS')) {
      if (type === 'rsa-pss') return 'is an RSA-PSS (id-RSASSA-PSS) key, which WebCrypto cannot import; export the key with the rsaEncryption OID';
      if (type !== 'rsa') return `is a ${type} key; ${alg} needs an RSA key`;
      if ((details.modulusLength ?? 0) < 2048) return `is a ${details.modulusLength}-bit RSA key; ${alg} needs at least 2048 bits`;
    } else if (alg.startsWith('ES')) {
      if (type !== 'ec' || details.namedCurve !== curves[alg]) return `is a ${type}${details.namedCurve ? ` ${details.namedCurve}` : ''} key; ${alg} needs an EC key on ${curves[alg]}`;
    } else if (alg === 'EdDSA' || alg === 'Ed25519') {
      if (type !== 'ed25519') return `is a ${type} key; ${alg} needs an Ed25519 key`;
    }
  }
  return null;
}

/** checkJwt returns config problems of a `jwt:` entry ([relative key path, message]). */
export function checkJwt(c: JwtConfig, configDir: string): [string, string][] {
  const out: [string, string][] = [];
  const sources = (['jwks', 'publicKey', 'secret'] as const).filter((k) => c[k] !== undefined);
  if (sources.length !== 1) {
    out.push(['', sources.length === 0 ? 'needs one key source: jwks, publicKey or secret' : `names ${sources.join(' and ')}; give exactly one key source (use one entry per issuer)`]);
  }
  const hmac = c.algorithms.filter(isHmac);
  const asym = c.algorithms.filter((a) => !isHmac(a));
  if (c.secret !== undefined && asym.length > 0) {
    out.push(['.algorithms', `${asym.join(', ')} cannot be verified with a shared secret; with \`secret\` use HS256, HS384 or HS512`]);
  }
  if (c.secret === undefined && hmac.length > 0) {
    out.push(['.algorithms', `${hmac.join(', ')} needs \`secret\`; a public key or JWKS must never serve as an HMAC secret`]);
  }
  if (c.secret !== undefined) {
    const bytes = Buffer.from(c.secret, c.secretEncoding).length;
    const need = Math.max(0, ...hmac.map((a) => HMAC_BITS[a]! / 8));
    if (bytes < need) out.push(['.secret', `is ${bytes} bytes; ${hmac.find((a) => HMAC_BITS[a]! / 8 === need)} needs a secret of at least ${need} bytes (e.g. \`openssl rand -base64 ${need}\` with secretEncoding: base64)`]);
  }
  if (c.jwks !== undefined) {
    try { new URL(c.jwks); } catch { out.push(['.jwks', 'is not a valid URL']); }
  }
  if (c.publicKey !== undefined && asym.length > 0) {
    try {
      const problem = keyProblem(loadPublicKey(c.publicKey, configDir), asym);
      if (problem !== null) out.push(['.publicKey', problem]);
    } catch (err) {
      out.push(['.publicKey', (err as Error).message]);
    }
  }
  if (c.cookie !== undefined && c.header.toLowerCase() !== 'authorization') out.push(['.cookie', 'give either `header` or `cookie`, not both']);
  if (RESERVED_TOKEN_HEADERS.has(c.header.toLowerCase()) || c.header.toLowerCase().startsWith('x-consumer-')) {
    out.push(['.header', `"${c.header}" is handled by the gateway itself and cannot carry a token; use authorization (Bearer) or e.g. x-id-token`]);
  }
  if (parseSize(c.maxTokenSize) < 64) out.push(['.maxTokenSize', 'must be at least 64b']);
  out.push(...checkClaimOptions(c));
  return out;
}

/**
 * jwt is the method definition registered in src/identity/methods.ts. (A typed constant rather than a
 * defineAuthMethod call: methods.ts imports this file, and a value import back would be a cycle.)
 */
export const jwt: AuthMethodDefinition<typeof JwtSchema> = {
  key: 'jwt',
  schema: JwtSchema,
  preload: () => JOSE.load(),
  check: (config, ctx) => checkJwt(config, ctx.configDir),
  create: (config, ctx) => new JwtAuthenticator(config, ctx),
};
