/**
 * `quota`: calls per calendar day or month, per consumer (or client IP), shared by every route that carries
 * the feature, reset at local midnight in the configured time zone (the plan's, for plan quotas). The counter
 * is a fixed window whose key names the period (`2026-11`), charged in one atomic step in the store. When it
 * is spent: 429 `GH_QUOTA_EXCEEDED` with `Retry-After` and the reset time. Each response carries the quota as
 * the `quota` policy of `RateLimit-Policy` / `RateLimit` (the draft allows several field lines, so a route
 * with `rate-limit` too shows both).
 */
import { defineFeature, type Feature, type FeatureContext } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import type { ConsumeResult, LimitCheck, Store } from '../../stores/types.js';
import type { Counters } from '../../stores/counters.js';
import type { Clock } from '../../core/clock.js';
import { calendarPeriod, isValidTimeZone, type CalendarPeriod, type CalendarUnit } from '../../billing/calendar.js';
import { QuotaSchema, type QuotaConfig } from './schema.js';
import { consumerKey, ipKey, LIMIT_HEADERS, storeUnavailable } from '../rate-limit/limits.js';

/** QuotaRule is one quota (the route's or a plan's) with its current calendar period cached. */
export class QuotaRule {
  readonly limit: number;
  readonly unit: CalendarUnit;
  readonly timeZone: string;
  readonly byIp: boolean;
  /** The period that contained the last request; recomputed only when time leaves it (Intl is slow). */
  period: CalendarPeriod | null;

  constructor(limit: number, unit: CalendarUnit, timeZone: string, byIp: boolean) {
    this.limit = limit;
    this.unit = unit;
    this.timeZone = timeZone;
    this.byIp = byIp;
    this.period = null;
  }

  /** periodAt returns the calendar period containing `now`. */
  periodAt(now: number): CalendarPeriod {
    const p = this.period;
    if (p !== null && now >= p.start && now < p.end) return p;
    return (this.period = calendarPeriod(now, this.unit, this.timeZone));
  }
}

/** QuotaFeature charges each request to the caller's quota for the current period. */
export class QuotaFeature implements Feature {
  readonly name = 'quota';
  /** An upstream's own rate-limit headers would contradict the gateway's: they never reach the client. */
  readonly removeResponseHeaders = LIMIT_HEADERS;
  readonly own: QuotaRule | null;
  readonly byPlan: ReadonlyMap<string, QuotaRule>;
  readonly #store: Store;
  readonly #counters: Counters;
  readonly #now: Clock;

  constructor(config: QuotaConfig, ctx: FeatureContext) {
    this.own = config.limit === undefined ? null : new QuotaRule(config.limit, config.per, config.timeZone, config.by === 'ip');
    const byPlan = new Map<string, QuotaRule>();
    // Plan quotas count per consumer, whatever `by` the route says: a plan belongs to a consumer.
    for (const p of ctx.plans.all()) if (p.quota !== null) byPlan.set(p.name, new QuotaRule(p.quota.limit, p.quota.per, p.timeZone, false));
    this.byPlan = byPlan;
    this.#counters = ctx.counters;
    this.#store = ctx.counters.store;
    this.#now = ctx.counters.wallClock;
  }

  onRequest(ex: Exchange): void | Promise<void> {
    const plan = ex.identity?.consumer?.plan;
    const rule = (plan == null ? undefined : this.byPlan.get(plan)) ?? this.own;
    if (rule === null) return;
    const now = this.#now();
    const period = rule.periodAt(now);
    const check: LimitCheck = {
      // The period's UTC start, not its local date: quotas in different time zones never share a counter.
      key: `q:${rule.unit}:${callerOf(rule, ex)}:${period.start}`,
      algorithm: 'fixed-window',
      limit: rule.limit,
      windowMs: period.end - period.start,
      windowEnd: period.end,
    };
    let result: ConsumeResult | Promise<ConsumeResult>;
    try {
      result = this.#store.consume([check], now, 1);
    } catch {
      storeUnavailable(ex, this.#counters.failMode);
      return;
    }
    if (result instanceof Promise) return this.#settle(ex, rule, period, now, result);
    this.#apply(ex, rule, period, now, result);
  }

  async #settle(ex: Exchange, rule: QuotaRule, period: CalendarPeriod, now: number, pending: Promise<ConsumeResult>): Promise<void> {
    let result: ConsumeResult;
    try {
      result = await pending;
    } catch {
      storeUnavailable(ex, this.#counters.failMode);
      return;
    }
    this.#apply(ex, rule, period, now, result);
  }

  #apply(ex: Exchange, rule: QuotaRule, period: CalendarPeriod, now: number, result: ConsumeResult): void {
    const s = result.states[0]!;
    const resetSeconds = Math.max(1, Math.ceil((period.end - now) / 1000));
    ex.addResponseHeaders([
      'ratelimit-policy', `"quota";q=${rule.limit};w=${Math.round((period.end - period.start) / 1000)}`,
      'ratelimit', `"quota";r=${s.remaining};t=${resetSeconds}`,
    ]);
    if (result.allowed) { ex.limitOutcome ??= 'allowed'; return; }
    ex.limitOutcome = 'quota-exceeded';
    const resetAt = new Date(period.end).toISOString();
    ex.fail('GH_QUOTA_EXCEEDED', {
      detail: `The quota of ${rule.limit} calls per ${rule.unit} is spent; it resets at ${resetAt}.`,
      extensions: { resetAt },
      headers: ['retry-after', String(resetSeconds)],
    });
  }
}

/** callerOf is the trusted caller part of a quota key. */
function callerOf(rule: QuotaRule, ex: Exchange): string {
  return rule.byIp ? 'i=' + ipKey(ex.clientIp) : consumerKey(ex);
}

/** quota is the feature definition registered in src/features/index.ts. */
export const quota = defineFeature({
  key: 'quota',
  stage: 'limit',
  schema: QuotaSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const c = config as QuotaConfig;
    return isValidTimeZone(c.timeZone) ? [] : [['.timeZone', `unknown time zone "${c.timeZone}" (an IANA name such as Europe/Berlin or UTC)`] as const];
  },
  create: (config, ctx) => new QuotaFeature(config as QuotaConfig, ctx),
});
