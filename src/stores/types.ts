/**
 * The store contract: where rate-limit counters, quota counters and metered usage live. Two implementations
 * stand behind it, memory (the default: one instance, nothing to install) and Redis (many instances, exact
 * counts: every check is one Lua script, one round trip). One conformance suite (stores/conformance.test.ts)
 * runs against both, so a limit behaves the same whichever store holds it.
 *
 * Time is always passed in by the caller as Unix milliseconds (the gateway's wall clock, injectable in
 * tests), never read by the store, so the same inputs give the same answers in both stores.
 */

/** LimitAlgorithm names the counting algorithms a limit may use. */
export type LimitAlgorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';

/**
 * LimitCheck is one limit to check and, when every check of the call allows, to charge.
 * - fixed-window: one counter per window. The window is `[floor(now / windowMs) * windowMs, + windowMs)`
 *   unless `windowEnd` is given (calendar windows: quotas per day or month), in which case `key` already
 *   names the period and the window ends at `windowEnd` (Unix ms).
 * - sliding-window: two fixed counters (this window's and the previous one's), the previous one weighted by
 *   how much of it still overlaps the sliding window (Cloudflare's approximation): a steady rate is exact, and
 *   no burst of 2x the limit passes at a window edge, as it can with fixed windows.
 * - token-bucket: GCRA (the generic cell rate algorithm): one timestamp per key, `limit` requests per
 *   `windowMs` with a burst of up to `limit`; a request is allowed when the bucket holds `cost` tokens.
 */
export interface LimitCheck {
  /** Full key of the counter, built by the caller from trusted parts only (route name, consumer id, client IP). */
  readonly key: string;
  readonly algorithm: LimitAlgorithm;
  /** Requests allowed per window (> 0). */
  readonly limit: number;
  /** Window length in ms (> 0). For calendar windows: the period's length (used for the `w` of the headers). */
  readonly windowMs: number;
  /** fixed-window only: end of a calendar window (Unix ms); the key must then name the period. */
  readonly windowEnd?: number;
}

/** LimitState is what one check says after the call: for the response headers and Retry-After. */
export interface LimitState {
  /** Requests still allowed now in this limit after this call, an integer >= 0 (less than the cost when this check denied). */
  readonly remaining: number;
  /**
   * Milliseconds until the limit's quota is whole again (fixed window: until its end; sliding window: until
   * this window's end; token bucket: until the bucket is full), an integer >= 0.
   */
  readonly resetMs: number;
  /** When this check denied: milliseconds until a request of the same cost would be allowed (> 0); else 0. */
  readonly retryAfterMs: number;
}

/**
 * ConsumeResult is the answer to one consume call. Either every check allowed and every counter was charged
 * `cost`, or at least one denied and no counter was charged (all or nothing, one atomic step).
 */
export interface ConsumeResult {
  readonly allowed: boolean;
  /** One state per check, in the order of the checks. */
  readonly states: readonly LimitState[];
}

/** UsageRecord is a count of requests for one consumer x route x status class x hour. */
export interface UsageRecord {
  /** Consumer id, or '-' for requests with no consumer. */
  readonly consumer: string;
  readonly route: string;
  /** Status class: 1..5 for 1xx..5xx. */
  readonly statusClass: number;
  /** Hour as Unix ms of its start (a multiple of 3_600_000, UTC). */
  readonly hour: number;
  readonly count: number;
}

/** StoreHealth tracks outages of a remote store: logged and counted once each, not once per request. */
export interface StoreHealth {
  /** Whether the store currently answers. Always true for memory. */
  readonly up: boolean;
  /** Number of outages since start (a failure after success, or at start, begins one; a success ends it). */
  readonly outages: number;
}

/** StoreError is thrown (or the promise rejects with it) when a remote store cannot answer. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/**
 * Store holds counters. Implementations MUST make `consume` atomic across every caller of the same store
 * (every gateway instance on one Redis): 50 concurrent calls against a limit of 10 allow exactly 10.
 */
export interface Store {
  readonly kind: 'memory' | 'redis';
  readonly health: StoreHealth;
  /**
   * consume checks every limit and, only if all allow, charges each by `cost`, in one atomic step. The memory
   * store answers synchronously (no promise on the hot path); Redis answers with one round trip. Rejects with
   * StoreError when the store cannot answer (the caller applies its fail mode).
   */
  consume(checks: readonly LimitCheck[], now: number, cost: number): ConsumeResult | Promise<ConsumeResult>;
  /**
   * peek returns the states of the checks without charging anything (quota headers on a route that only
   * reads the quota). Same failure behaviour as consume.
   */
  peek(checks: readonly LimitCheck[], now: number): ConsumeResult | Promise<ConsumeResult>;
  /**
   * addUsage adds counts to the metered usage, at most once per `batchId`: a caller that did not hear back
   * (a timeout, a dropped connection) sends the same batch with the same id again, and a batch that was
   * already applied is not applied twice. A record that cannot be applied (a foreign key of the wrong type)
   * is skipped and logged, never retried forever. Rejects with StoreError when the store cannot answer.
   */
  addUsage(records: readonly UsageRecord[], batchId: string): void | Promise<void>;
  /** readUsage returns the usage of one consumer for hours in [fromHour, toHour), summed per route x class x hour, sorted by hour, route, class. */
  readUsage(consumer: string, fromHour: number, toHour: number): Promise<UsageRecord[]>;
  /**
   * ping checks that the store answers now (readiness probes), updating `health` like any call; resolves
   * false instead of rejecting. Always true for memory.
   */
  ping(): Promise<boolean>;
  /** close releases connections and timers. */
  close(): Promise<void>;
}
