/**
 * Request-target parsing: turns Node's raw `req.url` into the one normalized path that routing, authorization,
 * rate limits, logs and the upstream request all use, or refuses it (SECURITY.md, "Paths"). Normalizing once,
 * here, is what makes `/%61dmin`, `//admin` and `/public/%2e%2e/admin` meet the same rules as `/admin`.
 *
 * It runs on every request, so it is written for the common case: one charCodeAt pass that checks the
 * refusals and notices whether anything needs rewriting; a clean path comes back as the input string itself.
 * Escapes already in canonical form (uppercase, of a byte that stays encoded, whole UTF-8 sequences) count as
 * clean, because that is how browsers and HTTP libraries send them. Only lowercase or unreserved escapes,
 * `//` and dot segments take the rewrite, which allocates.
 * Hand-written rather than `new URL()`: the WHATWG parser reads `//host/x` as a host, turns `\` into `/`,
 * leaves `%61` encoded and `%2F` accepted, and is several times slower (bench/micro/path.ts).
 */

/** ParsedTarget is the request target after normalization. */
export interface ParsedTarget {
  /** The normalized path, always starting with `/`; forward exactly this upstream. */
  path: string;
  /** The query without its `?`, `''` when none; kept byte-for-byte as sent. */
  query: string;
}

/** PathErrorCode lists the refusals of parseTarget; the gateway maps them to 400 problem responses. */
export type PathErrorCode = 'GH_BAD_PATH' | 'GH_BAD_PATH_ENCODING' | 'GH_ABSOLUTE_FORM';

const SPACE = 0x20;
const HASH = 0x23;
const PERCENT = 0x25;
const DOT = 0x2e;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;
const DEL = 0x7f;

/** PCT_BYTE[b] is the canonical escape of byte b, so the rewrite concatenates without formatting hex. */
const PCT_BYTE: readonly string[] = buildPctByte();

/**
 * ASCII_ESCAPE[b] is what an escaped ASCII byte b becomes: the literal character for the unreserved set
 * (RFC 3986 §2.3, so `%61dmin` and `admin` are one path and `%2e%2e` is a dot segment), the uppercase escape
 * for every other byte (decoding `%3F` or `%25` would change what the path means), and `''` for the bytes we
 * refuse: an encoded `/` or `\` would split into segments upstream that we never authorized, and control
 * characters end up in logs and in other parsers.
 */
const ASCII_ESCAPE: readonly string[] = buildAsciiEscape();

/** KEPT_ESCAPE[b] is 1 when the escape of ASCII byte b is already its normal form and passes as is. */
const KEPT_ESCAPE: Uint8Array = buildKeptEscape();

function buildPctByte(): string[] {
  const digits = '0123456789ABCDEF';
  const out: string[] = [];
  for (let b = 0; b < 256; b++) out.push('%' + digits[b >> 4] + digits[b & 15]);
  return out;
}

function buildAsciiEscape(): string[] {
  const out: string[] = [];
  for (let b = 0; b < 128; b++) {
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d || b === DOT || b === 0x5f || b === 0x7e;
    if (b < SPACE || b === DEL || b === SLASH || b === BACKSLASH) out.push('');
    else out.push(unreserved ? String.fromCharCode(b) : PCT_BYTE[b]!);
  }
  return out;
}

function buildKeptEscape(): Uint8Array {
  const out = new Uint8Array(128);
  for (let b = 0; b < 128; b++) out[b] = ASCII_ESCAPE[b] === PCT_BYTE[b] ? 1 : 0;
  return out;
}

/**
 * parseTarget normalizes req.url once; returns a PathErrorCode string when the target must be refused.
 *
 * Call it once per request on the raw target (Node's `req.url`) and use the result everywhere after: routing,
 * authorization and the upstream request MUST all see the same path. Never throws. The path of a result has no
 * empty, `.` or `..` segment, no escape of an unreserved character, only uppercase escapes of well-formed
 * UTF-8, and is a fixed point: parseTarget(result.path).path === result.path.
 */
export function parseTarget(url: string): ParsedTarget | PathErrorCode {
  const len = url.length;
  // Only origin-form may reach routing: absolute-form would let the client pick a host, and `*` or an
  // authority have no path to route on.
  if (len === 0 || url.charCodeAt(0) !== SLASH) return 'GH_ABSOLUTE_FORM';
  let end = len;
  let decode = false; // an escape is lowercase, unreserved or invalid: decodeEscapes rewrites or refuses it
  let resolve = false; // a segment is empty, `.` or `..`
  let semicolon = false; // a `;` appears: checked for `..;` segments below
  // From 0, not 1: the leading `/` may itself open an empty or dot segment (`//admin`, `/../x`).
  for (let i = 0; i < len; i++) {
    const c = url.charCodeAt(i);
    if (c === QUESTION) { end = i; break; }
    // Anything outside visible ASCII: Node hands us bytes as latin1, so a raw byte > 0x7E is half of some
    // encoding we cannot see; a raw space would split the upstream request line.
    if (c <= SPACE || c >= DEL || c === BACKSLASH || c === HASH) return 'GH_BAD_PATH';
    if (c === PERCENT) {
      if (decode) continue;
      const n = canonicalEscapeLength(url, i, len);
      if (n === 0) decode = true;
      else i += n - 1;
    } else if (c === SLASH && !resolve) resolve = opensEmptyOrDotSegment(url, i + 1, len);
    else if (c === SEMICOLON) semicolon = true;
  }
  let query = '';
  if (end < len) {
    // The query is forwarded as sent, so it is only checked for what must never be forwarded: control
    // characters, a fragment, a space, and code units that are not bytes at all.
    for (let i = end + 1; i < len; i++) {
      const c = url.charCodeAt(i);
      if (c <= SPACE || c === DEL || c === HASH || c > 0xff) return 'GH_BAD_PATH';
    }
    query = url.slice(end + 1);
  }
  let path: string;
  if (!decode && !resolve) path = end === len ? url : url.slice(0, end);
  else if (!decode) path = resolveSegments(url, end);
  else {
    const decoded = decodeEscapes(url, end);
    if (decoded === null) return 'GH_BAD_PATH_ENCODING';
    // Decoding cannot make a `/` (`%2F` is refused) but can make dots: `%2e%2e` is only now a dot segment.
    path = resolve || decoded.includes('/.') ? resolveSegments(decoded, decoded.length) : decoded;
  }
  // Tomcat, Jetty and Spring drop `;params` from a segment before resolving dots, so they read
  // `/public/..;/admin` as `/admin`: a dot segment with parameters would reopen a path the gateway blocks.
  if (semicolon && (path.includes('/..;') || path.includes('/.;'))) return 'GH_BAD_PATH';
  return { path, query };
}

/**
 * Reports whether the segment starting at `from` (just after a `/`) is empty, `.` or `..`, i.e. whether the
 * path needs resolveSegments. A segment ends at `/`, `?` or the end. A trailing `/` (empty last segment) needs
 * nothing, and `/.well-known` is not a dot segment, so neither leaves the fast path.
 */
function opensEmptyOrDotSegment(url: string, from: number, len: number): boolean {
  if (from >= len) return false;
  const c1 = url.charCodeAt(from);
  if (c1 === SLASH) return true;
  if (c1 !== DOT) return false;
  if (from + 1 >= len) return true;
  const c2 = url.charCodeAt(from + 1);
  if (c2 === SLASH || c2 === QUESTION) return true;
  if (c2 !== DOT) return false;
  if (from + 2 >= len) return true;
  const c3 = url.charCodeAt(from + 2);
  return c3 === SLASH || c3 === QUESTION;
}

/**
 * Returns how many characters of canonical escapes start at url[i] (a `%`) and can pass untouched: 3 for an
 * ASCII byte that stays encoded, 6 to 12 for a whole well-formed UTF-8 sequence, all hex digits uppercase.
 * Returns 0 for anything else; decodeEscapes then decides between a rewrite and a refusal.
 */
function canonicalEscapeLength(url: string, i: number, end: number): number {
  const b = escapedByte(url, i, end);
  if (b < 0) return 0;
  let n = 1;
  if (b < 0x80) {
    if (KEPT_ESCAPE[b] === 0) return 0;
  } else {
    n = utf8Length(url, i, end, b);
    if (n < 0) return 0;
  }
  return hasLowercaseHex(url, i, n) ? 0 : 3 * n;
}

/**
 * Returns url[0, end) with every escape in normal form, or null when an escape is malformed, decodes to
 * invalid UTF-8, a control character, `/` or `\`. Escapes already canonical stay inside the stretch copied in
 * one slice; only the others cut it.
 */
function decodeEscapes(url: string, end: number): string | null {
  let out = '';
  let copied = 0;
  let j = 0;
  while (j < end) {
    if (url.charCodeAt(j) !== PERCENT) { j++; continue; }
    const b = escapedByte(url, j, end);
    if (b < 0) return null;
    let n = 1;
    if (b < 0x80) {
      if (KEPT_ESCAPE[b] === 0) {
        const replacement = ASCII_ESCAPE[b]!;
        if (replacement === '') return null;
        out += url.slice(copied, j) + replacement;
        j += 3;
        copied = j;
        continue;
      }
    } else {
      n = utf8Length(url, j, end, b);
      if (n < 0) return null;
    }
    if (hasLowercaseHex(url, j, n)) {
      out += url.slice(copied, j) + url.slice(j, j + 3 * n).toUpperCase();
      copied = j + 3 * n;
    }
    j += 3 * n;
  }
  return out + url.slice(copied, end);
}

/** Reports whether any hex digit of the n valid escapes at url[j] is lowercase (as hex, a code >= 'a'). */
function hasLowercaseHex(url: string, j: number, n: number): boolean {
  for (let p = j + 3 * n - 1; p > j; p--) if (url.charCodeAt(p) >= 0x61) return true;
  return false;
}

/**
 * Returns path[0, end) with empty segments merged away and dot segments resolved: RFC 3986 §5.2.4, `..` at
 * the root staying at the root. A path that ends in `/`, `/.` or `/..` keeps a trailing slash, as the RFC's
 * output does. It keeps segment bounds rather than segment strings, and copies each run of kept segments that
 * are contiguous in the input as one slice: no string per segment, and no `join`.
 */
function resolveSegments(path: string, end: number): string {
  // Pairs of [start, end) of the kept segments, used as a stack.
  const bounds: number[] = [];
  let trailingSlash = false;
  let i = 1;
  for (;;) {
    let j = i;
    while (j < end && path.charCodeAt(j) !== SLASH) j++;
    const n = j - i;
    const dots = n === 1 ? path.charCodeAt(i) === DOT
      : n === 2 && path.charCodeAt(i) === DOT && path.charCodeAt(i + 1) === DOT;
    if (dots) {
      if (n === 2 && bounds.length > 0) bounds.length -= 2;
    } else if (n > 0) bounds.push(i, j);
    if (j >= end) {
      trailingSlash = n === 0 || dots;
      break;
    }
    i = j + 1;
  }
  if (bounds.length === 0) return '/';
  let out = '';
  let from = bounds[0]! - 1; // take the `/` before each segment with it
  let to = bounds[1]!;
  for (let k = 2; k < bounds.length; k += 2) {
    if (bounds[k] === to + 1) { to = bounds[k + 1]!; continue; }
    out += path.slice(from, to);
    from = bounds[k]! - 1;
    to = bounds[k + 1]!;
  }
  out += path.slice(from, to);
  return trailingSlash ? out + '/' : out;
}

/** Returns the byte that the escape at url[j] (a `%`) encodes, or -1 when it is not `%` and two hex digits. */
function escapedByte(url: string, j: number, end: number): number {
  if (j + 2 >= end) return -1;
  const hi = hexValue(url.charCodeAt(j + 1));
  const lo = hexValue(url.charCodeAt(j + 2));
  if (hi < 0 || lo < 0) return -1;
  return (hi << 4) | lo;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Returns how many escapes (2 to 4) make the well-formed UTF-8 sequence whose lead byte `lead` is escaped at
 * url[j], or -1. Well-formed is RFC 3629 strictly (no overlong forms, no surrogates, nothing past U+10FFFF),
 * because a lenient decoder upstream could read an overlong `%C0%AF` as `/`. C1 controls (U+0080-U+009F) are
 * refused like C0 ones.
 */
function utf8Length(url: string, j: number, end: number, lead: number): number {
  let n: number;
  let cp: number;
  let min = 0x80;
  let max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) { n = 2; cp = lead & 0x1f; }
  else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3; cp = lead & 0x0f;
    if (lead === 0xe0) min = 0xa0; // overlong
    else if (lead === 0xed) max = 0x9f; // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4; cp = lead & 0x07;
    if (lead === 0xf0) min = 0x90; // overlong
    else if (lead === 0xf4) max = 0x8f; // past U+10FFFF
  } else return -1;
  for (let k = 1; k < n; k++) {
    const p = j + 3 * k;
    if (p >= end || url.charCodeAt(p) !== PERCENT) return -1;
    const b = escapedByte(url, p, end);
    if (b < min || b > max) return -1;
    min = 0x80;
    max = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < 0xa0) return -1;
  return n;
}
