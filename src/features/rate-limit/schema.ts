/**
 * The schema of `rate-limit`: one limit or a list of them, on a route, a service, under `defaults` or in a
 * plan. Descriptions here are the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../../config/units.js';

/** KEY_PART is one part of a limit's key: whose requests are counted together. */
const KeyPart = Type.String({
  pattern: '^(consumer|ip|route|header:[A-Za-z0-9!#$%&\'*+.^_`|~-]+)$',
  errorMessage: 'must be consumer, ip, route or header:NAME',
});

/** RateLimitEntrySchema is one limit: `{ limit: 10, per: 1s, by: consumer }`. */
export const RateLimitEntrySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests allowed per window.' }),
  per: Duration('Length of the window (`1s`, `1m`, `1h`, `1d`); at least 1s.'),
  by: Type.Union([KeyPart, Type.Array(KeyPart, { minItems: 1, maxItems: 4, uniqueItems: true })], {
    default: 'consumer',
    description: 'Whose requests share one counter: `consumer` (the authenticated consumer; the trusted client IP for callers without one), `ip` (the trusted client IP), `route` (every caller together), `header:NAME` (a request header\'s value; callers without it are counted by IP), or a list of these combined. Every key is also scoped by the route\'s name, so path variants of one route share a counter. Default `consumer`.',
  }),
  algorithm: Type.Union([Type.Literal('sliding-window'), Type.Literal('fixed-window'), Type.Literal('token-bucket')], {
    default: 'sliding-window',
    description: '`sliding-window` (default: a weighted pair of fixed windows, no double burst at window edges), `fixed-window` (counters reset on whole multiples of `per`), or `token-bucket` (GCRA: `limit` requests per `per`, bursts up to `limit`, refilled smoothly).',
    errorMessage: 'must be sliding-window, fixed-window or token-bucket',
  }),
  name: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]{1,32}$',
    description: 'Name of the policy in the `RateLimit-Policy` and `RateLimit` headers. Default: `<limit>-per-<per>` (`10-per-1s`).',
    errorMessage: 'must be 1 to 32 letters, digits or _ . -',
  })),
  legacyHeaders: Type.Boolean({
    default: false,
    description: 'Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds) for the limit closest to running out. Default false.',
  }),
}, { additionalProperties: false });

/** RateLimitSchema is the `rate-limit` key: one limit or several, all of which must allow a request. */
export const RateLimitSchema = Type.Union([RateLimitEntrySchema, Type.Array(RateLimitEntrySchema, { minItems: 1, maxItems: 8 })], {
  description: 'Rate limits: one (`{ limit: 10, per: 1s }`) or a list that must all allow a request (`[{ limit: 10, per: 1s }, { limit: 1000, per: 1h }]`). A caller whose plan sets `rate-limit` gets the plan\'s limits instead. Over a limit: 429 `GH_RATE_LIMITED` with `Retry-After`. Every response of a limited route carries `RateLimit-Policy` and `RateLimit` (IETF draft). See docs/rate-limits.md.',
});

/** RateLimitEntryConfig is one validated limit. */
export type RateLimitEntryConfig = Static<typeof RateLimitEntrySchema>;
/** RateLimitConfig is a validated `rate-limit` value. */
export type RateLimitConfig = Static<typeof RateLimitSchema>;

/** entriesOf turns the one-or-many form into a list. */
export function entriesOf(config: RateLimitConfig): readonly RateLimitEntryConfig[] {
  return Array.isArray(config) ? config : [config];
}
