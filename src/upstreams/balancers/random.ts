/**
 * Power of two choices (Mitzenmacher): draw two distinct available targets at random, weighted by `weight`,
 * and send the request to the less loaded of the two. It nearly matches least-connections under load, needs
 * no shared rotation state, and does not herd every gateway instance onto the same idle target.
 *
 * Load is compared as `active / weight` (with equal weights that is simply "fewer active"): a heavy target
 * is meant to carry more requests and must not be passed over for carrying them. Ties go to the first draw,
 * which keeps the pick distribution exactly weighted when targets are idle.
 */
import type { Balancer, BalancerTarget } from './types.js';

/** RandomSource returns a float in [0, 1), like `Math.random`; tests inject a seeded one. */
export type RandomSource = () => number;

/** RandomBalancer is power-of-two-choices over a weighted random draw. */
export class RandomBalancer<T extends BalancerTarget> implements Balancer<T> {
  readonly #targets: readonly T[];
  readonly #weights: Float64Array;
  readonly #random: RandomSource;

  constructor(targets: readonly T[], random: RandomSource = Math.random) {
    this.#targets = targets;
    this.#weights = new Float64Array(targets.length);
    this.#random = random;
    for (let i = 0; i < targets.length; i++) this.#weights[i] = targets[i].weight;
  }

  pick(_hashKey: string | undefined, avoid: T | null): T | null {
    const targets = this.#targets;
    const weights = this.#weights;
    let total = 0;
    let count = 0;
    let avoidAvailable = false;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      if (!t.available) continue;
      if (t === avoid) avoidAvailable = true;
      else {
        total += weights[i];
        count++;
      }
    }
    if (count === 0) return avoidAvailable ? avoid : null;
    const first = this.#draw(total, -1, avoid);
    const a = targets[first];
    if (count === 1) return a;
    const b = targets[this.#draw(total - weights[first], first, avoid)];
    return b.active * a.weight < a.active * b.weight ? b : a;
  }

  /** #draw picks one candidate index with probability weight / total, skipping `exclude`. */
  #draw(total: number, exclude: number, avoid: T | null): number {
    const targets = this.#targets;
    const weights = this.#weights;
    let r = this.#random() * total;
    let last = -1;
    for (let i = 0; i < targets.length; i++) {
      if (i === exclude) continue;
      const t = targets[i];
      if (!t.available || t === avoid) continue;
      last = i;
      r -= weights[i];
      if (r < 0) return i;
    }
    // Only reached when float rounding leaves r a hair above zero: the last candidate owns that sliver.
    return last;
  }
}
