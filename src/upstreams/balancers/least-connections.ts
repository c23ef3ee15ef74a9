/**
 * Least-connections: send the request to the available target with the fewest requests in flight per unit of
 * weight (`active / weight`, compared by cross-multiplication so no division and no float error).
 *
 * Ties are the common case, not the edge case: under light or sequential traffic every target is idle. A
 * plain "first lowest wins" would send all of that traffic to the first target, and a rotating start index
 * would be fair but ignore weights. As nginx's least_conn does, ties are broken by smooth weighted
 * round-robin among the tied targets, so idle targets share traffic in proportion to their weights.
 */
import type { Balancer, BalancerTarget } from './types.js';

/** LeastConnectionsBalancer picks the target with the lowest `active / weight`, ties by weighted rotation. */
export class LeastConnectionsBalancer<T extends BalancerTarget> implements Balancer<T> {
  readonly #targets: readonly T[];
  readonly #weights: Float64Array;
  // Smooth weighted round-robin state, advanced only for the targets that tie on a pick.
  readonly #current: Float64Array;

  constructor(targets: readonly T[]) {
    this.#targets = targets;
    this.#weights = new Float64Array(targets.length);
    this.#current = new Float64Array(targets.length);
    for (let i = 0; i < targets.length; i++) this.#weights[i] = targets[i].weight;
  }

  pick(_hashKey: string | undefined, avoid: T | null): T | null {
    const targets = this.#targets;
    const n = targets.length;
    // Pass 1: the lowest load and how many targets share it.
    let best = -1;
    let bestActive = 0;
    let bestWeight = 1;
    let ties = 0;
    let avoidAvailable = false;
    for (let i = 0; i < n; i++) {
      const t = targets[i];
      if (!t.available) continue;
      if (t === avoid) {
        avoidAvailable = true;
        continue;
      }
      const lhs = t.active * bestWeight;
      const rhs = bestActive * t.weight;
      if (best < 0 || lhs < rhs) {
        best = i;
        bestActive = t.active;
        bestWeight = t.weight;
        ties = 1;
      } else if (lhs === rhs) {
        ties++;
      }
    }
    if (best < 0) return avoidAvailable ? avoid : null;
    if (ties === 1) return targets[best];

    // Pass 2: smooth weighted round-robin among the tied targets only. Targets before `best` cannot tie.
    const weights = this.#weights;
    const current = this.#current;
    let chosen = -1;
    let total = 0;
    for (let i = best; i < n; i++) {
      const t = targets[i];
      if (!t.available || t === avoid || t.active * bestWeight !== bestActive * t.weight) continue;
      const c = current[i] + weights[i];
      current[i] = c;
      total += weights[i];
      if (chosen < 0 || c > current[chosen]) chosen = i;
    }
    current[chosen] -= total;
    return targets[chosen];
  }
}
