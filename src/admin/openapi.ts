/**
 * The OpenAPI 3.1 document of the admin API, as data, served at /openapi.json. test/admin-api.test.ts keeps
 * it true: every documented operation is served, every served /api/ route is documented, and live answers
 * and the examples here validate against the schemas. Schemas are written inline (no $ref) so each one can
 * be checked on its own.
 */

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const strList: Schema = { type: 'array', items: str };
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), extra: Schema = {}): Schema =>
  ({ type: 'object', properties, required, ...extra });
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });

const Problem = obj({
  type: str, title: str, status: int, code: str, detail: str,
  errors: { type: 'array', items: obj({ in: str, field: str, message: str }) },
}, ['type', 'title', 'status', 'code']);

const Status = { status: { enum: ['active', 'refused'], description: '`refused`: the last config read from the source (a hand edit, another instance) had problems with this element and was not applied; the live version keeps serving.' }, problems: strList };

const Overview = obj({
  version: { ...int, description: 'Version of the config live now (the `ETag`; send it as `If-Match`).' },
  generation: { ...int, description: 'Compiled generation of the running gateway (grows on every reload).' },
  source: { enum: ['file', 'redis'] },
  writable: bool,
  readonlyReason: str,
  routes: int, services: int, consumers: int, plans: int,
  startedAt: { ...str, format: 'date-time' },
  refused: nullable(obj({ at: str, version: int, problems: strList })),
}, ['version', 'generation', 'source', 'writable', 'routes', 'services', 'consumers', 'plans', 'startedAt', 'refused']);

const RouteItem = obj({
  name: str,
  match: { type: 'object' },
  backend: obj({ kind: str, service: str }, ['kind']),
  features: { ...strList, description: 'YAML keys of the route other than name, match, priority, websocket and its backend (`auth`, `rate-limit`, ...).' },
  websocket: bool,
  ...Status,
}, ['name', 'match', 'backend', 'features', 'websocket', 'status']);
const Target = obj({ url: str, weight: { type: 'number' }, healthy: bool, ejected: bool, available: bool, active: int });
const ServiceItem = obj({
  name: str, ...Status, routes: strList, critical: bool,
  circuit: nullable({ enum: ['closed', 'open', 'half-open'] }),
  targets: { type: 'array', items: Target },
}, ['name', 'status', 'routes', 'critical', 'circuit', 'targets']);
const ConsumerItem = obj({
  id: str, ...Status, groups: strList, plan: nullable(str), metadata: { type: 'object', additionalProperties: str },
  credentials: obj({
    keys: { type: 'array', items: obj({ id: { ...str, pattern: '^sha256:[0-9a-f]{12}…$' }, expires: nullable(str) }) },
    jwt: nullable(obj({ subject: str, issuer: nullable(str) })),
    basic: nullable(obj({ username: str })),
    certificates: int,
  }),
}, ['id', 'status', 'groups', 'plan', 'metadata', 'credentials']);
const PlanItem = obj({
  name: str, ...Status, consumers: strList, timeZone: str, rateLimit: bool, quota: nullable({ type: 'object' }), pricing: bool,
}, ['name', 'status', 'consumers', 'timeZone', 'rateLimit', 'quota', 'pricing']);
const withConfig = (s: Schema): Schema => ({
  ...s,
  properties: { ...(s.properties as Schema), config: { description: 'The element as written in the config (`${VAR}` references kept), secrets masked.' } },
  required: [...(s.required as string[]), 'config'],
});

const Changed = obj({ version: int, name: str });
const Deleted = obj({ version: int });
const AuditEntry = obj({
  version: int, at: str, actor: str,
  action: { enum: ['create', 'update', 'delete', 'rollback', 'reload'] },
  kind: { enum: ['route', 'service', 'consumer', 'credential', 'plan', 'config'] },
  name: str, summary: str,
});
const Version = obj({ version: int, at: str, actor: str, summary: str });
const UsageRow = obj({ hour: str, consumer: str, route: str, status: str, count: int });
const Statement = obj({ consumer: str, plan: str, currency: str, period: { type: 'object' }, calls: int, total: str }, ['consumer', 'plan', 'currency', 'period', 'calls', 'total']);
const Stats = obj({
  at: int, windowS: int,
  routes: { type: 'array', items: obj({ route: str, rps: { type: 'number' }, p50Ms: { type: 'number' }, p99Ms: { type: 'number' }, errorRate: { type: 'number' }, total: int, series: { type: 'array' } }, ['route']) },
}, ['at', 'routes']);

const jsonBody = (schema: Schema, example?: unknown): Schema => ({ content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } } });
const ok = (description: string, schema: Schema, example?: unknown): Schema => ({ description, ...jsonBody(schema, example) });
const problems = (...codes: [number, string][]): Record<string, Schema> =>
  Object.fromEntries(codes.map(([status, d]) => [String(status), { description: d, content: { 'application/problem+json': { schema: Problem } } }]));
const common = problems([401, 'No or a wrong bearer token (when `admin.token` is set).'], [403, 'A foreign Origin or Host (a browser page of another site).']);
const writeErrors = problems(
  [409, '`GH_CONFIG_READONLY` (changes not allowed, `detail` says why) or `GH_CONFIG_CONFLICT` (exists already, or another writer changed the config meanwhile).'],
  [412, '`GH_CONFIG_VERSION_MISMATCH`: `If-Match` names another version.'],
  [422, '`GH_CONFIG_INVALID`: the same schema and compile checks as the file; `errors[].field` is a JSON pointer relative to the element sent.'],
  [503, '`GH_CONFIG_UNAVAILABLE`: the change could not be stored; nothing changed.'],
);
const notFound = problems([404, '`GH_CONFIG_NOT_FOUND`: no element by that name.']);
const param = (name: string, description: string): Schema => ({ name, in: 'path', required: true, schema: str, description });
const queryParam = (name: string, description: string, schema: Schema = str): Schema => ({ name, in: 'query', required: false, schema, description });
const ifMatch: Schema = { name: 'If-Match', in: 'header', required: false, schema: str, description: 'The version the change was made on (`"12"`, as the ETag gives it); another version → 412.' };
const actor: Schema = { name: 'X-Gatehouse-Actor', in: 'header', required: false, schema: str, description: 'A display name for the audit log (letters, digits, space and `.@_-`, at most 64 characters; others are dropped). The audit always records the token (or `anonymous`) and the client IP too.' };

/** crud documents the list, create, read, replace and delete operations of one kind of element. */
function crud(plural: string, one: string, p: string, item: Schema, body: string, example: Record<string, unknown>): Record<string, Schema> {
  const tag = plural;
  const elementBody = { required: true, description: body, ...jsonBody({ type: 'object' }, example) };
  return {
    [`/api/${plural}`]: {
      get: { tags: [tag], summary: `List ${plural} with their status`, responses: { 200: ok(`Every ${one}`, { type: 'array', items: item }), ...common } },
      post: { tags: [tag], summary: `Create a ${one} (\`${p}\` in the body)`, parameters: [ifMatch, actor], requestBody: elementBody, responses: { 201: ok('Created and live', Changed, { version: 8, name: String(example[p] ?? 'new') }), ...common, ...writeErrors } },
    },
    [`/api/${plural}/{${p}}`]: {
      get: { tags: [tag], summary: `One ${one}, with its config as written (secrets masked)`, parameters: [param(p, `The ${one}'s ${p}`)], responses: { 200: ok(`The ${one}`, withConfig(item)), ...common, ...notFound } },
      put: { tags: [tag], summary: `Create or replace a ${one}`, parameters: [param(p, `The ${one}'s ${p}`), ifMatch, actor], requestBody: elementBody, responses: { 200: ok('Replaced and live', Changed), 201: ok('Created and live', Changed), ...common, ...writeErrors } },
      delete: { tags: [tag], summary: `Delete a ${one}`, parameters: [param(p, `The ${one}'s ${p}`), ifMatch, actor], responses: { 200: ok('Deleted', Deleted, { version: 9 }), ...common, ...notFound, ...writeErrors } },
    },
  };
}

/** OPENAPI is the document served at /openapi.json. */
export const OPENAPI: Readonly<Record<string, unknown>> = {
  openapi: '3.1.0',
  info: {
    title: 'Gatehouse admin API',
    version: '1',
    description: 'Read and change the running gateway\'s config on the admin listener. Every change is validated like the config file (same schema, same messages), applied as one atomic swap (no request dropped), stored (the file rewritten, or Redis with `admin.changes: redis`) and written to the audit log. Secrets are never returned: API keys appear as `sha256:` and the first 12 hex digits of their hash, other secrets as `[REDACTED]`; a masked value sent back unchanged keeps the stored secret.',
  },
  servers: [{ url: 'http://127.0.0.1:9080' }],
  security: [{ bearer: [] }],
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: '`admin.token`; not needed when none is set (loopback only).' } } },
  paths: {
    '/api/overview': {
      get: {
        tags: ['config'], summary: 'Version, source, whether changes are allowed, element counts, the last refused config',
        responses: { 200: ok('The overview', Overview, { version: 7, generation: 9, source: 'file', writable: true, routes: 4, services: 2, consumers: 3, plans: 1, startedAt: '2026-11-02T09:00:00.000Z', refused: null }), ...common },
      },
    },
    '/api/config': { get: { tags: ['config'], summary: 'The whole config as written (`${VAR}` kept), secrets masked', responses: { 200: ok('The config', obj({ version: int, config: { type: 'object' } })), ...common } } },
    '/api/versions': { get: { tags: ['config'], summary: 'Stored versions, newest first', parameters: [queryParam('limit', 'At most this many (default 50).', int)], responses: { 200: ok('Versions', { type: 'array', items: Version }), ...common } } },
    '/api/rollback': {
      post: {
        tags: ['config'], summary: 'Make an earlier version live again (stored as a new version)', parameters: [ifMatch, actor],
        requestBody: { required: false, ...jsonBody(obj({ version: { ...int, minimum: 1 } }, [], { additionalProperties: false }), { version: 5 }) },
        responses: { 200: ok('Rolled back', Deleted, { version: 10 }), ...common, ...notFound, ...writeErrors },
      },
    },
    '/api/audit': {
      get: {
        tags: ['config'], summary: 'The audit log of changes, newest first', parameters: [queryParam('limit', 'At most this many (default 50, at most 1000).', int)],
        responses: { 200: ok('Audit entries', { type: 'array', items: AuditEntry }, [{ version: 8, at: '2026-11-02T10:15:00.000Z', actor: 'alice (admin-token@127.0.0.1)', action: 'update', kind: 'route', name: 'users-v1', summary: 'update route users-v1' }]), ...common },
      },
    },
    '/api/stats': { get: { tags: ['status'], summary: 'Requests per route: rate, latency, errors, the last 60 s', responses: { 200: ok('Statistics', Stats), ...common } } },
    '/api/cache/purge': {
      post: {
        tags: ['status'], summary: 'Delete a route\'s cached responses (all, or those under a path prefix)',
        parameters: [{ name: 'route', in: 'query', required: true, schema: str }, queryParam('prefix', 'Only paths under this prefix (starts with /).')],
        responses: { 200: ok('Purged', obj({ route: str, prefix: nullable(str), purged: int })), ...problems([400, 'No route given, a route without cache, or a bad prefix.'], [404, 'No route has this name.'], [503, 'The cache store cannot be reached.']), ...common },
      },
    },
    ...crud('routes', 'route', 'name', RouteItem, 'The route as it would appear under `routes:` in the YAML (`name` may be left out on PUT).', { name: 'orders', match: { path: '/orders/*' }, service: 'orders' }),
    ...crud('services', 'service', 'name', ServiceItem, 'The service as it would appear under `services.<name>:` in the YAML.', { name: 'orders', targets: ['http://10.0.0.5:8080'] }),
    ...crud('consumers', 'consumer', 'id', ConsumerItem, 'The consumer as it would appear under `consumers.<id>:` in the YAML; keys are hashes (masked key ids sent back are kept).', { id: 'acme', groups: ['partners'], plan: 'gold' }),
    '/api/consumers/{id}/keys': {
      post: {
        tags: ['consumers'], summary: 'Make a new API key for the consumer; the key is in this answer only, the config stores its hash',
        parameters: [param('id', 'The consumer'), ifMatch, actor],
        requestBody: { required: false, ...jsonBody(obj({ expires: str, prefix: str }, [], { additionalProperties: false }), { expires: '2027-01-01', prefix: 'gh_live_' }) },
        responses: { 201: ok('The key (shown once) and its id', obj({ key: str, id: str, version: int })), ...common, ...notFound, ...writeErrors },
      },
    },
    '/api/consumers/{id}/keys/{keyId}': {
      delete: {
        tags: ['consumers'], summary: 'Delete a key of the consumer by its id (`sha256:` and at least 12 hex digits)',
        parameters: [param('id', 'The consumer'), param('keyId', 'The key id as the API shows it (`sha256:2c26b46b68ff`)'), ifMatch, actor],
        responses: { 200: ok('Deleted', Deleted), ...problems([400, 'Not a key id.']), ...common, ...notFound, ...writeErrors },
      },
    },
    '/api/consumers/{id}/usage': {
      get: {
        tags: ['consumers'], summary: 'Metered requests by hour, route and status class (as `gatehouse usage --json`)',
        parameters: [param('id', 'The consumer (`-`: requests without one)'), queryParam('from', '2026-11-01 (UTC midnight) or an ISO timestamp with a zone; default the start of this month (UTC).'), queryParam('to', 'Same forms; default now.')],
        responses: { 200: ok('Usage rows', { type: 'array', items: UsageRow }), ...problems([400, 'Bad dates.'], [503, 'The store cannot be reached.']), ...common, ...notFound },
      },
    },
    '/api/consumers/{id}/statement': {
      get: {
        tags: ['consumers'], summary: 'The billing statement for a period of the consumer\'s plan (as `gatehouse statement`)',
        parameters: [param('id', 'The consumer'), queryParam('period', 'A month (2026-11) or a day (2026-11-22); default this month in the plan\'s time zone.')],
        responses: { 200: ok('The statement', Statement), ...problems([400, 'No plan, no pricing, or a bad period.'], [503, 'The store cannot be reached.']), ...common, ...notFound },
      },
    },
    ...crud('plans', 'plan', 'name', PlanItem, 'The plan as it would appear under `plans.<name>:` in the YAML.', { name: 'gold', quota: { limit: 100000, per: 'month' } }),
  },
};
