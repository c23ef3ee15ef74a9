/**
 * Smooth weighted round-robin, the algorithm nginx uses for `upstream` weights. Each pick adds every
 * candidate's weight to its running `current`, takes the largest, and subtracts the candidates' total from
 * the winner. Weights 5:1:1 then give a a b a c a a rather than a a a a a b c, so a heavy target never
 * receives a burst. Unavailable targets and `avoid` sit the round out, as in nginx.
 */
import type { Balancer, BalancerTarget } from './types.js';

/** RoundRobinBalancer spreads picks over available targets in proportion to their weights, smoothly. */
export class RoundRobinBalancer<T extends BalancerTarget> implements Balancer<T> {
  readonly #targets: readonly T[];
  // Weights are copied once: the target's `weight` is readonly, and a typed array read is cheaper than a
  // property load through a generic T on every pick.
  readonly #weights: Float64Array;
  readonly #current: Float64Array;

  constructor(targets: readonly T[]) {
    this.#targets = targets;
    this.#weights = new Float64Array(targets.length);
    this.#current = new Float64Array(targets.length);
    for (let i = 0; i < targets.length; i++) this.#weights[i] = targets[i].weight;
  }

  pick(_hashKey: string | undefined, avoid: T | null): T | null {
    const targets = this.#targets;
    const weights = this.#weights;
    const current = this.#current;
    let best = -1;
    let total = 0;
    let avoidAvailable = false;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      if (!t.available) continue;
      if (t === avoid) {
        avoidAvailable = true;
        continue;
      }
      const c = current[i] + weights[i];
      current[i] = c;
      total += weights[i];
      if (best < 0 || c > current[best]) best = i;
    }
    if (best < 0) return avoidAvailable ? avoid : null;
    current[best] -= total;
    return targets[best];
  }
}
