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

/** CallRequest is what callService sends. */
export interface CallRequest {
  readonly method: string;
  /** Path and query, already encoded (`/users/42?fields=a`). MUST start with `/`. */
  readonly path: string;
  /** Request headers, flat [lower-case name, value, ...]; Host is set from the service's host mode. */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
  /** Time for the whole call, headers and body, in ms. */
  readonly timeoutMs: number;
  /** Largest response body read, in bytes; a larger one fails the call with GH_RESPONSE_TOO_LARGE. */
  readonly maxBytes: number;
  /** Aborts the call early (the client left); optional. */
  readonly signal?: AbortSignal;
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
  const deadline = performance.now() + req.timeoutMs;
  for (;;) {
    let target = service.balancer.pick(undefined, avoid);
    if (target === null) target = service.panicPick(avoid);
    if (target === null) break;
    attempts++;
    last = target.id;
    const left = Math.max(1, Math.ceil(deadline - performance.now()));
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

async function attempt(service: Service, target: Target, req: CallRequest, timeoutMs: number, ex: Exchange | null): Promise<CallResult | CallFailure> {
  const headers: string[] = [];
  const given = req.headers;
  // undici frames the body itself; a copied client framing header would contradict it.
  for (let i = 0; i < given.length; i += 2) if (!FRAMING.has(given[i]!)) headers.push(given[i]!, given[i + 1]!);
  const mode = service.hostMode;
  headers.push('host', mode.kind === 'fixed' ? mode.host : mode.kind === 'preserve' && ex?.req.headers.host !== undefined ? ex.req.headers.host : target.host);
  const tracer = ex?.runtime.tracer ?? null;
  const span = tracer !== null && ex !== null ? tracer.startClient(ex, service.name, target.id) : null;
  if (span !== null) headers.push('traceparent', span.traceparent);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = req.signal === undefined ? timeout : AbortSignal.any([timeout, req.signal]);
  target.active++;
  target.passive.onDispatch();
  let status = 0;
  let result: CallResult | CallFailure;
  try {
    const res = await target.pool.request({
      path: req.path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: req.body,
      signal,
      idempotent: false,
    });
    status = res.statusCode;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > req.maxBytes) {
        res.body.destroy();
        throw new GatewayError('GH_RESPONSE_TOO_LARGE');
      }
      chunks.push(chunk);
    }
    if (service.passiveStatuses.has(status)) target.passive.onFailure(); else target.passive.onSuccess();
    result = { ok: true, status, headers: res.headers, body: Buffer.concat(chunks, size), target: target.id };
  } catch (err) {
    const code = timeout.aborted ? 'GH_UPSTREAM_TIMEOUT' : classifyCallError(err as Error);
    if (code === 'GH_RESPONSE_TOO_LARGE' || (req.signal?.aborted ?? false)) target.passive.release();
    else target.passive.onFailure();
    result = { ok: false, code, target: target.id };
  } finally {
    target.active--;
  }
  if (span !== null) tracer!.endClient(ex!, span, status, result.ok ? null : result.code);
  return result;
}

function classifyCallError(err: Error): ErrorCode {
  if (err instanceof GatewayError) return err.code;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return 'GH_UPSTREAM_UNAVAILABLE';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'GH_UPSTREAM_TIMEOUT';
  return 'GH_UPSTREAM_ERROR';
}
