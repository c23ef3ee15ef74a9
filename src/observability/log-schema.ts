/**
 * The schema of `log:`: the event log's level and the access log (one JSON line per request). Descriptions
 * here are the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/units.js';

/** AccessLogSchema is `log.access`. */
export const AccessLogSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'Write one line per request. Default true.' }),
  file: Type.Optional(Type.String({ minLength: 1, description: 'File to append access lines to (relative to the config file), instead of stdout. Created if missing.' })),
  sample: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of ordinary requests logged (0 to 1). Errors (status >= 400 or a gateway error code) and slow requests are always logged. Default 1 (all).' }),
  slow: Duration('Requests taking longer than this are always logged and marked `slow: true`. Default 1s.', '1s'),
  redactQuery: Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description: 'Query parameter names whose values are written as `[REDACTED]` (`token`, `signature`). Credential parameters of the `auth:` methods are always redacted. Default: none besides those.',
  }),
}, { additionalProperties: false, default: {}, description: 'The access log. Never written: headers (so no `Authorization`, cookies or API keys), request or response bodies.' });

/** LogSchema is the top-level `log:` key. */
export const LogSchema = Type.Object({
  level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
    default: 'info',
    description: 'Level of the event log (config loaded, reload refused, target ejected, store down, ...). `GATEHOUSE_LOG_LEVEL` overrides it. Default info.',
    errorMessage: 'must be one of fatal, error, warn, info, debug, trace, silent',
  }),
  access: AccessLogSchema,
}, { additionalProperties: false, default: {}, description: 'Logging. Lines are JSON on stdout; `gatehouse start --pretty` renders them for a terminal.' });

/** LogConfig is a validated `log:` block. */
export type LogConfig = Static<typeof LogSchema>;
/** AccessLogConfig is a validated `log.access` block. */
export type AccessLogConfig = Static<typeof AccessLogSchema>;
