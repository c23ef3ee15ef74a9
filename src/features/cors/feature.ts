/**
 * `cors`: CORS answered at the gateway, in the `screen` stage (before authentication, since a browser sends
 * no credentials on a preflight).
 * - A preflight (`OPTIONS` + `Origin` + `Access-Control-Request-Method`) is always answered here and never
 *   forwarded: 204 with the allow headers, or 403 `GH_CORS_REJECTED` with no CORS header at all when the
 *   origin, method or a requested header is not allowed. The 403 fails the preflight in every browser just as
 *   a bare 204 would, and it shows the refusal (status, code, detail) in the network panel and in the logs.
 * - An actual request from an allowed origin gets `Access-Control-Allow-Origin` (the origin echoed, with
 *   `Vary: Origin`; or `*` for `origins: "*"` without credentials), `-Allow-Credentials` and
 *   `-Expose-Headers`. They are queued in onRequest, so they reach the client on every answer: the
 *   upstream's and the gateway's own errors (a 401 from `auth`, a 429) alike, which scripts can then read.
 * - A disallowed origin on an actual request is forwarded without CORS headers (the browser enforces CORS);
 *   with `strict` it is refused with 403 `GH_CORS_REJECTED`.
 * Header values are built at config load; the only per-request values echoed are an origin that matched the
 * config, and a requested method or header list after a token-character check.
 */
import type { Static } from '@sinclair/typebox';
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { parseDuration } from '../../config/units.js';
import { CorsSchema } from './schema.js';
import { OriginList, checkOrigin } from './origins.js';

type CorsConfig = Static<typeof CorsSchema>;

/** Longest `Access-Control-Request-Headers` echoed back; a longer list is refused. */
const MAX_REQUEST_HEADERS = 2048;
const VARY_ORIGIN: readonly string[] = ['vary', 'Origin'];
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/** CorsFeature answers preflights and marks actual responses for one route. */
export class CorsFeature implements Feature {
  readonly name = 'cors';
  /** Routes with cors are found by the method a preflight announces (see Feature.handlesPreflight). */
  readonly handlesPreflight = true;
  readonly origins: OriginList;
  readonly credentials: boolean;
  readonly strict: boolean;
  /** Allowed methods, or null: whatever the route accepts (routing already checked `match.methods`). */
  private readonly methods: ReadonlySet<string> | null;
  private readonly methodsValue: string;
  /** Allowed request headers (lower-case), or null for any (echoed). */
  private readonly headers: ReadonlySet<string> | null;
  /** Headers added to an actual response from an allowed origin, after Access-Control-Allow-Origin. */
  private readonly actualTail: readonly string[];
  /** Headers of an actual response for `origins: "*"` without credentials (no echo, no Vary). */
  private readonly wildcardActual: readonly string[] | null;
  /** Whether answers vary by Origin (every list but a credential-less `*`). */
  private readonly varies: boolean;
  private readonly preflightTail: readonly string[];

  constructor(config: CorsConfig) {
    this.origins = new OriginList(config.origins);
    this.credentials = config.credentials;
    this.strict = config.strict;
    this.methods = config.methods === undefined ? null : new Set(config.methods);
    this.methodsValue = config.methods?.join(', ') ?? '';
    this.headers = config.headers === undefined || config.headers === '*' ? null : new Set(config.headers.map((h) => h.toLowerCase()));
    const tail: string[] = [];
    if (config.credentials) tail.push('access-control-allow-credentials', 'true');
    if (config.exposeHeaders !== undefined) tail.push('access-control-expose-headers', config.exposeHeaders.join(', '));
    this.varies = !(this.origins.any && !config.credentials);
    this.actualTail = this.varies ? [...VARY_ORIGIN, ...tail] : tail;
    this.wildcardActual = this.varies ? null : ['access-control-allow-origin', '*', ...tail];
    const pre: string[] = ['vary', PREFLIGHT_VARY];
    if (config.credentials) pre.push('access-control-allow-credentials', 'true');
    pre.push('access-control-max-age', String(Math.floor(parseDuration(config.maxAge) / 1000)));
    this.preflightTail = pre;
  }

  onRequest(ex: Exchange): void {
    const req = ex.req;
    const origin = req.headers.origin;
    if (origin !== undefined && req.method === 'OPTIONS') {
      const method = req.headers['access-control-request-method'];
      if (method !== undefined) { this.preflight(ex, origin, method); return; }
    }
    if (origin === undefined) {
      if (this.varies) ex.addResponseHeaders(VARY_ORIGIN);
      return;
    }
    if (this.wildcardActual !== null) { ex.addResponseHeaders(this.wildcardActual); return; }
    if (this.origins.matches(origin)) {
      ex.addResponseHeaders(['access-control-allow-origin', origin, ...this.actualTail]);
    } else if (this.strict) {
      ex.fail('GH_CORS_REJECTED', { detail: 'the origin is not allowed' });
    } else {
      ex.addResponseHeaders(VARY_ORIGIN);
    }
  }

  /** Answers a preflight: 204 with the allow headers, or 403 without any CORS header. */
  private preflight(ex: Exchange, origin: string, method: string): void {
    if (!this.origins.matches(origin)) return reject(ex, 'the origin is not allowed');
    let allowMethods: string;
    if (this.methods !== null) {
      if (!this.methods.has(method)) return reject(ex, 'the requested method is not allowed');
      allowMethods = this.methodsValue;
    } else {
      if (!isTokenList(method, false)) return reject(ex, 'the requested method is not allowed');
      allowMethods = method;
    }
    const out: string[] = ['access-control-allow-origin', this.origins.any && !this.credentials ? '*' : origin, 'access-control-allow-methods', allowMethods];
    const requested = ex.req.headers['access-control-request-headers'];
    if (requested !== undefined && requested !== '') {
      if (requested.length > MAX_REQUEST_HEADERS || !isTokenList(requested, true)) return reject(ex, 'a requested header is not allowed');
      if (this.headers !== null && !allListed(requested, this.headers)) return reject(ex, 'a requested header is not allowed');
      out.push('access-control-allow-headers', requested);
    }
    for (let i = 0; i < this.preflightTail.length; i++) out.push(this.preflightTail[i]!);
    ex.reply(204, out);
  }
}

function reject(ex: Exchange, detail: string): void {
  ex.fail('GH_CORS_REJECTED', { detail });
}

/**
 * Whether `s` is a method (one token) or, with `list`, a comma-separated list of header names: token
 * characters, commas and spaces only, so it is safe to echo in a response header.
 */
function isTokenList(s: string, list: boolean): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) continue;
    if (c === 45 || c === 95 || c === 46 || c === 33 || c === 35 || c === 36 || c === 37 || c === 38 || c === 39
      || c === 42 || c === 43 || c === 94 || c === 96 || c === 124 || c === 126) continue;
    if (list && (c === 44 || c === 32 || c === 9)) continue;
    return false;
  }
  return true;
}

/** Whether every name of a comma-separated list is in `allowed` (lower-case). */
function allListed(list: string, allowed: ReadonlySet<string>): boolean {
  let start = 0;
  while (start <= list.length) {
    let end = list.indexOf(',', start);
    if (end === -1) end = list.length;
    const name = list.slice(start, end).trim().toLowerCase();
    if (name !== '' && !allowed.has(name)) return false;
    start = end + 1;
  }
  return true;
}

/** cors is the feature definition registered in src/features/index.ts. */
export const cors = defineFeature({
  key: 'cors',
  stage: 'screen',
  schema: CorsSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const problems: [string, string][] = [];
    const any = config.origins === '*' || (config.origins.length === 1 && config.origins[0] === '*');
    if (!any && Array.isArray(config.origins)) {
      config.origins.forEach((o, i) => {
        const message = checkOrigin(o);
        if (message !== null) problems.push([`.origins[${i}]`, message]);
      });
    }
    if (any && config.credentials) {
      problems.push(['.credentials', 'cannot be true with origins "*": browsers refuse credentials from a wildcard origin; list the allowed origins instead']);
    }
    if (config.credentials && config.exposeHeaders?.includes('*')) {
      problems.push(['.exposeHeaders', 'cannot hold "*" with credentials: browsers read it as a header named "*"; list the headers']);
    }
    return problems;
  },
  create: (config) => new CorsFeature(config),
});
