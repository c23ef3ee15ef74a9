/**
 * The schema of `admin:`, the operators' listener: health and readiness probes, Prometheus metrics, the admin API
 * and the dashboard. Descriptions are the user documentation.
 */
import { Type, type Static } from '@sinclair/typebox';

/** AdminSchema is the top-level `admin:` key; without it there is no admin listener. */
export const AdminSchema = Type.Object({
  host: Type.String({ default: '127.0.0.1', description: 'Address of the admin listener. Default 127.0.0.1 (this machine only); any other address requires `token`.' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 9080, description: 'Port of the admin listener (0: any free port). Default 9080.' }),
  token: Type.Optional(Type.String({
    minLength: 16,
    description: 'Bearer token required on every admin endpoint except /healthz and /readyz (`Authorization: Bearer <token>`), at least 16 characters. Required when `host` is not a loopback address; write it as `${GATEHOUSE_ADMIN_TOKEN}`.',
  })),
  changes: Type.Union([Type.Literal('file'), Type.Literal('readonly'), Type.Literal('redis')], {
    default: 'file',
    description: 'Where changes made through the admin API live: `file` (default) rewrites the config file atomically, keeping its comments (a read-only file refuses changes with 409); `readonly` refuses every change (the file is the only source); `redis` keeps the config in the Redis of `store: { redis }`, versioned and shared: every instance on the same Redis and key prefix applies a change within a second, and at start the config in Redis wins over the file (the file is stored as version 1 when Redis has none).',
    errorMessage: 'must be file, readonly or redis',
  }),
}, { additionalProperties: false, description: 'The admin listener: GET /healthz (alive), /readyz (config loaded, store reachable, a healthy target for every `critical` service), /metrics (Prometheus), the admin API under /api/ (its OpenAPI document at /openapi.json; send `X-Gatehouse-Actor: NAME` to name yourself in the audit log) and the dashboard at /. Off unless set.' });

/** AdminConfig is a validated `admin:` block. */
export type AdminConfig = Static<typeof AdminSchema>;
