/**
 * The schema of `plans:`: named bundles of rate limits, a quota and a price that consumers subscribe to with
 * `plan: NAME`. Descriptions here are the user documentation.
 */
import { Type, type Static } from '@sinclair/typebox';
import { RateLimitSchema } from '../features/rate-limit/schema.js';
import { QuotaPeriod, TimeZone } from '../features/quota/schema.js';
import { PricingSchema } from '../billing/schema.js';

/** PlanSchema is one entry under `plans:`. */
export const PlanSchema = Type.Object({
  'rate-limit': Type.Optional({ ...RateLimitSchema, description: 'Rate limits for the plan\'s consumers, replacing the route\'s own on every route that has `rate-limit`.' }),
  quota: Type.Optional(Type.Object({
    limit: Type.Integer({ minimum: 1, description: 'Calls allowed per period.' }),
    per: QuotaPeriod,
  }, { additionalProperties: false, description: 'Calls per calendar period for each consumer of the plan, on every route that has `quota`.' })),
  pricing: Type.Optional(PricingSchema),
  timeZone: { ...TimeZone, description: 'IANA time zone of the plan\'s calendar: quota periods and statement periods start at local midnight there (`America/New_York`). Default UTC.' },
}, { additionalProperties: false });

/** PlansSchema is the top-level `plans:` key. */
export const PlansSchema = Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }), PlanSchema, {
  default: {},
  description: 'Plans by name: rate limits, quota and pricing that consumers take with `plan: NAME`. See docs/rate-limits.md and docs/billing.md.',
});

/** PlanConfig is one validated plan. */
export type PlanConfig = Static<typeof PlanSchema>;
