/**
 * A whole upstream call for the gateway's own use: aggregation's backend calls, mirrored requests and cache
 * revalidation. Unlike the proxy, which streams a client's request through, callService sends a request the
 * gateway built, reads the answer whole (bounded), and hands it back. It goes through the same service
 * machinery: the balancer, the circuit breaker, passive health, retries on connect failures, and tracing.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Exchange } from '../core/exchange.js';
import { GatewayError, type ErrorCode } from '../core/errors.js';
import type { Service } from './service.js';
import type { Target } from './target.js';
import type { ClientSpan } from '../observability/types.js';

/** CallRequest is what callService sends. */
export interface CallRequest {
  readonly method: string;
  /** Path and query, already encoded (`/users/42?fields=a`). MUST start with `/`. */
  readonly path: string;
  /** Request headers, flat [lower-case name, value, ...]; Host is set from the service's host mode. */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
  /**
   * Time for the whole call, headers and body, in ms. 0: no timer of the call's own; its group's deadline
   * (CallGroup.startDeadline) bounds it, one timer for all the calls of a request.
   */
  readonly timeoutMs: number;
  /** Largest response body read, in bytes; a larger one fails the call with GH_RESPONSE_TOO_LARGE. */
  readonly maxBytes: number;
  /** The group that cancels this call with its siblings when the client leaves; optional. */
  readonly group?: CallGroup;
}

/**
 * CallGroup cancels the calls made for one client request at once (the client left). A plain object with a
 * short list: an AbortController, its signal and a listener per call cost more than the calls' own parsing
 * (measured on the aggregation bench: about 4% of the gateway's CPU, and garbage).
 */
export class CallGroup {
  cancelled: boolean;
  /** Why the group was cancelled: the client left (GH_BAD_REQUEST) or its deadline passed (GH_UPSTREAM_TIMEOUT). */
  code: ErrorCode;
  #live: CallAttempt[];
  #timer: NodeJS.Timeout | null;
  constructor() {
    this.cancelled = false;
    this.code = 'GH_BAD_REQUEST';
    this.#live = [];
    this.#timer = null;
  }
  /** startDeadline bounds every call of the group (those with timeoutMs 0) with one timer. */
  startDeadline(ms: number): void {
    this.#timer = setTimeout(onGroupDeadline, ms, this);
  }
  /** finish clears the group's deadline once its calls are done. */
  finish(): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
  }
  /** cancel stops every call of the group still running, and any started later. */
  cancel(code: ErrorCode = 'GH_BAD_REQUEST'): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.code = code;
    this.finish();
    const live = this.#live;
    this.#live = [];
    for (let i = 0; i < live.length; i++) live[i]!.stop(code);
  }
  add(a: CallAttempt): void { this.#live.push(a); }
  delete(a: CallAttempt): void {
    const live = this.#live;
    const i = live.indexOf(a);
    if (i !== -1) { live[i] = live[live.length - 1]!; live.pop(); }
  }
}

/** CallResult is a completed call: the upstream's status, headers and body. */
export interface CallResult {
  readonly ok: true;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Origin of the target that answered. */
  readonly target: string;
}

/** CallFailure is a call that got no usable answer, as a catalogue code (never a library's message). */
export interface CallFailure {
  readonly ok: false;
  readonly code: ErrorCode;
  /** Origin of the last target tried, or null when none was. */
  readonly target: string | null;
}

/**
 * callService sends one request to `service` and reads its answer whole. It never throws: every failure is
 * a CallFailure with a catalogue code. `ex`, when given, is the client's exchange: its tracer gets a client
 * span per attempt. A 5xx is returned as a result (the caller decides), but it counts against the target.
 */
export async function callService(service: Service, req: CallRequest, ex: Exchange | null): Promise<CallResult | CallFailure> {
  const breaker = service.breaker;
  if (breaker !== null && !breaker.allow()) return { ok: false, code: 'GH_CIRCUIT_OPEN', target: null };
  let avoid: Target | null = null;
  let attempts = 0;
  let last: string | null = null;
  let outcome: CallResult | CallFailure = { ok: false, code: 'GH_NO_HEALTHY_TARGET', target: null };
  // timeoutMs 0: the group's deadline bounds every attempt; no timer of their own.
  const deadline = req.timeoutMs === 0 ? 0 : performance.now() + req.timeoutMs;
  for (;;) {
    let target = service.balancer.pick(undefined, avoid);
    if (target === null) target = service.panicPick(avoid);
    if (target === null) break;
    attempts++;
    last = target.id;
    const left = deadline === 0 ? 0 : Math.max(1, Math.ceil(deadline - performance.now()));
    outcome = await attempt(service, target, req, left, ex);
    // Only a connection that never opened is retried: the upstream saw nothing of the request.
    if (outcome.ok || outcome.code !== 'GH_UPSTREAM_UNAVAILABLE' || attempts > service.retry.attempts || !service.budget.tryAcquire()) break;
    avoid = target;
  }
  if (breaker !== null) {
    if (outcome.ok && outcome.status < 500) breaker.onSuccess();
    else if (last !== null) breaker.onFailure();
    else breaker.release();
  }
  return outcome.ok || outcome.target !== null ? outcome : { ok: false, code: outcome.code, target: last };
}

const FRAMING = new Set(['content-length', 'transfer-encoding', 'expect', 'host', 'connection', 'keep-alive', 'upgrade', 'te']);

/**
 * attempt sends the request to one target. It runs on undici's dispatch API with CallAttempt as the handler
 * (as the proxy does): request() would add a body stream, an async iterator and an AbortSignal per call, which
 * an aggregation of two backends pays twice per client request.
 */
function attempt(service: Service, target: Target, req: CallRequest, timeoutMs: number, ex: Exchange | null): Promise<CallResult | CallFailure> {
  const headers: string[] = [];
  const given = req.headers;
  // undici frames the body itself; a copied client framing header would contradict it.
  for (let i = 0; i < given.length; i += 2) if (!FRAMING.has(given[i]!)) headers.push(given[i]!, given[i + 1]!);
  const mode = service.hostMode;
  headers.push('host', mode.kind === 'fixed' ? mode.host : mode.kind === 'preserve' && ex?.req.headers.host !== undefined ? ex.req.headers.host : target.host);
  const tracer = ex?.runtime.tracer ?? null;
  const span = tracer !== null && ex !== null ? tracer.startClient(ex, service.name, target.id) : null;
  if (span !== null) headers.push('traceparent', span.traceparent);
  const a = new CallAttempt(service, target, req, timeoutMs, ex, span);
  target.active++;
  target.passive.onDispatch();
  target.pool.dispatch({
    origin: undefined as unknown as string,
    method: req.method as Dispatcher.HttpMethod,
    path: req.path,
    headers,
    body: req.body,
    idempotent: false,
    blocking: false,
  } as Dispatcher.DispatchOptions, a);
  return a.promise;
}

/** CallAttempt is one call's undici handler: it collects the answer (bounded) and settles once. */
export class CallAttempt implements Dispatcher.DispatchHandler {
  readonly promise: Promise<CallResult | CallFailure>;
  private resolve!: (r: CallResult | CallFailure) => void;
  private readonly service: Service;
  private readonly target: Target;
  private readonly maxBytes: number;
  private readonly group: CallGroup | undefined;
  private readonly ex: Exchange | null;
  private readonly span: ClientSpan | null;
  private readonly timer: NodeJS.Timeout | null;
  private controller: Dispatcher.DispatchController | null;
  private status: number;
  private headers: IncomingHttpHeaders;
  private chunks: Buffer[];
  private size: number;
  private settled: boolean;
  /** Why the call was cut by the gateway (deadline, size, the client leaving), or null. */
  private cut: ErrorCode | null;

  constructor(service: Service, target: Target, req: CallRequest, timeoutMs: number, ex: Exchange | null, span: ClientSpan | null) {
    this.promise = new Promise((resolve) => { this.resolve = resolve; });
    this.service = service;
    this.target = target;
    this.maxBytes = req.maxBytes;
    this.group = req.group;
    this.ex = ex;
    this.span = span;
    this.controller = null;
    this.status = 0;
    this.headers = {};
    this.chunks = [];
    this.size = 0;
    this.settled = false;
    this.cut = null;
    this.timer = timeoutMs === 0 ? null : setTimeout(onDeadline, timeoutMs, this);
    if (req.group !== undefined) {
      if (req.group.cancelled) this.stop(req.group.code);
      else req.group.add(this);
    }
  }

  /** stop cuts the call for `code` (the attempt settles through onResponseError, or here if not started). */
  stop(code: ErrorCode): void {
    if (this.settled || this.cut !== null) return;
    this.cut = code;
    if (this.controller !== null) this.controller.abort(new GatewayError(code));
    // Still queued in the pool (no controller yet): settle now; onRequestStart aborts it if it ever starts.
    else this.fail(code);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cut !== null) controller.abort(new GatewayError(this.cut));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.cut !== null) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.cut = 'GH_RESPONSE_TOO_LARGE';
      controller.abort(new GatewayError('GH_RESPONSE_TOO_LARGE'));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    if (this.cut !== null) { this.fail(this.cut); return; }
    const t = this.target;
    if (this.service.passiveStatuses.has(this.status)) t.passive.onFailure(); else t.passive.onSuccess();
    this.settle({ ok: true, status: this.status, headers: this.headers, body: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size), target: t.id });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(this.cut ?? classifyCallError(err));
  }

  private fail(code: ErrorCode): void {
    if (this.settled) return;
    // The gateway's own cut (too large, the client left) says nothing about the target's health.
    if (this.cut === 'GH_RESPONSE_TOO_LARGE' || this.cut === 'GH_BAD_REQUEST') this.target.passive.release();
    else this.target.passive.onFailure();
    this.settle({ ok: false, code, target: this.target.id });
  }

  private settle(r: CallResult | CallFailure): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.group?.delete(this);
    this.target.active--;
    if (this.span !== null) this.ex!.runtime.tracer?.endClient(this.ex!, this.span, this.status, r.ok ? null : r.code);
    this.resolve(r);
  }
}

function onDeadline(a: CallAttempt): void {
  a.stop('GH_UPSTREAM_TIMEOUT');
}

function onGroupDeadline(g: CallGroup): void {
  g.cancel('GH_UPSTREAM_TIMEOUT');
}

function classifyCallError(err: Error): ErrorCode {
  if (err instanceof GatewayError) return err.code;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return 'GH_UPSTREAM_UNAVAILABLE';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'GH_UPSTREAM_TIMEOUT';
  return 'GH_UPSTREAM_ERROR';
}
