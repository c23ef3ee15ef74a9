/**
 * The metering hook compile adds to every route while `metering.enabled` is true: after each response it
 * counts the request for its consumer (`-` without one), route and status class in the current hour.
 */
import type { Feature } from '../core/feature.js';
import type { Exchange } from '../core/exchange.js';
import { ANONYMOUS, type Meter, type RouteCounter } from './meter.js';

/** MeterFeature counts each finished request of one route. */
export class MeterFeature implements Feature {
  readonly name = 'metering';
  readonly #meter: Meter;
  readonly #counter: RouteCounter;

  constructor(meter: Meter, route: string) {
    this.#meter = meter;
    this.#counter = meter.counter(route);
  }

  onLog(ex: Exchange): void {
    this.#meter.record(this.#counter, ex.identity?.consumer?.id ?? ANONYMOUS, ex.status);
  }
}
