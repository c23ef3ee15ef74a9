/**
 * Writing a whole response the gateway holds in memory: what the static, function and aggregate backends
 * and a cache hit produce. It gives such responses the same treatment a proxied one gets: the route's
 * response hooks and JSON body hooks (redaction), the route's header removals, the request id, the features'
 * headers, the response tap (the cache), and the byte count for logs.
 */
import { clientGone, type Exchange } from '../core/exchange.js';

/** Response headers that describe a connection or a framing, never copied from a held response. */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'x-request-id']);

/** Statuses that never carry a body (RFC 9110 §6.4.1). */
function bodiless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** SendOptions tune sendResponse. */
export interface SendOptions {
  /** The body as a JSON value not yet serialized: body hooks get it without a parse. */
  readonly json?: unknown;
  /** Skip the route's body hooks: the body already went through them (a cache hit of a stored answer). */
  readonly processed?: boolean;
}

/**
 * sendResponse writes `status`, `headers` (flat [lower-case name, value, ...]) and `body` to the client as
 * the route's answer. With `opts.json` and no body, the value is serialized (after body hooks). It never
 * throws for a bad body: a JSON body the route's hooks cannot parse is answered 502 GH_UPSTREAM_ERROR.
 */
export function sendResponse(ex: Exchange, status: number, headers: readonly string[], body: Buffer | null, opts?: SendOptions): void {
  const route = ex.route!;
  const res = ex.res;
  if (res.headersSent || clientGone(res)) { ex.tap?.onAbort(); ex.tap = null; return; }
  ex.status = status;
  const hooks = route.onResponse;
  if (hooks !== null) for (let i = 0; i < hooks.length; i++) hooks[i]!.onResponse!(ex);
  let out = body;
  const json = opts?.json;
  const bodyHooks = opts?.processed === true ? null : route.onResponseBody;
  if (!bodiless(status) && bodyHooks !== null && (json !== undefined || (body !== null && isJson(headers)))) {
    try {
      let value = json !== undefined ? json : JSON.parse(body!.toString('utf8'));
      for (let i = 0; i < bodyHooks.length; i++) value = bodyHooks[i]!.onResponseBody!(ex, value);
      out = Buffer.from(JSON.stringify(value));
    } catch {
      ex.fail('GH_UPSTREAM_ERROR');
      return;
    }
  } else if (json !== undefined && out === null) {
    out = Buffer.from(JSON.stringify(json));
  }
  if (bodiless(status)) out = null;
  const remove = route.removeResponseHeaders;
  const list: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (NOT_COPIED.has(name) || remove.has(name)) continue;
    list.push(name, headers[i + 1]!);
  }
  const tap = ex.tap;
  if (tap !== null) tap.onHead(status, list);
  const own = list.length;
  if (!bodiless(status)) list.push('content-length', String(out === null ? 0 : out.length));
  list.push('x-request-id', ex.requestId);
  const defaults = route.defaultResponseHeaders;
  if (defaults !== null) {
    for (let i = 0; i < defaults.length; i += 2) if (!hasHeader(list, own, defaults[i]!)) list.push(defaults[i]!, defaults[i + 1]!);
  }
  const extra = ex.responseHeaders;
  if (extra !== null) for (let i = 0; i < extra.length; i++) list.push(extra[i]!);
  res.writeHead(status, list);
  const head = ex.req.method === 'HEAD';
  if (out === null || head) res.end(); else res.end(out);
  ex.bytesOut = out === null || head ? 0 : out.length;
  if (tap !== null) {
    ex.tap = null;
    if (out !== null) tap.onData(out);
    tap.onEnd();
  }
}

/** headerValue returns the first value of `name` in a flat list, or undefined. */
function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

function hasHeader(list: readonly string[], end: number, name: string): boolean {
  for (let i = 0; i < end; i += 2) if (list[i] === name) return true;
  return false;
}

/** isJson says whether a flat header list declares a JSON body (`application/json`, `*+json`). */
function isJson(headers: readonly string[]): boolean {
  const type = headerValue(headers, 'content-type');
  if (type === undefined) return false;
  const semi = type.indexOf(';');
  const base = (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json');
}
