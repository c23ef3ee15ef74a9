/**
 * Why tracing exports protobuf by default: the export's serialization runs on the gateway's thread, once per
 * span. This encodes the same 512 finished spans (a server span's attributes) with the OTLP JSON and protobuf
 * serializers the two exporters use, and prints the cost and size per span. On this project's 2-core VM
 * (Node 20): JSON about 2.1-2.4 µs and 673 bytes a span, protobuf about 1.5-1.7 µs and 246 bytes; the bytes
 * also cost the collector (on the bench, the upstream's process) to read.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/otlp-encoding.js`
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// Both serializers come from the transformer package the two exporters depend on.
const { JsonTraceSerializer, ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer') as {
  JsonTraceSerializer: { serializeRequest(spans: unknown[]): Uint8Array | undefined };
  ProtobufTraceSerializer: { serializeRequest(spans: unknown[]): Uint8Array | undefined };
};
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('micro');
for (let i = 0; i < 512; i++) {
  tracer.startSpan('GET plain', {
    attributes: { 'http.request.method': 'GET', 'url.path': '/64b', 'http.route': 'plain', 'gatehouse.service': 'plain', 'server.address': '127.0.0.1', 'http.response.status_code': 200 },
  }).end();
}
const spans = exporter.getFinishedSpans();
const ROUNDS = 200;
for (const pass of [1, 2]) {
  for (const [name, serializer] of [['json', JsonTraceSerializer], ['protobuf', ProtobufTraceSerializer]] as const) {
    let bytes = 0;
    const t0 = performance.now();
    for (let i = 0; i < ROUNDS; i++) bytes += serializer.serializeRequest(spans)?.length ?? 0;
    const us = ((performance.now() - t0) * 1000) / (ROUNDS * spans.length);
    process.stdout.write(`pass ${pass} ${name.padEnd(8)} ${us.toFixed(2)} µs/span  ${Math.round(bytes / ROUNDS / spans.length)} bytes/span\n`);
  }
}
