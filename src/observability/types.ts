/**
 * The contracts between the hot path and observability: what the gateway tells the tracer when a request
 * starts, what the proxy tells it around each upstream attempt, and what every finished request is handed
 * to (access log, metrics, the end of the server span). Each part is optional: a part that is off is `null`
 * at its call site, so it costs one comparison.
 */
import type { Exchange } from '../core/exchange.js';

/** TraceContext is the W3C trace context of one request, as the tracer established it. */
export interface TraceContext {
  /** 32 lower-case hex characters. */
  readonly traceId: string;
  /** The gateway's server span id: 16 lower-case hex characters. */
  readonly spanId: string;
  /** Whether the trace is sampled (exported). */
  readonly sampled: boolean;
  /** The server span, opaque to everyone but the tracer. */
  readonly span: unknown;
}

/** ClientSpan is one upstream attempt's span, opaque to the proxy. */
export interface ClientSpan {
  /** The `traceparent` value to send upstream for this attempt (the client span is its parent). */
  readonly traceparent: string;
}

/**
 * Tracer MUST NOT throw from any method and MUST NOT block: export happens in the background, in batches.
 * - startServer runs once the request is routed (or refused): it adopts a valid incoming `traceparent` (and
 *   keeps `tracestate`) or starts a new trace, and sets `ex.trace`.
 * - startClient runs before each upstream attempt; the proxy puts the returned `traceparent` upstream.
 * - endClient runs when that attempt ends: `status` is the upstream's status (0 when none arrived), `error`
 *   a gateway error code or null.
 * - endServer runs when the response is over (from the request observer).
 */
export interface Tracer {
  startServer(ex: Exchange): void;
  startClient(ex: Exchange, service: string, target: string): ClientSpan | null;
  endClient(ex: Exchange, span: ClientSpan, status: number, error: string | null): void;
  endServer(ex: Exchange): void;
  /** close flushes spans not yet exported (bounded in time) and stops the exporter. */
  close(): Promise<void>;
}

/** RequestSink is told of every finished request (access log, metrics). It MUST NOT throw. */
export interface RequestSink {
  onEnd(ex: Exchange): void;
}
