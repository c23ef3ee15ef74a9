/**
 * A retry budget per service, as in Envoy's retry_budget and Linkerd's retry budgets: retries may add at most
 * `ratio` of the original traffic, so when a service is failing the gateway cannot multiply its load into a
 * retry storm. So that a quiet service can still retry, up to `minPerSecond` retries per second are allowed
 * whatever the ratio says.
 *
 * Counts live in a ring of one-second buckets covering the window (10 for the default 10 s), with running
 * totals, so both calls are O(1) amortised and allocate nothing. The window is rounded up to whole seconds.
 *
 * A retry is allowed when retries in the window < ratio x requests in the window, or when this second has
 * seen fewer than minPerSecond retries. So retries in a window never exceed ratio x requests plus
 * minPerSecond per second, and under real traffic the floor adds nothing to the ratio.
 */
import { MONOTONIC, type Clock } from '../core/clock.js';

/** RetryBudgetOptions configures a service's retry budget. */
export interface RetryBudgetOptions {
  /** Retries allowed per original request in the window, a fraction in [0, 1]. Default 0.2. */
  readonly ratio: number;
  /** Retries per second always allowed, so low traffic can still retry. Default 3. */
  readonly minPerSecond: number;
  /** The window the ratio is measured over, in milliseconds, rounded up to whole seconds. Default 10000. */
  readonly windowMs: number;
}

/** RETRY_BUDGET_DEFAULTS holds the defaults: 20% of traffic, 3 per second floor, over 10 s. */
export const RETRY_BUDGET_DEFAULTS: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 3, windowMs: 10_000 };

const BUCKET_MS = 1000;

/** RetryBudget decides, per service, whether one more retry may be made now. */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #clock: Clock;
  readonly #requests: Float64Array;
  readonly #retries: Float64Array;
  /** Absolute second (clock / 1000, floored) of the newest bucket. */
  #head: number;
  #totalRequests = 0;
  #totalRetries = 0;

  constructor(options: Partial<RetryBudgetOptions> = {}, clock: Clock = MONOTONIC) {
    const ratio = options.ratio ?? RETRY_BUDGET_DEFAULTS.ratio;
    const minPerSecond = options.minPerSecond ?? RETRY_BUDGET_DEFAULTS.minPerSecond;
    const windowMs = options.windowMs ?? RETRY_BUDGET_DEFAULTS.windowMs;
    if (!(ratio >= 0)) throw new RangeError(`RetryBudget: ratio must be >= 0, got ${ratio}`);
    if (!(minPerSecond >= 0)) throw new RangeError(`RetryBudget: minPerSecond must be >= 0, got ${minPerSecond}`);
    if (!(windowMs > 0)) throw new RangeError(`RetryBudget: windowMs must be > 0, got ${windowMs}`);
    this.#ratio = ratio;
    this.#minPerSecond = minPerSecond;
    this.#clock = clock;
    const buckets = Math.ceil(windowMs / BUCKET_MS);
    this.#requests = new Float64Array(buckets);
    this.#retries = new Float64Array(buckets);
    this.#head = Math.floor(clock() / BUCKET_MS);
  }

  /** onRequest counts one original request (not a retry) sent to the service. */
  onRequest(): void {
    const slot = this.#advance();
    this.#requests[slot]++;
    this.#totalRequests++;
  }

  /** tryAcquire says whether one retry may be made now, and counts it when it may. */
  tryAcquire(): boolean {
    const slot = this.#advance();
    // The small epsilon absorbs float error in ratio x requests (0.1 x 30 is 3.0000000000000004).
    const byRatio = this.#totalRetries + 1 <= this.#ratio * this.#totalRequests + 1e-9;
    if (!byRatio && this.#retries[slot] >= this.#minPerSecond) return false;
    this.#retries[slot]++;
    this.#totalRetries++;
    return true;
  }

  /** #advance moves the ring to the current second, dropping buckets that left the window, and returns its slot. */
  #advance(): number {
    const size = this.#requests.length;
    const now = Math.floor(this.#clock() / BUCKET_MS);
    if (now > this.#head) {
      if (now - this.#head >= size) {
        this.#requests.fill(0);
        this.#retries.fill(0);
        this.#totalRequests = 0;
        this.#totalRetries = 0;
      } else {
        for (let s = this.#head + 1; s <= now; s++) {
          const slot = ringSlot(s, size);
          this.#totalRequests -= this.#requests[slot];
          this.#totalRetries -= this.#retries[slot];
          this.#requests[slot] = 0;
          this.#retries[slot] = 0;
        }
      }
      this.#head = now;
    }
    // A clock that steps back (only a test's can) keeps counting in the newest bucket.
    return ringSlot(this.#head, size);
  }
}

/** ringSlot maps an absolute second to its bucket; correct for negative seconds too (a test clock's). */
function ringSlot(second: number, size: number): number {
  const r = second % size;
  return r < 0 ? r + size : r;
}
