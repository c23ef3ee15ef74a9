/**
 * A service at run time: its targets, balancer, retry policy, circuit breaker and health checker, built once
 * per config generation from its `services:` entry.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { parseDuration } from '../config/units.js';
import type { Clock } from '../core/clock.js';
import type { ServiceConfig } from './schema.js';
import { Target, type TargetTls } from './target.js';
import { createBalancer } from './balancers/index.js';
import type { Balancer } from './balancers/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { RetryBudget } from './retry-budget.js';
import { HealthChecker } from './health-check.js';

/** RetryPolicy says which failed attempts are tried again. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly statuses: ReadonlySet<number>;
  readonly methods: ReadonlySet<string>;
}

/** HostMode says what Host header goes upstream. */
export type HostMode = { kind: 'target' } | { kind: 'preserve' } | { kind: 'fixed'; host: string };

/** HashOn says where consistent hashing takes its key. */
export type HashOn = { kind: 'ip' } | { kind: 'header'; name: string } | { kind: 'cookie'; name: string };

const IDEMPOTENT = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'];
/** RETRY_FLOOR_PER_SECOND is how many retries a second the budget always allows. */
export const RETRY_FLOOR_PER_SECOND = 10;

/** Service is the runtime form of one `services:` entry. */
export class Service {
  readonly name: string;
  readonly targets: readonly Target[];
  /** Whether readiness requires an available target of this service (`critical: true`). */
  readonly critical: boolean;
  readonly balancer: Balancer<Target>;
  readonly retry: RetryPolicy;
  readonly budget: RetryBudget;
  readonly breaker: CircuitBreaker | null;
  readonly passiveStatuses: ReadonlySet<number>;
  readonly hostMode: HostMode;
  readonly hashOn: HashOn | null;
  /** Lower-case response header names removed before the client sees the response. */
  readonly removeResponseHeaders: ReadonlySet<string>;
  /** Whether the targets are spoken to over HTTP/2 (`protocol: h2`). */
  readonly h2: boolean;
  private readonly checker: HealthChecker | null;
  private readonly log: Logger;
  /** Runtimes using this service: a reload that keeps a service unchanged shares it, with its state. */
  private refs: number;
  private started: boolean;
  /** True while every target is ejected and panicPick spreads traffic over them anyway. */
  private panicking: boolean;
  private panicNext: number;
  /** The config this service was built from, to tell whether a reload may keep it. */
  readonly fingerprint: string;

  constructor(name: string, cfg: ServiceConfig, configDir: string, log: Logger, clock: Clock) {
    this.name = name;
    this.log = log;
    this.refs = 0;
    this.started = false;
    this.panicking = false;
    this.panicNext = 0;
    this.fingerprint = serviceFingerprint(cfg, configDir);
    const t = cfg.timeouts;
    const settings = {
      connections: cfg.pool.connections,
      keepAliveMs: parseDuration(cfg.pool.keepAlive),
      connectTimeoutMs: parseDuration(t.connect),
      headersTimeoutMs: parseDuration(t.response),
      bodyTimeoutMs: parseDuration(t.idle),
      tls: targetTls(cfg, configDir),
      h2: cfg.protocol === 'h2',
    };
    const passive = {
      // Disabled passive health is a threshold no run of failures reaches.
      failures: cfg.passiveHealth.enabled ? cfg.passiveHealth.failures : Number.MAX_SAFE_INTEGER,
      cooldownMs: parseDuration(cfg.passiveHealth.cooldown),
      maxCooldownMs: parseDuration(cfg.passiveHealth.maxCooldown),
    };
    this.passiveStatuses = new Set(cfg.passiveHealth.statuses);
    this.critical = cfg.critical;
    this.targets = cfg.targets.map((tc) => {
      const target = typeof tc === 'string' ? new Target(tc, 1, settings, passive, clock) : new Target(tc.url, tc.weight, settings, passive, clock);
      target.passive.onChange = (ejected: boolean) => {
        if (ejected) log.warn({ event: 'target_ejected', service: name, target: target.id, reason: 'consecutive failures' }, `target ${target.id} of ${name} ejected after consecutive failures`);
        else log.info({ event: 'target_readmitted', service: name, target: target.id }, `target ${target.id} of ${name} re-admitted`);
      };
      return target;
    });
    this.balancer = createBalancer(cfg.balance, this.targets);
    const r = typeof cfg.retries === 'number' ? { attempts: cfg.retries, statuses: [503], methods: IDEMPOTENT, budget: 0.2 } : cfg.retries;
    this.retry = { attempts: r.attempts, statuses: new Set(r.statuses), methods: new Set(r.methods) };
    // 10 retries a second are always allowed (Linkerd's floor), so a quiet service with one dead target
    // still retries until passive health ejects it; above that, retries stay within `budget` of requests.
    this.budget = new RetryBudget({ ratio: r.budget, minPerSecond: RETRY_FLOOR_PER_SECOND, windowMs: 10_000 }, clock);
    if (cfg.circuitBreaker) {
      const cb = cfg.circuitBreaker;
      this.breaker = new CircuitBreaker({ failures: cb.failures, cooldownMs: parseDuration(cb.cooldown), halfOpenRequests: cb.halfOpenRequests }, clock);
      this.breaker.onStateChange = (from, to) => {
        const level = to === 'open' ? 'warn' : 'info';
        log[level]({ event: 'circuit_' + to.replace('-', '_'), service: name, from, to }, `circuit of ${name}: ${from} → ${to}`);
      };
    } else {
      this.breaker = null;
    }
    this.hostMode = cfg.host === 'target' ? { kind: 'target' } : cfg.host === 'preserve' ? { kind: 'preserve' } : { kind: 'fixed', host: cfg.host };
    if (cfg.balance !== 'consistent-hash') this.hashOn = null;
    else if (cfg.hashOn === 'ip') this.hashOn = { kind: 'ip' };
    else if (cfg.hashOn.startsWith('header:')) this.hashOn = { kind: 'header', name: cfg.hashOn.slice(7).toLowerCase() };
    else this.hashOn = { kind: 'cookie', name: cfg.hashOn.slice(7) };
    this.removeResponseHeaders = new Set(['server', 'x-powered-by', ...cfg.removeResponseHeaders.map((h) => h.toLowerCase())]);
    this.h2 = cfg.protocol === 'h2';
    const hc = cfg.healthCheck;
    this.checker = hc ? new HealthChecker(name, this.targets, {
      path: hc.path,
      intervalMs: parseDuration(hc.interval),
      timeoutMs: parseDuration(hc.timeout),
      healthy: hc.healthy,
      unhealthy: hc.unhealthy,
      statuses: hc.statuses ? new Set(hc.statuses) : null,
    }, log) : null;
  }

  /**
   * panicPick is used when the balancer finds no available target. If passive health has ejected every
   * target, failing every request would turn a brief upstream hiccup into a full outage, so, as Envoy's
   * panic threshold does, traffic is spread over the targets that active health checks still pass.
   * Returns null when none passes them.
   */
  panicPick(avoid: Target | null): Target | null {
    const n = this.targets.length;
    let fallback: Target | null = null;
    for (let k = 0; k < n; k++) {
      const t = this.targets[(this.panicNext + k) % n]!;
      if (!t.activeHealthy) continue;
      if (t === avoid) { fallback = t; continue; }
      this.panicNext = (this.panicNext + k + 1) % n;
      this.enterPanic();
      return t;
    }
    if (fallback !== null) this.enterPanic();
    return fallback;
  }

  private enterPanic(): void {
    if (this.panicking) return;
    this.panicking = true;
    this.log.warn({ event: 'service_panic', service: this.name }, `every target of ${this.name} is ejected: spreading traffic over them anyway until one recovers`);
    // Logged at most once a second while it lasts.
    setTimeout(() => { this.panicking = false; }, 1000).unref();
  }

  /** acquire records that a runtime uses this service; start begins health checks once. */
  acquire(): void { this.refs++; }

  /** start begins active health checking, if configured (once, however many runtimes share the service). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.checker?.start();
  }

  /**
   * release is called by a retiring runtime; the last one closes the service. With `force` (the drain
   * deadline passed) pools are destroyed rather than waited for.
   */
  async release(force: boolean): Promise<void> {
    if (--this.refs > 0) return;
    this.checker?.stop();
    await Promise.all(this.targets.map((t) => t.close(force)));
  }
}

/** The TLS options of a service's targets, its files read once for all of them. */
function targetTls(cfg: ServiceConfig, configDir: string): TargetTls | undefined {
  const tls = cfg.tls;
  if (tls === undefined) return undefined;
  const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : readFileSync(resolve(configDir, f)));
  return { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key), servername: tls.servername, rejectUnauthorized: tls.insecureSkipVerify !== true };
}

/**
 * serviceFingerprint identifies a service config: equal fingerprints may share one runtime Service. The
 * contents of its TLS files count too, so a certificate renewed in place is picked up by a reload.
 */
export function serviceFingerprint(cfg: ServiceConfig, configDir: string): string {
  const tls = cfg.tls;
  if (tls === undefined || (tls.ca === undefined && tls.cert === undefined && tls.key === undefined)) return JSON.stringify([cfg, '']);
  const h = createHash('sha256');
  for (const f of [tls.ca, tls.cert, tls.key]) {
    if (f === undefined) continue;
    try { h.update(readFileSync(resolve(configDir, f))); } catch { h.update(`missing:${f}`); }
  }
  return JSON.stringify([cfg, configDir, h.digest('hex')]);
}
