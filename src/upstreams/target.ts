/**
 * One instance of a service: its connection pool and its health, as the balancers see it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Pool } from 'undici';
import type { BalancerTarget } from './balancers/types.js';
import { PassiveHealth } from './passive-health.js';
import type { Clock } from '../core/clock.js';

/** PoolSettings are the per-target connection settings of a service, in ms and counts. */
export interface PoolSettings {
  connections: number;
  keepAliveMs: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  tls: { ca?: string; servername?: string; insecureSkipVerify?: boolean } | undefined;
  configDir: string;
}

/** PassiveSettings configure outlier ejection. */
export interface PassiveSettings { failures: number; cooldownMs: number; maxCooldownMs: number }

/** Target is one upstream instance. */
export class Target implements BalancerTarget {
  readonly id: string;
  readonly weight: number;
  /** `host:port` of the target, for the Host header in `target` mode. */
  readonly host: string;
  readonly pool: Pool;
  /**
   * TLS options of an https:// target for connections made outside the pool (WebSocket tunnels), the same
   * the pool uses; null for http:// targets or when the service sets no `tls`.
   */
  readonly tls: { ca: Buffer | undefined; servername: string | undefined; rejectUnauthorized: boolean } | null;
  /** Requests in flight. */
  active: number;
  /** Verdict of active health checking (true when checks are off). */
  activeHealthy: boolean;
  readonly passive: PassiveHealth;

  constructor(url: string, weight: number, settings: PoolSettings, passive: PassiveSettings, clock: Clock) {
    const u = new URL(url);
    this.id = u.origin;
    this.weight = weight;
    this.host = u.host;
    this.active = 0;
    this.activeHealthy = true;
    this.passive = new PassiveHealth(passive, clock);
    const tls = settings.tls;
    this.tls = u.protocol === 'https:' && tls ? {
      ca: tls.ca ? readFileSync(resolve(settings.configDir, tls.ca)) : undefined,
      servername: tls.servername,
      rejectUnauthorized: tls.insecureSkipVerify !== true,
    } : null;
    this.pool = new Pool(u.origin, {
      connections: settings.connections,
      pipelining: 1,
      keepAliveTimeout: settings.keepAliveMs,
      keepAliveMaxTimeout: settings.keepAliveMs,
      headersTimeout: settings.headersTimeoutMs,
      bodyTimeout: settings.bodyTimeoutMs,
      // Upstream redirects are passed to the client as they are, never followed: undici follows none by default.
      connect: {
        timeout: settings.connectTimeoutMs,
        ...this.tls,
      },
    });
  }

  /** available is what balancers read: healthy by active checks and not ejected by passive health. */
  get available(): boolean {
    return this.activeHealthy && !this.passive.ejected;
  }

  /** close waits for in-flight requests on the pool, then closes its connections; `force` cuts them at once. */
  close(force = false): Promise<void> {
    return force ? this.pool.destroy() : this.pool.close();
  }
}
