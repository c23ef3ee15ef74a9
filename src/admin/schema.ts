/**
 * The schema of `admin:`, the operators' listener: health and readiness probes and Prometheus metrics (the
 * admin API and dashboard will live here too). Descriptions are the user documentation.
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
}, { additionalProperties: false, description: 'The admin listener: GET /healthz (alive), /readyz (config loaded, store reachable, a healthy target for every `critical` service) and /metrics (Prometheus). Off unless set.' });

/** AdminConfig is a validated `admin:` block. */
export type AdminConfig = Static<typeof AdminSchema>;
