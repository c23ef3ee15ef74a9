/**
 * The `apiKey` authentication method. Per request it costs a scan of the forwarded headers, a shape
 * check, one SHA-256 and one Map lookup (`consumers.byKeyHash`): no loop of comparisons, so no
 * timing signal about which stored key is close to the one sent. Keys are stored only as hashes.
 */
import type { AuthMethodDefinition } from '../methods.js';
import { ABSENT, type AuthResult, type Authenticator, type AuthenticatorContext, type ConsumerDirectory } from '../types.js';
import type { Exchange } from '../../core/exchange.js';
import { ApiKeySchema, type ApiKeyConfig } from './schema.js';
import { hasKeyShape, isOpaqueKey, keyDigest } from './key-format.js';

/**
 * Header names that cannot carry a key: the gateway handles them itself (framing, hop-by-hop, forwarding,
 * identity), so a key there would be dropped, overwritten or confused with another credential.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'proxy-connection', 'te',
  'trailer', 'expect', 'authorization', 'proxy-authorization', 'forwarded', 'x-real-ip', 'x-forwarded-for',
  'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'x-authenticated-subject', 'cookie',
]);

/** Refusals are shared constants: `reason` goes to debug logs only, never to the client. */
const MALFORMED: AuthResult = Object.freeze({ kind: 'invalid', reason: 'malformed key' });
const UNKNOWN: AuthResult = Object.freeze({ kind: 'invalid', reason: 'unknown key' });
const EXPIRED: AuthResult = Object.freeze({ kind: 'invalid', reason: 'expired key' });
const SEVERAL: AuthResult = Object.freeze({ kind: 'invalid', reason: 'more than one key in the request' });

const NO_SCOPES: ReadonlySet<string> = new Set();
const NO_HEADERS: readonly string[] = Object.freeze([]);

/** ApiKeyAuthenticator reads a key from a header (or a configured query parameter) and finds its consumer. */
export class ApiKeyAuthenticator implements Authenticator {
  readonly name: string;
  readonly challenge: string;
  readonly credentialHeaders: readonly string[];
  readonly credentialQuery: readonly string[];
  private readonly header: string;
  /** Query parameter name, or null when keys are read from the header only. */
  private readonly query: string | null;
  private readonly wellFormed: (key: string) => boolean;
  private readonly consumers: ConsumerDirectory;
  private readonly now: () => number;

  constructor(config: ApiKeyConfig, ctx: Pick<AuthenticatorContext, 'name' | 'consumers' | 'now'>) {
    this.name = ctx.name;
    this.header = config.header.toLowerCase();
    this.query = config.query ?? null;
    this.challenge = `ApiKey header="${this.header}"${this.query === null ? '' : `, query="${this.query}"`}`;
    this.credentialHeaders = Object.freeze([this.header]);
    this.credentialQuery = Object.freeze(this.query === null ? [] : [this.query]);
    this.wellFormed = config.format === 'any' ? isOpaqueKey : hasKeyShape;
    this.consumers = ctx.consumers;
    this.now = ctx.now;
  }

  authenticate(ex: Exchange): AuthResult {
    let key: string | undefined;
    const h = ex.upstreamHeaders;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] !== this.header) continue;
      if (key !== undefined) return SEVERAL;
      key = h[i + 1]!;
    }
    if (this.query !== null && ex.query !== '') {
      const q = queryValue(ex.query, this.query);
      if (q === MANY) return SEVERAL;
      if (q !== undefined) {
        if (key !== undefined) return SEVERAL;
        key = q;
      }
    }
    if (key === undefined) return ABSENT;
    // The shape is checked before hashing: junk costs no SHA-256.
    if (!this.wellFormed(key)) return MALFORMED;
    const found = this.consumers.byKeyHash(keyDigest(key));
    if (found === undefined) return UNKNOWN;
    if (found.expiresAt !== null && this.now() >= found.expiresAt) return EXPIRED;
    const consumer = found.consumer;
    return {
      kind: 'ok',
      identity: { consumer, subject: consumer.id, method: this.name, claims: null, scopes: NO_SCOPES, expiresAt: found.expiresAt, upstreamHeaders: NO_HEADERS },
    };
  }
}

/** Marker for a parameter given more than once (`?api_key=a&api_key=b`): ambiguous, refused. */
export const MANY = '\u0000many';

/**
 * queryValue finds parameter `name` in a raw query string without splitting it: the value (decoded), or
 * undefined when absent, or MANY. Names are compared decoded, as the auth feature removes them decoded, so
 * `api%5Fkey=...` is the same parameter as `api_key=...`.
 */
export function queryValue(query: string, name: string): string | undefined {
  let found: string | undefined;
  let start = 0;
  const len = query.length;
  while (start <= len) {
    let end = query.indexOf('&', start);
    if (end === -1) end = len;
    let eq = query.indexOf('=', start);
    if (eq === -1 || eq > end) eq = end;
    if (matchesName(query, start, eq, name)) {
      if (found !== undefined) return MANY;
      found = eq === end ? '' : decodeComponent(query.slice(eq + 1, end));
    }
    start = end + 1;
  }
  return found;
}

function matchesName(query: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && query.startsWith(name, start)) return true;
  // Only an encoded name can be longer than or differ from the plain one; decode just those.
  if (end - start <= name.length) return false;
  const raw = query.slice(start, end);
  if (!raw.includes('%') && !raw.includes('+')) return false;
  return decodeComponent(raw) === name;
}

/** decodeComponent decodes form encoding (`+` is a space); a malformed escape is kept as sent (it then fails the key's shape). */
function decodeComponent(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try { return decodeURIComponent(s.replaceAll('+', ' ')); } catch { return s; }
}

/**
 * apiKey is the method definition registered in src/identity/methods.ts. (A typed constant rather than a
 * defineAuthMethod call: methods.ts imports this file, and a value import back would be a cycle.)
 */
export const apiKey: AuthMethodDefinition<typeof ApiKeySchema> = {
  key: 'apiKey',
  schema: ApiKeySchema,
  check: (config) => {
    const header = config.header.toLowerCase();
    if (RESERVED_HEADERS.has(header) || header.startsWith('x-consumer-')) {
      return [['.header', `"${config.header}" is handled by the gateway itself and cannot carry an API key; use e.g. x-api-key`]];
    }
    return [];
  },
  create: (config, ctx) => new ApiKeyAuthenticator(config, ctx),
};
