/**
 * Load-balancer contract. A balancer is built once per service at config load over an immutable list of
 * targets and answers `pick()` per request. It reads each target's live state (`available`, `active`) but
 * never allocates per pick beyond what the algorithm needs.
 */

/** BalancerTarget is the view of an upstream target that balancers need. */
export interface BalancerTarget {
  /** Stable identity, e.g. `http://127.0.0.1:3001`; consistent hashing places targets on its ring by it. */
  readonly id: string;
  /** Relative weight, an integer >= 1. */
  readonly weight: number;
  /** Requests in flight to this target right now (for least-connections and power-of-two-choices). */
  readonly active: number;
  /** False while the target is ejected by active or passive health checking. */
  readonly available: boolean;
}

/** Balancer picks one available target for a request, or null when none is available. */
export interface Balancer<T extends BalancerTarget> {
  /**
   * pick MUST return only targets whose `available` is true, and MUST NOT return `avoid` when another
   * available target exists (retries go to another target). When `avoid` is the only available target, pick
   * MUST return it: a retry to the same target beats no retry, and the retry budget already bounds retries.
   * It returns null only when no target is available. `hashKey` is used by consistent hashing only; when it
   * is undefined a hashing balancer falls back to round-robin.
   */
  pick(hashKey: string | undefined, avoid: T | null): T | null;
}

/** BalancerKind names the algorithms a service can choose with `balance:`. */
export type BalancerKind = 'round-robin' | 'least-connections' | 'consistent-hash' | 'random';
