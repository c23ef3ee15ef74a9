/**
 * The schema of `metrics:`, the Prometheus metrics served at GET /metrics on the admin listener. Descriptions
 * here are the user documentation (docs/config-reference.md is generated from them; docs/metrics.md lists
 * every metric).
 */
import { Type, type Static } from '@sinclair/typebox';

/**
 * DEFAULT_LATENCY_BUCKETS are the latency histogram bounds in seconds: 1 ms to 10 s in 1-2.5-5 steps, which
 * resolves both a cached answer (a few ms) and a slow upstream (seconds) to within a factor of about 2.
 */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** MetricsSchema is the top-level `metrics:` key. */
export const MetricsSchema = Type.Object({
  enabled: Type.Boolean({
    default: true,
    description: 'Serve Prometheus metrics at GET /metrics on the admin listener (so they need an `admin:` block; with a `token`, scrapers send it as a bearer token). Default true.',
  }),
  prefix: Type.String({
    pattern: '^([A-Za-z_][A-Za-z0-9_]*)?$',
    maxLength: 64,
    default: 'gatehouse_',
    description: 'Prefix of the gateway\'s own metric names (`gatehouse_requests_total`); may be empty. The process and Node.js metrics (`process_*`, `nodejs_*`) keep their standard names. Default `gatehouse_`.',
    errorMessage: 'must be letters, digits and _ (not starting with a digit), at most 64',
  }),
  consumerLabel: Type.Boolean({
    default: false,
    description: 'Add a `consumer` label (the consumer id, `-` when the request has none) to `requests_total`. Every consumer multiplies that metric\'s series: 1,000 consumers on 20 routes can add hundreds of thousands of series to every scrape and to Prometheus. Leave it off unless consumers are few; per-consumer usage is what metering (`metering:`) is for. Default false.',
  }),
  buckets: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 3600 }), {
    minItems: 1,
    maxItems: 30,
    uniqueItems: true,
    default: [...DEFAULT_LATENCY_BUCKETS],
    description: 'Upper bounds in seconds of the latency histograms (`request_duration_seconds`, `upstream_duration_seconds`); sorted at start, `+Inf` is added. Each bound is one more series per route and per service: keep the list short. Default 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10.',
    errorMessage: 'must be 1 to 30 distinct numbers of seconds, each > 0 and <= 3600',
  }),
}, {
  additionalProperties: false,
  default: {},
  description: 'Prometheus metrics: requests, latency, bytes, retries, rate-limit rejections, target health, circuit state, reloads, and process metrics. Scrape GET /metrics on the admin listener; docs/metrics.md lists every metric and its labels.',
});

/** MetricsConfig is a validated `metrics:` block. */
export type MetricsConfig = Static<typeof MetricsSchema>;
