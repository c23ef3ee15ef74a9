/**
 * Plans compiled once per config generation: what `rate-limit`, `quota` and billing read for a consumer's
 * plan. Config problems the schema cannot express (a consumer naming no plan, an unknown time zone, pricing
 * rules) are reported with their key paths.
 */
import type { PlanConfig } from './schema.js';
import type { RateLimitConfig } from '../features/rate-limit/schema.js';
import { checkPricing, compilePricing, type Pricing } from '../billing/schema.js';
import { isValidTimeZone } from '../billing/calendar.js';
import { checkLimits } from '../features/rate-limit/limits.js';
import { splitRelative } from '../config/errors.js';

/** Plan is one compiled plan. */
export interface Plan {
  readonly name: string;
  readonly rateLimit: RateLimitConfig | null;
  readonly quota: { readonly limit: number; readonly per: 'day' | 'month' } | null;
  readonly timeZone: string;
  readonly pricing: Pricing | null;
}

/** PlanIndex looks plans up by name. */
export class PlanIndex {
  readonly #plans: ReadonlyMap<string, Plan>;

  constructor(config: Readonly<Record<string, PlanConfig>>) {
    const plans = new Map<string, Plan>();
    for (const [name, p] of Object.entries(config)) {
      plans.set(name, {
        name,
        rateLimit: p['rate-limit'] ?? null,
        quota: p.quota ?? null,
        timeZone: p.timeZone,
        pricing: p.pricing === undefined ? null : compilePricing(p.pricing),
      });
    }
    this.#plans = plans;
  }

  /** get returns the plan of that name, or undefined. */
  get(name: string): Plan | undefined { return this.#plans.get(name); }

  /** all lists every plan. */
  all(): IterableIterator<Plan> { return this.#plans.values(); }
}

/** checkPlans returns [key path, message] problems of `plans:` and of consumers' `plan:` references. */
export function checkPlans(plans: Readonly<Record<string, PlanConfig>>, consumers: Readonly<Record<string, { plan?: string }>>): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [];
  for (const [name, p] of Object.entries(plans)) {
    if (!isValidTimeZone(p.timeZone)) out.push([['plans', name, 'timeZone'], `unknown time zone "${p.timeZone}" (an IANA name such as Europe/Berlin or UTC)`]);
    if (p['rate-limit'] !== undefined) for (const [rel, msg] of checkLimits(p['rate-limit'])) out.push([['plans', name, 'rate-limit', ...rel], msg]);
    if (p.pricing !== undefined) for (const [rel, msg] of checkPricing(p.pricing)) out.push([['plans', name, 'pricing', ...splitRelative(rel)], msg]);
  }
  const names = Object.keys(plans);
  for (const [id, c] of Object.entries(consumers)) {
    if (c.plan !== undefined && !(c.plan in plans)) {
      out.push([['consumers', id, 'plan'], `unknown plan "${c.plan}"${names.length ? ` (plans: ${names.join(', ')})` : ' (there is no `plans:` section)'}`]);
    }
  }
  return out;
}
