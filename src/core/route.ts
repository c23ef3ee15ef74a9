/**
 * A route compiled for the hot path: its matcher, its pipeline (hook arrays that are null when empty) and
 * its backend. Built once at config load by src/config/compile.ts.
 */
import type { Feature } from './feature.js';
import type { Service } from '../upstreams/service.js';
import type { RouteMatcher } from './router.js';

/** Backend produces the response of a route once every request hook has passed. */
export interface Backend {
  handle(ex: import('./exchange.js').Exchange): void | Promise<void>;
  /** start runs when the config generation goes live (function workers start then, not on the first request). */
  start?(): void;
  close?(): void | Promise<void>;
}

/** CompiledRoute is the runtime form of one `routes:` entry. */
export interface CompiledRoute {
  readonly name: string;
  /** Position in the config file, for messages and as the last tie-breaker. */
  readonly index: number;
  /** Explicit priority (0 when not set). */
  readonly priority: number;
  readonly matcher: RouteMatcher;
  /** Request hooks in stage order, or null when the route has none. */
  readonly onRequest: readonly Feature[] | null;
  /** Response hooks in reverse stage order, or null. */
  readonly onResponse: readonly Feature[] | null;
  /** Response body hooks in reverse stage order, or null (then responses stream through untouched). */
  readonly onResponseBody: readonly Feature[] | null;
  /** Log hooks, or null. */
  readonly onLog: readonly Feature[] | null;
  /** Every feature, for close(). */
  readonly features: readonly Feature[];
  readonly service: Service | null;
  readonly backend: Backend;
  /** What takes a WebSocket upgrade on this route (`websocket:`), or null: upgrades are refused. */
  readonly websocket: Backend | null;
  /** Upstream response headers never passed to the client: the service's `removeResponseHeaders` and the features'. */
  readonly removeResponseHeaders: ReadonlySet<string>;
  /** Headers added to a proxied response only where the upstream's lacks them, flat; null when none. */
  readonly defaultResponseHeaders: readonly string[] | null;
  /** Whether a feature of the route answers CORS preflights. */
  readonly handlesPreflight: boolean;
  /** Largest request body in bytes. */
  readonly bodyLimit: number;
}
