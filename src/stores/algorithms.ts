/**
 * The counting algorithms as pure math, shared by the memory store and mirrored line for line by the Lua
 * script of the Redis store (stores/redis-scripts.ts): the same float operations in the same order, so both
 * stores give identical answers for identical inputs. Change one, change the other, and let the conformance
 * suite (stores/conformance.test.ts) prove they still agree.
 *
 * Each function evaluates one check from the stored values and writes its answer into an `Outcome`, a
 * scratch object the caller reuses (no allocation per check). Time is the caller's (integer Unix ms).
 */
import type { LimitAlgorithm } from './types.js';

/** EPSILON absorbs float error in the sliding window's weighting, so an exact fit is not refused. */
export const EPSILON = 1e-9;

/**
 * EXPIRY_GRACE_MS keeps a counter a little past the end of its window: gateways' clocks are never exactly in
 * step, and one a little behind still counts in the window another has left.
 */
export const EXPIRY_GRACE_MS = 1000;

/** ALGORITHM_CODE is how the Lua script names each algorithm (ARGV carries numbers, not names). */
export const ALGORITHM_CODE: Readonly<Record<LimitAlgorithm, number>> = {
  'fixed-window': 1,
  'sliding-window': 2,
  'token-bucket': 3,
};

/** Outcome is the answer for one check; reused by its owner, so read it before the next evaluation. */
export class Outcome {
  /** Whether a request of `cost` fits in this limit now. */
  allowed = false;
  remaining = 0;
  resetMs = 0;
  retryAfterMs = 0;
  /** The value to store when the call charges: count of the window, or the base of the bucket's TAT. */
  stored = 0;
  /** Token bucket: the units charged since `stored` (TAT = stored + storedUnits * windowMs / limit). */
  storedUnits = 0;
  /** How long the stored value must live, from `now` (ms, >= 1). */
  ttlMs = 0;
}

/**
 * fixedWindow evaluates a fixed window holding `count`, ending at `end`. `charge`: add `cost` if it fits
 * (the caller passes true only once every check of the call is known to allow).
 */
export function fixedWindow(out: Outcome, count: number, limit: number, end: number, now: number, cost: number, charge: boolean): void {
  const allowed = count + cost <= limit;
  const after = allowed && charge ? count + cost : count;
  out.allowed = allowed;
  // floor: an integer in the headers even if a limit or cost were fractional (Redis replies are integers).
  out.remaining = Math.max(0, Math.floor(limit - after));
  out.resetMs = Math.max(0, end - now);
  out.retryAfterMs = allowed ? 0 : Math.max(1, end - now);
  out.stored = after;
  out.ttlMs = Math.max(1, Math.ceil(end + EXPIRY_GRACE_MS - now));
}

/**
 * slidingWindow evaluates a sliding window from this window's count `cur` and the previous one's `prev`,
 * weighted by how much of the previous window the sliding window still covers.
 */
export function slidingWindow(out: Outcome, cur: number, prev: number, limit: number, windowMs: number, now: number, cost: number, charge: boolean): void {
  const idx = Math.floor(now / windowMs);
  const elapsed = now - idx * windowMs;
  const weighted = prev * (windowMs - elapsed) / windowMs;
  const est = weighted + cur;
  const allowed = est + cost <= limit + EPSILON;
  let curAfter = cur;
  let estAfter = est;
  if (allowed && charge) {
    curAfter = cur + cost;
    estAfter = weighted + curAfter;
  }
  out.allowed = allowed;
  out.remaining = Math.max(0, Math.floor(limit - estAfter + EPSILON));
  out.resetMs = (idx + 1) * windowMs - now;
  if (allowed) {
    out.retryAfterMs = 0;
  } else if (cur + cost > limit) {
    // This window alone is full: wait for the next window, and then until this window's count (by then
    // the previous window's) has decayed enough. The min() only matters when cost > limit (never allowed): it keeps
    // the answer finite where cur is 0.
    out.retryAfterMs = Math.max(1, (idx + 1) * windowMs - now + Math.ceil(Math.max(0, Math.min(windowMs, windowMs * (1 - (limit - cost) / cur)))));
  } else {
    // Room in this window: wait until the previous window's weight has decayed enough (prev > 0 here).
    out.retryAfterMs = Math.max(1, Math.ceil(windowMs * (1 - (limit - cur - cost) / prev)) - elapsed);
  }
  out.stored = curAfter;
  out.ttlMs = Math.ceil((idx + 2) * windowMs + EXPIRY_GRACE_MS - now);
}

/**
 * tokenBucket evaluates GCRA: each request moves the theoretical arrival time (TAT) `cost * windowMs / limit`
 * ahead; a request fits while the TAT stays within one window of now (a burst of up to `limit`).
 *
 * The TAT is kept exact, as `base + units * windowMs / limit` (`base` an integer ms, `units` the cost charged
 * since), not as one double: near today's Unix ms (~1.7e12) a double has a resolution of 2^-12 ms, and the
 * rounding of a non-integer interval accumulated over a burst would refuse the last request of a full burst
 * about half the time (6 per second: 5 let through). Comparisons multiply out the division, so they are
 * exact integer arithmetic while `2 * windowMs * limit` stays below 2^53 (a month with 1.7 million requests).
 * `storedBase` is NaN when nothing is stored (the bucket is full).
 */
export function tokenBucket(out: Outcome, storedBase: number, storedUnits: number, limit: number, windowMs: number, now: number, cost: number, charge: boolean): void {
  let base = storedBase;
  let units = storedUnits;
  if (!(base === base) || units * windowMs <= (now - base) * limit) {
    // No TAT, or a TAT not after now: the bucket is full (tat = max(tat, now)).
    base = now;
    units = 0;
  } else if (units >= limit) {
    // Whole windows move from units to base (exactly: limit units are windowMs), keeping both small.
    const q = Math.floor(units / limit);
    base = base + q * windowMs;
    units = units - q * limit;
  }
  const offset = base - now;
  const newUnits = units + cost;
  // newTat - now <= windowMs, multiplied out: no rounding, so no epsilon.
  const allowed = newUnits * windowMs <= (windowMs - offset) * limit;
  const after = allowed && charge ? newUnits : units;
  out.allowed = allowed;
  // floor((windowMs - (tatAfter - now)) / interval)
  out.remaining = Math.max(0, Math.floor(((windowMs - offset) * limit - after * windowMs) / windowMs));
  // ceil(tatAfter - now)
  out.resetMs = offset + Math.ceil(after * windowMs / limit);
  // ceil(newTat - now - windowMs)
  out.retryAfterMs = allowed ? 0 : Math.max(1, offset - windowMs + Math.ceil(newUnits * windowMs / limit));
  out.stored = base;
  out.storedUnits = after;
  // Until ceil(tatAfter) plus the grace.
  out.ttlMs = offset + Math.ceil(after * windowMs / limit) + EXPIRY_GRACE_MS;
}

/** HOUR_MS is the usage bucket: one hour, aligned to UTC. */
export const HOUR_MS = 3_600_000;

/** DEFAULT_USAGE_RETENTION_MS is how long hourly usage is kept: 400 days (a year and a billing month). */
export const DEFAULT_USAGE_RETENTION_MS = 400 * 24 * HOUR_MS;

/** MAX_USAGE_SPAN_MS bounds one readUsage call (two years of hours: 17,520 hashes for Redis). */
export const MAX_USAGE_SPAN_MS = 2 * 366 * 24 * HOUR_MS;

/** checkUsageRange refuses a readUsage range wider than MAX_USAGE_SPAN_MS (or not made of numbers). */
export function checkUsageRange(fromHour: number, toHour: number): void {
  if (!Number.isFinite(fromHour) || !Number.isFinite(toHour)) throw new RangeError('usage range must be finite numbers');
  if (toHour - fromHour > MAX_USAGE_SPAN_MS) throw new RangeError('usage range must not exceed 2 years');
}

/** compareUsage orders usage records by hour, then route, then status class (code-unit order, no locale). */
export function compareUsage(a: { hour: number; route: string; statusClass: number }, b: { hour: number; route: string; statusClass: number }): number {
  if (a.hour !== b.hour) return a.hour - b.hour;
  if (a.route !== b.route) return a.route < b.route ? -1 : 1;
  return a.statusClass - b.statusClass;
}
