/**
 * One instance of a service: its connection pool and its health, as the balancers see it.
 */
import { Pool, buildConnector } from 'undici';
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
  /** TLS options for https:// targets (files already read), or undefined for Node's defaults. */
  tls: TargetTls | undefined;
  /** Speak HTTP/2 to the target (ALPN for https://, prior knowledge for http://). */
  h2: boolean;
}

/** TargetTls is the TLS side of a service's targets, its files read: what the pool and tunnels connect with. */
export interface TargetTls {
  readonly ca: Buffer | undefined;
  /** The gateway's client certificate and key (mutual TLS to the target), or undefined. */
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

/** Requests multiplexed on one HTTP/2 connection to a target (undici's `pipelining` for h2). */
export const H2_STREAMS_PER_CONNECTION = 100;

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
  readonly tls: TargetTls | null;
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
    this.tls = u.protocol === 'https:' && tls !== undefined ? tls : null;
    const h2 = settings.h2;
    this.pool = new Pool(u.origin, {
      connections: settings.connections,
      pipelining: h2 ? H2_STREAMS_PER_CONNECTION : 1,
      // For https:// targets ALPN offers h2 (and http/1.1); see `connect` for http:// ones.
      ...(h2 ? { allowH2: true, maxConcurrentStreams: H2_STREAMS_PER_CONNECTION } : {}),
      keepAliveTimeout: settings.keepAliveMs,
      keepAliveMaxTimeout: settings.keepAliveMs,
      headersTimeout: settings.headersTimeoutMs,
      bodyTimeout: settings.bodyTimeoutMs,
      // Upstream redirects are passed to the client as they are, never followed: undici follows none by default.
      connect: h2 ? h2Connector(settings.connectTimeoutMs, this.tls, u.protocol === 'http:') : {
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

/** H2NotNegotiated fails a connection to an https:// `h2` target that did not agree to HTTP/2. */
class H2NotNegotiated extends Error {
  readonly code = 'GH_H2_NOT_NEGOTIATED';
  constructor() { super('the target did not negotiate HTTP/2 (ALPN h2)'); }
}

/**
 * h2Connector connects to an `h2` target: h2c by prior knowledge for http://, ALPN for https://. A TLS
 * target that answers ALPN with http/1.1 is refused rather than used: the pool is set up for HTTP/2 (up to
 * 100 requests in flight per connection), which on HTTP/1.1 would pipeline them. (useH2c is a connector
 * option: a Pool builds its connector itself and gives its clients none of their own.)
 */
function h2Connector(timeout: number, tls: TargetTls | null, plain: boolean): buildConnector.connector {
  const base = buildConnector({ timeout, allowH2: true, ...(tls ?? {}), ...(plain ? { useH2c: true } : {}) } as buildConnector.BuildOptions);
  if (plain) return base;
  return (options, callback) => base(options, (err, socket) => {
    if (err !== null) { callback(err, null); return; }
    if ((socket as import('node:tls').TLSSocket).alpnProtocol !== 'h2') {
      socket!.destroy();
      callback(new H2NotNegotiated(), null);
      return;
    }
    callback(null, socket!);
  });
}
