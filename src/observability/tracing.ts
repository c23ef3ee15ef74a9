/**
 * Distributed tracing with OpenTelemetry: one SERVER span per request and one CLIENT span per upstream
 * attempt, exported in the background in batches over OTLP/HTTP (protobuf or JSON) by the SDK's batch span
 * processor and OTLP exporter. The spans themselves are recorded by this module (see RecordedSpan).
 *
 * Free when off: this module imports the OpenTelemetry packages only as types; createTracer loads them with
 * dynamic imports when `tracing.enabled` is true, so a gateway without tracing never loads them.
 *
 * W3C trace context is parsed here rather than through a propagator: `traceparent` is one fixed-length line,
 * and spans name their parents explicitly (no context manager, no async-hooks cost).
 */
import type { Logger } from 'pino';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type { Exchange } from '../core/exchange.js';
import { parseDuration } from '../config/units.js';
import type { ClientSpan, TraceContext, Tracer } from './types.js';
import type { TracingConfig } from './tracing-schema.js';

/** What the proxy passes to endClient for an attempt that is tried again (see src/backends/proxy.ts). */
const RETRY = 'retry';

/** TRACER_NAME is the instrumentation scope of the gateway's spans. */
const TRACER_NAME = 'gatehouse';

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

/** HrTime is OpenTelemetry's time: [seconds since the epoch, nanoseconds]. */
type HrTime = [number, number];

/** OTLP span kinds and status codes, as the API numbers them (the serializer adds 1 to the kind). */
const KIND_SERVER = 1;
const KIND_CLIENT = 2;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
const SAMPLED = 1;

/** The process's time origin as HrTime, computed once (as the SDK's `millisToHrTime`). */
const ORIGIN: HrTime = msToHrTime(performance.timeOrigin);

function msToHrTime(ms: number): HrTime {
  const s = Math.trunc(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** hrTimeAt turns a `performance.now()` reading into an epoch HrTime. */
function hrTimeAt(perfMs: number): HrTime {
  const t = msToHrTime(perfMs);
  let s = ORIGIN[0] + t[0];
  let ns = ORIGIN[1] + t[1];
  if (ns >= 1e9) { s++; ns -= 1e9; }
  return [s, ns];
}

/** The parts of a span context the serializers read. */
interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
}

/**
 * RecordedSpan is one sampled span, in the shape of the SDK's ReadableSpan, which is what its batch processor
 * and the OTLP exporters take. The gateway's two spans have a fixed shape (a few attributes, no events, no
 * links), so they are recorded here directly instead of through the SDK's general Span: measured in
 * bench/micro/tracing-spans.ts, that halves the tracing cost that is not the export's encoding.
 */
class RecordedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: number;
  readonly ids: SpanIds;
  readonly parentSpanContext: SpanIds | undefined;
  readonly startTime: HrTime;
  readonly startMs: number;
  endTime: HrTime;
  duration: HrTime;
  status: { code: number };
  readonly attributes: Record<string, string | number | boolean>;
  readonly links: never[];
  readonly events: never[];
  ended: boolean;
  readonly resource: Resource;
  readonly instrumentationScope: { name: string };
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;

  constructor(name: string, kind: number, ids: SpanIds, parent: SpanIds | undefined, startMs: number, resource: Resource) {
    this.name = name;
    this.kind = kind;
    this.ids = ids;
    this.parentSpanContext = parent;
    this.startMs = startMs;
    this.startTime = hrTimeAt(startMs);
    this.endTime = this.startTime;
    this.duration = [0, 0];
    this.status = OK_STATUS;
    this.attributes = {};
    this.links = NONE;
    this.events = NONE;
    this.ended = false;
    this.resource = resource;
    this.instrumentationScope = SCOPE;
    this.droppedAttributesCount = 0;
    this.droppedEventsCount = 0;
    this.droppedLinksCount = 0;
  }

  spanContext(): SpanIds { return this.ids; }

  end(endMs: number): void {
    this.ended = true;
    this.endTime = hrTimeAt(endMs);
    this.duration = msToHrTime(Math.max(0, endMs - this.startMs));
  }
}

const NONE: never[] = [];
const OK_STATUS = Object.freeze({ code: STATUS_UNSET });
const ERROR_STATUS = Object.freeze({ code: STATUS_ERROR });
const SCOPE = Object.freeze({ name: TRACER_NAME });

/** The server span and its ids, kept on `ex.trace`; `span` is null when the trace is not sampled. */
class ServerTrace implements TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  readonly span: RecordedSpan | null;
  constructor(traceId: string, spanId: string, span: RecordedSpan | null) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.sampled = span !== null;
    this.span = span;
  }
}

/** One upstream attempt's span (null when not sampled) and the `traceparent` that names it as the upstream's parent. */
class OtelClientSpan implements ClientSpan {
  readonly traceparent: string;
  readonly span: RecordedSpan | null;
  constructor(traceparent: string, span: RecordedSpan | null) {
    this.traceparent = traceparent;
    this.span = span;
  }
}

/** What OtelTracer needs of the SDK's span processor: taking finished spans, flushing and stopping. */
interface SpanSink {
  onEnd(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** What OtelTracer needs of the SDK: random ids and the sampling decision for a new trace. */
interface TraceIds {
  generateTraceId(): string;
  generateSpanId(): string;
  /** Whether a new trace with this id is sampled (the SDK's TraceIdRatioBasedSampler). */
  sampleRoot(traceId: string): boolean;
}

/**
 * OtelTracer implements the gateway's Tracer: it records the spans and hands the sampled ones to the SDK's
 * batch span processor, which exports them with the OTLP exporter. Ids, the sampling decision, batching,
 * encoding and export are the SDK's. Every method catches what might throw: a tracing fault is logged once
 * and never reaches the request.
 */
export class OtelTracer implements Tracer {
  private readonly sink: SpanSink;
  private readonly ids: TraceIds;
  private readonly resource: Resource;
  private readonly log: Logger;
  /** Bound on close(): flushing and shutting down together take at most this long. */
  private readonly closeTimeoutMs: number;
  private faulted: boolean;
  private closing: Promise<void> | null;

  constructor(sink: SpanSink, ids: TraceIds, resource: Resource, log: Logger, closeTimeoutMs: number) {
    this.sink = sink;
    this.ids = ids;
    this.resource = resource;
    this.log = log;
    this.closeTimeoutMs = closeTimeoutMs;
    this.faulted = false;
    this.closing = null;
  }

  startServer(ex: Exchange): void {
    try {
      const req = ex.req;
      const parent = parseTraceparent(header(req.headers.traceparent));
      let traceId: string;
      let sampled: boolean;
      let parentIds: SpanIds | undefined;
      if (parent !== null) {
        // Parent-based: a caller's sampled flag is followed.
        traceId = parent.traceId;
        sampled = parent.sampled;
        parentIds = { traceId, spanId: parent.spanId, traceFlags: sampled ? SAMPLED : 0, isRemote: true };
      } else {
        if (req.headers.traceparent !== undefined || req.headers.tracestate !== undefined) {
          // Trace Context §4.2: a tracestate without a valid traceparent MUST be discarded; extra copies of a
          // traceparent would follow the one the proxy replaces. Only this rare path walks the header list.
          dropTraceHeaders(ex.upstreamHeaders);
        }
        traceId = this.ids.generateTraceId();
        sampled = this.ids.sampleRoot(traceId);
        parentIds = undefined;
      }
      const spanId = this.ids.generateSpanId();
      // An unsampled trace records nothing: only its ids travel.
      if (!sampled) {
        ex.trace = new ServerTrace(traceId, spanId, null);
        return;
      }
      const method = req.method ?? 'GET';
      const route = ex.route;
      const span = new RecordedSpan(route === null ? method : `${method} ${route.name}`, KIND_SERVER, { traceId, spanId, traceFlags: SAMPLED }, parentIds, ex.start, this.resource);
      const a = span.attributes;
      a['http.request.method'] = method;
      if (ex.path !== '') a['url.path'] = ex.path;
      if (ex.clientIp !== '') a['client.address'] = ex.clientIp;
      a['gatehouse.request_id'] = ex.requestId;
      // Each attribute costs its encoding on every export (most of tracing's CPU), so none is repeated: the
      // route is `http.route`, and client spans leave the route and request id to their server span.
      if (route !== null) {
        a['http.route'] = route.name;
        if (route.service !== null) a['gatehouse.service'] = route.service.name;
      }
      ex.trace = new ServerTrace(traceId, spanId, span);
    } catch (err) {
      this.fault(err);
    }
  }

  startClient(ex: Exchange, service: string, target: string): ClientSpan | null {
    const trace = ex.trace as ServerTrace | null;
    if (trace === null) return null;
    try {
      const spanId = this.ids.generateSpanId();
      const traceparent = formatTraceparent(trace.traceId, spanId, trace.sampled);
      const server = trace.span;
      if (server === null) return new OtelClientSpan(traceparent, null);
      const method = ex.req.method ?? 'GET';
      const span = new RecordedSpan(`${method} ${service}`, KIND_CLIENT, { traceId: trace.traceId, spanId, traceFlags: SAMPLED }, server.ids, performance.now(), this.resource);
      const a = span.attributes;
      a['http.request.method'] = method;
      a['url.path'] = ex.upstreamPath;
      setServerAddress(a, target);
      a['gatehouse.service'] = service;
      // Semantic conventions: the ordinal of a resent request, absent on the first try.
      if (ex.attempts > 1) a['http.request.resend_count'] = ex.attempts - 1;
      return new OtelClientSpan(traceparent, span);
    } catch (err) {
      this.fault(err);
      return null;
    }
  }

  endClient(_ex: Exchange, clientSpan: ClientSpan, status: number, error: string | null): void {
    const span = (clientSpan as OtelClientSpan).span;
    if (span === null || span.ended) return;
    try {
      const a = span.attributes;
      if (status > 0) a['http.response.status_code'] = status;
      // Client spans follow the HTTP conventions: 4xx and 5xx answers are errors of the call. A retried
      // attempt is named by its status when it had one (a 503), as the gateway code says nothing more.
      let errorType: string | null = null;
      if (error === RETRY) {
        a['gatehouse.retried'] = true;
        errorType = status >= 400 ? String(status) : RETRY;
      } else if (error !== null) errorType = error;
      else if (status >= 400) errorType = String(status);
      if (errorType !== null) {
        a['error.type'] = errorType;
        span.status = ERROR_STATUS;
      }
      span.end(performance.now());
      this.sink.onEnd(span);
    } catch (err) {
      this.fault(err);
    }
  }

  endServer(ex: Exchange): void {
    const trace = ex.trace as ServerTrace | null;
    const span = trace === null ? null : trace.span;
    if (span === null || span.ended) return;
    try {
      const a = span.attributes;
      const status = ex.status;
      if (status > 0) a['http.response.status_code'] = status;
      const consumer = ex.identity?.consumer;
      if (consumer) a['gatehouse.consumer'] = consumer.id;
      // Attempts beyond the first (retries); one attempt is the usual case, and its client span shows it.
      if (ex.attempts > 1) a['gatehouse.attempts'] = ex.attempts;
      const code = ex.errorCode;
      if (code !== null) a['error.type'] = code;
      else if (status >= 500) a['error.type'] = String(status);
      // Server spans follow the HTTP conventions: a 4xx is the client's error, not the gateway's.
      if (status >= 500) span.status = ERROR_STATUS;
      span.end(performance.now());
      this.sink.onEnd(span);
    } catch (err) {
      this.fault(err);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.flushAndStop();
    return this.closing;
  }

  private async flushAndStop(): Promise<void> {
    const sink = this.sink;
    const done = (async () => {
      try { await sink.forceFlush(); } catch { /* export failures are logged by the exporter wrapper */ }
      await sink.shutdown();
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
function setServerAddress(a: Record<string, string | number | boolean>, target: string): void {
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
  a['server.address'] = host;
  if (Number.isInteger(port) && port > 0) a['server.port'] = port;
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
  const resource = resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': config.serviceName }));
  // New traces are sampled at `sampleRatio` by the SDK's ratio sampler (deterministic by trace id); a
  // caller's sampled flag is followed (parent-based, in startServer).
  const root = new sdk.TraceIdRatioBasedSampler(config.sampleRatio);
  const generator = new sdk.RandomIdGenerator();
  const ids: TraceIds = {
    generateTraceId: () => generator.generateTraceId(),
    generateSpanId: () => generator.generateSpanId(),
    sampleRoot: (traceId) => root.shouldSample(api.ROOT_CONTEXT, traceId).decision === sdk.SamplingDecision.RECORD_AND_SAMPLED,
  };
  log.info({ event: 'tracing_enabled', sampleRatio: config.sampleRatio, serviceName: config.serviceName, protocol: config.protocol }, `tracing on: spans are exported over OTLP (${config.protocol})`);
  return new OtelTracer(processor, ids, resource, log, timeoutMs);
}
