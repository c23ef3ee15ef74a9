/**
 * The per-request object that every stage reads and writes. One is allocated per request with every field
 * set in the constructor, so all exchanges share one hidden class and the hot path stays monomorphic.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeProblem, type ErrorCode, type ProblemExtras, ERRORS } from './errors.js';
import type { CompiledRoute } from './route.js';
import type { Runtime } from './runtime.js';
import type { Identity } from '../identity/types.js';
import { readRequestBody } from './body.js';
import { isGrpcRequest, writeGrpcError } from './grpc.js';
import type { TraceContext } from '../observability/types.js';

/**
 * LimitOutcome is the limit stage's verdict, for logs and metrics: allowed, refused by a rate limit or a
 * quota, or not checked because the store was away (`open`: let through; `closed`: refused).
 */
export type LimitOutcome = 'allowed' | 'rate-limited' | 'quota-exceeded' | 'store-down-open' | 'store-down-closed';

/**
 * ResponseTap sees a response as a backend writes it to the client, so a feature (the cache) can keep a copy
 * without buffering the stream itself. `headers` are the backend's own response headers after the route's
 * removals, before the gateway adds its per-request ones (request id, feature headers); `onData` gets the
 * body bytes as written (after body hooks). Exactly one of onEnd or onAbort ends it. MUST NOT throw.
 */
export interface ResponseTap {
  onHead(status: number, headers: readonly string[]): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  /** The response failed, was cut, or the gateway answered by itself: nothing seen may be kept. */
  onAbort(): void;
}

/**
 * Upgrade is what a WebSocket handshake carries besides the request: the client's socket, the bytes read
 * past the request head, and the gateway's registry of live tunnels. Set only on upgrade requests.
 */
export interface Upgrade {
  readonly socket: import('node:stream').Duplex;
  readonly head: Buffer;
  readonly tunnels: import('./tunnels.js').Tunnels;
}

/** Exchange is one request and its response as it passes through the gateway. */
export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The config generation this request runs on, fixed for the request's whole life (hot reload safety). */
  readonly runtime: Runtime;
  readonly requestId: string;
  /** Client IP: the socket's, or from X-Forwarded-For when the socket is a trusted proxy. */
  readonly clientIp: string;
  /** Start time from the monotonic clock, in ms. */
  readonly start: number;
  /** Normalized path (src/core/path.ts), used for routing and forwarded unless a feature rewrites it. */
  path: string;
  /** Query string without '?', as sent. */
  query: string;
  route: CompiledRoute | null;
  params: Record<string, string> | null;
  /** Path sent upstream (without query); starts equal to `path`. */
  upstreamPath: string;
  /** Headers sent upstream as a flat [name, value, ...] list, built once from the raw request headers. */
  upstreamHeaders: string[];
  /** Extra response headers added by features (flat list), or null when none. */
  responseHeaders: string[] | null;
  /** Declared request body length, -1 for chunked, 0 for none. */
  bodyLength: number;
  /** Final status sent to the client (0 until sent). */
  status: number;
  /** Catalogue code of the gateway's own error answer, if any. */
  errorCode: ErrorCode | null;
  /** Number of upstream attempts made. */
  attempts: number;
  /** Set once the gateway has answered by itself (error or a feature's reply). */
  replied: boolean;
  /** The authenticated caller, set by the `auth` feature; null when anonymous or not authenticated. */
  identity: Identity | null;
  /** True for a CORS preflight routed by the method it asks about (see Feature.handlesPreflight). */
  preflight: boolean;
  /** The request body, once a feature read it whole with readBody(); the proxy then sends this buffer. */
  body: Buffer | null;
  /** Origin (`http://10.0.0.5:3001`) of the target of the last upstream attempt, or null when none was made. */
  target: string | null;
  /** Monotonic ms when the last upstream attempt was dispatched (0: none). */
  upstreamStart: number;
  /** Ms from dispatching the last attempt to its response headers (-1: no response headers arrived). */
  upstreamMs: number;
  /** Response body bytes the proxy passed to the client (gateway answers are measured from Content-Length). */
  bytesOut: number;
  /** What the limit stage decided: null (no limit on the route), or a LimitOutcome. */
  limitOutcome: LimitOutcome | null;
  /** What the cache decided: null (no cache on the route), 'hit', 'miss', 'stale', 'bypass'. */
  cacheOutcome: string | null;
  /** The trace context when tracing is on, else null. */
  trace: TraceContext | null;
  /** Who watches the response being written (the cache on a miss), or null. */
  tap: ResponseTap | null;
  /** The WebSocket handshake's socket and head when the request asks to upgrade, else null. */
  upgrade: Upgrade | null;

  constructor(req: IncomingMessage, res: ServerResponse, runtime: Runtime, requestId: string, clientIp: string, start: number) {
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.requestId = requestId;
    this.clientIp = clientIp;
    this.start = start;
    this.path = '/';
    this.query = '';
    this.route = null;
    this.params = null;
    this.upstreamPath = '/';
    this.upstreamHeaders = [];
    this.responseHeaders = null;
    this.bodyLength = 0;
    this.status = 0;
    this.errorCode = null;
    this.attempts = 0;
    this.replied = false;
    this.identity = null;
    this.preflight = false;
    this.body = null;
    this.target = null;
    this.upstreamStart = 0;
    this.upstreamMs = -1;
    this.bytesOut = 0;
    this.limitOutcome = null;
    this.cacheOutcome = null;
    this.trace = null;
    this.tap = null;
    this.upgrade = null;
  }

  /** addResponseHeaders queues headers (a flat list) for the response, whoever writes it. */
  addResponseHeaders(headers: readonly string[]): void {
    if (this.responseHeaders === null) this.responseHeaders = headers.slice();
    else for (let i = 0; i < headers.length; i++) this.responseHeaders.push(headers[i]!);
  }

  /**
   * readBody reads the whole request body, bounded by the route's body limit (past it: 413 and null), once;
   * later calls return the same buffer. Only features that must see the body call it (validation); the
   * proxy then forwards the buffer instead of streaming. Resolves null when the gateway already answered.
   */
  readBody(): Promise<Buffer | null> {
    if (this.body !== null) return Promise.resolve(this.body);
    return readRequestBody(this);
  }

  /**
   * fail answers with a catalogued problem document and stops the pipeline. A gRPC call gets its gRPC form
   * instead (HTTP 200 with `grpc-status`, see grpc.ts); `status` still records the catalogue's status.
   */
  fail(code: ErrorCode, extras?: ProblemExtras): void {
    this.beginReply(extras?.status ?? ERRORS[code].status);
    this.errorCode = code;
    let headers = extras?.headers;
    if (this.responseHeaders !== null) headers = headers ? [...this.responseHeaders, ...headers] : this.responseHeaders;
    this.bytesOut = writeAnswer(this.res, code, this.requestId, headers === undefined ? extras : { ...extras, headers });
  }

  /**
   * reply answers by the gateway with a bodyless response (a CORS preflight's 204) and stops the pipeline:
   * `headers` (flat), then those features queued, then the request id.
   */
  reply(status: number, headers: readonly string[]): void {
    this.beginReply(status);
    const out = this.responseHeaders === null ? headers.slice() : [...headers, ...this.responseHeaders];
    out.push('x-request-id', this.requestId);
    this.res.writeHead(status, out);
    this.res.end();
  }

  /** What every answer of the gateway's own does first. */
  private beginReply(status: number): void {
    this.replied = true;
    const tap = this.tap;
    if (tap !== null) { this.tap = null; tap.onAbort(); }
    this.status = status;
    // Answering before the whole body arrived: close the connection rather than let Node read (and discard)
    // the rest of a body of whatever size the client chooses. On HTTP/2, only this request's stream.
    if (this.bodyLength !== 0 && !this.req.complete) {
      if (this.req.httpVersionMajor === 2) resetUnfinishedStream(this.res);
      else this.res.shouldKeepAlive = false;
    }
  }
}

/**
 * writeAnswer writes a gateway error: a problem document, or for a gRPC call (HTTP/2 with an
 * `application/grpc` content type) `grpc-status` and `grpc-message` trailers.
 */
export function writeAnswer(res: ServerResponse, code: ErrorCode, requestId: string, extras?: ProblemExtras): number {
  // `res.req?`: unit tests answer on stand-in responses without one.
  if (res.req?.httpVersionMajor === 2) {
    if (res.headersSent) { cutResponse(res); return 0; }
    if (!isGrpcRequest(res)) return writeProblem(res, code, requestId, extras);
    const h = extras?.headers;
    return writeGrpcError(res, code, ERRORS[code].status, ERRORS[code].title, h === undefined ? ['x-request-id', requestId] : ['x-request-id', requestId, ...h]);
  }
  return writeProblem(res, code, requestId, extras);
}

/**
 * clientGone says whether the client's side of a response is already closed. An HTTP/2 compatibility response
 * has no `destroyed`; its stream does.
 */
export function clientGone(res: ServerResponse): boolean {
  return res.req?.httpVersionMajor === 2 ? (res as unknown as { stream: { destroyed: boolean } }).stream.destroyed : res.destroyed;
}

/**
 * cutResponse ends a response that already started and cannot be completed, so the client cannot take it for
 * a whole one. HTTP/1.1: the connection is destroyed. HTTP/2: the stream is reset with INTERNAL_ERROR;
 * `res.destroy()` alone would reset it with NO_ERROR, which a client reads as a normal end.
 */
export function cutResponse(res: ServerResponse): void {
  if (res.req?.httpVersionMajor === 2) res.destroy(new Error('response cut short'));
  else res.destroy();
}

/**
 * resetUnfinishedStream ends an HTTP/2 request's stream once its answer is out, refusing the rest of a
 * request body with RST_STREAM NO_ERROR (RFC 9113 §8.1) instead of reading it. The session is untouched.
 */
export function resetUnfinishedStream(res: ServerResponse): void {
  res.once('finish', onAnsweredEarly);
}

function onAnsweredEarly(this: ServerResponse): void {
  const stream = (this as unknown as { stream: import('node:http2').Http2Stream }).stream;
  // NGHTTP2_NO_ERROR (0): the answer is complete, only the request's remaining body is refused.
  if (!stream.closed && !stream.destroyed) stream.close(0);
}
