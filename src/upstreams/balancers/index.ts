/**
 * The one entry point that turns a service's `balance:` choice and its targets into a Balancer, once, at
 * config load. As KrakenD does, the stack is specialised at build time: a service with a single target gets
 * no algorithm at all, just an availability check.
 */
import { ConsistentHashBalancer } from './consistent-hash.js';
import { LeastConnectionsBalancer } from './least-connections.js';
import { RandomBalancer } from './random.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerKind, BalancerTarget } from './types.js';

export type { Balancer, BalancerKind, BalancerTarget } from './types.js';
export { ConsistentHashBalancer, hash32, VNODES_PER_WEIGHT } from './consistent-hash.js';
export { LeastConnectionsBalancer } from './least-connections.js';
export { RandomBalancer, type RandomSource } from './random.js';
export { RoundRobinBalancer } from './round-robin.js';

/** BALANCER_KINDS lists every algorithm, for the schema's enum and for the conformance suite. */
export const BALANCER_KINDS: readonly BalancerKind[] = ['round-robin', 'least-connections', 'consistent-hash', 'random'];

/** SingleTargetBalancer serves a service with one target: it is available or nothing is. */
export class SingleTargetBalancer<T extends BalancerTarget> implements Balancer<T> {
  readonly #target: T;

  constructor(target: T) {
    this.#target = target;
  }

  // `avoid` can only be this target, and the contract says to return it rather than nothing.
  pick(_hashKey: string | undefined, _avoid: T | null): T | null {
    return this.#target.available ? this.#target : null;
  }
}

/**
 * createBalancer builds the balancer for one service. It throws a RangeError when the targets break the
 * contract (none, a weight that is not an integer >= 1, a repeated id); config validation should have caught
 * these first, so the error is a programming error, not a user one.
 */
export function createBalancer<T extends BalancerTarget>(kind: BalancerKind, targets: readonly T[]): Balancer<T> {
  if (targets.length === 0) throw new RangeError('createBalancer: a service needs at least one target');
  const ids = new Set<string>();
  for (const t of targets) {
    if (!Number.isInteger(t.weight) || t.weight < 1) {
      throw new RangeError(`createBalancer: target ${t.id} has weight ${t.weight}; expected an integer >= 1`);
    }
    if (ids.has(t.id)) throw new RangeError(`createBalancer: target ${t.id} is listed twice`);
    ids.add(t.id);
  }
  if (targets.length === 1) return new SingleTargetBalancer(targets[0]);
  switch (kind) {
    case 'round-robin':
      return new RoundRobinBalancer(targets);
    case 'least-connections':
      return new LeastConnectionsBalancer(targets);
    case 'consistent-hash':
      return new ConsistentHashBalancer(targets);
    case 'random':
      return new RandomBalancer(targets);
    default: {
      const unknown: never = kind;
      throw new RangeError(`createBalancer: unknown balancer kind ${String(unknown)}`);
    }
  }
}
