/**
 * The schema of a service: its targets and how they are balanced, checked, timed out, retried and broken.
 * Descriptions here are the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/units.js';

const TargetUrl = Type.String({
  pattern: '^https?://[^/?#\\s]+/?$',
  description: 'Base URL of one instance: scheme, host and port, no path (`http://127.0.0.1:3001`).',
  errorMessage: 'must be an http:// or https:// URL with a host and port and no path',
});

/** TargetSchema is one instance of a service, as a URL or with a weight. */
export const TargetSchema = Type.Union([
  TargetUrl,
  Type.Object({
    url: TargetUrl,
    weight: Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Relative share of requests. Default 1.' }),
  }, { additionalProperties: false }),
]);


/** ServiceSchema is one entry under `services:`. */
export const ServiceSchema = Type.Object({
  targets: Type.Array(TargetSchema, { minItems: 1, description: 'The instances of the service.' }),
  balance: Type.Union([
    Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('consistent-hash'), Type.Literal('random'),
  ], {
    default: 'round-robin',
    description: 'How a target is chosen: smooth weighted `round-robin` (default), `least-connections`, `consistent-hash` (see `hashOn`) or `random` (power of two choices).',
    errorMessage: 'must be one of round-robin, least-connections, consistent-hash, random',
  }),
  hashOn: Type.String({
    pattern: '^(ip|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+)$',
    default: 'ip',
    description: 'Key for `consistent-hash`: `ip` (the trusted client IP, default), `header:NAME` or `cookie:NAME`. Requests without the key are spread round-robin.',
    errorMessage: 'must be ip, header:NAME or cookie:NAME',
  }),
  host: Type.String({
    default: 'target',
    description: 'Host header sent upstream: `target` (the target URL\'s host, default), `preserve` (the client\'s), or a literal host name.',
  }),
  timeouts: Type.Object({
    connect: Duration('Time to open a connection to a target. Default 5s; exceeded → 504.', '5s'),
    response: Duration('Time from sending the request to receiving the response headers. Default 15s; exceeded → 504.', '15s'),
    idle: Duration('Longest silence between two chunks of the response body. Default 30s; exceeded → the response is cut.', '30s'),
  }, { additionalProperties: false, default: {}, description: 'Upstream timeouts. They run on undici\'s coarse shared timer, which ticks about every 0.5 s, so each may fire up to about 1 s late: `300ms` acts as about 1 s.' }),
  retries: Type.Union([
    Type.Integer({ minimum: 0, maximum: 10 }),
    Type.Object({
      attempts: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Retries after the first try (each on another target when there is one). Default 2.' }),
      statuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), { default: [503], description: 'Upstream statuses that are retried, besides connection failures. Default [503].' }),
      methods: Type.Array(Type.String({ pattern: '^[A-Z]+$' }), {
        default: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
        description: 'Methods that may be retried. Default: the idempotent ones (GET, HEAD, OPTIONS, PUT, DELETE). A request with a body is retried only on connection failure.',
      }),
      budget: Type.Number({ minimum: 0, maximum: 1, default: 0.2, description: 'Retries may not exceed this share of the service\'s requests over 10 s (plus 10 per second, so a quiet service can still retry). Default 0.2.' }),
    }, { additionalProperties: false }),
  ], { default: 2, description: 'Retries: a count (idempotent methods; connection failures and 503) or the full object. Default 2.' }),
  healthCheck: Type.Optional(Type.Object({
    path: Type.String({ pattern: '^/', description: 'Path probed with GET on each target.' }),
    interval: Duration('Time between probes of one target. Default 5s.', '5s'),
    timeout: Duration('Time a probe may take. Default 2s.', '2s'),
    healthy: Type.Integer({ minimum: 1, default: 2, description: 'Consecutive successful probes that re-admit an ejected target. Default 2.' }),
    unhealthy: Type.Integer({ minimum: 1, default: 3, description: 'Consecutive failed probes that eject a target. Default 3.' }),
    statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, description: 'Statuses that count as healthy. Default: any 2xx or 3xx.' })),
  }, { additionalProperties: false, description: 'Active health checking. Off unless set.' })),
  passiveHealth: Type.Object({
    enabled: Type.Boolean({ default: true, description: 'Whether real traffic can eject a target. Default true.' }),
    failures: Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures (connection errors, timeouts, or `statuses`) that eject a target. Default 5.' }),
    cooldown: Duration('How long an ejected target rests before one trial request. Doubles on each failed trial. Default 30s.', '30s'),
    maxCooldown: Duration('Upper bound of the doubled cooldown. Default 5m.', '5m'),
    statuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), { default: [502, 503, 504], description: 'Upstream statuses that count as failures. Default [502, 503, 504].' }),
  }, { additionalProperties: false, default: {}, description: 'Passive health (outlier ejection) from real traffic. On by default. If every target is ejected, traffic goes to them anyway (panic mode) rather than failing.' }),
  circuitBreaker: Type.Optional(Type.Object({
    failures: Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failed requests to the service that open the circuit. Default 5.' }),
    cooldown: Duration('How long the circuit stays open (answering 503 with Retry-After) before trial requests. Default 30s.', '30s'),
    halfOpenRequests: Type.Integer({ minimum: 1, default: 1, description: 'Trial requests let through at once while half-open. Default 1.' }),
  }, { additionalProperties: false, description: 'Circuit breaker for the whole service. Off unless set.' })),
  tls: Type.Optional(Type.Object({
    ca: Type.Optional(Type.String({ description: 'PEM file of the CA that signed the targets\' certificates (relative to the config file).' })),
    servername: Type.Optional(Type.String({ description: 'SNI name and certificate name to verify, when it differs from the target host.' })),
    insecureSkipVerify: Type.Boolean({ default: false, description: 'Accept any certificate. For tests only. Default false.' }),
    cert: Type.Optional(Type.String({ description: 'PEM file of the client certificate the gateway presents to the targets (mutual TLS), with `key` (relative to the config file). Default: none.' })),
    key: Type.Optional(Type.String({ description: 'PEM file of the private key of `cert` (relative to the config file).' })),
  }, { additionalProperties: false, description: 'Settings for https:// targets. The files are read again on every config reload.' })),
  protocol: Type.Union([Type.Literal('http1'), Type.Literal('h2')], {
    default: 'http1',
    errorMessage: 'must be http1 or h2',
    description: 'Protocol spoken to the targets: `http1` (default) or `h2` (HTTP/2: by ALPN for https:// targets, by prior knowledge (h2c) for http:// ones). gRPC services need `h2`; response trailers (`grpc-status`) are passed to the client. Up to 100 requests share one connection; a request with a streamed body (every gRPC call) has a connection to itself while others are in flight, so `pool.connections` bounds such calls in flight per target.',
  }),
  pool: Type.Object({
    connections: Type.Integer({ minimum: 1, default: 256, description: 'Most connections open to one target. Default 256.' }),
    keepAlive: Duration('How long an idle upstream connection is kept. Default 4s (below the common 5s of Node servers, so the gateway closes first).', '4s'),
  }, { additionalProperties: false, default: {}, description: 'Connection pool to each target.' }),
  removeResponseHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
    default: [],
    description: 'Response headers removed before the client sees them, besides `Server` and `X-Powered-By`, which are always removed.',
  }),
  critical: Type.Boolean({ default: false, description: 'Whether the gateway is ready only while this service has an available target: /readyz on the admin listener answers 503 otherwise. Default false.' }),
}, { additionalProperties: false });

/** ServiceConfig is a validated service entry. */
export type ServiceConfig = Static<typeof ServiceSchema>;
/** TargetConfig is one validated target entry. */
export type TargetConfig = Static<typeof TargetSchema>;
