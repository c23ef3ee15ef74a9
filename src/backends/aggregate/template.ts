/**
 * Path templates of aggregated calls (`/orders/{profile.lastOrderId}?user={consumer.id}`): parsed and checked
 * once at config load into literal parts and placeholders, so a request only concatenates strings. Values
 * that fill placeholders come from clients and from other services' answers, which makes this the SSRF edge
 * of the gateway (SECURITY.md): every value becomes exactly one encoded path segment or query value, and a
 * value that could change where the call goes (empty, `.`, `..`, anything with `/`, `\`, `@` or a control
 * character) is refused rather than encoded.
 */
import { HEADER_NAME_PATTERN } from '../../config/units.js';

/** SourceKind says where a placeholder's value comes from. */
export const enum SourceKind {
  /** `{id}`: the route's path parameter `:id`. */
  Param,
  /** `{query.x}`: the client's query parameter `x` (its first value). */
  Query,
  /** `{header.x}`: the request header `x`, as it would be sent upstream. */
  Header,
  /** `{consumer.id}`: the consumer's id, or the token's subject for a caller that is no consumer. */
  ConsumerId,
  /** `{consumer.metadata.x}`: a consumer's metadata entry. */
  ConsumerMeta,
  /** `{claims.a.b}`: a dot path into the token's claims. */
  Claim,
  /** `{profile.a.b}`: a dot path into an earlier call's parsed response. */
  Step,
}

/** Placeholder is one `{...}` of a template. */
export interface Placeholder {
  readonly kind: SourceKind;
  /** The placeholder as written, braces included, for messages (never a value). */
  readonly text: string;
  /** Parameter, query or header name, or metadata key; the step's backend name for Step; '' otherwise. */
  readonly name: string;
  /** Dot path segments for Claim and Step; empty otherwise. */
  readonly path: readonly string[];
}

/** ParsedTemplate is a template split into literals around its placeholders: literals.length = placeholders.length + 1. */
export interface ParsedTemplate {
  readonly literals: readonly string[];
  readonly placeholders: readonly Placeholder[];
}

/** RESERVED_ROOTS are the placeholder roots that are sources, not backends; no backend may take these names. */
export const RESERVED_ROOTS: ReadonlySet<string> = new Set(['query', 'header', 'consumer', 'claims']);

/** UNSAFE_KEYS are the keys that would reach an object's prototype when assigned; never read or written by a field path. */
export const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Headers whose values are credentials: a credential in a path would end up in every access log on the way. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie']);

const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);
/** Characters a template's literal text may hold (RFC 3986 pchar, `/`, `?`), escapes checked apart. */
const LITERAL_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
/** Escapes refused in literal text: an encoded `/`, `\` or `.` is read as the real thing by some servers. */
const BAD_ESCAPE = /%(?:2[fFeE]|5[cC]|[01][0-9a-fA-F]|7[fF])/;
const ESCAPE = /%(?![0-9a-fA-F]{2})/;

/**
 * parseTemplate splits `text` into literals and placeholders and checks the literal text: it must start with
 * `/`, and hold no `//`, no `.` or `..` segment, no scheme or host, no `#`, no encoded `/`, `\` or `.`.
 * `params` are the route's path parameter names. Returns the parsed template or a message.
 */
export function parseTemplate(text: string, params: ReadonlySet<string>): ParsedTemplate | string {
  if (!text.startsWith('/')) return 'must start with /';
  const literals: string[] = [];
  const placeholders: Placeholder[] = [];
  let pos = 0;
  for (;;) {
    const open = text.indexOf('{', pos);
    const close = text.indexOf('}', pos);
    if (close !== -1 && (open === -1 || close < open)) return `has a "}" without its "{" at character ${close + 1}`;
    if (open === -1) { literals.push(text.slice(pos)); break; }
    const end = text.indexOf('}', open + 1);
    if (end === -1) return `has a "{" without its "}" at character ${open + 1}`;
    const inner = text.slice(open + 1, end);
    if (inner.includes('{')) return `has a "{" inside a placeholder at character ${open + 1}`;
    literals.push(text.slice(pos, open));
    const p = parsePlaceholder(inner, params);
    if (typeof p === 'string') return p;
    placeholders.push(p);
    pos = end + 1;
  }
  const problem = checkLiterals(literals);
  return problem ?? { literals, placeholders };
}

function parsePlaceholder(inner: string, params: ReadonlySet<string>): Placeholder | string {
  const text = `{${inner}}`;
  if (inner === '') return 'has an empty placeholder {}';
  if (inner === '*') return 'uses {*}, which is not supported: the rest of a path may hold `/`; capture single segments with parameters (`:id`)';
  if (/[\s/?#&=%]/.test(inner)) return `has a placeholder ${text} with a character that no name may hold`;
  const segs = inner.split('.');
  if (segs.some((s) => s === '')) return `has a placeholder ${text} with an empty name between dots`;
  if (segs.some((s) => UNSAFE_KEYS.has(s))) return `has a placeholder ${text} that names ${segs.find((s) => UNSAFE_KEYS.has(s))}, which is never read`;
  const root = segs[0]!;
  if (segs.length === 1) {
    if (params.has(inner)) return { kind: SourceKind.Param, text, name: inner, path: [] };
    if (RESERVED_ROOTS.has(inner)) return `has a placeholder ${text} that needs a name: ${inner === 'consumer' ? '{consumer.id}' : `{${inner}.name}`}`;
    return `has a placeholder ${text}, but the route's path has no parameter :${inner}`;
  }
  const rest = inner.slice(root.length + 1);
  switch (root) {
    case 'query':
      return { kind: SourceKind.Query, text, name: rest, path: [] };
    case 'header': {
      const name = rest.toLowerCase();
      if (!HEADER_NAME.test(name)) return `has a placeholder ${text} that is not a header name`;
      if (CREDENTIAL_HEADERS.has(name)) return `has a placeholder ${text}: a credential never goes into a path`;
      return { kind: SourceKind.Header, text, name, path: [] };
    }
    case 'consumer':
      if (rest === 'id') return { kind: SourceKind.ConsumerId, text, name: '', path: [] };
      if (segs[1] === 'metadata' && segs.length > 2) return { kind: SourceKind.ConsumerMeta, text, name: inner.slice('consumer.metadata.'.length), path: [] };
      return `has a placeholder ${text}; a consumer gives {consumer.id} and {consumer.metadata.<key>}`;
    case 'claims':
      return { kind: SourceKind.Claim, text, name: '', path: segs.slice(1) };
    default:
      return { kind: SourceKind.Step, text, name: root, path: segs.slice(1) };
  }
}

function checkLiterals(literals: readonly string[]): string | null {
  const all = literals.join('{}');
  const q = all.indexOf('?');
  const path = q === -1 ? all : all.slice(0, q);
  for (const lit of literals) {
    if (!LITERAL_CHARS.test(lit)) {
      const bad = [...lit].find((c) => !LITERAL_CHARS.test(c));
      return `has a character that must be percent-encoded: ${JSON.stringify(bad)}`;
    }
    if (ESCAPE.test(lit)) return 'has a "%" that starts no escape (%XX)';
    if (BAD_ESCAPE.test(lit)) return 'has an encoded "/", "\\", "." or control character; write paths plainly';
  }
  if (path.includes('//')) return 'has "//" (an empty segment, or a host where a path should be)';
  for (const seg of path.split('/')) if (seg === '.' || seg === '..') return `has a "${seg}" segment`;
  return null;
}

/**
 * encodeValue turns a placeholder's value into its encoded form, or null when the value is missing or may
 * not be used: strings, finite numbers and booleans are accepted; objects, arrays and null are missing; an
 * empty value, `.`, `..`, and values holding `/`, `\`, `@` or a control character are refused, so no value
 * can add a segment, climb one, or turn the path into an authority. The rest is percent-encoded whole
 * (encodeURIComponent), in path and query alike.
 */
export function encodeValue(value: unknown): string | null {
  let s: string;
  if (typeof value === 'string') s = value;
  else if (typeof value === 'number') { if (!Number.isFinite(value)) return null; s = String(value); }
  else if (typeof value === 'boolean') s = value ? 'true' : 'false';
  else return null;
  const n = s.length;
  if (n === 0 || s === '.' || s === '..') return null;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f /* / */ || c === 0x5c /* \ */ || c === 0x40 /* @ */) return null;
  }
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate has no UTF-8 form: not representable in a URL.
    return null;
  }
}

/**
 * decodeParam returns a path parameter's value as the client meant it: the normalized path keeps escapes of
 * reserved characters (`%40`), which must be judged decoded (`@`). Null when it does not decode.
 */
export function decodeParam(raw: string): string | null {
  if (!raw.includes('%')) return raw;
  try { return decodeURIComponent(raw); } catch { return null; }
}

/** render concatenates `literals` with `values[base ...]` between them (every value already encoded). */
export function render(literals: readonly string[], values: readonly (string | null)[], base: number): string {
  let out = literals[0]!;
  for (let i = 1; i < literals.length; i++) out += values[base + i - 1]! + literals[i]!;
  return out;
}
