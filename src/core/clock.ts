/**
 * A coarse monotonic clock in milliseconds, shared by the hot path, and injectable in tests.
 * `performance.now()` is cheap, but state machines (breakers, ejections, budgets) take a `Clock` so tests can
 * drive time by hand instead of sleeping.
 */

/** Clock returns the current time in milliseconds (monotonic for the real one). */
export type Clock = () => number;

/** MONOTONIC is the process clock used in production. */
export const MONOTONIC: Clock = () => performance.now();

/** ManualClock is a clock for tests that only moves when told to. */
export class ManualClock {
  t = 0;
  readonly now: Clock = () => this.t;
  advance(ms: number): void { this.t += ms; }
}
