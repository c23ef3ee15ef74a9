/**
 * The compiled checks one request goes through (built at config load), the objects that parameters are
 * collected into for Ajv, and the wording of failures. Failures name the field and Ajv's message, never the
 * value that failed: it could be a secret or markup.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { MediaRanges } from './json.js';

/** Place is where a checked value came from, as named in problem documents. */
export type Place = 'body' | 'query' | 'header' | 'path';

/** ParamCheck validates query, header or path parameters, collected into one object. */
export class ParamCheck {
  readonly place: Place;
  readonly validate: ValidateFunction;
  /** Names whose schema is an array: every occurrence is collected into an array. */
  readonly arrays: ReadonlySet<string>;
  /** Array names whose values come comma-separated (headers, path, OpenAPI `explode: false`). */
  readonly commaArrays: ReadonlySet<string>;
  /** Headers: the lower-case names to collect, or null for every header. */
  readonly names: readonly string[] | null;

  constructor(place: Place, validate: ValidateFunction, arrays: ReadonlySet<string>, commaArrays: ReadonlySet<string>, names: readonly string[] | null) {
    this.place = place;
    this.validate = validate;
    this.arrays = arrays;
    this.commaArrays = commaArrays;
    this.names = names;
  }
}

/** BodyRule says when a request must carry a body. */
export const enum BodyRule {
  /** A body is checked when present. */
  Optional = 0,
  /** POST, PUT and PATCH must carry one (`requireBody`, the default with `body:`). */
  WriteMethods = 1,
  /** Every request must carry one (OpenAPI `requestBody.required`). */
  Always = 2,
}

/** BodyCheck holds the accepted media types and, per type, the validator (null: the body passes unread). */
export class BodyCheck {
  readonly media: MediaRanges;
  readonly validators: readonly (ValidateFunction | null)[];
  readonly rule: BodyRule;
  /** `detail` of a 415, built once. */
  readonly unsupported: string;

  constructor(media: MediaRanges, validators: readonly (ValidateFunction | null)[], rule: BodyRule) {
    this.media = media;
    this.validators = validators;
    this.rule = rule;
    this.unsupported = `the body must be sent as ${media.ranges.join(' or ')}`;
  }

  /** required says whether a request of this method must carry a body. */
  required(method: string): boolean {
    if (this.rule === BodyRule.Always) return true;
    return this.rule === BodyRule.WriteMethods && (method === 'POST' || method === 'PUT' || method === 'PATCH');
  }
}

/** Checks are everything one request (or one OpenAPI operation) is checked against; null parts are skipped. */
export class Checks {
  readonly path: ParamCheck | null;
  readonly query: ParamCheck | null;
  readonly headers: ParamCheck | null;
  readonly body: BodyCheck | null;
  /** Path parameter names in template order (OpenAPI). */
  readonly pathNames: readonly string[];

  constructor(path: ParamCheck | null, query: ParamCheck | null, headers: ParamCheck | null, body: BodyCheck | null, pathNames: readonly string[] = []) {
    this.path = path;
    this.query = query;
    this.headers = headers;
    this.body = body;
    this.pathNames = pathNames;
  }
}

/**
 * queryObject parses a query string once into an object for Ajv. A name the schema types as an array
 * collects every occurrence; any other name given twice becomes an array too, so the schema refuses it
 * (an upstream reading the last value must not see another one than the gateway checked). The object has
 * no prototype, so `?__proto__=x` or `?constructor=` are plain keys.
 */
export function queryObject(query: string, check: ParamCheck): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  if (query === '') return out;
  const arrays = check.arrays;
  const comma = check.commaArrays;
  for (const [name, value] of new URLSearchParams(query)) {
    const prev = out[name];
    if (comma.has(name)) {
      const parts = value === '' ? [] : value.split(',');
      if (prev === undefined) out[name] = parts;
      else (prev as string[]).push(...parts);
    } else if (arrays.has(name)) {
      if (prev === undefined) out[name] = [value];
      else (prev as string[]).push(value);
    } else if (prev === undefined) {
      out[name] = value;
    } else if (Array.isArray(prev)) {
      prev.push(value);
    } else {
      out[name] = [prev, value];
    }
  }
  return out;
}

/** headerObject copies the request headers (all, or the check's names) into a fresh object for Ajv. */
export function headerObject(headers: IncomingHttpHeaders, check: ParamCheck): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  const names = check.names;
  if (names === null) {
    for (const name in headers) out[name] = headerValue(headers[name], check.commaArrays.has(name));
  } else {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const v = headers[name];
      if (v !== undefined) out[name] = headerValue(v, check.commaArrays.has(name));
    }
  }
  return out;
}

function headerValue(v: string | string[] | undefined, split: boolean): unknown {
  if (!split || v === undefined) return Array.isArray(v) ? v.slice() : v;
  const joined = Array.isArray(v) ? v.join(',') : v;
  const parts = joined.split(',');
  for (let i = 0; i < parts.length; i++) parts[i] = parts[i]!.trim();
  return parts;
}

/** pathObject turns the matched path parameter values (still percent-encoded) into an object for Ajv. */
export function pathObject(names: readonly string[], values: readonly string[], check: ParamCheck): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let v = values[i]!;
    // The path was normalized before routing (src/core/path.ts), so its escapes are valid UTF-8.
    if (v.includes('%')) { try { v = decodeURIComponent(v); } catch { /* keep as sent */ } }
    out[name] = check.commaArrays.has(name) ? v.split(',') : v;
  }
  return out;
}

/** ProblemItem is one member of the problem document's `errors`. */
export interface ProblemItem {
  readonly in: Place;
  readonly field: string;
  readonly message: string;
}

/** MAX_REPORTED_ERRORS caps `errors` (with allErrors off Ajv rarely gives more than one). */
const MAX_REPORTED_ERRORS = 10;
/** A pointer segment shown as is; others (keys a client chose) are shown as `*`. */
const SAFE_SEGMENT = /^[A-Za-z0-9_.$@~-]{1,64}$/;
// Built once: failures are rare, but a regex literal in a function is a new object on every call.
const TILDE = /~/g;
const SLASH = /\//g;
const ESCAPED_SLASH = /~1/g;
const ESCAPED_TILDE = /~0/g;
const INDEX = /^\d+$/;

/** report turns Ajv errors into the problem's `detail` (the first error) and `errors` members. */
export function report(place: Place, errors: readonly ErrorObject[] | null | undefined): { detail: string; errors: ProblemItem[] } {
  const items: ProblemItem[] = [];
  const list = ordered(errors ?? []);
  for (let i = 0; i < list.length && items.length < MAX_REPORTED_ERRORS; i++) {
    const e = list[i]!;
    let field = safePointer(e.instancePath);
    let message = e.message ?? 'is not valid';
    if (e.keyword === 'required') {
      field += '/' + safeSegment(String((e.params as { missingProperty: string }).missingProperty));
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      field += '/' + safeSegment(String((e.params as { additionalProperty: string }).additionalProperty));
      message = 'is not allowed';
    }
    items.push({ in: place, field, message });
  }
  if (items.length === 0) items.push({ in: place, field: '', message: 'is not valid' });
  const first = items[0]!;
  return { detail: `${place}${dotted(first.field)}: ${first.message}`, errors: items };
}

/**
 * ordered puts the telling errors first. A failed anyOf/oneOf reports each branch's error and then itself; the
 * branch errors say more, except `must be null` from the branch that a nullable type (OpenAPI 3.0) adds.
 */
function ordered(errors: readonly ErrorObject[]): readonly ErrorObject[] {
  if (errors.length < 2) return errors;
  const first: ErrorObject[] = [];
  const last: ErrorObject[] = [];
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || (e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null')) last.push(e);
    else first.push(e);
  }
  return first.length === 0 ? errors : first.concat(last);
}

/** single words a failure that is not Ajv's (a missing body, bad JSON). */
export function single(place: Place, field: string, message: string): { detail: string; errors: ProblemItem[] } {
  return { detail: `${place}${dotted(field)}: ${message}`, errors: [{ in: place, field, message }] };
}

function safePointer(pointer: string): string {
  if (pointer === '') return '';
  const segs = pointer.slice(1).split('/');
  let out = '';
  for (let i = 0; i < segs.length && i < 32; i++) out += '/' + (SAFE_SEGMENT.test(segs[i]!) ? segs[i] : '*');
  return out;
}

function safeSegment(seg: string): string {
  const escaped = seg.replace(TILDE, '~0').replace(SLASH, '~1');
  return SAFE_SEGMENT.test(escaped) ? escaped : '*';
}

/** dotted renders a pointer for `detail`: `/items/0/name` → `.items[0].name`. */
function dotted(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const seg of pointer.slice(1).split('/')) {
    const s = seg.replace(ESCAPED_SLASH, '/').replace(ESCAPED_TILDE, '~');
    out += INDEX.test(s) ? `[${s}]` : `.${s}`;
  }
  return out;
}
