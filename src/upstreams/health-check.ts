/**
 * Active health checking: every `interval`, each target of a service is probed with `GET path`. After
 * `unhealthy` consecutive failures it is taken out of rotation; after `healthy` consecutive successes it is
 * put back. Probes use the target's own pool, so they also keep a warm connection.
 */
import type { Logger } from 'pino';
import type { Target } from './target.js';

/** HealthCheckSettings are the validated `healthCheck:` values in ms. */
export interface HealthCheckSettings {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthy: number;
  unhealthy: number;
  /** Healthy statuses, or null for any 2xx/3xx. */
  statuses: ReadonlySet<number> | null;
}

/** HealthChecker probes the targets of one service until stopped. */
export class HealthChecker {
  private readonly service: string;
  private readonly targets: readonly Target[];
  private readonly settings: HealthCheckSettings;
  private readonly log: Logger;
  private readonly successes: number[];
  private readonly failures: number[];
  private timer: NodeJS.Timeout | null;
  private stopped: boolean;

  constructor(service: string, targets: readonly Target[], settings: HealthCheckSettings, log: Logger) {
    this.service = service;
    this.targets = targets;
    this.settings = settings;
    this.log = log;
    this.successes = targets.map(() => 0);
    this.failures = targets.map(() => 0);
    this.timer = null;
    this.stopped = false;
  }

  /** start probes at once, then every interval. */
  start(): void {
    void this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.settings.intervalMs);
    this.timer.unref();
  }

  /** stop ends probing (hot reload, shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async probeAll(): Promise<void> {
    await Promise.all(this.targets.map((t, i) => this.probe(t, i)));
  }

  private async probe(t: Target, i: number): Promise<void> {
    const ok = await this.check(t);
    if (this.stopped) return;
    const s = this.settings;
    if (ok) {
      this.failures[i] = 0;
      this.successes[i]!++;
      if (!t.activeHealthy && this.successes[i]! >= s.healthy) {
        t.activeHealthy = true;
        this.log.info({ event: 'target_healthy', service: this.service, target: t.id }, `target ${t.id} of ${this.service} is healthy again`);
      }
    } else {
      this.successes[i] = 0;
      this.failures[i]!++;
      if (t.activeHealthy && this.failures[i]! >= s.unhealthy) {
        t.activeHealthy = false;
        this.log.warn({ event: 'target_ejected', service: this.service, target: t.id, reason: 'health check' }, `target ${t.id} of ${this.service} failed ${s.unhealthy} health checks: taken out of rotation`);
      }
    }
  }

  private async check(t: Target): Promise<boolean> {
    try {
      const res = await t.pool.request({
        method: 'GET',
        path: this.settings.path,
        headers: { 'user-agent': 'gatehouse-health-check' },
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      await res.body.dump();
      const st = res.statusCode;
      return this.settings.statuses ? this.settings.statuses.has(st) : st >= 200 && st < 400;
    } catch {
      return false;
    }
  }
}
