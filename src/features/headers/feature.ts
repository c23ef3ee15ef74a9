/**
 * `headers`: sets and removes request headers on their way to the service, takes named cookies out of the
 * `Cookie` header, and sets and removes response headers on their way to the client. Names are lower-cased
 * and values checked (no CR, LF or other control characters) at config load; per request it is one pass
 * over the flat header list.
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { HeadersSchema, type HeadersConfig } from './schema.js';
import { withoutCookies } from '../../core/cookies.js';

/** RFC 9110 §5.6.2 token: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5 field-value characters: visible ASCII, space, tab and obs-text. Anything else is refused. */
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** Request headers the gateway frames or sets itself: never set or removed by config. */
const REQUEST_MANAGED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect', 'x-request-id', 'x-authenticated-subject']);
/** Request headers that tell the service who the client is: they may be removed, never set to a made-up value. */
const REQUEST_NO_SET = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);
/** Response headers that frame or describe the bytes the gateway sends, or are the gateway's own. */
const RESPONSE_MANAGED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'content-encoding', 'x-request-id']);

/** HeadersFeature applies one route's header edits; hooks it does not need are left undefined. */
export class HeadersFeature implements Feature {
  readonly name = 'headers';
  /** Request header names dropped before forwarding (`remove` and the names of `set`). */
  readonly requestDrop: ReadonlySet<string>;
  /** Request headers added, flat [name, value, ...]. */
  readonly requestSet: readonly string[];
  /** Cookies taken out of `Cookie`, or null. */
  readonly cookies: ReadonlySet<string> | null;
  /**
   * Upstream response header names the client must not see (`remove` and the names of `set`); the proxy
   * leaves them out of the response (see CompiledRoute.removeResponseHeaders).
   */
  readonly removeResponseHeaders: ReadonlySet<string> | undefined;
  /** Response headers added, flat [name, value, ...]. */
  readonly responseSet: readonly string[];
  readonly onRequest: ((ex: Exchange) => void) | undefined;
  readonly onResponse: ((ex: Exchange) => void) | undefined;

  constructor(config: HeadersConfig) {
    const req = config.request ?? {};
    const res = config.response ?? {};
    this.requestSet = flatten(req.set);
    this.requestDrop = new Set([...(req.remove ?? []), ...Object.keys(req.set ?? {})].map((n) => n.toLowerCase()));
    this.cookies = req.removeCookies === undefined ? null : new Set(req.removeCookies);
    this.responseSet = flatten(res.set);
    const removed = new Set([...(res.remove ?? []), ...Object.keys(res.set ?? {})].map((n) => n.toLowerCase()));
    this.removeResponseHeaders = removed.size > 0 ? removed : undefined;
    // Prototype methods, not closures: the pipeline calls them as `feature.onRequest(ex)`.
    this.onRequest = this.requestDrop.size > 0 || this.requestSet.length > 0 || this.cookies !== null ? this.editRequest : undefined;
    this.onResponse = this.responseSet.length > 0 ? this.editResponse : undefined;
  }

  /** editRequest rewrites `ex.upstreamHeaders` in one pass: drops, cookie removal, then the set values. */
  editRequest(this: HeadersFeature, ex: Exchange): void {
    const h = ex.upstreamHeaders;
    const drop = this.requestDrop;
    const cookies = this.cookies;
    let w = 0;
    for (let r = 0; r < h.length; r += 2) {
      const name = h[r]!;
      if (drop.has(name)) continue;
      let value = h[r + 1]!;
      if (cookies !== null && name === 'cookie') {
        value = withoutCookies(value, cookies);
        if (value === '') continue;
      }
      h[w++] = name;
      h[w++] = value;
    }
    h.length = w;
    const set = this.requestSet;
    for (let i = 0; i < set.length; i++) h.push(set[i]!);
  }

  /** editResponse adds the set values; the service's own copies are left out by the proxy. */
  editResponse(this: HeadersFeature, ex: Exchange): void {
    ex.addResponseHeaders(this.responseSet);
  }
}

function flatten(set: Record<string, string | number | boolean> | undefined): string[] {
  const out: string[] = [];
  if (set !== undefined) for (const [k, v] of Object.entries(set)) out.push(k.toLowerCase(), String(v));
  return out;
}

/** checkHeaders reports bad names, values and managed headers as [relative key path, message] pairs. */
export function checkHeaders(config: HeadersConfig): [string, string][] {
  const problems: [string, string][] = [];
  const side = (where: 'request' | 'response', set: Record<string, unknown> | undefined, remove: readonly string[] | undefined): void => {
    const managed = where === 'request' ? REQUEST_MANAGED : RESPONSE_MANAGED;
    const isManaged = (n: string): boolean => managed.has(n) || (where === 'request' && n.startsWith('x-consumer-'));
    const removed = new Set<string>();
    remove?.forEach((name, i) => {
      const n = name.toLowerCase();
      removed.add(n);
      if (!TOKEN.test(name)) problems.push([`.${where}.remove[${i}]`, `"${name}" is not a valid header name`]);
      else if (isManaged(n)) problems.push([`.${where}.remove[${i}]`, `"${n}" is managed by the gateway and cannot be removed here`]);
    });
    for (const [name, value] of Object.entries(set ?? {})) {
      const n = name.toLowerCase();
      const at = `.${where}.set.${name}`;
      if (!TOKEN.test(name)) problems.push([at, `"${name}" is not a valid header name`]);
      else if (isManaged(n)) problems.push([at, `"${n}" is managed by the gateway and cannot be set here`]);
      else if (where === 'request' && REQUEST_NO_SET.has(n)) problems.push([at, `"${n}" describes the client and cannot be set (it may be removed)`]);
      else if (removed.has(n)) problems.push([at, `"${n}" is both set and removed`]);
      const text = String(value);
      if (text.includes('\r') || text.includes('\n')) problems.push([at, 'must not contain CR or LF (it would split the header)']);
      else if (BAD_VALUE_CHAR.test(text)) problems.push([at, 'must not contain control characters']);
    }
  };
  side('request', config.request?.set, config.request?.remove);
  side('response', config.response?.set, config.response?.remove);
  return problems;
}

/** headers is the feature definition registered in src/features/index.ts. */
export const headers = defineFeature({
  key: 'headers',
  stage: 'transform',
  schema: HeadersSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => checkHeaders(config),
  create: (config) => new HeadersFeature(config),
});
