/**
 * Distributed tracing with OpenTelemetry: one SERVER span per request and one CLIENT span per upstream
 * attempt, exported in the background in batches over OTLP/HTTP (JSON).
 *
 * Free when off: this module imports the OpenTelemetry packages only as types; createTracer loads them with
 * dynamic imports when `tracing.enabled` is true, so a gateway without tracing never loads them.
 *
 * W3C trace context is parsed here rather than through a propagator: `traceparent` is one fixed-length line,
 * and spans are started with explicit parent contexts (no context manager, no async-hooks cost).
 */
import type { Logger } from 'pino';
import type * as OtelApi from '@opentelemetry/api';
import type { BasicTracerProvider, ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Exchange } from '../core/exchange.js';
import { parseDuration } from '../config/units.js';
import type { ClientSpan, TraceContext, Tracer } from './types.js';
import type { TracingConfig } from './tracing-schema.js';

/** What the proxy passes to endClient for an attempt that is tried again (see src/backends/proxy.ts). */
const RETRY = 'retry';

/** TRACER_NAME is the instrumentation scope of the gateway's spans. */
export const TRACER_NAME = 'gatehouse';

/** ParsedTraceparent is a valid W3C `traceparent`. */
export interface ParsedTraceparent {
  /** 32 lower-case hex characters, not all zeros. */
  readonly traceId: string;
  /** The caller's span id: 16 lower-case hex characters, not all zeros. */
  readonly spanId: string;
  /** The sampled bit of trace-flags. */
  readonly sampled: boolean;
}

const TRACE_ID_RE = /^[0-9a-f]{32}$/;
const SPAN_ID_RE = /^[0-9a-f]{16}$/;
const HEX2_RE = /^[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '00000000000000000000000000000000';
const ZERO_SPAN_ID = '0000000000000000';
/** Length of a version-00 traceparent: `vv-<32>-<16>-ff`. */
const TRACEPARENT_LENGTH = 55;

/**
 * parseTraceparent validates a W3C `traceparent` (Trace Context Level 1 §3.2) and returns its parts, or null
 * when it is absent or invalid (the caller then starts a new trace). Version 00 must be exactly 55
 * characters; a higher version (not `ff`) is read by its version-00 prefix when what follows is `-`, as the
 * spec asks for forward compatibility. Ids are lower-case hex and not all zeros.
 */
export function parseTraceparent(value: string | undefined): ParsedTraceparent | null {
  if (value === undefined || value.length < TRACEPARENT_LENGTH) return null;
  const version = value.slice(0, 2);
  if (!HEX2_RE.test(version) || version === 'ff') return null;
  if (version === '00' ? value.length !== TRACEPARENT_LENGTH : value.length > TRACEPARENT_LENGTH && value.charCodeAt(TRACEPARENT_LENGTH) !== 45 /* - */) return null;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) return null;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!TRACE_ID_RE.test(traceId) || traceId === ZERO_TRACE_ID) return null;
  if (!SPAN_ID_RE.test(spanId) || spanId === ZERO_SPAN_ID) return null;
  if (!HEX2_RE.test(flags)) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** formatTraceparent writes a version-00 `traceparent`. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** The loaded `@opentelemetry/api` module (types only here, so nothing loads until createTracer runs). */
type Api = typeof OtelApi;
type Span = OtelApi.Span;

/** The server span and its ids, kept on `ex.trace`. */
class ServerTrace implements TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  readonly span: Span;
  constructor(span: Span) {
    const sc = span.spanContext();
    this.traceId = sc.traceId;
    this.spanId = sc.spanId;
    this.sampled = (sc.traceFlags & 1) === 1;
    this.span = span;
  }
}

/** One upstream attempt's span and the `traceparent` that names it as the upstream's parent. */
class OtelClientSpan implements ClientSpan {
  readonly traceparent: string;
  readonly span: Span;
  constructor(span: Span) {
    const sc = span.spanContext();
    this.traceparent = formatTraceparent(sc.traceId, sc.spanId, (sc.traceFlags & 1) === 1);
    this.span = span;
  }
}

/** What OtelTracer needs of the SDK's provider: flushing and stopping. */
export interface TracerProviderLike {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * OtelTracer implements the gateway's Tracer on an OpenTelemetry tracer. Every method catches what the SDK
 * might throw: a tracing fault is logged once and never reaches the request.
 */
export class OtelTracer implements Tracer {
  private readonly api: Api;
  private readonly tracer: OtelApi.Tracer;
  private readonly provider: TracerProviderLike;
  private readonly log: Logger;
  /** Bound on close(): flushing and shutting down together take at most this long. */
  private readonly closeTimeoutMs: number;
  private faulted: boolean;
  private closing: Promise<void> | null;

  constructor(api: Api, tracer: OtelApi.Tracer, provider: TracerProviderLike, log: Logger, closeTimeoutMs: number) {
    this.api = api;
    this.tracer = tracer;
    this.provider = provider;
    this.log = log;
    this.closeTimeoutMs = closeTimeoutMs;
    this.faulted = false;
    this.closing = null;
  }

  startServer(ex: Exchange): void {
    try {
      const api = this.api;
      const req = ex.req;
      const parent = parseTraceparent(header(req.headers.traceparent));
      let ctx = api.ROOT_CONTEXT;
      if (parent !== null) {
        ctx = api.trace.setSpanContext(ctx, {
          traceId: parent.traceId,
          spanId: parent.spanId,
          traceFlags: parent.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
          isRemote: true,
        });
      } else if (req.headers.traceparent !== undefined || req.headers.tracestate !== undefined) {
        // Trace Context §4.2: a tracestate without a valid traceparent MUST be discarded; extra copies of a
        // traceparent would follow the one the proxy replaces. Only this rare path walks the header list.
        dropTraceHeaders(ex.upstreamHeaders);
      }
      const method = req.method ?? 'GET';
      const route = ex.route;
      const span = this.tracer.startSpan(route === null ? method : `${method} ${route.name}`, { kind: api.SpanKind.SERVER, startTime: ex.start }, ctx);
      // An unsampled span records nothing: skip building its attributes.
      if (span.isRecording()) {
        span.setAttribute('http.request.method', method);
        if (ex.path !== '') span.setAttribute('url.path', ex.path);
        if (ex.clientIp !== '') span.setAttribute('client.address', ex.clientIp);
        span.setAttribute('gatehouse.request_id', ex.requestId);
        if (route !== null) {
          span.setAttribute('http.route', route.name);
          span.setAttribute('gatehouse.route', route.name);
          if (route.service !== null) span.setAttribute('gatehouse.service', route.service.name);
        }
      }
      ex.trace = new ServerTrace(span);
    } catch (err) {
      this.fault(err);
    }
  }

  startClient(ex: Exchange, service: string, target: string): ClientSpan | null {
    const trace = ex.trace;
    if (trace === null) return null;
    try {
      const api = this.api;
      const method = ex.req.method ?? 'GET';
      const ctx = api.trace.setSpan(api.ROOT_CONTEXT, trace.span as Span);
      const span = this.tracer.startSpan(`${method} ${service}`, { kind: api.SpanKind.CLIENT }, ctx);
      if (span.isRecording()) {
        span.setAttribute('http.request.method', method);
        span.setAttribute('url.path', ex.upstreamPath);
        setServerAddress(span, target);
        span.setAttribute('gatehouse.service', service);
        if (ex.route !== null) span.setAttribute('gatehouse.route', ex.route.name);
        span.setAttribute('gatehouse.request_id', ex.requestId);
        // Semantic conventions: the ordinal of a resent request, absent on the first try.
        if (ex.attempts > 1) span.setAttribute('http.request.resend_count', ex.attempts - 1);
      }
      return new OtelClientSpan(span);
    } catch (err) {
      this.fault(err);
      return null;
    }
  }

  endClient(_ex: Exchange, clientSpan: ClientSpan, status: number, error: string | null): void {
    try {
      const span = (clientSpan as OtelClientSpan).span;
      if (span.isRecording()) {
        if (status > 0) span.setAttribute('http.response.status_code', status);
        // Client spans follow the HTTP conventions: 4xx and 5xx answers are errors of the call. A retried
        // attempt is named by its status when it had one (a 503), as the gateway code says nothing more.
        let errorType: string | null = null;
        if (error === RETRY) {
          span.setAttribute('gatehouse.retried', true);
          errorType = status >= 400 ? String(status) : RETRY;
        } else if (error !== null) errorType = error;
        else if (status >= 400) errorType = String(status);
        if (errorType !== null) {
          span.setAttribute('error.type', errorType);
          span.setStatus({ code: this.api.SpanStatusCode.ERROR });
        }
      }
      span.end();
    } catch (err) {
      this.fault(err);
    }
  }

  endServer(ex: Exchange): void {
    const trace = ex.trace;
    if (trace === null) return;
    try {
      const span = trace.span as Span;
      if (span.isRecording()) {
        const status = ex.status;
        if (status > 0) span.setAttribute('http.response.status_code', status);
        const consumer = ex.identity?.consumer;
        if (consumer) span.setAttribute('gatehouse.consumer', consumer.id);
        if (ex.attempts > 0) span.setAttribute('gatehouse.attempts', ex.attempts);
        const code = ex.errorCode;
        if (code !== null) span.setAttribute('error.type', code);
        else if (status >= 500) span.setAttribute('error.type', String(status));
        // Server spans follow the HTTP conventions: a 4xx is the client's error, not the gateway's.
        if (status >= 500) span.setStatus({ code: this.api.SpanStatusCode.ERROR });
      }
      span.end(performance.now());
    } catch (err) {
      this.fault(err);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.flushAndStop();
    return this.closing;
  }

  private async flushAndStop(): Promise<void> {
    const provider = this.provider;
    const done = (async () => {
      try { await provider.forceFlush(); } catch { /* export failures are logged by the exporter wrapper */ }
      await provider.shutdown();
    })();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, this.closeTimeoutMs, 'timeout'); });
    try {
      const r = await Promise.race([done, expired]);
      if (r === 'timeout') this.log.warn({ event: 'tracing_close_timeout', timeoutMs: this.closeTimeoutMs }, 'spans not exported in time at shutdown were dropped');
    } catch (err) {
      this.log.warn({ event: 'tracing_close_failed', err: String(err) }, 'stopping the trace exporter failed');
    } finally {
      clearTimeout(timer);
      done.catch(() => { /* settled after the deadline: already reported */ });
    }
  }

  /** A tracing fault costs the request nothing; it is logged once so a broken tracer cannot flood the log. */
  private fault(err: unknown): void {
    if (this.faulted) return;
    this.faulted = true;
    this.log.error({ event: 'tracing_failed', err }, 'tracing failed; requests are served, and further tracing faults are not logged');
  }
}

/** A header read as one string: a header sent twice arrives joined, or as a list, and is not a traceparent. */
function header(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Removes every `tracestate` and all but the first `traceparent` from a flat header list (before any dispatch). */
function dropTraceHeaders(list: string[]): void {
  let w = 0;
  let seen = false;
  for (let r = 0; r < list.length; r += 2) {
    const name = list[r]!;
    if (name === 'tracestate') continue;
    if (name === 'traceparent') { if (seen) continue; seen = true; }
    list[w++] = name;
    list[w++] = list[r + 1]!;
  }
  list.length = w;
}

/** Sets server.address and server.port from a target id (an origin, `http://host:port`, or `host:port`). */
function setServerAddress(span: Span, target: string): void {
  const scheme = target.indexOf('://');
  const hostPort = scheme === -1 ? target : target.slice(scheme + 3);
  let host = hostPort;
  let port = -1;
  if (hostPort.charCodeAt(0) === 91 /* [ */) {
    const end = hostPort.indexOf(']');
    host = end === -1 ? hostPort : hostPort.slice(1, end);
    if (end !== -1 && hostPort.charCodeAt(end + 1) === 58 /* : */) port = Number(hostPort.slice(end + 2));
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon !== -1) { host = hostPort.slice(0, colon); port = Number(hostPort.slice(colon + 1)); }
  }
  // An origin leaves out the scheme's default port.
  if (port === -1 && scheme !== -1) port = target.startsWith('https') ? 443 : 80;
  span.setAttribute('server.address', host);
  if (Number.isInteger(port) && port > 0) span.setAttribute('server.port', port);
}

/** ExportOutcome is the SDK's ExportResult (`code` 0 is success), typed here to avoid a dependency on its package. */
interface ExportOutcome { code: number; error?: Error }

/**
 * LoggedExporter reports export failures to the gateway's log: once when exports start failing and once when
 * they work again, so a collector that is down costs one line rather than one per batch. (The SDK itself
 * reports them only to its diagnostic logger, which is silent by default.)
 */
class LoggedExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly log: Logger;
  private failing: boolean;
  private failedBatches: number;

  constructor(inner: SpanExporter, log: Logger) {
    this.inner = inner;
    this.log = log;
    this.failing = false;
    this.failedBatches = 0;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportOutcome) => void): void {
    // One closure per batch, not per request.
    this.inner.export(spans, (result) => {
      this.note(result, spans.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> { return this.inner.shutdown(); }

  forceFlush(): Promise<void> { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }

  private note(result: ExportOutcome, spans: number): void {
    if (result.code === 0) {
      if (this.failing) {
        this.log.info({ event: 'trace_export_recovered', failedBatches: this.failedBatches }, 'trace export works again');
        this.failing = false;
        this.failedBatches = 0;
      }
      return;
    }
    this.failedBatches++;
    if (this.failing) return;
    this.failing = true;
    // The error text of the HTTP client names the collector's address only, never the export headers.
    this.log.warn({ event: 'trace_export_failed', spans, err: result.error ? result.error.message : 'unknown' }, 'trace export failed; spans are dropped until it works again');
  }
}

/** TracerOptions are createTracer's knobs for tests. */
export interface TracerOptions {
  /** Delay between two batch exports, in ms. Default 1000 (tests use less to see spans sooner). */
  scheduledDelayMillis?: number;
  /** Most spans waiting for export; past it new spans are dropped. Default 2048. */
  maxQueueSize?: number;
}

/** DEFAULT_SCHEDULED_DELAY_MS is how often batches are sent: often enough to see traces soon, rarely enough to batch. */
export const DEFAULT_SCHEDULED_DELAY_MS = 1000;

/**
 * createTracer builds the tracer from a validated `tracing:` block, or returns null when tracing is off (or
 * the block is absent), in which case no OpenTelemetry module is loaded.
 */
export async function createTracer(config: TracingConfig | undefined, log: Logger, options: TracerOptions = {}): Promise<Tracer | null> {
  if (config === undefined || !config.enabled) return null;
  const [api, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    // Only the exporter of the configured encoding is loaded.
    config.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/resources'),
  ]);
  const timeoutMs = parseDuration(config.timeout);
  const exporter = new LoggedExporter(new otlp.OTLPTraceExporter({
    url: config.endpoint,
    headers: config.headers ? { ...config.headers } : {},
    timeoutMillis: timeoutMs,
  }), log);
  const processor = new sdk.BatchSpanProcessor(exporter, {
    scheduledDelayMillis: options.scheduledDelayMillis ?? DEFAULT_SCHEDULED_DELAY_MS,
    exportTimeoutMillis: timeoutMs,
    maxQueueSize: options.maxQueueSize ?? 2048,
    maxExportBatchSize: 512,
  });
  const provider: BasicTracerProvider = new sdk.BasicTracerProvider({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': config.serviceName })),
    // New traces are sampled at `sampleRatio`; a caller's sampled flag is followed (parent-based).
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [processor],
  });
  log.info({ event: 'tracing_enabled', sampleRatio: config.sampleRatio, serviceName: config.serviceName, protocol: config.protocol }, `tracing on: spans are exported over OTLP (${config.protocol})`);
  return new OtelTracer(api, provider.getTracer(TRACER_NAME), provider, log, timeoutMs);
}
