/**
 * The contract of a backend other than the proxy: what produces a route's response once every request hook
 * has passed (KrakenD's "one function type that produces a response"). Like a feature, a backend is a key on
 * a route with a schema, an optional check and a factory run once at config load; a route names exactly one
 * backend: `service` (the proxy) or one of BACKENDS (src/backends/index.ts).
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Backend } from '../core/route.js';
import type { Clock } from '../core/clock.js';
import type { Service } from '../upstreams/service.js';
import type { Counters } from '../stores/counters.js';

/** BackendCheckContext is what a backend's check may read: names, not built objects. */
export interface BackendCheckContext {
  readonly routeName: string;
  /** Directory of the config file, for paths relative to it. */
  readonly configDir: string;
  /** Names of the services under `services:`. */
  readonly serviceNames: ReadonlySet<string>;
  /** Names of the route's path parameters (`/users/:id` → `id`); `*` when the pattern ends in `/*`. */
  readonly paramNames: ReadonlySet<string>;
}

/** BackendContext is what a backend's factory may use while building it. */
export interface BackendContext extends BackendCheckContext {
  readonly log: Logger;
  readonly clock: Clock;
  /** The services of this config generation, by name. */
  readonly services: ReadonlyMap<string, Service>;
  /** Store, meter and wall clock shared with limits (outlives config generations). */
  readonly counters: Counters;
}

/** BackendDefinition is the static description of a backend: its route key, schema, check and factory. */
export interface BackendDefinition<S extends TSchema = TSchema> {
  readonly key: string;
  readonly schema: S;
  /** check returns [key path relative to the backend's key, message] pairs the schema cannot express. */
  check?(config: Static<S>, ctx: BackendCheckContext): readonly (readonly [string, string])[];
  /** create builds the backend; it may throw an Error whose message names what is wrong (it becomes a config error). */
  create(config: Static<S>, ctx: BackendContext): Backend;
}

/** defineBackend keeps a definition's config type tied to its schema. */
export function defineBackend<S extends TSchema>(def: BackendDefinition<S>): BackendDefinition<S> {
  return def;
}
