/**
 * Distributed tracing through the real gateway: a local OTLP/HTTP receiver collects the exported spans, and
 * a recording upstream shows the `traceparent` it was sent. An incoming trace is continued (same trace id,
 * the client span as the upstream's parent), a missing or invalid one starts a new trace, `tracestate` passes
 * through, each retry is its own client span, refused requests get a server span, and the caller's sampled
 * flag is followed. Also: the `traceparent` parser, and that a gateway without tracing loads no OpenTelemetry.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { fileURLToPath } from 'node:url';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { exchange, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';
import { createTracer, formatTraceparent, parseTraceparent } from '../src/observability/tracing.js';
import { TracingSchema, type TracingConfig } from '../src/observability/tracing-schema.js';
import { Value } from '@sinclair/typebox/value';
import type { Tracer } from '../src/observability/types.js';

/** How long spans may take to reach the receiver on a loaded machine (the batch delay is 50 ms). */
const SPAN_DEADLINE_MS = 10_000;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TP_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
/** OTLP span kinds (the protobuf enum: the API's kind + 1). */
const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/** A span as the receiver got it, with its attributes flattened and the service.name of its resource. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: number;
  attrs: Record<string, string | number | boolean>;
  service: string;
  /** Start and end, in ms since the epoch (from the nanoseconds sent: rounding keeps their order). */
  start: number;
  end: number;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpAttr = { key: string; value: OtlpValue };

function flatten(attrs: OtlpAttr[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const a of attrs ?? []) {
    const v = a.value;
    if (v.stringValue !== undefined) out[a.key] = v.stringValue;
    else if (v.intValue !== undefined) out[a.key] = Number(v.intValue);
    else if (v.boolValue !== undefined) out[a.key] = v.boolValue;
    else if (v.doubleValue !== undefined) out[a.key] = v.doubleValue;
  }
  return out;
}

/** Receiver is a local OTLP/HTTP traces endpoint that keeps every span it is sent. */
class Receiver {
  readonly server: Server;
  readonly spans: ReceivedSpan[] = [];
  readonly headers: Record<string, string | string[] | undefined>[] = [];
  /** Requests answered (POST /v1/traces), and those refused for their path or method. */
  posts = 0;
  refused = 0;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') { this.refused++; res.writeHead(404).end(); req.resume(); return; }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => { size += c.length; if (size <= 16 * 1024 * 1024) chunks.push(c); });
      req.on('end', () => {
        this.posts++;
        this.headers.push(req.headers);
        try {
          this.collect(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          res.writeHead(400).end();
        }
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get endpoint(): string { return `http://127.0.0.1:${this.port}/v1/traces`; }

  close(): Promise<void> {
    return new Promise((resolve) => { this.server.closeAllConnections(); this.server.close(() => resolve()); });
  }

  private collect(body: any): void {
    for (const rs of body.resourceSpans ?? []) {
      const service = String(flatten(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind,
            status: s.status?.code ?? 0, attrs: flatten(s.attributes), service,
            start: Number(BigInt(String(s.startTimeUnixNano))) / 1e6, end: Number(BigInt(String(s.endTimeUnixNano))) / 1e6,
          });
        }
      }
    }
  }

  /** trace waits until the trace has `n` spans (or the deadline passes) and returns them. */
  async trace(traceId: string, n: number): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + SPAN_DEADLINE_MS;
    for (;;) {
      const found = this.spans.filter((s) => s.traceId === traceId);
      if (found.length >= n) return found;
      if (Date.now() > deadline) assert.fail(`trace ${traceId}: ${found.length} of ${n} spans arrived within ${SPAN_DEADLINE_MS} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The traceparent the upstream received on its `i`-th request, parsed. */
function sentUpstream(up: Upstream, i: number): { traceId: string; parentId: string; flags: string; tracestate: string | undefined } {
  const r = up.received[i];
  assert.ok(r, `upstream ${up.name} received request ${i}`);
  const tp = r.headers.traceparent;
  assert.equal(typeof tp, 'string', 'the upstream got one traceparent');
  const m = TP_RE.exec(tp as string);
  assert.ok(m, `valid traceparent upstream: ${String(tp)}`);
  const ts = r.headers.tracestate;
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]!, tracestate: ts === undefined ? undefined : String(ts) };
}

function one(spans: ReceivedSpan[], kind: number): ReceivedSpan {
  const of = spans.filter((s) => s.kind === kind);
  assert.equal(of.length, 1, `one span of kind ${kind} in ${JSON.stringify(spans)}`);
  return of[0]!;
}

describe('traceparent parser', () => {
  test('accepts version 00 with lower-case hex ids and reads the sampled flag', () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-01`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: false });
    // Other flag bits are ignored; only bit 0 means sampled.
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-03`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-fe`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: false });
  });

  test('a higher version is read by its version-00 prefix (forward compatibility); ff never', () => {
    assert.deepEqual(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: true });
    assert.deepEqual(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-holds`), { traceId: TRACE_ID, spanId: PARENT_ID, sampled: true });
    assert.equal(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01x`), null);
    assert.equal(parseTraceparent(`ff-${TRACE_ID}-${PARENT_ID}-01`), null);
  });

  test('refuses everything else', () => {
    const bad = [
      undefined, '', 'garbage',
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 is exactly 55 characters
      `00-${TRACE_ID}-${PARENT_ID}-1`,
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID.toUpperCase()}-01`,
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID.slice(1)}g-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID.slice(1)}z-01`,
      `00-${TRACE_ID}-${PARENT_ID}-0g`,
      `00_${TRACE_ID}_${PARENT_ID}_01`,
      `0x-${TRACE_ID}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID}-01, 00-${TRACE_ID}-${PARENT_ID}-01`, // a header sent twice, joined
      ` 00-${TRACE_ID}-${PARENT_ID}-0`,
    ];
    for (const v of bad) assert.equal(parseTraceparent(v), null, String(v));
  });

  test('formatTraceparent writes version 00', () => {
    assert.equal(formatTraceparent(TRACE_ID, PARENT_ID, true), `00-${TRACE_ID}-${PARENT_ID}-01`);
    assert.equal(formatTraceparent(TRACE_ID, PARENT_ID, false), `00-${TRACE_ID}-${PARENT_ID}-00`);
  });
});

describe('tracing through the gateway', () => {
  const KEY = newApiKey();
  let receiver: Receiver;
  let up: Upstream;
  let flaky: Upstream;
  let good: Upstream;
  let gw: TestGateway;
  let tracer: Tracer;
  let base: string;

  function tracingConfig(overrides: Partial<TracingConfig> = {}): TracingConfig {
    return { enabled: true, endpoint: receiver.endpoint, protocol: 'http/json', serviceName: 'gatehouse-test', sampleRatio: 1, timeout: '5s', headers: { 'x-collector-token': 'test-token' }, ...overrides };
  }

  before(async () => {
    receiver = new Receiver();
    await receiver.start();
    up = await startUpstream('api');
    // flaky answers 503 (retried by default) and good answers 200: round-robin tries flaky first.
    flaky = await startUpstream('flaky', (_req, res) => { res.writeHead(503, { 'content-type': 'text/plain' }); res.end('busy'); });
    good = await startUpstream('good');
    const dead = await freePort();
    gw = await startTestGateway(`${LISTEN}
services:
  api: { targets: ['${up.url}'], retries: 0 }
  retrying:
    targets: ['${flaky.url}', '${good.url}']
    retries: { attempts: 2, budget: 1 }
    passiveHealth: { failures: 1000 }
  dead: { targets: ['http://127.0.0.1:${dead}'], retries: 0 }
  reconnect:
    targets: ['http://127.0.0.1:${dead}', '${good.url}']
    retries: { attempts: 2, budget: 1 }
    passiveHealth: { failures: 1000 }
consumers:
  acme:
    keys: [${hashApiKey(KEY)}]
auth:
  keys:
    apiKey: { header: x-api-key }
routes:
  - { name: open, match: { path: /open/* }, service: api }
  - { name: keyed, match: { path: /keyed/* }, service: api, auth: [keys] }
  - { name: retry, match: { path: /retry/* }, service: retrying }
  - { name: down, match: { path: /down/* }, service: dead }
  - { name: reconnect, match: { path: /reconnect/* }, service: reconnect }
  - { name: get-only, match: { path: /get-only, methods: [GET] }, service: api }
tracing:
  enabled: true
  endpoint: ${receiver.endpoint}
  protocol: http/json
  serviceName: gatehouse-test
  headers: { x-collector-token: test-token }
`, { tracing: { scheduledDelayMillis: 50 } });
    base = gw.url;
    // The tracer the gateway built from its `tracing:` config.
    assert.ok(gw.gateway.runtime.tracer !== null);
    tracer = gw.gateway.runtime.tracer;
  });

  after(async () => {
    await gw?.close();
    await Promise.all([up?.close(), flaky?.close(), good?.close(), receiver?.close()]);
    // Nothing of the tracer failed, and the collector token never reached a log line.
    assert.deepEqual(gw.logs.filter((l) => String(l.event).startsWith('tracing_failed') || l.event === 'trace_export_failed'), []);
    assert.ok(!JSON.stringify(gw.logs).includes('test-token'));
  });

  test('an incoming trace is continued: the upstream gets the same trace id and the client span as parent', async () => {
    const before = up.received.length;
    const r = await request(`${base}/keyed/users/42?x=1`, {
      headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'vendor=abc,other=1', 'x-api-key': KEY },
    });
    assert.equal(r.status, 200);
    const sent = sentUpstream(up, before);
    assert.equal(sent.traceId, TRACE_ID);
    assert.notEqual(sent.parentId, PARENT_ID);
    assert.equal(sent.flags, '01');
    assert.equal(sent.tracestate, 'vendor=abc,other=1', 'tracestate passes through unchanged');

    const spans = await receiver.trace(TRACE_ID, 2);
    const server = one(spans, KIND_SERVER);
    const client = one(spans, KIND_CLIENT);
    assert.equal(server.parentSpanId, PARENT_ID);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.spanId, sent.parentId, 'the upstream\'s parent is the client span');
    assert.equal(server.service, 'gatehouse-test');
    // The server span starts when the request arrived and encloses the upstream call, on the wall clock.
    assert.ok(server.start <= client.start && client.start <= client.end && client.end <= server.end, JSON.stringify([server, client]));
    assert.ok(Math.abs(Date.now() - server.start) < 60_000, 'start is a wall-clock time');

    assert.equal(server.name, 'GET keyed');
    assert.equal(server.status, 0);
    const requestId = String(r.headers['x-request-id']);
    assert.deepEqual(
      { ...server.attrs },
      {
        'http.request.method': 'GET', 'url.path': '/keyed/users/42', 'http.route': 'keyed', 'http.response.status_code': 200,
        'client.address': '127.0.0.1', 'gatehouse.service': 'api', 'gatehouse.consumer': 'acme',
        'gatehouse.request_id': requestId,
      },
    );
    assert.equal(client.name, 'GET api');
    assert.equal(client.status, 0);
    assert.deepEqual(
      { ...client.attrs },
      {
        'http.request.method': 'GET', 'url.path': '/keyed/users/42', 'server.address': '127.0.0.1', 'server.port': up.port,
        'http.response.status_code': 200, 'gatehouse.service': 'api',
      },
    );
    // The API key never became an attribute, and the export headers were sent to the collector.
    assert.ok(!JSON.stringify(receiver.spans).includes(KEY));
    assert.ok(receiver.headers.every((h) => h['x-collector-token'] === 'test-token'));
    assert.ok(receiver.headers.every((h) => String(h['content-type']).startsWith('application/json')));
  });

  test('without a traceparent a new trace starts; a tracestate alone is dropped', async () => {
    const before = up.received.length;
    const r = await request(`${base}/open/new`, { headers: { tracestate: 'orphan=1' } });
    assert.equal(r.status, 200);
    const sent = sentUpstream(up, before);
    assert.equal(sent.flags, '01');
    assert.equal(sent.tracestate, undefined, 'a tracestate without a traceparent is invalid (W3C Trace Context §4.2)');
    const spans = await receiver.trace(sent.traceId, 2);
    const server = one(spans, KIND_SERVER);
    const client = one(spans, KIND_CLIENT);
    assert.equal(server.parentSpanId, '');
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.spanId, sent.parentId);
    assert.equal(server.name, 'GET open');
    assert.equal(server.attrs['gatehouse.consumer'], undefined);
  });

  test('an invalid traceparent is replaced by a new trace (and its tracestate dropped)', async () => {
    const invalid = [
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `ff-${TRACE_ID}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`,
      'not a traceparent',
    ];
    for (const tp of invalid) {
      const before = up.received.length;
      const r = await request(`${base}/open/invalid`, { headers: { traceparent: tp, tracestate: 'vendor=abc' } });
      assert.equal(r.status, 200, tp);
      const sent = sentUpstream(up, before);
      assert.notEqual(sent.traceId, TRACE_ID, tp);
      assert.notEqual(sent.traceId, '0'.repeat(32), tp);
      assert.equal(sent.tracestate, undefined, tp);
      const server = one(await receiver.trace(sent.traceId, 2), KIND_SERVER);
      assert.equal(server.parentSpanId, '', tp);
    }
  });

  test('a traceparent sent twice is invalid, and the upstream gets exactly one (the gateway\'s)', async () => {
    const before = up.received.length;
    const tp = `00-${TRACE_ID}-${PARENT_ID}-01`;
    const [reply] = await exchange(gw.port, `GET /open/twice HTTP/1.1\r\nHost: x\r\ntraceparent: ${tp}\r\ntraceparent: ${tp}\r\nConnection: close\r\n\r\n`);
    assert.equal(reply?.status, 200);
    const raw = up.received[before]!.rawHeaders;
    const copies = raw.filter((_v, i) => i % 2 === 0 && raw[i]!.toLowerCase() === 'traceparent');
    assert.equal(copies.length, 1);
    const sent = sentUpstream(up, before);
    assert.notEqual(sent.traceId, TRACE_ID);
    await receiver.trace(sent.traceId, 2);
  });

  test('a retry makes two client spans under one server span, each the parent of what its target received', async () => {
    const flakyBefore = flaky.received.length;
    const goodBefore = good.received.length;
    const traceId = 'a'.repeat(31) + '1';
    const r = await request(`${base}/retry/x`, { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    assert.equal(r.status, 200);
    assert.equal(flaky.received.length, flakyBefore + 1);
    assert.equal(good.received.length, goodBefore + 1);
    const first = sentUpstream(flaky, flakyBefore);
    const second = sentUpstream(good, goodBefore);
    assert.equal(first.traceId, traceId);
    assert.equal(second.traceId, traceId);
    assert.notEqual(first.parentId, second.parentId);

    const spans = await receiver.trace(traceId, 3);
    const server = one(spans, KIND_SERVER);
    const clients = spans.filter((s) => s.kind === KIND_CLIENT);
    assert.equal(clients.length, 2);
    for (const c of clients) assert.equal(c.parentSpanId, server.spanId);
    const failed = clients.find((c) => c.spanId === first.parentId)!;
    const ok = clients.find((c) => c.spanId === second.parentId)!;
    assert.ok(failed && ok);
    assert.equal(failed.attrs['http.response.status_code'], 503);
    assert.equal(failed.attrs['server.port'], flaky.port);
    assert.equal(failed.attrs['error.type'], '503');
    assert.equal(failed.attrs['gatehouse.retried'], true);
    assert.equal(ok.attrs['gatehouse.retried'], undefined);
    assert.equal(failed.status, STATUS_ERROR);
    assert.equal(failed.attrs['http.request.resend_count'], undefined);
    assert.equal(ok.attrs['http.response.status_code'], 200);
    assert.equal(ok.attrs['server.port'], good.port);
    assert.equal(ok.attrs['http.request.resend_count'], 1);
    assert.equal(ok.status, 0);
    assert.equal(server.attrs['gatehouse.attempts'], 2);
    assert.equal(server.attrs['http.response.status_code'], 200);
    assert.equal(server.status, 0);
  });

  test('a retry after a refused connection: the failed attempt has no status and error.type retry', async () => {
    const goodBefore = good.received.length;
    const traceId = '5'.repeat(32);
    const r = await request(`${base}/reconnect/x`, { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    assert.equal(r.status, 200);
    const sent = sentUpstream(good, goodBefore);
    const spans = await receiver.trace(traceId, 3);
    const server = one(spans, KIND_SERVER);
    const clients = spans.filter((s) => s.kind === KIND_CLIENT);
    assert.equal(clients.length, 2);
    const failed = clients.find((c) => c.spanId !== sent.parentId)!;
    assert.equal(failed.parentSpanId, server.spanId);
    assert.equal(failed.attrs['error.type'], 'retry');
    assert.equal(failed.attrs['gatehouse.retried'], true);
    assert.equal(failed.attrs['http.response.status_code'], undefined);
    assert.equal(failed.status, STATUS_ERROR);
    assert.equal(clients.find((c) => c.spanId === sent.parentId)!.attrs['http.response.status_code'], 200);
  });

  test('requests refused by the gateway get a server span: 404, 405, and a refusal before routing', async () => {
    const notFound = await request(`${base}/nowhere`, { headers: { traceparent: `00-${'b'.repeat(32)}-${PARENT_ID}-01` } });
    assert.equal(notFound.status, 404);
    const s404 = one(await receiver.trace('b'.repeat(32), 1), KIND_SERVER);
    assert.equal(s404.name, 'GET');
    assert.equal(s404.parentSpanId, PARENT_ID);
    assert.equal(s404.attrs['http.response.status_code'], 404);
    assert.equal(s404.attrs['error.type'], 'GH_ROUTE_NOT_FOUND');
    assert.equal(s404.attrs['url.path'], '/nowhere');
    assert.equal(s404.attrs['http.route'], undefined);
    assert.equal(s404.status, 0, 'a 4xx is not the server\'s error');

    const wrongMethod = await request(`${base}/get-only`, { method: 'DELETE', headers: { traceparent: `00-${'c'.repeat(32)}-${PARENT_ID}-01` } });
    assert.equal(wrongMethod.status, 405);
    const s405 = one(await receiver.trace('c'.repeat(32), 1), KIND_SERVER);
    assert.equal(s405.name, 'DELETE');
    assert.equal(s405.attrs['error.type'], 'GH_METHOD_NOT_ALLOWED');

    // A malformed target is refused before routing; its server span has no path (it was not trusted).
    const [bad] = await exchange(gw.port, `GET /a%2Fb HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${'d'.repeat(32)}-${PARENT_ID}-01\r\n\r\n`);
    assert.equal(bad?.status, 400);
    const s400 = one(await receiver.trace('d'.repeat(32), 1), KIND_SERVER);
    assert.equal(s400.attrs['http.response.status_code'], 400);
    assert.equal(s400.attrs['url.path'], undefined);
    assert.match(String(s400.attrs['error.type']), /^GH_/);
  });

  test('an upstream that cannot be reached: both spans are errors with the gateway error code', async () => {
    const traceId = 'e'.repeat(32);
    const r = await request(`${base}/down/x`, { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    assert.equal(r.status, 502);
    const spans = await receiver.trace(traceId, 2);
    const server = one(spans, KIND_SERVER);
    const client = one(spans, KIND_CLIENT);
    assert.equal(server.status, STATUS_ERROR);
    assert.equal(server.attrs['error.type'], 'GH_UPSTREAM_UNAVAILABLE');
    assert.equal(server.attrs['http.response.status_code'], 502);
    assert.equal(client.status, STATUS_ERROR);
    assert.equal(client.attrs['error.type'], 'GH_UPSTREAM_UNAVAILABLE');
    assert.equal(client.attrs['http.response.status_code'], undefined, 'no upstream status arrived');
  });

  test('the caller\'s sampled flag is followed: an unsampled trace is propagated but not exported', async () => {
    const unsampled = 'f'.repeat(31) + '0';
    const before = up.received.length;
    const r = await request(`${base}/open/quiet`, { headers: { traceparent: `00-${unsampled}-${PARENT_ID}-00` } });
    assert.equal(r.status, 200);
    const sent = sentUpstream(up, before);
    assert.equal(sent.traceId, unsampled);
    assert.equal(sent.flags, '00');
    assert.notEqual(sent.parentId, PARENT_ID);
    // A sampled request after it: once its spans are in, an export of the unsampled one would be too.
    const later = '1'.repeat(32);
    await request(`${base}/open/loud`, { headers: { traceparent: `00-${later}-${PARENT_ID}-01` } });
    await receiver.trace(later, 2);
    assert.deepEqual(receiver.spans.filter((s) => s.traceId === unsampled), []);
  });

  test('sampleRatio 0: new traces are propagated unsampled, a sampled caller is still followed', async () => {
    const quiet = await createTracer(tracingConfig({ sampleRatio: 0 }), gw.gateway.log, { scheduledDelayMillis: 50 });
    assert.ok(quiet !== null);
    gw.gateway.runtime.tracer = quiet;
    try {
      let before = up.received.length;
      assert.equal((await request(`${base}/open/new`)).status, 200);
      const fresh = sentUpstream(up, before);
      assert.equal(fresh.flags, '00');
      before = up.received.length;
      const followed = '2'.repeat(32);
      assert.equal((await request(`${base}/open/followed`, { headers: { traceparent: `00-${followed}-${PARENT_ID}-01` } })).status, 200);
      assert.equal(sentUpstream(up, before).flags, '01');
      await receiver.trace(followed, 2);
      assert.deepEqual(receiver.spans.filter((s) => s.traceId === fresh.traceId), []);
    } finally {
      gw.gateway.runtime.tracer = tracer;
      await quiet.close();
    }
  });

  test('close flushes spans not yet exported, within its bound', async () => {
    // A long batch delay: only close() can have sent the spans by the time it resolves.
    const slow = await createTracer(tracingConfig(), gw.gateway.log, { scheduledDelayMillis: 60_000 });
    assert.ok(slow !== null);
    // The server span ends when the response closes, which may be a moment after the client has its answer.
    let ended!: () => void;
    const serverEnded = new Promise<void>((resolve) => { ended = resolve; });
    gw.gateway.runtime.tracer = {
      startServer: (ex) => slow.startServer(ex),
      startClient: (ex, service, target) => slow.startClient(ex, service, target),
      endClient: (ex, span, status, error) => slow.endClient(ex, span, status, error),
      endServer: (ex) => { slow.endServer(ex); ended(); },
      close: () => slow.close(),
    };
    const traceId = '3'.repeat(32);
    try {
      assert.equal((await request(`${base}/open/flush`, { headers: { traceparent: `00-${traceId}-${PARENT_ID}-01` } })).status, 200);
      await serverEnded;
    } finally {
      gw.gateway.runtime.tracer = tracer;
    }
    assert.equal(receiver.spans.filter((s) => s.traceId === traceId).length, 0, 'nothing exported before close');
    await slow.close();
    assert.equal(receiver.spans.filter((s) => s.traceId === traceId).length, 2);
  });

  test('close is bounded when the collector does not answer', async () => {
    // A collector that accepts the connection and never answers: close() gives up after `timeout`.
    const silent = createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/traces`;
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }));
    const stuck = await createTracer(tracingConfig({ endpoint, timeout: '300ms' }), log, { scheduledDelayMillis: 60_000 });
    assert.ok(stuck !== null);
    gw.gateway.runtime.tracer = stuck;
    try {
      assert.equal((await request(`${base}/open/stuck`)).status, 200);
    } finally {
      gw.gateway.runtime.tracer = tracer;
    }
    const started = Date.now();
    await stuck.close();
    // Generous for a loaded machine: the point is that it ends, not how fast.
    assert.ok(Date.now() - started < 5_000, `close took ${Date.now() - started} ms`);
    // The lost spans are reported once, by whichever bound ran out first (the export's or close's).
    const reported = lines.filter((l) => l.event === 'trace_export_failed' || l.event === 'tracing_close_timeout');
    assert.ok(reported.length >= 1 && reported.length <= 2, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.event === 'trace_export_failed').length <= 1, true);
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
});

describe('tracing configuration', () => {
  test('the schema: defaults, and what it refuses', () => {
    assert.deepEqual(Value.Default(TracingSchema, {}), {
      enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', protocol: 'http/protobuf', serviceName: 'gatehouse', sampleRatio: 1, timeout: '10s',
    });
    const ok = Value.Default(TracingSchema, { enabled: true, endpoint: 'https://otel.example.com/v1/traces', sampleRatio: 0.25, headers: { 'api-key': 'x' }, timeout: '2s' });
    assert.ok(Value.Check(TracingSchema, ok));
    for (const bad of [{ sampleRatio: 1.5 }, { sampleRatio: -0.1 }, { endpoint: 'ftp://x/v1/traces' }, { endpoint: '127.0.0.1:4318' }, { timeout: '10' }, { headers: { 'bad name': 'x' } }, { headers: { ok: 'a\r\nb' } }, { serviceName: '' }, { protocol: 'grpc' }, { extra: true }]) {
      assert.equal(Value.Check(TracingSchema, Value.Default(TracingSchema, { ...bad })), false, JSON.stringify(bad));
    }
  });

  test('createTracer returns null when tracing is off or absent', async () => {
    const log = (await import('../src/observability/log.js')).silentLogger();
    assert.equal(await createTracer(undefined, log), null);
    assert.equal(await createTracer({ enabled: false, endpoint: 'http://127.0.0.1:1/v1/traces', protocol: 'http/protobuf', serviceName: 'g', sampleRatio: 1, timeout: '1s' }, log), null);
  });

  test('the default encoding is OTLP protobuf: the collector gets application/x-protobuf carrying the trace', async () => {
    const bodies: { type: string | undefined; body: Buffer }[] = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => { bodies.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) }); res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(); });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const api = await startUpstream('api');
    const gw = await startTestGateway(`
services: { api: { targets: ['${api.url}'] } }
routes: [ { name: all, match: { path: /* }, service: api } ]
tracing: { enabled: true, endpoint: 'http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces' }
`, { tracing: { scheduledDelayMillis: 50 } });
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      assert.equal((await request(`${gw.url}/x`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })).status, 200);
      const end = Date.now() + 5000;
      while (bodies.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.ok(bodies.length > 0, 'the collector got an export');
      assert.equal(bodies[0]!.type, 'application/x-protobuf');
      // The trace id travels as its 16 raw bytes (protobuf `bytes`), not as hex text.
      assert.ok(bodies.some((b) => b.body.includes(Buffer.from(traceId, 'hex'))));
      assert.ok(!bodies.some((b) => b.body.includes(Buffer.from(traceId))));
    } finally {
      await gw.close();
      await api.close();
      await new Promise<void>((resolve) => { collector.closeAllConnections(); collector.close(() => resolve()); });
    }
  });

  test('free when off: with tracing disabled no OpenTelemetry module is loaded', () => {
    const module = fileURLToPath(new URL('../src/observability/tracing.js', import.meta.url));
    const script = `
      import { createRequire } from 'node:module';
      const { createTracer } = await import(${JSON.stringify(module)});
      const { silentLogger } = await import(${JSON.stringify(fileURLToPath(new URL('../src/observability/log.js', import.meta.url)))});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry')).length;
      const off = await createTracer({ enabled: false, endpoint: 'http://127.0.0.1:1/v1/traces', serviceName: 'g', sampleRatio: 1, timeout: '1s' }, silentLogger());
      const before = loaded();
      const on = await createTracer({ enabled: true, endpoint: 'http://127.0.0.1:1/v1/traces', serviceName: 'g', sampleRatio: 1, timeout: '1s' }, silentLogger());
      const after = loaded();
      await on.close();
      console.log(JSON.stringify({ off, before, after }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const { off, before, after } = JSON.parse(out.trim().split('\n').pop()!) as { off: unknown; before: number; after: number };
    assert.equal(off, null);
    assert.equal(before, 0, 'no @opentelemetry module before tracing is enabled');
    assert.ok(after > 0, 'the probe sees the modules once tracing is on');
  });
});
