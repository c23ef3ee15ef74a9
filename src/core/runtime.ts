/**
 * A Runtime is one config generation made live: the router, the services with their pools and health
 * checkers, the compiled limits. Hot reload builds a whole new Runtime, swaps one reference, and retires the
 * old one when its last request has finished.
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import type { Router } from './router.js';
import type { CompiledRoute } from './route.js';
import type { Service } from '../upstreams/service.js';
import type { Authenticator } from '../identity/types.js';
import type { RequestSink, Tracer } from '../observability/types.js';

/** Limits are the listener's limits in bytes, ms and counts. */
export interface Limits {
  readonly url: number;
  readonly headers: number;
  readonly header: number;
  readonly headerCount: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly requestsPerConnection: number;
  readonly connections: number;
  readonly connectionsPerIp: number;
}

/** Runtime is one live config generation. */
export class Runtime {
  readonly generation: number;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly services: ReadonlyMap<string, Service>;
  readonly limits: Limits;
  /** Trusted proxy addresses, or null when none are configured (the common, cheapest case). */
  readonly trusted: BlockList | null;
  /** Warnings found while compiling (e.g. routes that can never match). */
  readonly warnings: readonly string[];
  /** Requests running on this generation. */
  inflight: number;
  private retiring: (() => void) | null;
  readonly log: Logger;

  /** Authenticators of this generation (closed with it). */
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  /**
   * Where finished requests are reported (access log, metrics), and the tracer; null when off. Owned by the
   * process, not the generation: set by whoever starts the gateway, shared by every generation.
   */
  sink: RequestSink | null = null;
  tracer: Tracer | null = null;

  constructor(generation: number, router: Router<CompiledRoute>, services: ReadonlyMap<string, Service>, limits: Limits, trusted: BlockList | null, warnings: readonly string[], log: Logger, authenticators: ReadonlyMap<string, Authenticator> = new Map()) {
    this.authenticators = authenticators;
    this.generation = generation;
    this.router = router;
    this.routes = router.ordered;
    this.services = services;
    this.limits = limits;
    this.trusted = trusted;
    this.warnings = warnings;
    this.inflight = 0;
    this.retiring = null;
    this.log = log;
    for (const s of services.values()) s.acquire();
  }

  /** start activates background work: health checks, and function workers (so no first request waits for one). */
  start(): void {
    for (const s of this.services.values()) s.start();
    for (const r of this.routes) r.backend.start?.();
  }

  /** done is called by the server when a request of this generation has finished. */
  done(): void {
    if (--this.inflight === 0 && this.retiring !== null) this.retiring();
  }

  /** retire waits for this generation's requests to finish (up to `deadlineMs`), then closes everything. */
  async retire(deadlineMs: number): Promise<void> {
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.retiring = () => { clearTimeout(timer); resolve(); };
      });
    }
    // Past the deadline, requests still running are cut rather than waited for without end.
    await this.close(this.inflight > 0);
  }

  private async close(force: boolean): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const s of this.services.values()) closing.push(s.release(force));
    for (const a of this.authenticators.values()) if (a.close) closing.push(Promise.resolve(a.close()));
    for (const r of this.routes) {
      for (const f of r.features) if (f.close) closing.push(Promise.resolve(f.close()));
      if (r.backend.close) closing.push(Promise.resolve(r.backend.close()));
    }
    const results = await Promise.allSettled(closing);
    for (const x of results) if (x.status === 'rejected') this.log.warn({ event: 'close_failed', err: String(x.reason) }, 'closing part of a retired config failed');
  }
}
