/**
 * Passive health checking per target: outlier detection from real traffic, like Envoy's consecutive-5xx.
 * After `failures` consecutive failures the target is ejected (balancers skip it) for a cooldown. When the
 * cooldown ends the target is half-open: it may take ONE trial request. A trial success readmits it and
 * resets everything; a trial failure ejects it again for twice the previous cooldown, up to maxCooldownMs,
 * so a target that stays broken is probed ever less often.
 *
 * Usage per request sent to the target: `onDispatch()` when it is sent (claims the trial in half-open, so
 * the balancers stop choosing the target until the verdict); then exactly one of `onSuccess()`,
 * `onFailure()` or `release()` (no verdict, e.g. the client went away). Time is read lazily from the clock;
 * there is no timer.
 */
import { MONOTONIC, type Clock } from '../core/clock.js';

/** PassiveHealthOptions configures outlier detection for the targets of a service. */
export interface PassiveHealthOptions {
  /** Consecutive failures that eject a target, an integer >= 1. */
  readonly failures: number;
  /** First ejection time, in milliseconds. */
  readonly cooldownMs: number;
  /** Upper bound for the doubled ejection time, in milliseconds (>= cooldownMs). */
  readonly maxCooldownMs: number;
}

/** PassiveHealth tracks one target's consecutive failures and ejection; see the file comment. */
export class PassiveHealth {
  /**
   * onChange, when set, is told when the target is ejected (`true`, with the ejection time in ms) or
   * readmitted (`false`, with 0). The gateway logs it; it must not throw.
   */
  onChange: ((ejected: boolean, cooldownMs: number) => void) | null = null;

  readonly #failures: number;
  readonly #baseCooldownMs: number;
  readonly #maxCooldownMs: number;
  readonly #clock: Clock;
  #consecutiveFailures = 0;
  /** True from an ejection until a readmission; half-open is `#ejectedState && now >= #ejectedUntil`. */
  #ejectedState = false;
  #ejectedUntil = 0;
  /** The ejection time used last; doubled on each failed trial. */
  #cooldownMs: number;
  #trialInFlight = false;
  #trialStartedAt = 0;

  constructor(options: PassiveHealthOptions, clock: Clock = MONOTONIC) {
    if (!Number.isInteger(options.failures) || options.failures < 1) {
      throw new RangeError(`PassiveHealth: failures must be an integer >= 1, got ${options.failures}`);
    }
    if (!(options.cooldownMs >= 0)) throw new RangeError(`PassiveHealth: cooldownMs must be >= 0, got ${options.cooldownMs}`);
    if (!(options.maxCooldownMs >= options.cooldownMs)) {
      throw new RangeError(`PassiveHealth: maxCooldownMs (${options.maxCooldownMs}) must be >= cooldownMs (${options.cooldownMs})`);
    }
    this.#failures = options.failures;
    this.#baseCooldownMs = options.cooldownMs;
    this.#maxCooldownMs = options.maxCooldownMs;
    this.#cooldownMs = options.cooldownMs;
    this.#clock = clock;
  }

  /**
   * ejected is true while the target must not be chosen: during the cooldown, and while half-open once its
   * one trial is in flight. A trial with no verdict for a whole cooldown is presumed lost, so a caller that
   * forgets release() cannot eject a target forever.
   */
  get ejected(): boolean {
    if (!this.#ejectedState) return false;
    const now = this.#clock();
    if (now < this.#ejectedUntil) return true;
    return this.#trialInFlight && now - this.#trialStartedAt < this.#cooldownMs;
  }

  /** ejectedUntil is the clock time the current ejection ends (half-open after it), or 0 when not ejected. */
  get ejectedUntil(): number {
    return this.#ejectedState ? this.#ejectedUntil : 0;
  }

  /** halfOpen is true once an ejection's cooldown is over and the target awaits a trial verdict. */
  get halfOpen(): boolean {
    return this.#ejectedState && this.#clock() >= this.#ejectedUntil;
  }

  /** cooldownMs is the ejection time in force: the base one, or the doubled one after failed trials. */
  get cooldownMs(): number {
    return this.#cooldownMs;
  }

  /** onDispatch records that a request is being sent to the target; in half-open it claims the one trial. */
  onDispatch(): void {
    if (!this.#ejectedState) return;
    const now = this.#clock();
    if (now >= this.#ejectedUntil) {
      this.#trialInFlight = true;
      this.#trialStartedAt = now;
    }
  }

  /** onSuccess records a healthy response; in half-open it readmits the target. */
  onSuccess(): void {
    if (!this.#ejectedState) {
      this.#consecutiveFailures = 0;
      return;
    }
    // During the cooldown a success is a late answer to a request sent before the ejection: ignored.
    if (this.#clock() < this.#ejectedUntil) return;
    this.readmit();
  }

  /** onFailure records a failed response; it may eject the target, or eject it again for longer. */
  onFailure(): void {
    const now = this.#clock();
    if (!this.#ejectedState) {
      if (++this.#consecutiveFailures >= this.#failures) this.#eject(now, this.#baseCooldownMs);
      return;
    }
    if (now < this.#ejectedUntil) return;
    this.#eject(now, Math.min(this.#cooldownMs * 2, this.#maxCooldownMs));
  }

  /**
   * readmit ends an ejection at once: a request sent in panic mode (every target ejected) was answered well,
   * which proves the target works, unlike a late answer to a request sent before the ejection.
   */
  readmit(): void {
    if (!this.#ejectedState) return;
    this.#consecutiveFailures = 0;
    this.#ejectedState = false;
    this.#ejectedUntil = 0;
    this.#cooldownMs = this.#baseCooldownMs;
    this.#trialInFlight = false;
    if (this.onChange !== null) this.onChange(false, 0);
  }

  /** release ends a request with no verdict (e.g. the client aborted); it frees a claimed trial. */
  release(): void {
    this.#trialInFlight = false;
  }

  #eject(now: number, cooldownMs: number): void {
    this.#ejectedState = true;
    this.#cooldownMs = cooldownMs;
    this.#ejectedUntil = now + cooldownMs;
    this.#trialInFlight = false;
    if (this.onChange !== null) this.onChange(true, cooldownMs);
  }
}
