/**
 * Counters bundles what limits and metering share for the life of a process: the store, the usage meter and
 * the fail mode. It outlives config generations: a hot reload that leaves `store:` and `metering:` unchanged
 * keeps the same Counters (and its Redis connection and in-memory counts); one that changes them builds a new
 * one, and the old one is closed (its usage flushed) after the swap.
 */
import type { Logger } from 'pino';
import type { Store } from './types.js';
import type { StoreConfig } from './schema.js';
import type { MeteringConfig } from '../metering/schema.js';
import { Meter } from '../metering/meter.js';
import { MemoryStore } from './memory.js';
import { createStore } from './index.js';
import { parseDuration } from '../config/units.js';
import type { Clock } from '../core/clock.js';

/** FailMode says what limited routes do while the store cannot answer. */
export type FailMode = 'open' | 'closed';

/** Counters is the store, the meter and the fail mode of a running gateway. */
export class Counters {
  readonly store: Store;
  /** The usage meter, or null when `metering.enabled` is false. */
  readonly meter: Meter | null;
  readonly failMode: FailMode;
  /** Wall clock (Unix ms) used for windows, calendar periods and usage hours; injectable in tests. */
  readonly wallClock: Clock;
  /** The `store:` and `metering:` settings this was built from (JSON, may hold a Redis password: compared, never logged). */
  readonly #storeKey: string;
  readonly #meteringKey: string;
  /**
   * shared holds objects that live as long as the store (across reloads that keep it): the in-memory response
   * cache, say, under a key of its owner's. A Counters that shares the store shares this map too.
   */
  readonly shared: Map<string, unknown>;
  /** Whether close() closes the store (false once a newer Counters took the store over). */
  #ownsStore = true;

  constructor(store: Store, meter: Meter | null, failMode: FailMode, wallClock: Clock, storeKey = '', meteringKey = '') {
    this.store = store;
    this.meter = meter;
    this.failMode = failMode;
    this.wallClock = wallClock;
    this.#storeKey = storeKey;
    this.#meteringKey = meteringKey;
    this.shared = new Map();
  }

  /**
   * keeps says what a reload to these settings can keep: everything, only the store (a new meter over the same
   * store, so rate-limit and quota counters survive), or nothing (a new store).
   */
  keeps(store: StoreConfig, metering: MeteringConfig): 'all' | 'store' | 'none' {
    if (JSON.stringify(store) !== this.#storeKey) return 'none';
    return JSON.stringify(metering) === this.#meteringKey ? 'all' : 'store';
  }

  /** open connects the configured store (Redis is imported only when configured) and starts the meter. */
  static async open(store: StoreConfig, metering: MeteringConfig, log: Logger, wallClock: Clock = Date.now): Promise<Counters> {
    const s = await createStore(store, log, parseDuration(metering.retention));
    const meter = metering.enabled ? new Meter(s, log, wallClock, parseDuration(metering.flushInterval)) : null;
    meter?.start();
    return new Counters(s, meter, failModeOf(store), wallClock, JSON.stringify(store), JSON.stringify(metering));
  }

  /**
   * withMetering shares this store (its counters, its connection) under a new meter: a reload that changes
   * only `metering:`. The new Counters owns the store only once it calls adoptStore (after the swap), so a
   * reload refused in between closes nothing but the new meter.
   */
  withMetering(metering: MeteringConfig, log: Logger): Counters {
    const meter = metering.enabled ? new Meter(this.store, log, this.wallClock, parseDuration(metering.flushInterval)) : null;
    meter?.start();
    const next = new Counters(this.store, meter, this.failMode, this.wallClock, this.#storeKey, JSON.stringify(metering));
    next.#ownsStore = false;
    for (const [k, v] of this.shared) next.shared.set(k, v);
    return next;
  }

  /** adoptStore takes over the store shared with `previous`: closing `previous` then leaves it open. */
  adoptStore(previous: Counters): void {
    if (previous.store !== this.store) return;
    previous.#ownsStore = false;
    this.#ownsStore = true;
  }

  /** memory builds in-memory counters without a flush timer (config checks, tools and unit tests). */
  static memory(metering: MeteringConfig | null, log: Logger, wallClock: Clock = Date.now): Counters {
    const s = new MemoryStore();
    const meter = metering?.enabled ? new Meter(s, log, wallClock, parseDuration(metering.flushInterval)) : null;
    return new Counters(s, meter, 'open', wallClock);
  }

  /** close flushes the meter and closes the store. */
  async close(): Promise<void> {
    await this.meter?.close();
    if (this.#ownsStore) await this.store.close();
  }
}


function failModeOf(store: StoreConfig): FailMode {
  return typeof store === 'object' ? store.redis.failMode : 'open';
}
