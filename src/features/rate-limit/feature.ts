/**
 * `rate-limit`: several limits per route, each keyed by consumer, IP, header, route or a combination, counted
 * in the store (memory or Redis) with one atomic check-and-charge per request. A caller whose plan sets
 * `rate-limit` is held to the plan's limits instead of the route's. Every response of the route carries the
 * IETF `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers: a list of quoted
 * policy names with `q`/`w` and `r`/`t` parameters), and `X-RateLimit-*` where configured; over a limit the
 * answer is 429 `GH_RATE_LIMITED` with `Retry-After`, and nothing is forwarded.
 *
 * Runs in the `limit` stage, after authentication, so `by: consumer` sees the verified consumer. With the
 * memory store the check is synchronous (no promise per request); with Redis it is one round trip.
 */
import { defineFeature, type Feature, type FeatureContext } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import type { ConsumeResult, Store } from '../../stores/types.js';
import type { Counters } from '../../stores/counters.js';
import type { Clock } from '../../core/clock.js';
import { RateLimitSchema, type RateLimitConfig } from './schema.js';
import { checkLimits, checksFor, compileLimits, LIMIT_HEADERS, rateLimitValue, retryAfterSeconds, storeUnavailable, tightest, type LimitSet } from './limits.js';

/** RateLimitFeature checks and charges a route's limits (or the caller's plan's) for each request. */
export class RateLimitFeature implements Feature {
  readonly name = 'rate-limit';
  /** An upstream's own rate-limit headers would contradict the gateway's: they never reach the client. */
  readonly removeResponseHeaders = LIMIT_HEADERS;
  readonly own: LimitSet;
  /** Limit sets of plans that set `rate-limit`, by plan name. */
  readonly byPlan: ReadonlyMap<string, LimitSet>;
  readonly #store: Store;
  readonly #counters: Counters;
  readonly #now: Clock;
  readonly #route: string;

  constructor(config: RateLimitConfig, ctx: FeatureContext) {
    this.own = compileLimits(config, ctx.routeName, '');
    const byPlan = new Map<string, LimitSet>();
    for (const p of ctx.plans.all()) if (p.rateLimit !== null) byPlan.set(p.name, compileLimits(p.rateLimit, ctx.routeName, `plan.${p.name}.`));
    this.byPlan = byPlan;
    this.#counters = ctx.counters;
    this.#store = ctx.counters.store;
    this.#now = ctx.counters.wallClock;
    this.#route = ctx.routeName;
  }

  onRequest(ex: Exchange): void | Promise<void> {
    const plan = ex.identity?.consumer?.plan;
    const set = plan == null ? this.own : (this.byPlan.get(plan) ?? this.own);
    let result: ConsumeResult | Promise<ConsumeResult>;
    try {
      result = this.#store.consume(checksFor(set, ex), this.#now(), 1);
    } catch {
      storeUnavailable(ex, this.#counters.failMode);
      return;
    }
    if (result instanceof Promise) return this.#settle(ex, set, result);
    this.#apply(ex, set, result);
  }

  async #settle(ex: Exchange, set: LimitSet, pending: Promise<ConsumeResult>): Promise<void> {
    let result: ConsumeResult;
    try {
      result = await pending;
    } catch {
      storeUnavailable(ex, this.#counters.failMode);
      return;
    }
    this.#apply(ex, set, result);
  }

  #apply(ex: Exchange, set: LimitSet, result: ConsumeResult): void {
    const states = result.states;
    const headers = ['ratelimit-policy', set.policy, 'ratelimit', rateLimitValue(set, states)];
    if (set.legacy) {
      const t = tightest(states);
      const s = states[t]!;
      headers.push('x-ratelimit-limit', String(set.limits[t]!.limit), 'x-ratelimit-remaining', String(s.remaining), 'x-ratelimit-reset', String(Math.ceil(s.resetMs / 1000)));
    }
    ex.addResponseHeaders(headers);
    if (result.allowed) { ex.limitOutcome ??= 'allowed'; return; }
    ex.limitOutcome = 'rate-limited';
    ex.runtime.log.debug({ event: 'rate_limited', route: this.#route, consumer: ex.identity?.consumer?.id ?? null, requestId: ex.requestId }, 'rate limited');
    ex.fail('GH_RATE_LIMITED', { headers: ['retry-after', String(retryAfterSeconds(states))] });
  }
}

/** rateLimit is the feature definition registered in src/features/index.ts. */
export const rateLimit = defineFeature({
  key: 'rate-limit',
  stage: 'limit',
  schema: RateLimitSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => checkLimits(config as RateLimitConfig).map(([rel, msg]) => [rel.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join(''), msg] as const),
  create: (config, ctx) => new RateLimitFeature(config as RateLimitConfig, ctx),
});
