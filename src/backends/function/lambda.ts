/**
 * The AWS API Gateway HTTP API ↔ Lambda mapping, payload format 2.0, so a handler written for AWS runs here
 * unmodified: the request becomes the event API Gateway would send (buildEvent, on the gateway's thread), and
 * the handler's result becomes a response by API Gateway's rules (toWireResponse, in the worker, so a huge or
 * strange result costs the worker, not the gateway). checkWire is the gateway thread's last look at what a
 * worker sent before it is written to a client.
 *
 * Reference: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
import type { IncomingMessage } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { Identity } from '../../identity/types.js';

/** LambdaEventV2 is the event of an API Gateway HTTP API Lambda integration, payload format 2.0. */
export interface LambdaEventV2 {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  pathParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    authorizer?: {
      jwt?: { claims: Readonly<Record<string, unknown>>; scopes: string[] | null };
      lambda?: { subject: string; method: string; consumer: string | null; groups: string[] };
    };
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** ACCOUNT_ID stands in for the AWS account id, which a local gateway does not have (AWS's placeholder form). */
export const ACCOUNT_ID = '000000000000';
/** API_ID stands in for the API Gateway API id. */
export const API_ID = 'gatehouse';

/** EventSource is what buildEvent reads of a request (an Exchange has all of it). */
export interface EventSource {
  readonly req: Pick<IncomingMessage, 'method' | 'httpVersion' | 'headers'>;
  readonly requestId: string;
  readonly clientIp: string;
  /** The routed path, from which path parameters were taken. */
  readonly path: string;
  /** The path a service would receive (after strip-prefix or rewrite): the event's rawPath. */
  readonly upstreamPath: string;
  readonly query: string;
  readonly params: Record<string, string> | null;
  /** The headers a service would receive: credentials removed, consumer headers added. */
  readonly upstreamHeaders: readonly string[];
  readonly identity: Identity | null;
}

/** RouteShape is what the event needs of the route, computed once per route (see routeShape). */
export interface RouteShape {
  /** `GET /hello/{name}`, `ANY /files/{proxy+}` or `$default`. */
  readonly routeKey: string;
  /** For a prefix pattern (`/files/*`): the length of `/files`, after which the `proxy` parameter starts; else -1. */
  readonly restStart: number;
}

/**
 * routeShape turns a route's path pattern and methods into API Gateway's terms: `:name` becomes `{name}`, a
 * trailing `/*` the greedy `{proxy+}`; a route for every method is `ANY`, and `/*` for every method is the
 * `$default` route. A route for several methods (API Gateway has no such thing) is `ANY` too.
 */
export function routeShape(pattern: string, methods: ReadonlySet<string> | null): RouteShape {
  const own = methods === null ? [] : [...methods].filter((m) => m !== 'HEAD' || !methods.has('GET'));
  const method = own.length === 1 ? own[0]! : 'ANY';
  const prefix = pattern.endsWith('/*');
  if (prefix && pattern === '/*' && method === 'ANY') return { routeKey: '$default', restStart: 0 };
  const base = prefix ? pattern.slice(0, -2) : pattern;
  const path = base.split('/').map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s)).join('/') + (prefix ? '/{proxy+}' : '');
  return { routeKey: `${method} ${path}`, restStart: prefix ? base.length : -1 };
}

/**
 * buildEvent builds the payload 2.0 event of a request. `body` is the whole request body (null when none):
 * text when it is valid UTF-8 of a textual (or undeclared) content type, else base64 with
 * `isBase64Encoded: true`. `now` is the wall clock in Unix ms.
 */
export function buildEvent(src: EventSource, shape: RouteShape, body: Buffer | null, now: number): LambdaEventV2 {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let cookies: string[] | undefined;
  let forwardedHost = '';
  const list = src.upstreamHeaders;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    if (name === 'cookie') { cookies = splitCookies(value, cookies); continue; }
    if (name === 'x-forwarded-host') forwardedHost = value;
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev},${value}`;
  }
  // The proxy sends Host itself, so the forwarded list lacks it; a Lambda event has it.
  const host = src.req.headers.host;
  if (host !== undefined) headers.host = host;
  // The name the client called: X-Forwarded-Host is the gateway's own (a trusted proxy's, or the Host header).
  const domainName = stripPort(forwardedHost !== '' ? forwardedHost : host ?? '');
  const dot = domainName.indexOf('.');
  const query = src.query;
  const routeKey = shape.routeKey;
  const method = src.req.method ?? 'GET';
  const event: LambdaEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: src.upstreamPath,
    rawQueryString: query,
    headers,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: API_ID,
      domainName,
      domainPrefix: dot === -1 ? domainName : domainName.slice(0, dot),
      http: {
        method,
        path: src.upstreamPath,
        protocol: `HTTP/${src.req.httpVersion}`,
        sourceIp: src.clientIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: src.requestId,
      routeKey,
      stage: '$default',
      time: requestTime(now),
      timeEpoch: now,
    },
    isBase64Encoded: false,
  };
  if (cookies !== undefined) event.cookies = cookies;
  if (query !== '') event.queryStringParameters = queryParameters(query);
  const params = pathParameters(src, shape);
  if (params !== null) event.pathParameters = params;
  const id = src.identity;
  if (id !== null) {
    event.requestContext.authorizer = {
      lambda: { subject: id.subject, method: id.method, consumer: id.consumer === null ? null : id.consumer.id, groups: id.consumer === null ? [] : id.consumer.groups.slice() },
    };
    if (id.claims !== null) event.requestContext.authorizer.jwt = { claims: id.claims, scopes: id.scopes.size > 0 ? [...id.scopes] : null };
  }
  if (body !== null && body.length > 0) {
    if (isTextual(headers['content-type']) && isUtf8(body)) event.body = body.toString('utf8');
    else { event.body = body.toString('base64'); event.isBase64Encoded = true; }
  }
  return event;
}

/** Each `name=value` of a Cookie header, in order (API Gateway's `cookies`). */
function splitCookies(value: string, into: string[] | undefined): string[] {
  const out = into ?? [];
  for (const part of value.split(';')) {
    const c = part.trim();
    if (c !== '') out.push(c);
  }
  return out;
}

function stripPort(host: string): string {
  if (host.startsWith('[')) { const end = host.indexOf(']'); return end === -1 ? host : host.slice(0, end + 1); }
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/** Query parameters decoded (`+` is a space), duplicates joined with commas as API Gateway does. */
function queryParameters(query: string): Record<string, string> {
  // A null prototype: `constructor` or `__proto__` are names a client may send, never inherited members.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev},${value}`;
  }
  return out;
}

function decodeComponent(text: string): string {
  const plus = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!plus.includes('%')) return plus;
  // `%zz` makes decodeURIComponent throw: such a value is passed on as sent.
  try { return decodeURIComponent(plus); } catch { return plus; }
}

/** The route's parameters, decoded, with the rest of a prefix route as `proxy`; null when there are none. */
function pathParameters(src: EventSource, shape: RouteShape): Record<string, string> | null {
  let out: Record<string, string> | null = null;
  const params = src.params;
  if (params !== null) {
    for (const name of Object.keys(params)) {
      if (name === '*') continue;
      (out ??= Object.create(null) as Record<string, string>)[name] = decodePath(params[name]!);
    }
  }
  if (shape.restStart >= 0 && src.path.length > shape.restStart + 1) {
    (out ??= Object.create(null) as Record<string, string>).proxy = decodePath(src.path.slice(shape.restStart + 1));
  }
  return out;
}

function decodePath(text: string): string {
  if (!text.includes('%')) return text;
  try { return decodeURIComponent(text); } catch { return text; }
}

/** Content types whose bodies are passed as text when they are valid UTF-8; others go base64. */
function isTextual(type: string | undefined): boolean {
  if (type === undefined) return true;
  const semi = type.indexOf(';');
  const base = (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase();
  return base.startsWith('text/') || base === 'application/json' || base.endsWith('+json') || base === 'application/xml'
    || base.endsWith('+xml') || base === 'application/x-www-form-urlencoded' || base === 'application/javascript'
    || base === 'application/graphql' || base === 'application/x-ndjson';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let timeSecond = -1;
let timeText = '';

/** requestTime formats Unix ms as API Gateway's `requestContext.time`: `12/Mar/2020:19:03:58 +0000`. */
export function requestTime(ms: number): string {
  // Requests come many to the second: the text is made once a second.
  const second = Math.floor(ms / 1000);
  if (second === timeSecond) return timeText;
  const d = new Date(second * 1000);
  const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
  timeText = `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
  timeSecond = second;
  return timeText;
}

/** WireResponse is a function's answer as it crosses from the worker: headers flat and lower-case. */
export interface WireResponse {
  readonly status: number;
  readonly headers: string[];
  readonly body: Uint8Array | null;
}

/** Verdict is toWireResponse's outcome: a response, or why the result is none (for the log, never the client). */
export type Verdict =
  | { readonly ok: true; readonly response: WireResponse }
  | { readonly ok: false; readonly tooLarge: boolean; readonly reason: string };

/** MAX_RESPONSE_HEADERS is the most response headers (cookies included) a function may set. */
export const MAX_RESPONSE_HEADERS = 200;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What Node accepts in a header value; anything else (CR, LF, NUL, characters past U+00FF) is refused.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
// Names go out lower-case: the response writer drops framing headers by their lower-case names.
const UPPER = /[A-Z]/;

/**
 * toWireResponse applies API Gateway's payload 2.0 response rules to a handler's result. An object with a
 * `statusCode` is a response: `statusCode` (an integer 200-599), `headers` (values: strings, numbers or
 * booleans), `cookies` (each a `Set-Cookie`), `body` (a string, base64-decoded when `isBase64Encoded` is
 * true); `multiValueHeaders` is not part of 2.0 and is ignored. Anything else JSON can represent is the body
 * of a `200 application/json` answer: a string as it is, any other value as its JSON text (`undefined`, as
 * Lambda serializes it, is `null`). A body over `maxBytes` is refused as too large.
 */
export function toWireResponse(result: unknown, maxBytes: number): Verdict {
  if (typeof result === 'object' && result !== null && !Array.isArray(result) && (result as Record<string, unknown>).statusCode !== undefined) {
    return structured(result as Record<string, unknown>, maxBytes);
  }
  let text: string | undefined;
  if (typeof result === 'string') text = result;
  else {
    try { text = JSON.stringify(result === undefined ? null : result); } catch (err) {
      return refuse(`the result cannot be serialized as JSON (${(err as Error).message})`);
    }
    if (text === undefined) return refuse(`the result is not a JSON value (a ${typeof result})`);
  }
  const body = encodeBody(text, false, maxBytes);
  if (body === null) return TOO_LARGE;
  return { ok: true, response: { status: 200, headers: ['content-type', 'application/json'], body } };
}

function structured(r: Record<string, unknown>, maxBytes: number): Verdict {
  const status = r.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    return refuse(`statusCode must be an integer from 200 to 599, not ${describe(status)}`);
  }
  const headers: string[] = [];
  const given = r.headers;
  if (given !== undefined && given !== null) {
    if (typeof given !== 'object' || Array.isArray(given)) return refuse(`headers must be an object of strings, not ${describe(given)}`);
    for (const name of Object.keys(given)) {
      const v = (given as Record<string, unknown>)[name];
      if (!TOKEN.test(name)) return refuse(`header name ${JSON.stringify(name.slice(0, 64))} is not a valid token`);
      if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) {
        return refuse(`header ${name} must be a string, not ${describe(v)}`);
      }
      const value = String(v);
      if (BAD_VALUE.test(value)) return refuse(`header ${name} has a character not allowed in a header value`);
      headers.push(name.toLowerCase(), value);
    }
  }
  const cookies = r.cookies;
  if (cookies !== undefined && cookies !== null) {
    if (!Array.isArray(cookies)) return refuse(`cookies must be an array of strings, not ${describe(cookies)}`);
    for (const c of cookies) {
      if (typeof c !== 'string') return refuse(`each cookie must be a string, not ${describe(c)}`);
      if (BAD_VALUE.test(c)) return refuse('a cookie has a character not allowed in a header value');
      headers.push('set-cookie', c);
    }
  }
  if (headers.length > MAX_RESPONSE_HEADERS * 2) return refuse(`sets ${headers.length / 2} headers; at most ${MAX_RESPONSE_HEADERS}`);
  const text = r.body;
  let body: Uint8Array | null = null;
  if (text !== undefined && text !== null) {
    if (typeof text !== 'string') return refuse(`body must be a string, not ${describe(text)} (JSON.stringify it)`);
    body = encodeBody(text, r.isBase64Encoded === true, maxBytes);
    if (body === null) return TOO_LARGE;
  }
  return { ok: true, response: { status, headers, body } };
}

/** The body's bytes, or null past `max`. The cheap length checks come first, before any copy is made. */
function encodeBody(text: string, base64: boolean, max: number): Uint8Array | null {
  if (base64) {
    // Base64 takes 4 characters for 3 bytes (more with line breaks): twice the limit is surely too large.
    if (text.length > max * 2 + 16) return null;
    const b = Buffer.from(text, 'base64');
    return b.length > max ? null : b;
  }
  // UTF-8 never takes fewer bytes than a string has UTF-16 code units.
  if (text.length > max) return null;
  const b = Buffer.from(text, 'utf8');
  return b.length > max ? null : b;
}

const TOO_LARGE: Verdict = Object.freeze({ ok: false, tooLarge: true, reason: 'the response body is larger than maxResponse' });

function refuse(reason: string): Verdict {
  return { ok: false, tooLarge: false, reason };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `a value of type ${typeof v}`;
}

/**
 * checkWire checks, on the gateway's thread, that a worker's answer has the shape of a WireResponse within
 * `maxBytes`. The worker already built it with toWireResponse; this guards against code in the worker that
 * changed what our worker code relies on. Header values are checked by Node when they are written.
 */
export function checkWire(m: { status?: unknown; headers?: unknown; body?: unknown }, maxBytes: number): WireResponse | null {
  const status = m.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return null;
  const headers = m.headers;
  if (!Array.isArray(headers) || headers.length % 2 !== 0 || headers.length > MAX_RESPONSE_HEADERS * 2) return null;
  for (let i = 0; i < headers.length; i++) {
    const h: unknown = headers[i];
    if (typeof h !== 'string' || ((i & 1) === 0 && UPPER.test(h))) return null;
  }
  const body = m.body;
  if (body !== null && !(body instanceof Uint8Array && body.byteLength <= maxBytes)) return null;
  return m as WireResponse;
}
