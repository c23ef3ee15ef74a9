/**
 * A circuit breaker per service: after a run of consecutive failures the gateway stops sending traffic to a
 * failing service for a cooldown and answers 503 with Retry-After at once, instead of queueing clients
 * behind timeouts. After the cooldown a few trial requests probe the service; one success closes the
 * breaker, one failure opens it again.
 *
 * closed --(failures consecutive failures)--> open --(cooldownMs elapsed)--> half-open
 * half-open --(a trial succeeds)--> closed;  half-open --(a trial fails)--> open
 *
 * Usage per request: `allow()` before sending; then exactly one of `onSuccess()`, `onFailure()` or
 * `release()` (the request ended with no verdict on the service's health, e.g. the client went away).
 * The open -> half-open move is made lazily when the clock is read, so the breaker needs no timer.
 */
import { MONOTONIC, type Clock } from '../core/clock.js';

/** CircuitState is the breaker's state, as shown in logs and the admin API. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** CircuitBreakerOptions configures a breaker; all fields are validated by the service schema first. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker, an integer >= 1. */
  readonly failures: number;
  /** How long the breaker stays open before it admits trials, in milliseconds. */
  readonly cooldownMs: number;
  /** Trial requests allowed in flight at once while half-open, an integer >= 1. */
  readonly halfOpenRequests: number;
}

/** CircuitBreaker guards one service; see the file comment for the state machine and the calling protocol. */
export class CircuitBreaker {
  /** onStateChange, when set, is told of every transition (the gateway logs them). It must not throw. */
  onStateChange: ((from: CircuitState, to: CircuitState) => void) | null = null;

  readonly #failures: number;
  readonly #cooldownMs: number;
  readonly #halfOpenRequests: number;
  readonly #clock: Clock;
  #state: CircuitState = 'closed';
  #consecutiveFailures = 0;
  /** Clock time at which an open breaker turns half-open. */
  #openUntil = 0;
  /** Half-open trials admitted and not yet finished. */
  #trials = 0;
  /** Clock time of the last admitted trial, to reclaim slots whose verdict never came. */
  #lastTrialAt = 0;

  constructor(options: CircuitBreakerOptions, clock: Clock = MONOTONIC) {
    if (!Number.isInteger(options.failures) || options.failures < 1) {
      throw new RangeError(`CircuitBreaker: failures must be an integer >= 1, got ${options.failures}`);
    }
    if (!(options.cooldownMs >= 0)) throw new RangeError(`CircuitBreaker: cooldownMs must be >= 0, got ${options.cooldownMs}`);
    if (!Number.isInteger(options.halfOpenRequests) || options.halfOpenRequests < 1) {
      throw new RangeError(`CircuitBreaker: halfOpenRequests must be an integer >= 1, got ${options.halfOpenRequests}`);
    }
    this.#failures = options.failures;
    this.#cooldownMs = options.cooldownMs;
    this.#halfOpenRequests = options.halfOpenRequests;
    this.#clock = clock;
  }

  /** state is the current state; reading it may move an open breaker whose cooldown is over to half-open. */
  get state(): CircuitState {
    this.#tick(this.#clock());
    return this.#state;
  }

  /**
   * allow says whether a request may be sent now. In half-open a true answer reserves a trial slot, which the
   * caller MUST give back with onSuccess, onFailure or release.
   */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    const now = this.#clock();
    this.#tick(now);
    if (this.#state !== 'half-open') return false;
    // A slot held for a whole cooldown with no verdict is presumed lost (a caller bug or a hung request):
    // reclaiming it keeps one leak from holding the service shut forever.
    if (this.#trials >= this.#halfOpenRequests && now - this.#lastTrialAt >= this.#cooldownMs) this.#trials = 0;
    if (this.#trials >= this.#halfOpenRequests) return false;
    this.#trials++;
    this.#lastTrialAt = now;
    return true;
  }

  /** onSuccess records a healthy response: it resets the failure run, and closes a half-open breaker. */
  onSuccess(): void {
    if (this.#state === 'closed') {
      this.#consecutiveFailures = 0;
      return;
    }
    this.#tick(this.#clock());
    // A success landing while open belongs to a request sent before the breaker opened: old news.
    if (this.#state === 'half-open') this.#close();
  }

  /** onFailure records a failed response: it may open a closed breaker, and reopens a half-open one. */
  onFailure(): void {
    const now = this.#clock();
    if (this.#state === 'closed') {
      if (++this.#consecutiveFailures >= this.#failures) this.#open(now);
      return;
    }
    this.#tick(now);
    if (this.#state === 'half-open') this.#open(now);
  }

  /** release gives back a trial slot for a request that ended with no verdict (e.g. the client aborted). */
  release(): void {
    if (this.#state === 'half-open' && this.#trials > 0) this.#trials--;
  }

  /** retryAfterSeconds is the Retry-After value for a refused request: whole seconds left open, at least 1. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#openUntil - this.#clock()) / 1000));
  }

  #tick(now: number): void {
    if (this.#state === 'open' && now >= this.#openUntil) {
      this.#trials = 0;
      this.#transition('half-open');
    }
  }

  #open(now: number): void {
    this.#openUntil = now + this.#cooldownMs;
    this.#trials = 0;
    this.#transition('open');
  }

  #close(): void {
    this.#consecutiveFailures = 0;
    this.#trials = 0;
    this.#transition('closed');
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to && this.onStateChange !== null) this.onStateChange(from, to);
  }
}
