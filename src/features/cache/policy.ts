/**
 * The HTTP caching rules the response cache applies (RFC 9111, as a shared cache): parsing `Cache-Control`
 * and `Vary`, a response's freshness lifetime (`s-maxage` over `max-age` over `Expires`, less its `Age`), and
 * the conditional-request checks (`If-None-Match` by weak comparison, `If-Modified-Since`). Pure functions
 * over flat header lists; they run when a response is stored or revalidated, never on a plain hit.
 */

/** CacheControl is a parsed `Cache-Control` response header; -1 means the directive is absent. */
export class CacheControl {
  noStore: boolean;
  /** `no-cache` (with or without field names: both are treated as "do not store"). */
  noCache: boolean;
  /** `private` (with or without field names: a shared cache stores neither). */
  isPrivate: boolean;
  mustRevalidate: boolean;
  /** Seconds. */
  maxAge: number;
  sMaxAge: number;
  staleWhileRevalidate: number;
  constructor() {
    this.noStore = false;
    this.noCache = false;
    this.isPrivate = false;
    this.mustRevalidate = false;
    this.maxAge = -1;
    this.sMaxAge = -1;
    this.staleWhileRevalidate = -1;
  }
}

/** The largest delta-seconds honoured (RFC 9111 §1.2.2: 2^31). */
const MAX_SECONDS = 2_147_483_648;

/**
 * parseCacheControl reads every directive of a `Cache-Control` value (several header lines joined with
 * commas). Names are case-insensitive; values may be quoted, with commas inside quotes. A malformed number
 * counts as 0 (RFC 9111 §4.2.1: an invalid `max-age` makes the response stale), and a directive given twice
 * keeps its smallest value (the most restrictive).
 */
export function parseCacheControl(value: string | undefined): CacheControl {
  const cc = new CacheControl();
  if (value === undefined || value === '') return cc;
  const n = value.length;
  let i = 0;
  while (i < n) {
    // One directive: name [= token | quoted-string], up to the next comma outside quotes.
    let nameEnd = i;
    while (nameEnd < n && value[nameEnd] !== ',' && value[nameEnd] !== '=') nameEnd++;
    const name = value.slice(i, nameEnd).trim().toLowerCase();
    let arg: string | null = null;
    i = nameEnd;
    if (i < n && value[i] === '=') {
      i++;
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
      if (value[i] === '"') {
        let j = i + 1;
        let text = '';
        while (j < n && value[j] !== '"') {
          if (value[j] === '\\' && j + 1 < n) j++;
          text += value[j];
          j++;
        }
        arg = text;
        i = j + 1;
        while (i < n && value[i] !== ',') i++;
      } else {
        let j = i;
        while (j < n && value[j] !== ',') j++;
        arg = value.slice(i, j).trim();
        i = j;
      }
    }
    i++; // past the comma
    switch (name) {
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.isPrivate = true; break;
      case 'must-revalidate': case 'proxy-revalidate': cc.mustRevalidate = true; break;
      case 'max-age': cc.maxAge = smaller(cc.maxAge, seconds(arg)); break;
      case 's-maxage': cc.sMaxAge = smaller(cc.sMaxAge, seconds(arg)); break;
      case 'stale-while-revalidate': cc.staleWhileRevalidate = smaller(cc.staleWhileRevalidate, seconds(arg)); break;
      default: break;
    }
  }
  return cc;
}

function seconds(arg: string | null): number {
  if (arg === null || !/^\d+$/.test(arg)) return 0;
  const v = Number(arg);
  return v > MAX_SECONDS ? MAX_SECONDS : v;
}

function smaller(current: number, next: number): number {
  return current === -1 || next < current ? next : current;
}

/**
 * parseVary reads a `Vary` value: null when absent or empty, '*' when the response varies on things a cache
 * cannot see (never stored), else the header names, lower-case, sorted and without repeats.
 */
export function parseVary(value: string | undefined): readonly string[] | '*' | null {
  if (value === undefined) return null;
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '') continue;
    if (name === '*') return '*';
    names.add(name);
  }
  return names.size === 0 ? null : [...names].sort();
}

/**
 * headerValues returns every value of `name` (lower-case) in a flat list, joined with ', ' as one field;
 * undefined when absent.
 */
export function headerValues(headers: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    out = out === undefined ? headers[i + 1]! : `${out}, ${headers[i + 1]!}`;
  }
  return out;
}

/**
 * freshnessMs is how long from `nowMs` a response stays fresh: its lifetime (`s-maxage`, else `max-age`,
 * else `Expires` minus `Date`, else `defaultTtlMs`) less the `Age` it arrived with. It may be zero or
 * negative (already stale).
 */
export function freshnessMs(cc: CacheControl, headers: readonly string[], nowMs: number, defaultTtlMs: number): number {
  let lifetime: number;
  if (cc.sMaxAge >= 0) lifetime = cc.sMaxAge * 1000;
  else if (cc.maxAge >= 0) lifetime = cc.maxAge * 1000;
  else {
    const expires = headerValues(headers, 'expires');
    if (expires !== undefined) {
      // An Expires the cache cannot read means "already expired" (RFC 9111 §5.3).
      const at = parseHttpDate(expires);
      const date = headerValues(headers, 'date');
      const base = date === undefined ? nowMs : parseHttpDate(date);
      lifetime = Number.isNaN(at) || Number.isNaN(base) ? 0 : at - base;
    } else {
      lifetime = defaultTtlMs;
    }
  }
  return lifetime - ageMs(headers);
}

/** ageMs is the `Age` a response arrived with, in ms (0 when absent or malformed). */
export function ageMs(headers: readonly string[]): number {
  const age = headerValues(headers, 'age');
  if (age === undefined || !/^\d+$/.test(age.trim())) return 0;
  return Math.min(Number(age.trim()), MAX_SECONDS) * 1000;
}

/**
 * etagMatches says whether an `If-None-Match` value matches `etag` by the weak comparison (RFC 9110
 * §13.1.2): `*`, or any listed tag equal to it once `W/` is dropped from both.
 */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const want = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim();
    if (tag === '*') return true;
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === want) return true;
  }
  return false;
}

/** notModifiedSince says whether `lastModified` is no later than an `If-Modified-Since` date (false when either is unreadable). */
export function notModifiedSince(ifModifiedSince: string, lastModified: string): boolean {
  const since = parseHttpDate(ifModifiedSince);
  const modified = parseHttpDate(lastModified);
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}

/** The three forms of an HTTP date (RFC 9110 §5.6.7): IMF-fixdate, RFC 850 and asctime. */
const HTTP_DATE = /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * parseHttpDate reads an HTTP date as Unix ms, or NaN. Date.parse alone is too lenient for this: it reads
 * `Expires: 0` as the year 2000, where HTTP means "already expired".
 */
export function parseHttpDate(text: string): number {
  const t = text.trim();
  return HTTP_DATE.test(t) ? Date.parse(t) : NaN;
}
