/**
 * Usage metering: every request counted per consumer x route x status class x hour. Counting happens in
 * process on the hot path (a map lookup and an increment, no string built per request); every
 * `flushInterval` the counts are added to the store in one call (one pipelined round trip for Redis). A flush
 * that fails keeps its counts and adds them with the next one, so the totals stay exact through an outage;
 * `close` flushes what is left, so a graceful shutdown loses nothing.
 *
 * Counters are kept per route name and shared by every config generation, so a hot reload neither loses
 * nor double-counts requests in flight.
 */
import type { Logger } from 'pino';
import type { Store, UsageRecord } from '../stores/types.js';
import type { Clock } from '../core/clock.js';

/** HOUR_MS is the metering bucket: one hour, aligned to UTC. */
export const HOUR_MS = 3_600_000;

/** ANONYMOUS is the consumer id under which requests without a consumer are counted. */
export const ANONYMOUS = '-';

/** Most distinct records kept while the store cannot take them (an outage); beyond it the oldest hours go first. */
const MAX_PENDING = 200_000;

/** RouteCounter holds one route's counts for the current hour: consumer id → counts of 1xx..5xx. */
export class RouteCounter {
  readonly route: string;
  readonly counts: Map<string, Float64Array>;

  constructor(route: string) {
    this.route = route;
    this.counts = new Map();
  }

  /** add counts one response of `status` for `consumer`. */
  add(consumer: string, status: number): void {
    let c = this.counts.get(consumer);
    if (c === undefined) { c = new Float64Array(5); this.counts.set(consumer, c); }
    // A client that went away before any status was sent (0) is counted as 4xx, like nginx's 499.
    const cls = status === 0 ? 4 : (status / 100) | 0;
    c[cls >= 1 && cls <= 5 ? cls - 1 : 4]!++;
  }
}

/** Meter gathers counts in process and adds them to the store. */
export class Meter {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #routes = new Map<string, RouteCounter>();
  /** Records waiting for the store, by `${consumer}\t${route}\t${class}\t${hour}`. */
  readonly #pending = new Map<string, { consumer: string; route: string; statusClass: number; hour: number; count: number }>();
  #hour: number;
  #hourEnd: number;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #failing = false;
  /** Requests counted since start (for tests and the admin API). */
  recorded = 0;

  constructor(store: Store, log: Logger, clock: Clock, intervalMs: number) {
    this.#store = store;
    this.#log = log;
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#hour = Math.floor(clock() / HOUR_MS) * HOUR_MS;
    this.#hourEnd = this.#hour + HOUR_MS;
  }

  /** counter returns the counter of a route, the same object for every config generation. */
  counter(route: string): RouteCounter {
    let c = this.#routes.get(route);
    if (c === undefined) { c = new RouteCounter(route); this.#routes.set(route, c); }
    return c;
  }

  /** record counts one finished request. */
  record(counter: RouteCounter, consumer: string, status: number): void {
    const now = this.#clock();
    if (now >= this.#hourEnd || now < this.#hour) this.#rollHour(now);
    counter.add(consumer, status);
    this.recorded++;
  }

  /** start begins the periodic flush. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => { void this.flush(); }, this.#intervalMs);
    this.#timer.unref();
  }

  /** flush adds every count gathered so far to the store; resolves when done (never rejects). */
  flush(): Promise<void> {
    if (this.#flushing !== null) return this.#flushing.then(() => this.flush());
    this.#drain(this.#hour);
    if (this.#pending.size === 0) return Promise.resolve();
    this.#flushing = this.#send().finally(() => { this.#flushing = null; });
    return this.#flushing;
  }

  /** close stops the timer and flushes what is left. */
  async close(): Promise<void> {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
    await this.flush();
  }

  /** pendingRecords is how many records wait for the store (for tests and the admin API). */
  get pendingRecords(): number { return this.#pending.size; }

  async #send(): Promise<void> {
    const records: UsageRecord[] = [...this.#pending.values()].map((r) => ({ ...r }));
    try {
      await this.#store.addUsage(records);
      // Counts that arrived during the call were added to #pending under the same keys: subtract, not clear.
      for (const r of records) {
        const key = recordKey(r.consumer, r.route, r.statusClass, r.hour);
        const p = this.#pending.get(key)!;
        p.count -= r.count;
        if (p.count === 0) this.#pending.delete(key);
      }
      if (this.#failing) { this.#failing = false; this.#log.info({ event: 'usage_flush_recovered', records: records.length }, 'usage metering caught up'); }
    } catch (err) {
      if (!this.#failing) { this.#failing = true; this.#log.warn({ event: 'usage_flush_failed', records: records.length, err: String((err as Error).message) }, 'usage could not be written to the store; kept for the next flush'); }
      this.#trimPending();
    }
  }

  #rollHour(now: number): void {
    this.#drain(this.#hour);
    this.#hour = Math.floor(now / HOUR_MS) * HOUR_MS;
    this.#hourEnd = this.#hour + HOUR_MS;
  }

  /** Moves the in-process counts into #pending under `hour`. */
  #drain(hour: number): void {
    for (const counter of this.#routes.values()) {
      if (counter.counts.size === 0) continue;
      for (const [consumer, c] of counter.counts) {
        for (let i = 0; i < 5; i++) {
          const n = c[i]!;
          if (n === 0) continue;
          const key = recordKey(consumer, counter.route, i + 1, hour);
          const p = this.#pending.get(key);
          if (p !== undefined) p.count += n;
          else this.#pending.set(key, { consumer, route: counter.route, statusClass: i + 1, hour, count: n });
        }
      }
      counter.counts.clear();
    }
  }

  #trimPending(): void {
    if (this.#pending.size <= MAX_PENDING) return;
    let drop = this.#pending.size - MAX_PENDING;
    this.#log.error({ event: 'usage_dropped', records: drop }, 'usage kept during a store outage exceeded its bound; the oldest counts were dropped');
    for (const key of this.#pending.keys()) { if (drop-- <= 0) break; this.#pending.delete(key); }
  }
}

function recordKey(consumer: string, route: string, statusClass: number, hour: number): string {
  return `${consumer}\t${route}\t${statusClass}\t${hour}`;
}
