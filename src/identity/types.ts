/**
 * Who is calling: consumers (configured callers), the identity an authenticator establishes for a request,
 * and the authenticator contract. An authenticator is built once per config generation from a named entry
 * under `auth:`; routes refer to it by name (`auth: [staff-jwt, api-key]`).
 */
import type { Exchange } from '../core/exchange.js';

/** Consumer is one configured caller (an entry under `consumers:`). */
export interface Consumer {
  readonly id: string;
  readonly groups: readonly string[];
  /** Name of the consumer's plan (used by rate limits and billing), or null. */
  readonly plan: string | null;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Identity is the authenticated caller of one request. */
export interface Identity {
  /** The consumer the credential maps to, or null for an anonymous-but-authenticated caller (e.g. a valid JWT whose subject is no consumer, where the route allows it). */
  readonly consumer: Consumer | null;
  /** Stable subject: the consumer id, or the token's subject. */
  readonly subject: string;
  /** Name of the authenticator (the key under `auth:`) that accepted the credential. */
  readonly method: string;
  /** Token claims (JWT or introspection), or null for credentials without claims. */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Scopes from `scope` (space-separated) or `scp` (list or string); empty when none. */
  readonly scopes: ReadonlySet<string>;
  /** Unix ms when the credential stops being valid, or null (WebSocket connections close then). */
  readonly expiresAt: number | null;
  /**
   * Headers to add upstream for this identity, flat [name, value, ...] (configured claims as headers).
   * X-Consumer-Id and X-Consumer-Groups are added by the auth feature itself.
   */
  readonly upstreamHeaders: readonly string[];
}

/** AuthResult is an authenticator's verdict on one request. */
export type AuthResult =
  /** No credential of this kind in the request: the next method may try. */
  | { readonly kind: 'absent' }
  /** A credential was there and is not acceptable: 401, no further method is tried. `reason` is for logs only, never for the client. */
  | { readonly kind: 'invalid'; readonly reason: string; readonly error?: string }
  | { readonly kind: 'ok'; readonly identity: Identity };

/** ABSENT is the shared 'absent' verdict (no allocation per request). */
export const ABSENT: AuthResult = Object.freeze({ kind: 'absent' });

/** Authenticator checks one kind of credential. */
export interface Authenticator {
  /** The name under `auth:`. */
  readonly name: string;
  /** Challenge for `WWW-Authenticate` on 401 (RFC 9110 §11.6.1): `Bearer realm="gatehouse"`, `Basic realm="gatehouse", charset="UTF-8"`, `ApiKey header="x-api-key"`. */
  readonly challenge: string;
  /**
   * Upstream header names (lower-case) that carry this method's credential and are removed before
   * forwarding unless the route says `forwardCredentials: true`; query parameters likewise.
   */
  readonly credentialHeaders: readonly string[];
  readonly credentialQuery: readonly string[];
  /** Cookie names that carry this method's credential (a JWT read from a cookie), removed likewise. Optional. */
  readonly credentialCookies?: readonly string[];
  authenticate(ex: Exchange): AuthResult | Promise<AuthResult>;
  /** close stops background work (JWKS refresh) when the config generation retires. */
  close?(): void | Promise<void>;
}

/** AuthenticatorFactory builds an authenticator from its validated config entry. */
export interface AuthenticatorContext {
  readonly name: string;
  readonly consumers: ConsumerDirectory;
  readonly configDir: string;
  readonly log: import('pino').Logger;
  /** Current time in Unix ms (injectable in tests: token expiry, key expiry). */
  readonly now: () => number;
}

/**
 * ConsumerDirectory finds consumers by their credentials. Built once per config generation; lookups are
 * map lookups, never loops of comparisons.
 */
export interface ConsumerDirectory {
  byId(id: string): Consumer | undefined;
  /** The consumer owning an API key, by the key's SHA-256 hex digest, with the key's expiry (Unix ms) or null. */
  byKeyHash(sha256Hex: string): { consumer: Consumer; expiresAt: number | null } | undefined;
  /** The consumer whose `jwt.subject` (optionally with `jwt.issuer`) matches. */
  byJwtSubject(issuer: string, subject: string): Consumer | undefined;
  /** The consumer whose `basic.username` matches, with the stored password hash. */
  byBasicUser(username: string): { consumer: Consumer; passwordHash: string } | undefined;
  /** basicUsers lists every Basic credential (for checks at config load, never per request). */
  basicUsers(): Iterable<readonly [string, { consumer: Consumer; passwordHash: string }]>;
  /**
   * The consumer one of whose `certificates` names this certificate field: `fingerprint` (lower-case hex,
   * no colons), `san` or `cn`. Optional: directories without client certificates may leave it out.
   */
  byCertificate?(field: 'fingerprint' | 'san' | 'cn', value: string): Consumer | undefined;
}
