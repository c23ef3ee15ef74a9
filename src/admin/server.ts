/**
 * The admin listener: liveness (/healthz), readiness (/readyz), Prometheus metrics (/metrics), cache purges
 * (POST /cache/purge), the admin API (/api/, src/admin/api.ts) with its OpenAPI document (/openapi.json),
 * and the dashboard (/ and /dashboard/*), on its own port, bound to loopback unless configured otherwise (and
 * then only with a token). Probes, the OpenAPI document and the dashboard's static shell need no token;
 * everything else does when a token is set. Answers are small JSON documents; errors are problem+json like
 * the gateway's own. A browser page cannot drive the API through loopback: requests carrying a foreign
 * `Origin` are refused on every mutating endpoint, and without a token the `Host` must name this listener
 * (a DNS-rebinding page's does not).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../listen/bind.js';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Runtime } from '../core/runtime.js';
import type { Counters } from '../stores/counters.js';
import type { AdminConfig } from './schema.js';
import { isIP } from 'node:net';
import { AdminApi, type StatsSource } from './api.js';
import type { ConfigControl } from './control.js';
import { actorOf } from './audit.js';
import { json, problem } from './http.js';
import { OPENAPI } from './openapi.js';
import { serveDashboard } from './dashboard.js';

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
  /** Config changes and their history (the /api/ endpoints other than stats and purge need it). */
  control?: ConfigControl | null;
  /** Request statistics for /api/stats (the dashboard's charts), or null. */
  stats?: StatsSource | null;
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
  readonly #api: AdminApi;
  readonly #host: string;
  #pinged: Promise<boolean> | null = null;
  #pingedAt = 0;

  constructor(config: AdminConfig, state: AdminState) {
    this.#state = state;
    // Compared as SHA-256 digests so the comparison is constant-time whatever the lengths.
    this.#token = config.token === undefined ? null : digest(config.token);
    this.#host = config.host;
    this.#api = new AdminApi(state);
    this.#server = createServer((req, res) => { void this.#handle(req, res); });
    this.#server.keepAliveTimeout = 5_000;
  }

  /** listen binds the admin port; resolves with the address. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.#server, host, port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => { this.#server.close(() => resolve()); this.#server.closeAllConnections(); });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const query = q === -1 ? '' : url.slice(q + 1);
      const reading = req.method === 'GET' || req.method === 'HEAD';
      if (reading && (path === '/' || path.startsWith('/dashboard/')) && serveDashboard(req, res, path)) return;
      if (path.startsWith('/api/')) {
        if (!this.#sameSite(req, reading)) return problem(res, 403, 'GH_FORBIDDEN', 'The caller may not use this route', { detail: 'Requests from other sites (a foreign Origin or Host) are not accepted here' });
        if (!this.#authorized(req)) return unauthorized(res);
        return await this.#api.handle(req, res, path, query, actorOf(this.#token !== null, req.socket.remoteAddress ?? 'unknown', req.headers['x-gatehouse-actor']));
      }
      if (path === '/cache/purge') {
        if (req.method !== 'POST') return problem(res, 405, 'GH_METHOD_NOT_ALLOWED', 'Only POST is served here', { headers: ['allow', 'POST'] });
        if (!this.#authorized(req)) return unauthorized(res);
        // Without a token, any page the operator visits could otherwise purge through loopback.
        if (req.headers.origin !== undefined) return problem(res, 403, 'GH_FORBIDDEN', 'Requests from browser pages are not accepted here');
        return await this.#api.handle(req, res, '/api/cache/purge', query, 'cli');
      }
      if (!reading) return problem(res, 405, 'GH_METHOD_NOT_ALLOWED', 'Only GET and HEAD are served here', { headers: ['allow', 'GET, HEAD'] });
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (path === '/openapi.json') return json(res, 200, OPENAPI);
      if (path === '/readyz') {
        // The store is asked directly (at most once a second), not judged by what requests last saw: a Redis
        // that hangs while no limited request comes would otherwise look up.
        const now = performance.now();
        if (this.#pinged === null || now - this.#pingedAt > 1000) { this.#pingedAt = now; this.#pinged = this.#state.counters().store.ping(); }
        await this.#pinged;
        const r = readiness(this.#state.runtime(), this.#state.counters(), this.#state.draining());
        return json(res, r.ready ? 200 : 503, r);
      }
      if (!this.#authorized(req)) return unauthorized(res);
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
   * #sameSite refuses what a foreign web page could send: without a token, a `Host` that does not name this
   * listener (DNS rebinding: a page of evil.example resolved to 127.0.0.1); on a mutating request, an
   * `Origin` other than this listener's own. Tools (curl, the CLI) send no Origin.
   */
  #sameSite(req: IncomingMessage, reading: boolean): boolean {
    const host = req.headers.host ?? '';
    const hostOk = this.#ownHost(host);
    if (this.#token === null && !hostOk) return false;
    const origin = req.headers.origin;
    if (reading || origin === undefined) return true;
    // With a token, a page of another site cannot send it (no CORS here), so the listener's public name counts.
    return (hostOk || this.#token !== null) && (origin === `http://${host}` || origin === `https://${host}`);
  }

  /** #ownHost says whether a Host header names this listener: a loopback name or address, or the configured host. */
  #ownHost(host: string): boolean {
    const name = (host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')).toLowerCase();
    if (name === 'localhost' || name === '::1' || name === this.#host.toLowerCase()) return true;
    return isIP(name) === 4 && (name.startsWith('127.') || this.#host === '0.0.0.0');
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

function unauthorized(res: ServerResponse): void {
  problem(res, 401, 'GH_UNAUTHORIZED', 'Authentication is required or the credentials were not accepted', { headers: ['www-authenticate', 'Bearer realm="gatehouse-admin"'] });
}
