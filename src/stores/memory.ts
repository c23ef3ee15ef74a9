/**
 * The memory store (the default): counters and usage in this process, lost on restart, exact for one
 * instance. consume and peek answer synchronously, since they run on every limited request: one Map lookup
 * per check, the shared math of stores/algorithms.ts, and no allocation beyond the result itself.
 *
 * The store never reads a clock: counters expire against the latest time callers gave it (the gateway's
 * wall clock, or a test's), as Redis keys expire a little after their window.
 *
 * Counters live in two maps. Calendar windows (checks with `windowEnd`: quotas per day or month) have their
 * own, whose counters are never dropped before they expire: keys a client chooses (per-IP or per-header rate
 * limits) must not be able to push a consumer's monthly quota out and start it over. The other map holds the
 * rest, bounded (oldest dropped first), so a flood of distinct callers cannot grow it without limit. The
 * calendar map is bounded too (its keys include client IPs for quotas by IP), but by refusing new counters
 * when full, never by dropping one. A timer sweeps expired counters and old usage incrementally: at most
 * SWEEP_BATCH entries per second, resuming where the last run stopped, so no run blocks for long.
 */
import type { Logger } from 'pino';
import type { ConsumeResult, LimitCheck, LimitState, Store, StoreHealth, UsageRecord } from './types.js';
import { DEFAULT_USAGE_RETENTION_MS, HOUR_MS, Outcome, checkUsageRange, compareUsage, fixedWindow, slidingWindow, tokenBucket } from './algorithms.js';

/**
 * DEFAULT_MAX_KEYS bounds the counters of rate limits (all but calendar windows). Measured on Node 20 with
 * 38-character keys (`rl:users-v1:0:h=` and a 22-character digest), after GC: about 330 bytes of heap per
 * counter (the key string, the Counter, the Map's entry), so ~33 MB at the bound.
 */
export const DEFAULT_MAX_KEYS = 100_000;

/**
 * DEFAULT_MAX_CALENDAR_KEYS bounds the counters of calendar windows (quotas), which are never dropped before
 * they expire: about 330 bytes each as above, ~83 MB at the bound; room for a daily and a monthly quota of
 * 125,000 consumers (more belong on Redis). Only quotas by client IP can fill it. Past it, a new caller's
 * quota is not counted (its requests pass) until expired counters make room; every caller already counted
 * stays exact.
 */
export const DEFAULT_MAX_CALENDAR_KEYS = 250_000;

/** SWEEP_BATCH is the most entries one sweep walks (about a millisecond of work). */
export const SWEEP_BATCH = 10_000;

const SWEEP_INTERVAL_MS = 1_000;
/** How many usage batch ids the memory store remembers (see addUsage). */
const RECENT_BATCHES = 1024;
/**
 * A counter in use is moved to the back of the eviction order at most this often: a true LRU would cost a
 * delete and a set per request; this keeps busy keys safe from a flood of new ones.
 */
const TOUCH_INTERVAL_MS = 10_000;
const HEALTH: StoreHealth = Object.freeze({ up: true, outages: 0 });

/** What the sweep walks, in turn: the rate-limit counters, then the calendar counters, then usage. */
const SWEEP_COUNTERS = 0;
const SWEEP_CALENDAR = 1;
const SWEEP_USAGE = 2;

/** MemoryStoreOptions are the memory store's bounds. */
export interface MemoryStoreOptions {
  /** Most rate-limit counters kept; past it the oldest are dropped first (default 100,000). */
  maxKeys?: number;
  /** Most calendar-window counters kept; past it new ones are not kept (default 250,000). */
  maxCalendarKeys?: number;
  /** How long hourly usage is kept, in ms (default 400 days). */
  usageRetentionMs?: number;
  /** Where a full calendar map is reported (once each time it fills up); silent without. */
  log?: Logger;
}

/** Counter is one key's stored state; one class (one shape) for every algorithm. */
class Counter {
  /** The key it is stored under, so a sweep can walk values and still delete (no entry array per step). */
  readonly key: string;
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

  constructor(key: string, now: number) {
    this.key = key;
    this.touchedAt = now;
  }
}

/** MemoryStore keeps counters and usage in this process. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  /** Rate-limit counters, in eviction order (oldest first). */
  readonly #counters = new Map<string, Counter>();
  /** Calendar-window counters: never evicted, only swept once expired. */
  readonly #calendar = new Map<string, Counter>();
  /** The ids of the latest usage batches, oldest first. */
  readonly #recentBatches = new Set<string>();
  /** consumer → hour → `${route}\t${statusClass}` → count. */
  readonly #usage = new Map<string, Map<number, Map<string, number>>>();
  readonly #maxKeys: number;
  readonly #maxCalendarKeys: number;
  readonly #evictBatch: number;
  readonly #usageRetentionMs: number;
  readonly #log: Logger | null;
  /** Scratch answer of the algorithms, reused by every check (calls are synchronous: no overlap). */
  readonly #out = new Outcome();
  /** The latest time a caller gave (consume, peek, usage hours): the store's idea of "now" for sweeps. */
  #latest = 0;
  /** The usage cutoff of the last usage sweep, so usage is walked once per hour at most. */
  #usageCutoff = -Infinity;
  #sweepPhase = SWEEP_COUNTERS;
  /** Where the sweep resumes in the current map (live Map iterators survive inserts and deletes); null: from the start. */
  #sweepCursor: MapIterator<Counter> | null = null;
  #usageCursor: MapIterator<[string, Map<number, Map<string, number>>]> | null = null;
  /** Entries the running sweep may still walk. */
  #sweepBudget = 0;
  /** Whether the calendar map is full and this has been logged (logged again only after it had room). */
  #calendarFull = false;
  #timer: NodeJS.Timeout | null;

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = Math.max(1, Math.floor(options.maxKeys ?? DEFAULT_MAX_KEYS));
    this.#maxCalendarKeys = Math.max(1, Math.floor(options.maxCalendarKeys ?? DEFAULT_MAX_CALENDAR_KEYS));
    // Evicting one entry at a time would walk the holes deleted entries leave at the front of the Map on
    // every insert; 1% at once amortises that walk.
    this.#evictBatch = Math.max(1, Math.floor(this.#maxKeys / 100));
    this.#usageRetentionMs = options.usageRetentionMs ?? DEFAULT_USAGE_RETENTION_MS;
    this.#log = options.log ?? null;
    this.#timer = setInterval(() => { this.sweep(); }, SWEEP_INTERVAL_MS);
    this.#timer.unref();
  }

  /** health is always up: memory cannot be unreachable. */
  get health(): StoreHealth {
    return HEALTH;
  }

  /** size is the number of counters held, of both kinds (for tests and the admin API). */
  get size(): number {
    return this.#counters.size + this.#calendar.size;
  }

  /** calendarSize is the number of calendar-window counters held (for tests and the admin API). */
  get calendarSize(): number {
    return this.#calendar.size;
  }

  /** consume checks every limit and, only if all allow, charges each by `cost`. Synchronous. */
  consume(checks: readonly LimitCheck[], now: number, cost: number): ConsumeResult {
    if (now > this.#latest) this.#latest = now;
    // All or nothing: with several checks, learn first whether every one allows, charging none.
    let charge = true;
    if (checks.length > 1) {
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i]!;
        this.#evaluate(c, this.#find(c), now, cost, false);
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

  /**
   * addUsage adds the records' counts to the hourly usage. Synchronous, and it cannot fail, so a caller
   * never needs to resend; the last RECENT_BATCHES ids are still remembered, so that a resend is a no-op here
   * too, as the contract (and the conformance suite) says for every store.
   */
  addUsage(records: readonly UsageRecord[], batchId?: string): void {
    if (batchId !== undefined) {
      if (this.#recentBatches.has(batchId)) return;
      if (this.#recentBatches.size >= RECENT_BATCHES) this.#recentBatches.delete(this.#recentBatches.values().next().value!);
      this.#recentBatches.add(batchId);
    }
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

  /** ping always answers: the memory store is this process. */
  ping(): Promise<boolean> { return Promise.resolve(true); }

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

  /**
   * sweep drops expired counters and usage past its retention, walking at most `maxEntries` entries from
   * where the last call stopped (runs every second; callable by tests). Returns true when this call finished
   * a round over both counter maps and the usage; `sweep(Infinity)` finishes the current round.
   */
  sweep(maxEntries: number = SWEEP_BATCH): boolean {
    const now = this.#latest;
    this.#sweepBudget = maxEntries;
    if (this.#sweepPhase === SWEEP_COUNTERS) {
      this.#sweepCursor = this.#sweepMap(this.#counters, this.#sweepCursor ?? this.#counters.values(), now);
      if (this.#sweepCursor !== null) return false;
      this.#sweepPhase = SWEEP_CALENDAR;
    }
    if (this.#sweepPhase === SWEEP_CALENDAR) {
      this.#sweepCursor = this.#sweepMap(this.#calendar, this.#sweepCursor ?? this.#calendar.values(), now);
      if (this.#sweepCursor !== null) return false;
      if (this.#calendar.size < this.#maxCalendarKeys) this.#calendarFull = false;
      this.#sweepPhase = SWEEP_USAGE;
    }
    if (!this.#sweepUsage(now)) return false;
    this.#sweepPhase = SWEEP_COUNTERS;
    return true;
  }

  /** close stops the sweep timer. */
  async close(): Promise<void> {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
  }

  /** The stored counter of a check, from the map of its kind. */
  #find(c: LimitCheck): Counter | undefined {
    return (c.windowEnd === undefined ? this.#counters : this.#calendar).get(c.key);
  }

  /** Drops expired counters of `map` from `cursor` within the budget; returns the cursor, or null at the end. */
  #sweepMap(map: Map<string, Counter>, cursor: MapIterator<Counter>, now: number): MapIterator<Counter> | null {
    while (this.#sweepBudget > 0) {
      const next = cursor.next();
      if (next.done === true) return null;
      this.#sweepBudget--;
      const c = next.value;
      if (c.expireAt <= now) map.delete(c.key);
    }
    return cursor;
  }

  /**
   * Drops usage hours before the retention cutoff, within the budget; true when the walk is done. Usage is
   * walked only when the cutoff enters a new hour (hours are the unit of retention), one consumer at a time
   * (a consumer's hours are bounded by the retention).
   */
  #sweepUsage(now: number): boolean {
    if (this.#usageCursor === null) {
      const cutoff = Math.floor((now - this.#usageRetentionMs) / HOUR_MS) * HOUR_MS;
      if (cutoff <= this.#usageCutoff) return true;
      this.#usageCutoff = cutoff;
      this.#usageCursor = this.#usage.entries();
    }
    const cutoff = this.#usageCutoff;
    while (this.#sweepBudget > 0) {
      const next = this.#usageCursor.next();
      if (next.done === true) { this.#usageCursor = null; return true; }
      const [consumer, hours] = next.value;
      this.#sweepBudget -= 1 + hours.size;
      for (const hour of hours.keys()) if (hour < cutoff) hours.delete(hour);
      if (hours.size === 0) this.#usage.delete(consumer);
    }
    return false;
  }

  /** Evaluates every check (charging each when `charge`, known by now to be allowed) and builds the result. */
  #answer(checks: readonly LimitCheck[], now: number, cost: number, charge: boolean): ConsumeResult {
    const out = this.#out;
    const states: LimitState[] = new Array(checks.length);
    let allowed = true;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      const found = this.#find(c);
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

  /** Writes the charged value in #out to the check's counter, creating it if need be (and if there is room). */
  #store(c: LimitCheck, found: Counter | undefined, now: number): void {
    const out = this.#out;
    let counter = found;
    if (counter === undefined) {
      const created = this.#create(c, now);
      if (created === null) return;
      counter = created;
    } else if (c.windowEnd === undefined && now - counter.touchedAt >= TOUCH_INTERVAL_MS) {
      // Re-insert: Map order is the eviction order, oldest first. (Calendar counters are never evicted.)
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

  /**
   * Adds a counter for the check: a rate-limit counter after dropping the oldest if the map is full; a
   * calendar counter only if there is room (null otherwise: quotas already counted are never dropped).
   */
  #create(c: LimitCheck, now: number): Counter | null {
    if (c.windowEnd === undefined) {
      if (this.#counters.size >= this.#maxKeys) this.#evict();
      const counter = new Counter(c.key, now);
      this.#counters.set(c.key, counter);
      return counter;
    }
    if (this.#calendar.size >= this.#maxCalendarKeys) {
      if (!this.#calendarFull) {
        this.#calendarFull = true;
        this.#log?.error({ event: 'store_calendar_full', store: 'memory', maxCalendarKeys: this.#maxCalendarKeys }, 'the memory store holds as many quota counters as it may: callers without one are not counted until expired ones make room');
      }
      return null;
    }
    const counter = new Counter(c.key, now);
    this.#calendar.set(c.key, counter);
    return counter;
  }

  /** Drops the oldest rate-limit counters (the first in Map order). */
  #evict(): void {
    let n = this.#evictBatch;
    for (const key of this.#counters.keys()) {
      this.#counters.delete(key);
      if (--n === 0) break;
    }
  }
}
