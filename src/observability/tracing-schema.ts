/**
 * The schema of `tracing:`: distributed tracing exported over OTLP/HTTP (JSON) to an OpenTelemetry collector
 * or any backend that accepts OTLP. Descriptions here are the user documentation.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, HEADER_NAME_PATTERN } from '../config/units.js';

const HEADER_NAME = HEADER_NAME_PATTERN;

/** TracingSchema is the top-level `tracing:` key. */
export const TracingSchema = Type.Object({
  enabled: Type.Boolean({
    default: false,
    description: 'Trace requests: a server span per request and a client span per upstream attempt, with W3C `traceparent` propagated upstream. Off, the tracing libraries are not even loaded. Default false.',
  }),
  endpoint: Type.String({
    pattern: '^https?://[^\\s/?#]+',
    default: 'http://127.0.0.1:4318/v1/traces',
    description: 'OTLP/HTTP traces URL spans are POSTed to (a collector\'s `/v1/traces`). Default http://127.0.0.1:4318/v1/traces.',
    errorMessage: 'must be an http:// or https:// URL',
  }),
  protocol: Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')], {
    default: 'http/protobuf',
    errorMessage: 'must be http/protobuf or http/json',
    description: 'How spans are encoded on the wire: `http/protobuf` (default, as the OpenTelemetry specification\'s exporters; about 30% less CPU and a third of the bytes of JSON, measured in bench/micro/otlp-encoding.ts) or `http/json` (for collectors that take JSON only).',
  }),
  serviceName: Type.String({
    minLength: 1,
    maxLength: 256,
    default: 'gatehouse',
    description: 'The `service.name` resource attribute under which spans appear in the tracing backend. Default gatehouse.',
  }),
  sampleRatio: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 1,
    description: 'Fraction (0 to 1) of new traces that are sampled (exported). A request that arrives with a valid `traceparent` follows the caller\'s sampled flag instead (parent-based). Default 1: every trace.',
    errorMessage: 'must be a number from 0 to 1',
  }),
  headers: Type.Optional(Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String({ pattern: '^[^\\r\\n]*$', errorMessage: 'must not contain a line break' }), {
    additionalProperties: false,
    errorMessage: 'must map HTTP header names (letters, digits, -) to values',
    description: 'Extra HTTP headers sent with each export (an API key of a hosted backend: use `${VAR}` to keep it out of the file). Default: none.',
  })),
  timeout: Duration('How long one export (a batch of spans) may take before it is abandoned, and how long shutdown waits for spans not yet exported. Default 10s.', '10s'),
}, { additionalProperties: false, default: {}, description: 'Distributed tracing with OpenTelemetry (OTLP over HTTP, protobuf or JSON).' });

/** TracingConfig is a validated `tracing:` block. */
export type TracingConfig = Static<typeof TracingSchema>;
