/**
 * `auth`: authenticates the caller with the route's methods, in order. The first method that finds its kind
 * of credential decides: accepted → the identity is set and passed upstream as X-Consumer-* headers; refused →
 * 401 with every method's challenge. No credential at all → 401, or anonymous where the route allows it.
 * Credentials are removed before forwarding unless the route keeps them.
 */
import type { Static } from '@sinclair/typebox';
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import type { AuthResult, Authenticator, Identity } from '../../identity/types.js';
import { didYouMean } from '../../config/errors.js';
import { withoutCookies } from '../../core/cookies.js';
import { AuthSchema } from './schema.js';

type AuthConfig = Static<typeof AuthSchema>;

/** AuthFeature runs the authenticators of one route. */
export class AuthFeature implements Feature {
  readonly name = 'auth';
  readonly methods: readonly Authenticator[];
  readonly anonymous: boolean;
  readonly unknownConsumers: boolean;
  readonly forwardCredentials: boolean;
  /** `WWW-Authenticate` headers of a 401, flat, built once. */
  private readonly challenges: readonly string[];
  private readonly stripHeaders: ReadonlySet<string>;
  private readonly stripQuery: ReadonlySet<string>;
  private readonly stripCookies: ReadonlySet<string>;

  constructor(config: AuthConfig, authenticators: ReadonlyMap<string, Authenticator>) {
    const c = Array.isArray(config) ? { methods: config, anonymous: false, unknownConsumers: false, forwardCredentials: false } : config;
    this.methods = c.methods.map((n) => authenticators.get(n)!);
    this.anonymous = c.anonymous;
    this.unknownConsumers = c.unknownConsumers;
    this.forwardCredentials = c.forwardCredentials;
    // One WWW-Authenticate per distinct challenge: two JWT issuers both say `Bearer realm="gatehouse"`.
    this.challenges = [...new Set(this.methods.map((m) => m.challenge))].flatMap((c) => ['www-authenticate', c]);
    this.stripHeaders = new Set(this.methods.flatMap((m) => m.credentialHeaders));
    this.stripQuery = new Set(this.methods.flatMap((m) => m.credentialQuery));
    this.stripCookies = new Set(this.methods.flatMap((m) => m.credentialCookies ?? []));
  }

  onRequest(ex: Exchange): void | Promise<void> {
    return this.step(ex, 0);
  }

  /** Tries methods from `i`, staying synchronous until a method answers with a promise. */
  private step(ex: Exchange, i: number): void | Promise<void> {
    for (; i < this.methods.length; i++) {
      const r = this.methods[i]!.authenticate(ex);
      if (r instanceof Promise) return r.then((res) => (this.decide(ex, res, i) ? undefined : this.step(ex, i + 1)));
      if (this.decide(ex, r, i)) return;
    }
    // Credentials leave the exchange either way: nothing later (a log line) may see them.
    this.strip(ex);
    if (this.anonymous) return;
    ex.fail('GH_UNAUTHORIZED', { headers: this.challenges });
  }

  /** Applies one verdict; true when it ends authentication (accepted or refused). */
  private decide(ex: Exchange, r: AuthResult, i: number): boolean {
    if (r.kind === 'absent') return false;
    if (r.kind === 'invalid') {
      this.strip(ex);
      ex.runtime.log.debug({ event: 'auth_refused', route: ex.route?.name, method: this.methods[i]!.name, reason: r.reason, requestId: ex.requestId }, 'credential refused');
      ex.fail('GH_UNAUTHORIZED', { headers: this.challenges });
      return true;
    }
    const id = r.identity;
    if (id.consumer === null && !this.unknownConsumers) {
      this.strip(ex);
      ex.fail('GH_UNKNOWN_CONSUMER', { headers: this.challenges });
      return true;
    }
    this.accept(ex, id);
    return true;
  }

  private accept(ex: Exchange, id: Identity): void {
    ex.identity = id;
    this.strip(ex);
    const h = ex.upstreamHeaders;
    if (id.consumer !== null) {
      h.push('x-consumer-id', id.consumer.id);
      if (id.consumer.groups.length > 0) h.push('x-consumer-groups', id.consumer.groups.join(','));
    } else {
      h.push('x-authenticated-subject', id.subject);
    }
    for (let k = 0; k < id.upstreamHeaders.length; k += 2) h.push(id.upstreamHeaders[k]!, id.upstreamHeaders[k + 1]!);
  }

  /** Removes the route's credentials from what goes upstream, unless the route forwards them. */
  private strip(ex: Exchange): void {
    if (this.forwardCredentials) return;
    if (this.stripHeaders.size > 0) {
      const h = ex.upstreamHeaders;
      let w = 0;
      for (let r = 0; r < h.length; r += 2) {
        if (this.stripHeaders.has(h[r]!)) continue;
        h[w++] = h[r]!;
        h[w++] = h[r + 1]!;
      }
      h.length = w;
    }
    if (this.stripQuery.size > 0 && ex.query !== '') ex.query = removeQueryParams(ex.query, this.stripQuery);
    if (this.stripCookies.size > 0) stripCookies(ex.upstreamHeaders, this.stripCookies);
  }
}

/** stripCookies removes the named cookies from the Cookie headers sent upstream (and an emptied Cookie). */
function stripCookies(h: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < h.length; r += 2) {
    let value = h[r + 1]!;
    if (h[r] === 'cookie') {
      value = withoutCookies(value, names);
      if (value === '') continue;
    }
    h[w++] = h[r]!;
    h[w++] = value;
  }
  h.length = w;
}

/** removeQueryParams drops parameters by (decoded) name and keeps every other byte of the query as sent. */
export function removeQueryParams(query: string, names: ReadonlySet<string>): string {
  const kept: string[] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const raw = eq === -1 ? part : part.slice(0, eq);
    let name: string;
    try { name = decodeURIComponent(raw.replace(/\+/g, ' ')); } catch { name = raw; }
    if (!names.has(name)) kept.push(part);
  }
  return kept.join('&');
}

/** auth is the feature definition registered in src/features/index.ts. */
export const auth = defineFeature({
  key: 'auth',
  stage: 'authenticate',
  schema: AuthSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config, ctx) => {
    const names = Array.isArray(config) ? config : config.methods;
    const problems: [string, string][] = [];
    names.forEach((n, i) => {
      if (!ctx.authenticators.has(n)) {
        const hint = didYouMean(n, ctx.authenticators.keys());
        problems.push([Array.isArray(config) ? `[${i}]` : `.methods[${i}]`, `unknown authenticator "${n}"${hint ? ` (did you mean "${hint}"?)` : ''}; define it under auth:`]);
      }
    });
    return problems;
  },
  create: (config, ctx) => new AuthFeature(config, ctx.authenticators),
});
