/**
 * The admin listener: liveness (/healthz), readiness (/readyz), Prometheus metrics (/metrics) and cache
 * purges (POST /cache/purge), on its own port, bound to loopback unless configured otherwise (and then only
 * with a token). Probes need no token so orchestrators can call them; everything else does when a token is
 * set. Answers are small JSON documents; errors are problem+json like the gateway's own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Runtime } from '../core/runtime.js';
import type { Counters } from '../stores/counters.js';
import type { AdminConfig } from './schema.js';
import { purgeCache } from '../features/cache/feature.js';

/** MetricsSource renders the Prometheus exposition. */
export interface MetricsSource {
  readonly contentType: string;
  metricsText(): Promise<string>;
}

/** AdminState is what the admin endpoints read: always the current generation and counters. */
export interface AdminState {
  runtime(): Runtime;
  counters(): Counters;
  metrics: MetricsSource | null;
  /** Whether the gateway is shutting down (then it is not ready, so load balancers stop sending). */
  draining(): boolean;
}

/** Readiness is the /readyz document. */
export interface Readiness {
  ready: boolean;
  checks: { config: 'ok'; shutdown: boolean; store: 'up' | 'down'; services: Record<string, { critical: boolean; available: number; targets: number }> };
}

/**
 * readiness says whether the gateway should receive traffic: not shutting down, the store reachable (when
 * limits fail closed without it: with `failMode: open` the gateway serves through an outage, and marking
 * every instance on one Redis unready at once would turn a Redis outage into a full one), and every critical
 * service with an available target.
 */
export function readiness(rt: Runtime, counters: Counters, draining = false): Readiness {
  const services: Readiness['checks']['services'] = {};
  let ready = !draining;
  const storeUp = counters.store.health.up;
  if (!storeUp && counters.failMode === 'closed') ready = false;
  for (const s of rt.services.values()) {
    const available = s.targets.filter((t) => t.available).length;
    services[s.name] = { critical: s.critical, available, targets: s.targets.length };
    if (s.critical && available === 0) ready = false;
  }
  return { ready, checks: { config: 'ok', shutdown: draining, store: storeUp ? 'up' : 'down', services } };
}

/** AdminServer serves the admin endpoints. */
export class AdminServer {
  readonly #server: Server;
  readonly #state: AdminState;
  readonly #token: Buffer | null;
  #pinged: Promise<boolean> | null = null;
  #pingedAt = 0;

  constructor(config: AdminConfig, state: AdminState) {
    this.#state = state;
    // Compared as SHA-256 digests so the comparison is constant-time whatever the lengths.
    this.#token = config.token === undefined ? null : digest(config.token);
    this.#server = createServer((req, res) => { void this.#handle(req, res); });
    this.#server.keepAliveTimeout = 5_000;
  }

  /** listen binds the admin port; resolves with the address. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => { this.#server.off('error', reject); resolve(this.#server.address() as AddressInfo); });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => { this.#server.close(() => resolve()); this.#server.closeAllConnections(); });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (path === '/cache/purge') {
        if (req.method !== 'POST') return problem(res, 405, 'GH_METHOD_NOT_ALLOWED', 'Only POST is served here', ['allow', 'POST']);
        if (!this.#authorized(req)) return problem(res, 401, 'GH_UNAUTHORIZED', 'Authentication is required or the credentials were not accepted', ['www-authenticate', 'Bearer realm="gatehouse-admin"']);
        return await this.#purge(req, res, q === -1 ? '' : url.slice(q + 1));
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return problem(res, 405, 'GH_METHOD_NOT_ALLOWED', 'Only GET and HEAD are served here', ['allow', 'GET, HEAD']);
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        // The store is asked directly (at most once a second), not judged by what requests last saw: a Redis
        // that hangs while no limited request comes would otherwise look up.
        const now = performance.now();
        if (this.#pinged === null || now - this.#pingedAt > 1000) { this.#pingedAt = now; this.#pinged = this.#state.counters().store.ping(); }
        await this.#pinged;
        const r = readiness(this.#state.runtime(), this.#state.counters(), this.#state.draining());
        return json(res, r.ready ? 200 : 503, r);
      }
      if (!this.#authorized(req)) return problem(res, 401, 'GH_UNAUTHORIZED', 'Authentication is required or the credentials were not accepted', ['www-authenticate', 'Bearer realm="gatehouse-admin"']);
      if (path === '/metrics' && this.#state.metrics !== null) {
        const text = await this.#state.metrics.metricsText();
        res.writeHead(200, { 'content-type': this.#state.metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      return problem(res, 404, 'GH_ROUTE_NOT_FOUND', 'No route matches this request');
    } catch {
      if (!res.headersSent) problem(res, 500, 'GH_INTERNAL', 'Internal gateway error');
      else res.destroy();
    }
  }

  /**
   * POST /cache/purge?route=NAME[&prefix=/path/]: deletes a route's cached responses (those under a path
   * prefix, with `prefix`) and answers `{ "purged": n }`. A request from a browser page (it carries `Origin`)
   * is refused: without a token, any page the operator visits could otherwise purge through loopback.
   */
  async #purge(req: IncomingMessage, res: ServerResponse, query: string): Promise<void> {
    if (req.headers.origin !== undefined) return problem(res, 403, 'GH_FORBIDDEN', 'Requests from browser pages are not accepted here');
    const params = new URLSearchParams(query);
    const route = params.get('route');
    const prefix = params.get('prefix');
    if (route === null || route === '') return problem(res, 400, 'GH_BAD_REQUEST', 'The route to purge is required: ?route=NAME');
    let r;
    try {
      r = await purgeCache(this.#state.runtime(), route, prefix ?? undefined);
    } catch {
      return problem(res, 503, 'GH_STORE_UNAVAILABLE', 'The cache store cannot be reached');
    }
    if (r.ok) return json(res, 200, { route, prefix, purged: r.purged });
    if (r.reason === 'unknown-route') return problem(res, 404, 'GH_ROUTE_NOT_FOUND', 'No route has this name');
    if (r.reason === 'no-cache') return problem(res, 400, 'GH_BAD_REQUEST', 'This route has no cache');
    return problem(res, 400, 'GH_BAD_REQUEST', 'The prefix must start with /');
  }

  #authorized(req: IncomingMessage): boolean {
    if (this.#token === null) return true;
    const h = req.headers.authorization;
    if (h === undefined || !/^Bearer /i.test(h)) return false;
    return timingSafeEqual(digest(h.slice(7).trim()), this.#token);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function problem(res: ServerResponse, status: number, code: string, title: string, headers: string[] = []): void {
  const text = JSON.stringify({ type: `https://gatehouse.dev/errors/${code.toLowerCase().replace(/_/g, '-')}`, title, status, code });
  res.writeHead(status, ['content-type', 'application/problem+json', 'content-length', String(Buffer.byteLength(text)), 'cache-control', 'no-store', ...headers]);
  res.end(text);
}
