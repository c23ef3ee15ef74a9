/**
 * Usage metering: every request counted per consumer x route x status class x hour. Counting happens in
 * process on the hot path (a map lookup and an increment, no string built per request); every
 * `flushInterval` the counts are added to the store in one call (one round trip for Redis).
 *
 * Exactly once: the counts of a flush are frozen into a batch with an id, and that same batch is sent again
 * until the store acknowledges it; the store applies a batch id at most once. So a timeout whose write did
 * land, or a connection lost after the write, is not counted twice, and counts that arrive meanwhile wait
 * for the next batch. `close` keeps trying for a bounded time, so a graceful shutdown loses nothing unless
 * the store stays away, and then says so at error level with the counts it could not write.
 *
 * Counters are kept per route name and shared by every config generation, so a hot reload neither loses
 * nor double-counts requests in flight.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store, UsageRecord } from '../stores/types.js';
import type { Clock } from '../core/clock.js';

/** HOUR_MS is the metering bucket: one hour, aligned to UTC. */
export const HOUR_MS = 3_600_000;

/** ANONYMOUS is the consumer id under which requests without a consumer are counted. */
export const ANONYMOUS = '-';

/** Most distinct records kept while the store cannot take them (an outage); beyond it the oldest hours go first. */
const MAX_PENDING = 200_000;

/** How long close() keeps trying to write what is left before giving up (and logging the loss). */
const CLOSE_RETRY_MS = 5_000;

/** Batch is one frozen set of records with the id the store deduplicates on. */
interface Batch { readonly id: string; readonly records: readonly UsageRecord[] }

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
  /** The batch sent but not yet acknowledged: sent again, unchanged, until it is. */
  #batch: Batch | null = null;
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

  /**
   * flush sends the pending batch (or freezes a new one from the counts gathered so far) to the store;
   * resolves true when nothing is left unwritten, false when the store did not take it (never rejects).
   */
  flush(): Promise<boolean> {
    if (this.#flushing !== null) return this.#flushing.then(() => this.flush());
    this.#drain(this.#hour);
    if (this.#batch === null) {
      if (this.#pending.size === 0) return Promise.resolve(true);
      this.#batch = { id: `${BATCH_PREFIX}-${(batchCounter++).toString(36)}`, records: [...this.#pending.values()] };
      this.#pending.clear();
    }
    const p = this.#send(this.#batch).finally(() => { this.#flushing = null; });
    this.#flushing = p.then(() => undefined);
    return p;
  }

  /** close stops the timer and writes what is left, retrying for a bounded time. */
  async close(): Promise<void> {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
    const deadline = Date.now() + CLOSE_RETRY_MS;
    for (;;) {
      if (await this.flush() && this.#pending.size === 0) return;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const lost = [...(this.#batch?.records ?? []), ...this.#pending.values()];
    const requests = lost.reduce((a, r) => a + r.count, 0);
    this.#log.error({ event: 'usage_lost', records: lost.length, requests, usage: lost.slice(0, 1000) }, `usage of ${requests} request(s) could not be written to the store before shutdown`);
  }

  /** pendingRecords is how many records wait for the store (for tests and the admin API). */
  get pendingRecords(): number { return this.#pending.size + (this.#batch?.records.length ?? 0); }

  async #send(batch: Batch): Promise<boolean> {
    try {
      await this.#store.addUsage(batch.records, batch.id);
      this.#batch = null;
      if (this.#failing) { this.#failing = false; this.#log.info({ event: 'usage_flush_recovered', records: batch.records.length }, 'usage metering caught up'); }
      return this.#pending.size === 0;
    } catch (err) {
      if (!this.#failing) { this.#failing = true; this.#log.warn({ event: 'usage_flush_failed', records: batch.records.length, err: String((err as Error).message) }, 'usage could not be written to the store; the batch is sent again at the next flush'); }
      this.#trimPending();
      return false;
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

/** Batch ids are unique per process start (random) and per batch (a counter). */
const BATCH_PREFIX = randomBytes(8).toString('hex');
let batchCounter = 0;

function recordKey(consumer: string, route: string, statusClass: number, hour: number): string {
  return `${consumer}\t${route}\t${statusClass}\t${hour}`;
}
