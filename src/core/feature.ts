/**
 * The contract of a feature (a YAML key on a route, a service or under `defaults`). A feature is a factory
 * that validates its config once at load and returns a small runtime object implementing only the hooks it
 * needs. Hooks MUST NOT build closures per request; they read the exchange and prebuilt state.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Stage } from './stages.js';
import type { Exchange } from './exchange.js';
import type { Clock } from './clock.js';
import type { Authenticator, ConsumerDirectory } from '../identity/types.js';
import type { Counters } from '../stores/counters.js';
import type { PlanIndex } from '../plans/plans.js';
import type { Service } from '../upstreams/service.js';

/** FeatureScope says where a feature key may stand in the config. */
export type FeatureScope = 'route' | 'service' | 'defaults';

/** FeatureContext is what a factory may use while building its runtime object. */
export interface FeatureContext {
  /** Name of the route being compiled. */
  readonly routeName: string;
  /** Directory of the config file, for features that reference files relative to it. */
  readonly configDir: string;
  readonly log: Logger;
  readonly clock: Clock;
  /** Whether routes match paths case-sensitively (`routing.caseSensitive`). */
  readonly caseSensitive: boolean;
  /** The consumers of this config generation. */
  readonly consumers: ConsumerDirectory;
  /** The named authenticators under `auth:` of this config generation. */
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  /**
   * Objects shared by every route of this config generation (a schema compiler, say), under a key of the
   * feature's own, so work done for one route is reused by the others and a reload starts afresh.
   */
  readonly generation: Map<unknown, unknown>;
  /** The store, usage meter, fail mode and wall clock shared by limits (outlives config generations). */
  readonly counters: Counters;
  /** The plans of this config generation. */
  readonly plans: PlanIndex;
  /** The route's service when it is proxied (`service:`), else null; also null while checks run (before services are built). */
  readonly service: Service | null;
  /**
   * The kind of the configured top-level `store:`. `counters.store` is that store in a running gateway, but
   * tools (`gatehouse validate`) compile on private memory counters, so checks read the config's kind here.
   */
  readonly storeKind: 'memory' | 'redis';
}

/**
 * Feature is the runtime object of one feature on one route.
 * - onRequest runs in stage order; it MAY answer (via `ex.reply*`), which stops the chain. It returns
 *   `undefined` or a promise; the pipeline awaits only real promises.
 * - onResponse runs in reverse stage order once upstream response headers are known, before they are
 *   written; it may add headers with `ex.addResponseHeader`.
 * - onLog runs after the response is finished; it MUST NOT throw.
 * - close runs when the config that built it is retired (hot reload, shutdown).
 */
export interface Feature {
  readonly name: string;
  /**
   * handlesPreflight marks a feature that answers CORS preflights (`OPTIONS` with `Origin` and
   * `Access-Control-Request-Method`). A route with one is found by the method the preflight asks about, so a
   * GET-only route can answer its preflight; `ex.preflight` is then true.
   */
  readonly handlesPreflight?: boolean;
  /**
   * removeResponseHeaders names (lower-case) upstream response headers this feature keeps from the client.
   * Known at config load: compile merges them with the service's into CompiledRoute.removeResponseHeaders.
   */
  readonly removeResponseHeaders?: ReadonlySet<string>;
  /**
   * defaultResponseHeaders, flat [lower-case name, value, ...], are added to a proxied response only where
   * the upstream's response lacks that header (security headers that defer to the service's own values).
   */
  readonly defaultResponseHeaders?: readonly string[];
  onRequest?(ex: Exchange): void | Promise<void>;
  onResponse?(ex: Exchange): void;
  onLog?(ex: Exchange): void;
  /**
   * onResponseBody transforms a JSON response body (parsed) before it is written; runs in reverse stage
   * order after onResponse. Defining it makes the proxy buffer the JSON responses of the route (bounded).
   * It returns the value to serialize (the same object, changed in place, is fine).
   */
  onResponseBody?(ex: Exchange, body: unknown): unknown;
  close?(): void | Promise<void>;
}

/** FeatureDefinition is the static description of a feature: its key, stage, schema and factory. */
export interface FeatureDefinition<S extends TSchema = TSchema> {
  /** The YAML key; also the feature's name in logs and metrics. */
  readonly key: string;
  readonly stage: Stage;
  readonly schema: S;
  readonly scopes: readonly FeatureScope[];
  /** preload imports what the feature needs beyond the always-loaded core, before create (src/core/lazy.ts). */
  preload?(): Promise<unknown>;
  /** create turns validated config into the runtime object. */
  create(config: Static<S>, ctx: FeatureContext): Feature;
  /**
   * check returns config problems the schema cannot express (a name that refers to nothing, say), as
   * [key path relative to the feature's key, message] pairs; '' for the key itself. Runs before create.
   */
  check?(config: Static<S>, ctx: FeatureContext): readonly (readonly [string, string])[];
  /**
   * onResponseBody, when a feature defines it, makes the proxy buffer JSON responses of its routes (up to
   * `MAX_BUFFERED_RESPONSE`) and pass the parsed body through every such hook before writing it.
   */
}

/** defineFeature keeps a definition's config type tied to its schema. */
export function defineFeature<S extends TSchema>(def: FeatureDefinition<S>): FeatureDefinition<S> {
  return def;
}
