/**
 * The schema of `quota`: calls per calendar day or month, counted per consumer across every route that
 * carries the feature, reset at local midnight in a configured time zone.
 */
import { Type, type Static } from '@sinclair/typebox';

/** QuotaPeriod is the calendar unit of a quota. */
export const QuotaPeriod = Type.Union([Type.Literal('day'), Type.Literal('month')], {
  default: 'month',
  description: 'Calendar period the quota counts over: `day` or `month` (default), starting at local midnight in `timeZone`.',
  errorMessage: 'must be day or month',
});

/** TimeZone is an IANA time zone name, checked at load. */
export const TimeZone = Type.String({
  default: 'UTC',
  description: 'IANA time zone whose calendar sets the period boundaries (`Europe/Berlin`). Default UTC.',
});

/** QuotaSchema is the `quota` key of a route, service or `defaults`. */
export const QuotaSchema = Type.Object({
  limit: Type.Optional(Type.Integer({
    minimum: 1,
    description: 'Calls allowed per period. Without it only callers whose plan has a quota are limited.',
  })),
  per: QuotaPeriod,
  timeZone: TimeZone,
  by: Type.Union([Type.Literal('consumer'), Type.Literal('ip')], {
    default: 'consumer',
    description: 'Whose calls are counted together: `consumer` (default; callers without one are counted by trusted client IP) or `ip`.',
    errorMessage: 'must be consumer or ip',
  }),
}, {
  additionalProperties: false,
  description: 'Calls per calendar day or month, shared by every route with a quota. A caller whose plan sets `quota` gets the plan\'s quota (in the plan\'s time zone) instead. When spent: 429 `GH_QUOTA_EXCEEDED` with `Retry-After` and `resetAt`. Responses carry the quota as the `quota` policy of `RateLimit-Policy` and `RateLimit`. See docs/rate-limits.md.',
});

/** QuotaConfig is a validated `quota` value. */
export type QuotaConfig = Static<typeof QuotaSchema>;
