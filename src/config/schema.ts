/**
 * The whole config schema, assembled from the core's own keys and each feature's schema. This one schema
 * gives the runtime validation (compiled once), the TypeScript types and the JSON Schema for editors
 * (`gatehouse schema`).
 */
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { FEATURES } from '../features/index.js';
import type { FeatureScope } from '../core/feature.js';
import { ServiceSchema } from '../upstreams/schema.js';
import { Duration, Size, HEADER_NAME_PATTERN } from './units.js';
import { AuthEntrySchema, ConsumerSchema } from '../identity/schema.js';
import { StoreSchema } from '../stores/schema.js';
import { PlansSchema } from '../plans/schema.js';
import { MeteringSchema } from '../metering/schema.js';
import { LogSchema } from '../observability/log-schema.js';
import { AdminSchema } from '../admin/schema.js';
import { TracingSchema } from '../observability/tracing-schema.js';
import { MetricsSchema } from '../observability/metrics-schema.js';
import { BACKENDS } from '../backends/index.js';
import { SplitSchema } from '../backends/split.js';
import { MirrorSchema } from '../backends/mirror.js';
import { WebSocketSchema } from '../backends/websocket/schema.js';
import { ClientCertsSchema, H2Schema, HstsSchema, ListenTlsSchema, RedirectHttpSchema } from '../listen/schema.js';

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const HEADER_NAME = HEADER_NAME_PATTERN;

function backendProperties(): TProperties {
  const props: TProperties = {};
  for (const b of BACKENDS) props[b.key] = Type.Optional(b.schema);
  return props;
}

function featureProperties(scope: FeatureScope): TProperties {
  const props: TProperties = {};
  for (const f of FEATURES) if (f.scopes.includes(scope)) props[f.key] = Type.Optional(f.schema);
  return props;
}

const BodyLimit = Size('Largest request body accepted, counted as bytes arrive (chunked bodies too); larger → 413. Default 1mb.');

/** MatchSchema is a route's `match:` block: every condition given must hold. */
export const MatchSchema = Type.Object({
  host: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
    description: 'Host name(s), exact (`api.example.com`) or one leading wildcard label (`*.example.com`, which does not match `example.com` itself). Case-insensitive; a port in the request\'s Host is ignored.',
  })),
  path: Type.String({
    pattern: '^/',
    default: '/*',
    description: 'Path pattern: exact (`/health`), parameters (`/users/:id`, one segment each), or a prefix ending in `/*` (`/v1/users/*` matches `/v1/users` and everything below it). Default `/*`.',
    errorMessage: 'must start with /',
  }),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$', errorMessage: 'must be an upper-case method name' }), {
    minItems: 1, description: 'Methods accepted (`GET`, `POST`, ...). Default: all. `HEAD` is accepted wherever `GET` is.',
  })),
  headers: Type.Optional(Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String(), {
    description: 'Request headers that must be present with exactly this value; the value `*` means present with any value.',
  })),
  query: Type.Optional(Type.Record(Type.String(), Type.String(), {
    description: 'Query parameters that must be present with exactly this value; `*` means present with any value.',
  })),
  version: Type.Optional(Type.Union([
    Type.Object({
      header: Type.String({ pattern: HEADER_NAME, description: 'Header carrying the version (`api-version`).' }),
      value: Type.String({ description: 'The version this route serves (`"2"`).' }),
    }, { additionalProperties: false }),
    Type.Object({
      mediaType: Type.String({
        pattern: '^[a-z]+/[a-z0-9.+-]+$',
        description: 'Vendor media type this route serves, matched against `Accept` (`application/vnd.acme.v2+json`).',
      }),
    }, { additionalProperties: false }),
  ], { description: 'API version selected by a header or by a media type in `Accept`. Versions in the path are plain path prefixes (`/v2/*`).' })),
}, { additionalProperties: false, default: {}, description: 'Which requests the route takes: every condition given must hold. Default: every request (`path: /*`).' });

/** RouteSchema is one entry of `routes:`. */
export const RouteSchema = Type.Object({
  name: Type.String({ pattern: NAME_PATTERN, description: 'Unique route name, used in logs, metrics and the admin API.' }),
  match: MatchSchema,
  service: Type.Optional(Type.String({ description: 'Name of the service under `services:` that answers this route (the proxy). A route names exactly one backend: `service`, `aggregate`, `function` or `static`.' })),
  ...backendProperties(),
  split: Type.Optional(SplitSchema),
  mirror: Type.Optional(MirrorSchema),
  websocket: Type.Optional(WebSocketSchema),
  priority: Type.Optional(Type.Integer({
    description: 'Explicit priority: routes with a higher priority are tried first. Without one, the most specific route wins (see docs/routing.md).',
  })),
  'body-limit': Type.Optional(BodyLimit),
  ...featureProperties('route'),
}, { additionalProperties: false });

/** LimitsSchema holds the listener's protective limits (docs/security.md explains each). */
export const LimitsSchema = Type.Object({
  url: Size('Longest request line target; longer → 414. Default 8kb.', '8kb'),
  headers: Size('Largest size of all request headers together (names and values); larger → 431. Default 16kb.', '16kb'),
  header: Size('Largest single header (name and value); larger → 431. Default 8kb.', '8kb'),
  headerCount: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Most request headers, counted from the raw headers; more → 431. Default 100.' }),
  headersTimeout: Duration('Time to receive the request headers; past it the connection is closed. Default 10s.', '10s'),
  requestTimeout: Duration('Time to receive the whole request; past it → 408. Default 30s.', '30s'),
  bodyIdleTimeout: Duration('Longest silence while a request body is arriving; past it → 408. Default 10s.', '10s'),
  keepAliveTimeout: Duration('How long an idle client connection is kept open. Default 5s.', '5s'),
  requestsPerConnection: Type.Integer({ minimum: 0, default: 1000, description: 'Requests served on one client connection before it is closed (0: no limit). Default 1000.' }),
  connections: Type.Integer({ minimum: 1, default: 10000, description: 'Client connections open at once; more are refused. Default 10000.' }),
  connectionsPerIp: Type.Integer({ minimum: 1, default: 1000, description: 'Client connections open at once from one IP address; more are refused. Default 1000.' }),
  body: { ...BodyLimit, default: '1mb' },
}, { additionalProperties: false, default: {}, description: 'Protective limits on clients. Every limit has a safe default.' });

/** ConfigSchema is the whole `gatehouse.yaml`. */
export const ConfigSchema = Type.Object({
  $schema: Type.Optional(Type.String({ description: 'Path or URL of the JSON Schema, for editors. Ignored by the gateway.' })),
  listen: Type.Object({
    host: Type.String({ default: '0.0.0.0', description: 'Address to listen on. Default 0.0.0.0 (all IPv4 interfaces).' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'Port to listen on (0: any free port). Default 8080.' }),
    shutdownTimeout: Duration('On SIGTERM/SIGINT, how long requests in flight may take to finish before connections are cut. Default 30s.', '30s'),
    tls: Type.Optional(ListenTlsSchema),
    http2: Type.Boolean({ default: true, description: 'With `tls`: offer HTTP/2 by ALPN (`h2`), with HTTP/1.1 for clients that do not speak it. Every request takes the same path (routing, auth, limits) on either. Ignored without `tls` (plain listeners speak HTTP/1.1). Default true.' }),
    h2: H2Schema,
    clientCerts: Type.Optional(ClientCertsSchema),
    hsts: Type.Optional(HstsSchema),
    redirectHttp: Type.Optional(RedirectHttpSchema),
  }, { additionalProperties: false, default: {}, description: 'Where clients connect. A change here takes effect at the next restart, except the certificate files, `clientCerts` and `hsts`, which a reload applies to new connections.' }),
  limits: LimitsSchema,
  admin: Type.Optional(AdminSchema),
  log: LogSchema,
  tracing: TracingSchema,
  metrics: MetricsSchema,
  trustedProxies: Type.Array(Type.String({
    pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$',
    errorMessage: 'must be an IP address or a CIDR range (10.0.0.0/8, ::1)',
  }), { default: [], description: 'Addresses (IPs or CIDR ranges) of proxies in front of Gatehouse whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are believed. Default: none, so the client IP is the socket\'s and those headers are replaced.' }),
  store: StoreSchema,
  routing: Type.Object({
    caseSensitive: Type.Boolean({ default: true, description: 'Whether path patterns match case-sensitively. Default true. With false, `/ADMIN` matches a route for `/admin` (and is forwarded as sent).' }),
  }, { additionalProperties: false, default: {}, description: 'Route matching options.' }),
  defaults: Type.Object({
    'body-limit': Type.Optional(BodyLimit),
    ...featureProperties('defaults'),
  }, { additionalProperties: false, default: {}, description: 'Feature settings applied to every route that does not set them (a service\'s own setting comes between).' }),
  consumers: Type.Record(Type.String({ pattern: NAME_PATTERN }), ConsumerSchema, {
    default: {}, description: 'Known callers by id, with their groups, plan and credentials (stored as hashes).',
  }),
  auth: Type.Record(Type.String({ pattern: NAME_PATTERN }), AuthEntrySchema, {
    default: {}, description: 'Named authenticators that routes refer to (`auth: [name, ...]`), each with exactly one method.',
  }),
  plans: PlansSchema,
  metering: MeteringSchema,
  services: Type.Record(Type.String({ pattern: NAME_PATTERN }), serviceWithFeatures(ServiceSchema), {
    default: {}, description: 'Backend services by name.',
  }),
  routes: Type.Array(RouteSchema, { default: [], description: 'Routes, matched by specificity (see docs/routing.md).' }),
}, { additionalProperties: false });

/** A service entry accepts its own keys plus the features allowed on services (typed as the base: features are read generically). */
function serviceWithFeatures<T extends TObject>(base: T): T {
  return Type.Object({ ...base.properties, 'body-limit': Type.Optional(BodyLimit), ...featureProperties('service') }, { additionalProperties: false }) as unknown as T;
}

/** GatehouseConfig is a validated config with defaults applied. */
export type GatehouseConfig = Static<typeof ConfigSchema>;
/** RouteConfig is one validated route. */
export type RouteConfig = Static<typeof RouteSchema>;
/** MatchConfig is one validated `match:` block. */
export type MatchConfig = Static<typeof MatchSchema>;

/** jsonSchema returns the JSON Schema document for editors (`gatehouse schema`). */
export function jsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Gatehouse configuration',
    ...withoutDefaultedRequired(JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>),
  };
}

/** Keys that have a default are optional for the user: drop them from `required` in the editor schema. */
function withoutDefaultedRequired(node: Record<string, unknown>): Record<string, unknown> {
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) v.forEach((x) => { if (x && typeof x === 'object') withoutDefaultedRequired(x as Record<string, unknown>); });
    else if (v && typeof v === 'object') withoutDefaultedRequired(v as Record<string, unknown>);
  }
  const props = node.properties as Record<string, { default?: unknown }> | undefined;
  if (props && Array.isArray(node.required)) {
    node.required = (node.required as string[]).filter((k) => props[k]?.default === undefined);
    if ((node.required as string[]).length === 0) delete node.required;
  }
  return node;
}
