/**
 * The proxy backend: sends the request to one target of the route's service through undici's `dispatch`
 * API and streams the response back with backpressure. Bodies are never buffered whole.
 *
 * One `ProxyAttempt` object per try is the undici handler, the holder of the upstream controller and the
 * target of the client-side listeners (registered as module-level functions that find it through a symbol),
 * so no closure is built per request. Retries go to another target when the method and budget allow it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { clientGone, cutResponse, type Exchange } from '../core/exchange.js';
import type { Backend } from '../core/route.js';
import { GatewayError, type ErrorCode } from '../core/errors.js';
import type { Service } from '../upstreams/service.js';
import type { Target } from '../upstreams/target.js';
import type { ClientSpan } from '../observability/types.js';

/**
 * Response headers that describe the upstream connection, not the message, plus those Node recomputes.
 * (`http2-settings` too: Node refuses every connection-specific header on an HTTP/2 response.)
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'http2-settings']);

/** Trailer fields never passed on: framing and routing ones, which a trailer may not change (RFC 9110 §6.5.1). */
const NOT_TRAILERS = new Set(['content-length', 'content-type', 'content-encoding', 'content-range', 'host', 'authorization', 'set-cookie', 'cache-control', 'expect', 'max-forwards', 'pragma', 'range']);

const ATTEMPT = Symbol('gatehouse.attempt');
type Carrier = { [ATTEMPT]?: ProxyAttempt | null };

/** Outcome of one attempt. */
const enum Outcome { Done, Retry }

/** What an attempt says about its target: nothing yet, it answered well, or it failed. */
const enum Verdict { None, Success, Failure }

/** ProxyBackend forwards a route's requests to its service. */
export class ProxyBackend implements Backend {
  readonly service: Service;
  constructor(service: Service) { this.service = service; }

  async handle(ex: Exchange): Promise<void> {
    const service = this.service;
    const breaker = service.breaker;
    if (breaker !== null && !breaker.allow()) {
      ex.fail('GH_CIRCUIT_OPEN', { headers: ['retry-after', String(breaker.retryAfterSeconds())] });
      return;
    }
    service.budget.onRequest();
    const hashKey = hashKeyOf(ex, service);
    // The Host header depends on the service, not the target, so it is added once for every attempt. The list
    // is never shortened after a dispatch: undici's Pool keeps the options object (and so this very array)
    // in its queue when every connection is busy, and reads the headers only when a connection frees up.
    // A route whose features rewrite JSON bodies asks the upstream for an uncompressed response.
    if (ex.route!.onResponseBody !== null) setHeader(ex.upstreamHeaders, 'accept-encoding', 'identity');
    const mode = service.hostMode;
    if (mode.kind === 'fixed') ex.upstreamHeaders.push('host', mode.host);
    else if (mode.kind === 'preserve' && ex.req.headers.host !== undefined) ex.upstreamHeaders.push('host', ex.req.headers.host);
    // gRPC servers want `te: trailers` (the one TE value HTTP/2 allows); it is hop-by-hop, so it was dropped
    // with the client's headers and is said again here, to an HTTP/2 service only.
    if (service.h2 && ex.req.headers.te === 'trailers') ex.upstreamHeaders.push('te', 'trailers');
    let body: Readable | Buffer | null | undefined;
    let avoid: Target | null = null;
    let verdict = Verdict.None;
    for (;;) {
      let target = service.balancer.pick(hashKey, avoid);
      let panic = false;
      if (target === null) {
        target = service.panicPick(avoid);
        panic = target !== null;
      }
      if (target === null) {
        ex.fail('GH_NO_HEALTHY_TARGET', { headers: ['retry-after', '1'] });
        break;
      }
      // One body stream for every attempt: a retry with a body only follows a connection that never opened,
      // so undici has not read a byte of it (see ProxyAttempt.canRetry).
      if (body === undefined) body = requestBody(ex);
      ex.attempts++;
      const attempt = new ProxyAttempt(ex, service, target, body, panic);
      const outcome = await attempt.run();
      verdict = attempt.verdict;
      if (outcome === Outcome.Done) break;
      avoid = target;
    }
    // The breaker judges requests, not attempts: a request retried twice is one failure (or one success).
    if (breaker !== null) {
      if (verdict === Verdict.Success) breaker.onSuccess();
      else if (verdict === Verdict.Failure) breaker.onFailure();
      else breaker.release();
    }
  }
}

/** setHeader replaces the value of a header in a flat list, or appends it. */
function setHeader(headers: string[], name: string, value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) { headers[i + 1] = value; return; }
  }
  headers.push(name, value);
}

/** requestBody is the stream forwarded upstream: the request itself, or a counting pipe for a chunked body. */
function requestBody(ex: Exchange): Readable | Buffer | null {
  // A feature that read the body whole (validation) left it here: send the same bytes.
  if (ex.body !== null) return ex.body.length === 0 ? null : ex.body;
  if (ex.bodyLength === 0) return null;
  const req = ex.req;
  let body: Readable = req;
  if (ex.bodyLength === -1) {
    // A declared length was checked against the limit before the pipeline; a chunked body is counted here.
    const limiter = new BodyLimiter(ex.route!.bodyLimit);
    (req as LimiterCarrier)[LIMITER] = limiter;
    req.once('close', onRequestClose);
    body = req.pipe(limiter);
  }
  if (req.headers.expect !== undefined) ex.res.writeContinue();
  return body;
}

const LIMITER = Symbol('gatehouse.limiter');
type LimiterCarrier = { [LIMITER]?: BodyLimiter };

/**
 * pipe() does not pass on a request that ends early (the client left, or the gateway cut it with 408 for a
 * stalled body): the limiter would wait for the rest forever, and undici with it, holding the upstream
 * request open. Failing the limiter makes undici abort the upstream request.
 */
function onRequestClose(this: IncomingMessage): void {
  if (!this.complete) (this as LimiterCarrier)[LIMITER]?.destroy(new GatewayError('GH_BAD_REQUEST', 'request body cut short'));
}

/** hashKeyOf is the request's key for the service's consistent hashing (`hashOn`), or undefined without one. */
export function hashKeyOf(ex: Exchange, service: Service): string | undefined {
  const h = service.hashOn;
  if (h === null) return undefined;
  if (h.kind === 'ip') return ex.clientIp;
  if (h.kind === 'header') {
    const v = ex.req.headers[h.name];
    return typeof v === 'string' ? v : undefined;
  }
  const cookie = ex.req.headers.cookie;
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === h.name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** ProxyAttempt is one try against one target; it is the undici dispatch handler. */
class ProxyAttempt implements Dispatcher.DispatchHandler {
  private readonly ex: Exchange;
  private readonly service: Service;
  private readonly target: Target;
  private readonly body: Readable | Buffer | null;
  private controller: Dispatcher.DispatchController | null;
  private resolve: ((o: Outcome) => void) | null;
  private started: boolean;
  private settled: boolean;
  /** The response being held for body hooks, or null when it streams through. */
  private held: HeldResponse | null;
  /** Whether the target was chosen in panic mode (every target ejected). */
  private readonly panic: boolean;
  /** What this attempt said about its target, once known (read by ProxyBackend for the breaker). */
  verdict: Verdict;
  /** The attempt's client span when tracing is on. */
  private span: ClientSpan | null;
  /** The upstream's final status, once its response headers arrived (0 until then). */
  private status: number;
  /** Fields of a gRPC trailers-only response, held back to be sent as trailers (see onResponseStart), or null. */
  private heldTrailers: Record<string, string> | null;

  constructor(ex: Exchange, service: Service, target: Target, body: Readable | Buffer | null, panic: boolean) {
    this.panic = panic;
    this.ex = ex;
    this.service = service;
    this.target = target;
    this.body = body;
    this.controller = null;
    this.resolve = null;
    this.started = false;
    this.settled = false;
    this.held = null;
    this.verdict = Verdict.None;
    this.span = null;
    this.status = 0;
    this.heldTrailers = null;
  }

  run(): Promise<Outcome> {
    const ex = this.ex;
    const res = ex.res;
    ex.target = this.target.id;
    ex.upstreamStart = performance.now();
    ex.upstreamMs = -1;
    const tracer = ex.runtime.tracer;
    if (tracer !== null) {
      this.span = tracer.startClient(ex, this.service.name, this.target.id);
      if (this.span !== null) setHeader(ex.upstreamHeaders, 'traceparent', this.span.traceparent);
    }
    (res as Carrier)[ATTEMPT] = this;
    res.on('close', onClientClose);
    this.target.active++;
    this.target.passive.onDispatch();
    const p = new Promise<Outcome>((resolve) => { this.resolve = resolve; });
    const query = ex.query;
    this.target.pool.dispatch({
      origin: undefined as unknown as string,
      method: ex.req.method!,
      path: query === '' ? ex.upstreamPath : ex.upstreamPath + '?' + query,
      headers: ex.upstreamHeaders,
      body: this.body,
      // No automatic retries or redirects inside undici: retries are ours (budgeted, on another target).
      // `idempotent` only decides whether undici may run another request beside this one on a connection:
      // on HTTP/2 that is multiplexing, which is the point; on HTTP/1.1 (pipelining 1) it changes nothing.
      idempotent: this.service.h2,
      blocking: false,
    } as Dispatcher.DispatchOptions, this);
    return p;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (clientGone(this.ex.res)) controller.abort(new GatewayError('GH_BAD_REQUEST', 'client gone'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: wait for the final response
    const ex = this.ex;
    this.status = statusCode;
    ex.upstreamMs = performance.now() - ex.upstreamStart;
    const service = this.service;
    const failed = service.passiveStatuses.has(statusCode);
    if (failed) this.recordFailure(); else this.recordSuccess();
    if (service.retry.statuses.has(statusCode) && this.canRetry(false)) {
      this.settle(Outcome.Retry);
      controller.abort(new GatewayError('GH_UPSTREAM_ERROR', 'retrying'));
      return;
    }
    const route = ex.route!;
    const res = ex.res;
    this.started = true;
    ex.status = statusCode;
    const hooks = route.onResponse;
    if (hooks !== null) for (let i = 0; i < hooks.length; i++) hooks[i]!.onResponse!(ex);
    if (route.onResponseBody !== null && wantsBuffering(ex, statusCode, headers)) {
      // A feature must see the whole JSON body (redaction): hold it, bounded, and write it at the end.
      this.held = { headers, chunks: [], size: 0 };
      return;
    }
    if (this.service.h2 && headers['grpc-status'] !== undefined && ex.req.httpVersionMajor === 2) {
      // A gRPC "trailers-only" answer (an error with no message): its status is in the response headers,
      // with END_STREAM. Node's compatibility API cannot end a stream on its headers, so the status and the
      // metadata go out as trailers, after headers that carry only the content type: what a gRPC client
      // reads from either form.
      const held = trailerFields(headers, route.removeResponseHeaders, null) ?? {};
      this.heldTrailers = held;
      res.writeHead(statusCode, responseHeaders(headers, route.removeResponseHeaders, ex, new Set(Object.keys(held))));
      return;
    }
    res.writeHead(statusCode, responseHeaders(headers, route.removeResponseHeaders, ex));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const held = this.held;
    if (held !== null) {
      held.size += chunk.length;
      if (held.size > MAX_BUFFERED_RESPONSE) {
        // Failing closed: passing an unredacted body on would leak what the route promised to hide.
        controller.abort(new GatewayError('GH_RESPONSE_TOO_LARGE'));
        this.settle(this.fail('GH_RESPONSE_TOO_LARGE'));
        return;
      }
      held.chunks.push(chunk);
      return;
    }
    this.ex.bytesOut += chunk.length;
    if (this.ex.tap !== null) this.ex.tap.onData(chunk);
    if (!this.ex.res.write(chunk)) {
      controller.pause();
      this.ex.res.once('drain', onClientDrain);
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.settled) return;
    if (this.held !== null) { this.settle(this.writeHeld(this.held)); return; }
    // Most responses have no trailers: HTTP/1.1 upstreams then report an empty list, and nothing is walked.
    const raw = (controller as { rawTrailers?: unknown }).rawTrailers;
    if (this.heldTrailers !== null || (raw !== undefined && raw !== null && (!Array.isArray(raw) || raw.length > 0))) forwardTrailers(this.ex, raw, trailers, this.heldTrailers);
    this.ex.res.end();
    const tap = this.ex.tap;
    if (tap !== null) { this.ex.tap = null; tap.onEnd(); }
    this.settle(Outcome.Done);
  }

  /** Runs the route's body hooks on a held JSON response and writes the result with its new length. */
  private writeHeld(held: HeldResponse): Outcome {
    const ex = this.ex;
    const encoding = held.headers['content-encoding'];
    let value: unknown;
    let text: string;
    try {
      // The upstream was asked for identity encoding; an encoded or broken body cannot be processed safely.
      if (encoding !== undefined && encoding !== 'identity') throw new Error('encoded');
      const raw = held.chunks.length === 1 ? held.chunks[0]! : Buffer.concat(held.chunks, held.size);
      value = JSON.parse(raw.toString('utf8'));
      const hooks = ex.route!.onResponseBody!;
      for (let i = 0; i < hooks.length; i++) value = hooks[i]!.onResponseBody!(ex, value);
      // Inside the try: a pathologically deep body makes stringify throw a RangeError.
      text = JSON.stringify(value);
    } catch {
      return this.fail('GH_UPSTREAM_ERROR');
    }
    // The body changed: its length, digest-like validators and encoding no longer describe it.
    const length = Buffer.byteLength(text);
    const out = responseHeaders(held.headers, ex.route!.removeResponseHeaders, ex, STALE_AFTER_REWRITE);
    out.push('content-length', String(length));
    ex.bytesOut = length;
    ex.res.writeHead(ex.status, out);
    const tap = ex.tap;
    // The text is encoded as it is written to the socket; only a cache needs it as bytes.
    if (tap === null) { ex.res.end(text); return Outcome.Done; }
    const body = Buffer.from(text);
    ex.res.end(body);
    ex.tap = null;
    tap.onData(body);
    tap.onEnd();
    return Outcome.Done;
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    const ex = this.ex;
    if (this.started && this.held !== null) {
      // Nothing of a held response reached the client yet: it can still get a proper error.
      this.recordFailure();
      this.settle(this.fail(classify(err)));
      return;
    }
    if (this.started) {
      // Headers are already with the client: cut the response so it cannot be mistaken for a complete one.
      this.recordFailure();
      cutResponse(ex.res);
      this.settle(Outcome.Done);
      return;
    }
    if (clientGone(ex.res)) { this.settle(Outcome.Done); return; }
    const code = classify(err);
    if (code === 'GH_UPSTREAM_UNAVAILABLE' || code === 'GH_UPSTREAM_TIMEOUT' || code === 'GH_UPSTREAM_ERROR') {
      this.recordFailure();
      // Only a connection that never opened is safe to retry whatever happened: the upstream saw nothing.
      if (isConnectFailure(err) && this.canRetry(true)) { this.settle(Outcome.Retry); return; }
    } else {
      // The request failed on the client's side (a bad or oversized body): no verdict on the upstream.
      this.releaseSlots();
    }
    this.settle(this.fail(code));
  }

  /** Called when the client went away before the response was complete. */
  clientClosed(): void {
    if (this.settled) return;
    this.controller?.abort(new GatewayError('GH_BAD_REQUEST', 'client closed'));
    this.releaseSlots();
    this.settle(Outcome.Done);
  }

  resume(): void { this.controller?.resume(); }

  /**
   * canRetry says whether another attempt may follow this one. A request with a body is retried only when
   * the connection never opened (`connectFailure`): undici then has not read the body stream, so the next
   * attempt can send it whole. After a response, the body is partly or wholly gone.
   */
  private canRetry(connectFailure: boolean): boolean {
    const ex = this.ex;
    const retry = this.service.retry;
    return ex.attempts <= retry.attempts && (ex.bodyLength === 0 || connectFailure) && retry.methods.has(ex.req.method!) && this.service.budget.tryAcquire();
  }

  /** releaseSlots ends an attempt with no verdict: it gives back the trial slots it may hold. */
  private releaseSlots(): void {
    if (this.verdict !== Verdict.None) return;
    this.target.passive.release();
  }

  private fail(code: ErrorCode): Outcome {
    this.ex.fail(code);
    return Outcome.Done;
  }

  private recordSuccess(): void {
    this.verdict = Verdict.Success;
    if (this.panic) this.target.passive.readmit();
    else this.target.passive.onSuccess();
  }

  private recordFailure(): void {
    if (this.verdict === Verdict.Failure) return;
    // A body cut after a good status line still counts against the target: the answer was not complete.
    this.verdict = Verdict.Failure;
    this.target.passive.onFailure();
  }

  private settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.target.active--;
    const res = this.ex.res;
    res.removeListener('close', onClientClose);
    res.removeListener('drain', onClientDrain);
    (res as Carrier)[ATTEMPT] = null;
    // A response that did not complete may not be kept; a retry keeps the tap for the next attempt.
    const tap = this.ex.tap;
    if (tap !== null && o === Outcome.Done) { this.ex.tap = null; tap.onAbort(); }
    if (this.span !== null) this.ex.runtime.tracer?.endClient(this.ex, this.span, this.status, o === Outcome.Retry ? 'retry' : this.ex.errorCode);
    this.resolve!(o);
  }
}

/** Largest JSON response held in memory for body hooks; larger ones fail closed with 502. */
export const MAX_BUFFERED_RESPONSE = 10 * 1024 * 1024;

const STALE_AFTER_REWRITE = new Set(['content-length', 'content-encoding', 'etag', 'content-md5', 'digest']);

/** HeldResponse is a response kept whole for the route's body hooks. */
interface HeldResponse { headers: IncomingHttpHeaders; chunks: Buffer[]; size: number }

/** Only JSON bodies are held, and only when there is a body. */
function wantsBuffering(ex: Exchange, status: number, headers: IncomingHttpHeaders): boolean {
  if (status === 204 || status === 304 || ex.req.method === 'HEAD') return false;
  const type = headers['content-type'];
  if (type === undefined) return false;
  const t = type.toLowerCase();
  const semi = t.indexOf(';');
  const base = (semi === -1 ? t : t.slice(0, semi)).trim();
  return base === 'application/json' || base.endsWith('+json');
}

function onClientClose(this: ServerResponse): void {
  // 'close' also fires after a normal end; only a response the proxy had not ended means the client left.
  // (Not `writableFinished`: an HTTP/2 response whose stream the client reset reports true there.)
  if (!this.writableEnded) (this as Carrier)[ATTEMPT]?.clientClosed();
}

function onClientDrain(this: ServerResponse): void {
  (this as Carrier)[ATTEMPT]?.resume();
}

/**
 * Builds the client's response headers: upstream's minus hop-by-hop and hidden ones (and `skip`), shown to
 * the response tap, plus the gateway's.
 */
function responseHeaders(headers: IncomingHttpHeaders, remove: ReadonlySet<string>, ex: Exchange, skip: ReadonlySet<string> | null = null): string[] {
  const out: string[] = [];
  const conn = headers.connection;
  const connTokens = typeof conn === 'string' && conn !== 'keep-alive' && conn !== 'close' ? conn.toLowerCase().split(/\s*,\s*/) : null;
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || remove.has(name) || (connTokens !== null && connTokens.includes(name)) || name === 'x-request-id' || (skip !== null && skip.has(name))) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (let i = 0; i < v.length; i++) out.push(name, v[i]!);
  }
  if (ex.tap !== null) ex.tap.onHead(ex.status, out);
  out.push('x-request-id', ex.requestId);
  const defaults = ex.route!.defaultResponseHeaders;
  if (defaults !== null) {
    for (let i = 0; i < defaults.length; i += 2) {
      const name = defaults[i]!;
      if (headers[name] === undefined || remove.has(name)) out.push(name, defaults[i + 1]!);
    }
  }
  const extra = ex.responseHeaders;
  if (extra !== null) {
    for (let i = 0; i < extra.length; i += 2) {
      // The listener's HSTS defers to a service that sends its own (one policy, not two conflicting ones).
      if (extra[i] === 'strict-transport-security' && headers['strict-transport-security'] !== undefined) continue;
      out.push(extra[i]!, extra[i + 1]!);
    }
  }
  return out;
}

/**
 * forwardTrailers passes the upstream's trailers (gRPC's `grpc-status`) to the client: on HTTP/2 always, on
 * HTTP/1.1 when the response is chunked (Node drops them otherwise). undici parses HTTP/1.1 trailers, but
 * for an HTTP/2 upstream it hands Node's trailer object over raw (its parse sees no list and yields `{}`),
 * so that (`raw`, the controller's `rawTrailers`) is read instead.
 */
function forwardTrailers(ex: Exchange, raw: unknown, trailers: IncomingHttpHeaders, held: Record<string, string> | null): void {
  let src: Record<string, unknown> = trailers;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) src = raw as Record<string, unknown>;
  const out = trailerFields(src, ex.route!.removeResponseHeaders, held);
  if (out !== null) ex.res.addTrailers(out);
}

/** trailerFields picks what may be sent as trailers from `src` (into `into` when given); null when nothing. */
function trailerFields(src: Record<string, unknown>, remove: ReadonlySet<string>, into: Record<string, string> | null): Record<string, string> | null {
  let out: Record<string, string> | null = into;
  for (const name in src) {
    if (name.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(name) || NOT_TRAILERS.has(name) || remove.has(name) || name === 'x-request-id' || name === 'date') continue;
    const v = src[name];
    if (v === undefined) continue;
    (out ??= {})[name] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

function isConnectFailure(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN';
}

/** classify maps an upstream or body error to a catalogue code; library messages never reach the client. */
function classify(err: Error): ErrorCode {
  if (err instanceof GatewayError) return err.code;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'GH_UPSTREAM_TIMEOUT';
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EAI_AGAIN':
      return 'GH_UPSTREAM_UNAVAILABLE';
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH': case 'ECONNABORTED': case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'GH_BAD_REQUEST';
    default:
      return 'GH_UPSTREAM_ERROR';
  }
}

function ignoreError(): void { /* see BodyLimiter's constructor */ }

/** BodyLimiter passes a chunked request body through and fails it once it exceeds the route's limit. */
class BodyLimiter extends Transform {
  private seen: number;
  private readonly limit: number;
  constructor(limit: number) {
    super();
    this.seen = 0;
    this.limit = limit;
    // undici listens for errors only while the upstream request runs; one that comes later (the client goes
    // on sending past the limit, or leaves, after the upstream has answered) must not be an uncaught error.
    this.on('error', ignoreError);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) cb(new GatewayError('GH_BODY_TOO_LARGE'));
    else cb(null, chunk);
  }
}
