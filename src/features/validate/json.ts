/**
 * The cheap, bounded checks on a request body before and around `JSON.parse`: one pass over the raw bytes
 * that refuses nesting deeper than the limit and the keys that pollute prototypes, and the media-type
 * matching of `Content-Type`. All of it runs on the hot path, so it is plain loops over prebuilt tables.
 */

/** ScanResult is the outcome of scanJson. */
export const enum ScanResult { Ok = 0, TooDeep = 1, ForbiddenKey = 2 }

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/** FORBIDDEN_KEYS are object keys refused in bodies: merged into objects upstream they reach prototypes. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * scanJson checks a JSON text's nesting depth and its object keys in one pass over the bytes, before it is
 * parsed: a body of 10,000 `[` is refused at the 65th byte rather than parsed, and no recursive walk (which a
 * deep enough body would overflow) ever runs over the parsed value. It does not check the syntax (JSON.parse
 * does), so an unbalanced text may pass it. Strings are skipped with indexOf, which is native and fast.
 * Keys written with escapes (`"__pro\u0074o__"`) are decoded before the comparison.
 */
export function scanJson(b: Buffer, maxDepth: number): ScanResult {
  const n = b.length;
  let depth = 0;
  let i = 0;
  // Position of the next backslash at or after the current string, found with indexOf and only moved
  // forward, so telling which strings hold escapes costs one pass in all (-1: none left).
  let nextBackslash = 0;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) {
      const start = i + 1;
      let end = b.indexOf(QUOTE, start);
      // A quote preceded by an odd run of backslashes is part of the string.
      while (end !== -1 && b[end - 1] === BACKSLASH) {
        let k = end - 1;
        while (k >= start && b[k] === BACKSLASH) k--;
        if (((end - 1 - k) & 1) === 0) break;
        end = b.indexOf(QUOTE, end + 1);
      }
      if (end === -1) return ScanResult.Ok; // unterminated: JSON.parse refuses it
      i = end + 1;
      if (nextBackslash !== -1 && nextBackslash < start) nextBackslash = b.indexOf(BACKSLASH, start);
      const escaped = nextBackslash !== -1 && nextBackslash < end;
      const len = end - start;
      if (escaped || len === 9 || len === 11) {
        let j = i;
        while (j < n && (b[j] === 0x20 || b[j] === 0x0a || b[j] === 0x0d || b[j] === 0x09)) j++;
        if (j < n && b[j] === COLON && isForbiddenKey(b, start, end, escaped)) return ScanResult.ForbiddenKey;
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return ScanResult.TooDeep;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
    i++;
  }
  return ScanResult.Ok;
}

/** Compares the key between `start` and `end` (exclusive, without quotes) with the forbidden names. */
function isForbiddenKey(b: Buffer, start: number, end: number, escaped: boolean): boolean {
  let key: string;
  if (escaped) {
    try { key = JSON.parse(b.toString('utf8', start - 1, end + 1)) as string; } catch { return false; }
  } else {
    key = b.toString('latin1', start, end);
  }
  return FORBIDDEN_KEYS.has(key);
}

/** mediaTypeOf returns the lower-case `type/subtype` of a Content-Type value, or '' when absent. */
export function mediaTypeOf(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** charsetIsUtf8 says whether a Content-Type value names no charset, or UTF-8 (the only one JSON allows). */
export function charsetIsUtf8(header: string): boolean {
  const semi = header.indexOf(';');
  if (semi === -1) return true;
  const lower = header.toLowerCase();
  const at = lower.indexOf('charset', semi);
  if (at === -1) return true;
  let eq = at + 7;
  while (eq < lower.length && lower.charCodeAt(eq) === 0x20) eq++;
  if (lower.charCodeAt(eq) !== 0x3d /* = */) return true;
  let end = lower.indexOf(';', eq);
  if (end === -1) end = lower.length;
  let value = lower.slice(eq + 1, end).trim();
  if (value.length >= 2 && value.charCodeAt(0) === QUOTE && value.charCodeAt(value.length - 1) === QUOTE) value = value.slice(1, -1);
  return value === 'utf-8' || value === 'utf8';
}

/** isJsonMediaType says whether a media type (or range) denotes JSON: `application/json` or any `+json`. */
export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * MediaRanges matches a request's media type against configured ranges: exact types, `type/*`, `*\/*`, and
 * the structured-suffix form `type/*+suffix` (`application/*+json`). match() returns the index of the most
 * specific range that matches (exact, then suffix, then `type/*`, then `*\/*`), or -1.
 */
export class MediaRanges {
  readonly ranges: readonly string[];
  private readonly exact: ReadonlyMap<string, number>;
  /** [type or '*', suffix (with its '+'), index] */
  private readonly suffixes: readonly (readonly [string, string, number])[];
  private readonly types: ReadonlyMap<string, number>;
  private readonly any: number;

  constructor(ranges: readonly string[]) {
    this.ranges = ranges;
    const exact = new Map<string, number>();
    const suffixes: [string, string, number][] = [];
    const types = new Map<string, number>();
    let any = -1;
    ranges.forEach((r, i) => {
      const range = r.toLowerCase();
      const slash = range.indexOf('/');
      const type = range.slice(0, slash);
      const sub = range.slice(slash + 1);
      if (type === '*' && sub === '*') { if (any === -1) any = i; }
      else if (sub === '*') { if (!types.has(type)) types.set(type, i); }
      else if (sub.startsWith('*+')) suffixes.push([type, sub.slice(1), i]);
      else if (!exact.has(range)) exact.set(range, i);
    });
    this.exact = exact;
    this.suffixes = suffixes;
    this.types = types;
    this.any = any;
  }

  /** match gives the index of the range `mediaType` (lower-case `type/subtype`) falls in, or -1. */
  match(mediaType: string): number {
    if (mediaType === '') return -1;
    const e = this.exact.get(mediaType);
    if (e !== undefined) return e;
    const slash = mediaType.indexOf('/');
    if (slash <= 0) return -1;
    const plus = mediaType.lastIndexOf('+');
    if (plus > slash) {
      for (let i = 0; i < this.suffixes.length; i++) {
        const s = this.suffixes[i]!;
        if (mediaType.endsWith(s[1]) && (s[0] === '*' || (mediaType.length > s[0].length && mediaType.startsWith(s[0]) && mediaType.charCodeAt(s[0].length) === 0x2f))) return s[2];
      }
    }
    if (this.types.size > 0) {
      const t = this.types.get(mediaType.slice(0, slash));
      if (t !== undefined) return t;
    }
    return this.any;
  }
}

/** validMediaRange says whether a configured range is one MediaRanges understands. */
export function validMediaRange(range: string): boolean {
  const slash = range.indexOf('/');
  if (slash <= 0 || slash !== range.lastIndexOf('/')) return false;
  const type = range.slice(0, slash);
  const sub = range.slice(slash + 1);
  if (sub === '') return false;
  if (type === '*') return sub === '*' || (sub.startsWith('*+') && !sub.slice(1).includes('*'));
  if (type.includes('*')) return false;
  return sub === '*' || !sub.includes('*') || (sub.startsWith('*+') && !sub.slice(2).includes('*') && sub.length > 2);
}
