/**
 * Why the gateway records its spans itself (src/observability/tracing.ts, RecordedSpan) instead of through the
 * SDK's Tracer and Span: both variants below trace the same requests (a server span and a client span, the
 * gateway's attributes) and hand them to the same SDK batch span processor and OTLP protobuf exporter, which
 * posts them to a local sink in the same process. Printed: CPU per request of the process, export and the
 * sink's reading included.
 *
 * - `sdk`: tracer.startSpan with explicit parent contexts and setAttribute, as the gateway did before, with
 *   the attributes it had then (the route and request id repeated on the client span).
 * - `gatehouse`: the gateway's OtelTracer, as createTracer builds it.
 *
 * On this project's 2-core VM (Node 20), over five passes: sdk 14.5-23.9 µs a request, gatehouse 8.5-11.4 µs.
 * Most of what remains is the exporter's protobuf encoding (bench/micro/otlp-encoding.ts), which grows with
 * the number of attributes.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/tracing-spans.js`
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as api from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { createTracer } from '../../src/observability/tracing.js';
import { silentLogger } from '../../src/observability/log.js';
import type { Exchange } from '../../src/core/exchange.js';

const REQUESTS = 50_000;

const sink = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()); });
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;

/** A finished proxied request as the tracer sees it: only the fields it reads. */
function exchange(i: number): Exchange {
  return {
    req: { method: 'GET', headers: {} },
    route: { name: 'plain', service: { name: 'plain' } },
    path: '/64b', upstreamPath: '/64b', query: '', clientIp: '127.0.0.1', requestId: `r${i}`,
    start: performance.now(), upstreamHeaders: [], attempts: 1, status: 200, identity: null, errorCode: null, trace: null,
  } as unknown as Exchange;
}

// The SDK path: the provider the gateway used to build, and its span calls.
const provider = new BasicTracerProvider({
  resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'gatehouse' })),
  sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(1) }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), { scheduledDelayMillis: 1000, maxQueueSize: 2048, maxExportBatchSize: 512 })],
});
const tracer = provider.getTracer('gatehouse');
function sdkRequest(ex: Exchange): void {
  const server = tracer.startSpan('GET plain', { kind: api.SpanKind.SERVER, startTime: ex.start }, api.ROOT_CONTEXT);
  for (const [k, v] of [['http.request.method', 'GET'], ['url.path', ex.path], ['client.address', ex.clientIp], ['gatehouse.request_id', ex.requestId], ['http.route', 'plain'], ['gatehouse.route', 'plain'], ['gatehouse.service', 'plain']] as const) server.setAttribute(k, v);
  const client = tracer.startSpan('GET plain', { kind: api.SpanKind.CLIENT }, api.trace.setSpan(api.ROOT_CONTEXT, server));
  for (const [k, v] of [['http.request.method', 'GET'], ['url.path', ex.upstreamPath], ['server.address', '127.0.0.1'], ['server.port', 8080], ['gatehouse.service', 'plain'], ['gatehouse.route', 'plain'], ['gatehouse.request_id', ex.requestId], ['http.response.status_code', 200]] as const) client.setAttribute(k, v);
  client.end();
  server.setAttribute('http.response.status_code', 200);
  server.setAttribute('gatehouse.attempts', 1);
  server.end(performance.now());
}

const ours = (await createTracer({ enabled: true, endpoint, protocol: 'http/protobuf', serviceName: 'gatehouse', sampleRatio: 1, timeout: '10s' }, silentLogger()))!;
function gatehouseRequest(ex: Exchange): void {
  ours.startServer(ex);
  const span = ours.startClient(ex, 'plain', 'http://127.0.0.1:8080')!;
  ours.endClient(ex, span, 200, null);
  ours.endServer(ex);
}

for (let pass = 1; pass <= 5; pass++) {
  for (const [name, run] of [['sdk', sdkRequest], ['gatehouse', gatehouseRequest]] as const) {
    const exchanges = Array.from({ length: REQUESTS }, (_, i) => exchange(i));
    const cpu0 = process.cpuUsage();
    // In slices, so the exporter's posts complete between them as they would between requests.
    for (let i = 0; i < REQUESTS; i += 1000) {
      for (let j = i; j < i + 1000; j++) run(exchanges[j]!);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`pass ${pass} ${name.padEnd(9)} ${((cpu.user + cpu.system) / REQUESTS).toFixed(1)} µs/request\n`);
    // The last partial batch (under 512 spans of 100,000) is exported by the timer, outside the measurement.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}
await ours.close();
await provider.shutdown();
sink.close();
