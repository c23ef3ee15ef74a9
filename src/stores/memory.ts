/**
 * The memory store (the default): counters and usage in this process, lost on restart, exact for one
 * instance. consume and peek answer synchronously, since they run on every limited request: one Map lookup
 * per check, the shared math of stores/algorithms.ts, and no allocation beyond the result itself.
 *
 * The store never reads a clock: counters expire against the latest time callers gave it (the gateway's
 * wall clock, or a test's), as Redis keys expire a little after their window. A timer sweeps expired
 * counters and old usage every 10 s; a bound on keys keeps a flood of distinct callers from growing the map
 * without limit.
 */
import type { ConsumeResult, LimitCheck, LimitState, Store, StoreHealth, UsageRecord } from './types.js';
import { DEFAULT_USAGE_RETENTION_MS, HOUR_MS, Outcome, checkUsageRange, compareUsage, fixedWindow, slidingWindow, tokenBucket } from './algorithms.js';

/** DEFAULT_MAX_KEYS bounds the counters kept (about 100 bytes each: ~100 MB at the bound). */
export const DEFAULT_MAX_KEYS = 1_000_000;

const SWEEP_INTERVAL_MS = 10_000;
/**
 * A counter in use is moved to the back of the eviction order at most this often: a true LRU would cost a
 * delete and a set per request; this keeps busy keys (a month's quota) safe from a flood of new ones.
 */
const TOUCH_INTERVAL_MS = 10_000;
const HEALTH: StoreHealth = Object.freeze({ up: true, outages: 0 });

/** MemoryStoreOptions are the memory store's bounds. */
export interface MemoryStoreOptions {
  /** Most counters kept; past it the oldest are dropped first (default 1,000,000). */
  maxKeys?: number;
  /** How long hourly usage is kept, in ms (default 400 days). */
  usageRetentionMs?: number;
}

/** Counter is one key's stored state; one class (one shape) for every algorithm. */
class Counter {
  /** Count of window `window` (fixed, sliding), count of a calendar window, or base of the TAT (token bucket). */
  value = 0;
  /** Count of window `window - 1` (sliding window), or units charged since the TAT's base (token bucket). */
  previous = 0;
  /** Window number for fixed and sliding windows (the per-window key suffix in Redis); -1 otherwise. */
  window = -1;
  /** When the counter may be dropped (caller's clock, ms). */
  expireAt = 0;
  /** When the counter last moved to the back of the eviction order (caller's clock, ms). */
  touchedAt = 0;
}

/** MemoryStore keeps counters and usage in this process. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #counters = new Map<string, Counter>();
  /** consumer → hour → `${route}\t${statusClass}` → count. */
  readonly #usage = new Map<string, Map<number, Map<string, number>>>();
  readonly #maxKeys: number;
  readonly #evictBatch: number;
  readonly #usageRetentionMs: number;
  /** Scratch answer of the algorithms, reused by every check (calls are synchronous: no overlap). */
  readonly #out = new Outcome();
  /** The latest time a caller gave (consume, peek, usage hours): the store's idea of "now" for sweeps. */
  #latest = 0;
  /** The usage cutoff of the last usage sweep, so usage is walked once per hour at most. */
  #usageCutoff = -Infinity;
  #timer: NodeJS.Timeout | null;

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = Math.max(1, Math.floor(options.maxKeys ?? DEFAULT_MAX_KEYS));
    // Evicting one entry at a time would walk the holes deleted entries leave at the front of the Map on
    // every insert; 1% at once amortises that walk.
    this.#evictBatch = Math.max(1, Math.floor(this.#maxKeys / 100));
    this.#usageRetentionMs = options.usageRetentionMs ?? DEFAULT_USAGE_RETENTION_MS;
    this.#timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.#timer.unref();
  }

  /** health is always up: memory cannot be unreachable. */
  get health(): StoreHealth {
    return HEALTH;
  }

  /** size is the number of counters held (for tests and the admin API). */
  get size(): number {
    return this.#counters.size;
  }

  /** consume checks every limit and, only if all allow, charges each by `cost`. Synchronous. */
  consume(checks: readonly LimitCheck[], now: number, cost: number): ConsumeResult {
    if (now > this.#latest) this.#latest = now;
    // All or nothing: with several checks, learn first whether every one allows, charging none.
    let charge = true;
    if (checks.length > 1) {
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i]!;
        this.#evaluate(c, this.#counters.get(c.key), now, cost, false);
        if (!this.#out.allowed) { charge = false; break; }
      }
    }
    return this.#answer(checks, now, cost, charge);
  }

  /** peek returns the states of the checks (for a request of cost 1) without charging. Synchronous. */
  peek(checks: readonly LimitCheck[], now: number): ConsumeResult {
    if (now > this.#latest) this.#latest = now;
    return this.#answer(checks, now, 1, false);
  }

  /** addUsage adds the records' counts to the hourly usage. Synchronous. */
  addUsage(records: readonly UsageRecord[]): void {
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.hour > this.#latest) this.#latest = r.hour;
      let hours = this.#usage.get(r.consumer);
      if (hours === undefined) { hours = new Map(); this.#usage.set(r.consumer, hours); }
      let fields = hours.get(r.hour);
      if (fields === undefined) { fields = new Map(); hours.set(r.hour, fields); }
      const field = `${r.route}\t${r.statusClass}`;
      fields.set(field, (fields.get(field) ?? 0) + r.count);
    }
  }

  /** readUsage returns one consumer's usage for hours in [fromHour, toHour), sorted by hour, route, class. */
  async readUsage(consumer: string, fromHour: number, toHour: number): Promise<UsageRecord[]> {
    checkUsageRange(fromHour, toHour);
    const out: UsageRecord[] = [];
    const hours = this.#usage.get(consumer);
    if (hours === undefined) return out;
    for (const [hour, fields] of hours) {
      if (hour < fromHour || hour >= toHour) continue;
      for (const [field, count] of fields) {
        const tab = field.lastIndexOf('\t');
        out.push({ consumer, route: field.slice(0, tab), statusClass: Number(field.slice(tab + 1)), hour, count });
      }
    }
    return out.sort(compareUsage);
  }

  /** sweep drops expired counters and usage past its retention (runs every 10 s; callable by tests). */
  sweep(): void {
    const now = this.#latest;
    for (const [key, c] of this.#counters) if (c.expireAt <= now) this.#counters.delete(key);
    // Usage is walked only when the cutoff enters a new hour: hours are the unit of retention.
    const cutoff = Math.floor((now - this.#usageRetentionMs) / HOUR_MS) * HOUR_MS;
    if (cutoff <= this.#usageCutoff) return;
    this.#usageCutoff = cutoff;
    for (const [consumer, hours] of this.#usage) {
      for (const hour of hours.keys()) if (hour < cutoff) hours.delete(hour);
      if (hours.size === 0) this.#usage.delete(consumer);
    }
  }

  /** close stops the sweep timer. */
  async close(): Promise<void> {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
  }

  /** Evaluates every check (charging each when `charge`, known by now to be allowed) and builds the result. */
  #answer(checks: readonly LimitCheck[], now: number, cost: number, charge: boolean): ConsumeResult {
    const out = this.#out;
    const states: LimitState[] = new Array(checks.length);
    let allowed = true;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      const found = this.#counters.get(c.key);
      this.#evaluate(c, found, now, cost, charge);
      // `charge` is true only for a consume whose checks are all known to allow, or of a single check,
      // which alone decides the call: charge it as it is evaluated.
      if (!out.allowed) allowed = false;
      else if (charge) this.#store(c, found, now);
      states[i] = { remaining: out.remaining, resetMs: out.resetMs, retryAfterMs: out.retryAfterMs };
    }
    return { allowed, states };
  }

  /** Runs the check's algorithm on its stored state into #out. */
  #evaluate(c: LimitCheck, found: Counter | undefined, now: number, cost: number, charge: boolean): void {
    const out = this.#out;
    switch (c.algorithm) {
      case 'fixed-window': {
        if (c.windowEnd !== undefined) {
          // Calendar window: the key names the period; the count lives until its expiry, as in Redis.
          const count = found !== undefined && now < found.expireAt ? found.value : 0;
          fixedWindow(out, count, c.limit, c.windowEnd, now, cost, charge);
        } else {
          const idx = Math.floor(now / c.windowMs);
          const count = found !== undefined && found.window === idx ? found.value : 0;
          fixedWindow(out, count, c.limit, idx * c.windowMs + c.windowMs, now, cost, charge);
        }
        return;
      }
      case 'sliding-window': {
        const idx = Math.floor(now / c.windowMs);
        let cur = 0;
        let prev = 0;
        if (found !== undefined) {
          if (found.window === idx) { cur = found.value; prev = found.previous; }
          else if (found.window === idx - 1) prev = found.value;
        }
        slidingWindow(out, cur, prev, c.limit, c.windowMs, now, cost, charge);
        return;
      }
      case 'token-bucket':
        if (found === undefined) tokenBucket(out, NaN, 0, c.limit, c.windowMs, now, cost, charge);
        else tokenBucket(out, found.value, found.previous, c.limit, c.windowMs, now, cost, charge);
        return;
    }
  }

  /** Writes the charged value in #out to the check's counter, creating it if need be. */
  #store(c: LimitCheck, found: Counter | undefined, now: number): void {
    const out = this.#out;
    let counter = found;
    if (counter === undefined) {
      if (this.#counters.size >= this.#maxKeys) this.#evict();
      counter = new Counter();
      counter.touchedAt = now;
      this.#counters.set(c.key, counter);
    } else if (now - counter.touchedAt >= TOUCH_INTERVAL_MS) {
      // Re-insert: Map order is the eviction order, oldest first.
      counter.touchedAt = now;
      this.#counters.delete(c.key);
      this.#counters.set(c.key, counter);
    }
    if (c.algorithm === 'token-bucket') {
      counter.window = -1;
      counter.previous = out.storedUnits;
    } else if (c.windowEnd !== undefined) {
      counter.window = -1;
    } else {
      const idx = Math.floor(now / c.windowMs);
      if (counter.window !== idx) {
        // The window rolled: this window's count becomes the previous one (or nothing, if older).
        counter.previous = counter.window === idx - 1 ? counter.value : 0;
        counter.window = idx;
      }
    }
    counter.value = out.stored;
    counter.expireAt = now + out.ttlMs;
  }

  /** Drops the oldest counters (the first in Map order). */
  #evict(): void {
    let n = this.#evictBatch;
    for (const key of this.#counters.keys()) {
      this.#counters.delete(key);
      if (--n === 0) break;
    }
  }
}
