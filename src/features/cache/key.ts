/**
 * Cache keys. A key is one string, with NUL (which no path, query or header value can hold) between parts:
 *
 *   <route> NUL GET NUL <path>[?<query>] NUL <proto>://<host> [NUL h:<name>[=<value>]]... [NUL @<consumer>]
 *
 * - the path is the normalized one the route matched (before strip-prefix or rewrite); HEAD uses GET's key;
 * - the query is sorted by parameter name (or cut to the configured names, or left out);
 * - proto and host are what the upstream is told (`X-Forwarded-Proto`, `X-Forwarded-Host`): services that
 *   build links from them must not have one host's answer served to another (cache poisoning);
 * - `h:` parts are the configured request headers, as sent upstream (absent: the bare name);
 * - `@` is the consumer, with `byConsumer`.
 *
 * A response that varies (`Vary`) is kept under the variant key: the base key, NUL `vary`, then NUL
 * `<name>=<value>` for each header it names. So every key of a route starts with `<route> NUL`, and every key
 * of a path prefix with `<route> NUL GET NUL <prefix>`: purges are prefix matches in both stores.
 *
 * Built with plain string concatenation: no hashing on the hit path (Redis keys are the same strings).
 */
import type { Exchange } from '../../core/exchange.js';

/** SEP separates the parts of a key. */
export const SEP = '\u0000';

/** QueryMode is which query parameters are part of the key: all of them, none, or the named ones. */
export type QueryMode = 'all' | 'ignore' | ReadonlySet<string>;

/** CacheKeyBuilder makes the keys of one route from its cache config. */
export class CacheKeyBuilder {
  readonly #prefix: string;
  readonly #query: QueryMode;
  readonly #headers: readonly string[];
  readonly #byConsumer: boolean;

  constructor(route: string, query: QueryMode, headers: readonly string[], byConsumer: boolean) {
    this.#prefix = route + SEP + 'GET' + SEP;
    this.#query = query;
    this.#headers = headers;
    this.#byConsumer = byConsumer;
  }

  /**
   * base is the key of the exchange's request (before Vary), or null when the request cannot be keyed
   * safely (a query parameter name that does not decode, with a list of parameters configured).
   */
  base(ex: Exchange): string | null {
    let key = this.#prefix + ex.path;
    const q = ex.query;
    if (q !== '') {
      const mode = this.#query;
      const kept = mode === 'all' ? sortQuery(q) : mode === 'ignore' ? '' : pickQuery(q, mode);
      if (kept === null) return null;
      if (kept !== '') key += '?' + kept;
    }
    key += SEP + originOf(ex.upstreamHeaders);
    const names = this.#headers;
    for (let i = 0; i < names.length; i++) {
      const v = flatValue(ex.upstreamHeaders, names[i]!);
      key += v === undefined ? SEP + 'h:' + names[i]! : SEP + 'h:' + names[i]! + '=' + v;
    }
    if (this.#byConsumer) key += SEP + '@' + consumerOf(ex);
    return key;
  }
}

/** variantKey is the key of the variant of `base` that a request with these (upstream) headers selects. */
export function variantKey(base: string, vary: readonly string[], headers: readonly string[]): string {
  let key = base + SEP + 'vary';
  for (let i = 0; i < vary.length; i++) {
    const v = flatValue(headers, vary[i]!);
    key += v === undefined ? SEP + vary[i]! : SEP + vary[i]! + '=' + v;
  }
  return key;
}

/** routeKeyPrefix is the prefix of every key of `route`. */
export function routeKeyPrefix(route: string): string {
  return route + SEP;
}

/** pathKeyPrefix is the prefix of the keys of `route` whose path (and query) starts with `prefix`. */
export function pathKeyPrefix(route: string, prefix: string): string {
  return route + SEP + 'GET' + SEP + prefix;
}

/** consumerOf names whom a private entry belongs to: the consumer, else the authenticator and subject. */
function consumerOf(ex: Exchange): string {
  const id = ex.identity;
  if (id === null) return '';
  return id.consumer !== null ? 'c:' + id.consumer.id : 's:' + id.method + ':' + id.subject;
}

/** originOf is `<proto>://<host>` as the upstream is told them. */
function originOf(headers: readonly string[]): string {
  let proto = '';
  let host = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name === 'x-forwarded-host') host = headers[i + 1]!;
    else if (name === 'x-forwarded-proto') proto = headers[i + 1]!;
  }
  return proto + '://' + host.toLowerCase();
}

/** flatValue is every value of `name` in a flat list, joined with ', ', or undefined when absent. */
function flatValue(headers: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) out = out === undefined ? headers[i + 1]! : out + ', ' + headers[i + 1]!;
  }
  return out;
}

function paramName(part: string): string {
  const eq = part.indexOf('=');
  return eq === -1 ? part : part.slice(0, eq);
}

function byName(a: string, b: string): number {
  const x = paramName(a);
  const y = paramName(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * sortQuery orders parameters by name, keeping the order of repeated names (the sort is stable): `b=1&a=2`
 * and `a=2&b=1` share an entry, `a=1&a=2` and `a=2&a=1` do not. Empty parameters are dropped.
 */
export function sortQuery(query: string): string {
  if (query.indexOf('&') === -1) return query;
  const parts = query.split('&').filter((p) => p !== '');
  parts.sort(byName);
  return parts.join('&');
}

/**
 * pickQuery keeps the parameters whose (decoded) name is listed, sorted as sortQuery does. Names are decoded
 * before the comparison so that `%61=1` counts as `a`: were it dropped from the key while the upstream reads
 * it as `a`, its answer would be served for other values of `a`. A name that does not decode gives null.
 */
export function pickQuery(query: string, names: ReadonlySet<string>): string | null {
  const kept: string[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const name = decodeName(paramName(part));
    if (name === null) return null;
    if (names.has(name)) kept.push(part);
  }
  kept.sort(byName);
  return kept.join('&');
}

function decodeName(raw: string): string | null {
  if (raw.indexOf('%') === -1 && raw.indexOf('+') === -1) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}
