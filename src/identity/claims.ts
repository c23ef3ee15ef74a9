/**
 * What token-based methods (`jwt`, `introspection`) share once a token's claims are trusted: required claims
 * and claim conditions, the subject → consumer mapping, scopes from `scope` / `scp`, and claims copied into
 * upstream headers. Everything is prepared once per authenticator (ClaimMapping); per token it is plain loops.
 */
import { Type } from '@sinclair/typebox';
import type { AuthResult, ConsumerDirectory, Identity } from './types.js';

/** HEADER_NAME_PATTERN: header names without `_` (names with `_` are dropped by the gateway); case does not matter. */
const HEADER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9-]*$';

/**
 * RESERVED_HEADERS cannot receive a claim: the gateway sets or handles them itself (framing, hop-by-hop,
 * forwarding, identity), or they carry credentials.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'proxy-connection', 'te',
  'trailer', 'expect', 'authorization', 'proxy-authorization', 'cookie', 'forwarded', 'x-real-ip', 'x-forwarded-for',
  'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'x-authenticated-subject', 'x-consumer-id', 'x-consumer-groups',
]);

/** ClaimOptionsSchemas are the claim-related options shared by `jwt` and `introspection` (spread into each schema). */
export const ClaimOptionsSchemas = {
  consumerClaim: Type.String({
    default: 'sub', minLength: 1,
    description: 'Claim whose value (a string) identifies the caller; it is looked up in `consumers.<id>.jwt.subject`. A token without it is refused. Default `sub`.',
  }),
  requiredClaims: Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description: 'Claims that must be present (not null) in every accepted token, e.g. `[email]`. Default: none beyond the method\'s own.',
  }),
  matchClaims: Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
    default: {},
    description: 'Claims that must have a given value: `{ tenant: acme, email_verified: true }`. A claim that is a list must contain the value. Checked on every token; for per-route rules use `allow:`. Default: none.',
  }),
  claimsToHeaders: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: HEADER_NAME_PATTERN, errorMessage: 'must be a header name of letters, digits and - (e.g. x-user-email)' }), {
    default: {},
    description: 'Claims sent upstream as request headers: `{ email: x-user-email }`. Strings, numbers and booleans only; a token whose mapped claim is a list or object, or holds a control character (CR, LF, ...), is refused. Non-ASCII text is sent as its UTF-8 bytes. A client\'s own copy of these headers is always removed. Default: none.',
  }),
};

/** ClaimOptions are the validated shared options. */
export interface ClaimOptions {
  consumerClaim: string;
  requiredClaims: string[];
  matchClaims: Record<string, string | number | boolean>;
  claimsToHeaders: Record<string, string>;
}

/** checkClaimOptions returns config problems of the shared options ([relative key path, message]). */
export function checkClaimOptions(c: ClaimOptions): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Map<string, string>();
  for (const [claim, name] of Object.entries(c.claimsToHeaders)) {
    const header = name.toLowerCase();
    if (RESERVED_HEADERS.has(header)) out.push([`.claimsToHeaders.${claim}`, `"${header}" is set or handled by the gateway itself; choose another name (e.g. x-user-${claim.replace(/[^a-z0-9]+/gi, '-').toLowerCase()})`]);
    const other = seen.get(header);
    if (other !== undefined) out.push([`.claimsToHeaders.${claim}`, `header "${header}" already receives claim "${other}"`]);
    else seen.set(header, claim);
  }
  return out;
}

/** Refusals are shared constants (no allocation per request); `reason` is for logs only. */
const refuse = (reason: string): AuthResult => Object.freeze({ kind: 'invalid', reason, error: 'invalid_token' });
const NO_SUBJECT = refuse('subject claim missing or not a string');
const BAD_HEADER_CLAIM = refuse('a claim mapped to a header is not a plain value or holds control characters');
const EMPTY_SCOPES: ReadonlySet<string> = new Set();
const NO_HEADERS: readonly string[] = Object.freeze([]);

/** ClaimMapping turns trusted claims into an Identity, or a refusal. Built once per authenticator. */
export class ClaimMapping {
  private readonly consumerClaim: string;
  /** Required claims, each with its prebuilt refusal. */
  private readonly required: readonly (readonly [string, AuthResult])[];
  /** [claim, expected value, refusal] triples. */
  private readonly matches: readonly (readonly [string, string | number | boolean, AuthResult])[];
  /** Flat [claim, header, ...]. */
  private readonly toHeaders: readonly string[];
  /** Header names the mapping writes (a client's copies must be removed). */
  readonly headerNames: readonly string[];

  constructor(c: ClaimOptions) {
    this.consumerClaim = c.consumerClaim;
    this.required = c.requiredClaims.map((k) => [k, refuse(`required claim "${k}" missing`)] as const);
    this.matches = Object.entries(c.matchClaims).map(([k, v]) => [k, v, refuse(`claim "${k}" does not have the required value`)] as const);
    this.toHeaders = Object.entries(c.claimsToHeaders).flatMap(([claim, header]) => [claim, header.toLowerCase()]);
    this.headerNames = Object.freeze(Object.values(c.claimsToHeaders).map((h) => h.toLowerCase()));
  }

  /**
   * identify checks the claims and builds the identity. `issuer` keys the consumer lookup
   * (`consumers.<id>.jwt.issuer`); `expiresAt` is Unix ms or null.
   */
  identify(claims: Record<string, unknown>, method: string, issuer: string, consumers: ConsumerDirectory, expiresAt: number | null): AuthResult {
    for (let i = 0; i < this.required.length; i++) {
      const [k, refusal] = this.required[i]!;
      if (claims[k] === undefined || claims[k] === null) return refusal;
    }
    for (let i = 0; i < this.matches.length; i++) {
      const [k, want, refusal] = this.matches[i]!;
      const have = claims[k];
      if (have !== want && !(Array.isArray(have) && have.includes(want))) return refusal;
    }
    const sub = claims[this.consumerClaim];
    if (typeof sub !== 'string' || sub === '') return NO_SUBJECT;
    let headers = NO_HEADERS;
    if (this.toHeaders.length > 0) {
      const out: string[] = [];
      for (let i = 0; i < this.toHeaders.length; i += 2) {
        const v = claims[this.toHeaders[i]!];
        if (v === undefined || v === null) continue;
        const text = headerText(v);
        if (text === null) return BAD_HEADER_CLAIM;
        out.push(this.toHeaders[i + 1]!, text);
      }
      headers = Object.freeze(out);
    }
    const consumer = consumers.byJwtSubject(issuer, sub) ?? null;
    const identity: Identity = {
      consumer,
      subject: consumer === null ? sub : consumer.id,
      method,
      claims,
      scopes: scopesOf(claims),
      expiresAt,
      upstreamHeaders: headers,
    };
    return { kind: 'ok', identity };
  }
}

/**
 * headerText is a claim as a header value, or null when it cannot be one: strings, finite numbers and
 * booleans only; control characters (CR, LF, NUL, DEL, ...) refused, since they could split or smuggle
 * headers. Non-ASCII text becomes its UTF-8 bytes (as a latin1 string, which is how HTTP clients send bytes).
 */
export function headerText(v: unknown): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v !== 'string') return null;
  let ascii = true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return null;
    if (c > 0x7e) ascii = false;
  }
  if (ascii) return v;
  // C1 controls (U+0080-U+009F) are control characters too.
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x80 && c <= 0x9f) return null;
  }
  return Buffer.from(v, 'utf8').toString('latin1');
}

/** scopesOf reads `scope` (space-separated string) and `scp` (list, or space-separated string). */
export function scopesOf(claims: Record<string, unknown>): ReadonlySet<string> {
  const scope = claims.scope;
  const scp = claims.scp;
  if (scope === undefined && scp === undefined) return EMPTY_SCOPES;
  const out = new Set<string>();
  if (typeof scope === 'string') addWords(out, scope);
  if (typeof scp === 'string') addWords(out, scp);
  else if (Array.isArray(scp)) for (const s of scp) if (typeof s === 'string' && s !== '') out.add(s);
  return out.size === 0 ? EMPTY_SCOPES : out;
}

function addWords(out: Set<string>, text: string): void {
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text.charCodeAt(i) === 0x20) {
      if (i > start) out.add(text.slice(start, i));
      start = i + 1;
    }
  }
}

/**
 * removeHeaders drops every `names` entry from a flat [name, value, ...] list in place: a client's copy of a
 * header the gateway sets from claims must never reach the upstream.
 */
export function removeHeaders(h: string[], names: readonly string[]): void {
  let w = 0;
  for (let r = 0; r < h.length; r += 2) {
    if (names.includes(h[r]!)) continue;
    h[w++] = h[r]!;
    h[w++] = h[r + 1]!;
  }
  h.length = w;
}
