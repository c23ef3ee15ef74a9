/**
 * Load → compile → serve, and keep serving: hot reload on file change and SIGHUP, graceful shutdown on
 * SIGTERM/SIGINT. Nothing else lives here.
 */
import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.js';
import { compile } from './config/compile.js';
import { preloadFor } from './config/preload.js';
import { ConfigError, type ConfigProblem } from './config/errors.js';
import { parseDuration } from './config/units.js';
import { Gateway } from './core/gateway.js';
import { ListenerTls, loadTlsSettings, type TlsSettings } from './listen/tls.js';
import type { Server as TlsServer } from 'node:tls';
import type { GatehouseConfig } from './config/schema.js';
import { createLogger } from './observability/log.js';
import { pino } from 'pino';
import type { Runtime } from './core/runtime.js';
import type { Exchange } from './core/exchange.js';
import { Counters } from './stores/counters.js';
import type { Clock } from './core/clock.js';
import { AccessLog, accessLogDestination } from './observability/access-log.js';
import { AdminServer, type MetricsSource } from './admin/server.js';
import { ConfigControl, type ApplyMeta, type ApplyResult } from './admin/control.js';
import { StatsSink } from './admin/stats.js';
import { createTracer, type TracerOptions } from './observability/tracing.js';
import type { GatewayMetrics } from './observability/metrics.js';
import type { RequestSink } from './observability/types.js';
import type { DestinationStream } from 'pino';

/** StartOptions configure startGateway. */
export interface StartOptions {
  configFile: string;
  log?: Logger;
  /** Reload when the file changes (default true). */
  watch?: boolean;
  /** Handle SIGHUP, SIGTERM and SIGINT (default false; the CLI turns it on). */
  signals?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Wall clock (Unix ms) for rate-limit windows, quota periods and usage hours; tests inject one. Default Date.now. */
  wallClock?: Clock;
  /** Where event lines go when `log` is not given (default stdout; `--pretty` passes a rendering stream). */
  logDestination?: DestinationStream;
  /** Where access lines go when `log.access.file` is not set (default: the process's stdout; tests capture it). */
  accessDestination?: DestinationStream;
  /** Exporter settings for tests (a short batch delay). */
  tracing?: TracerOptions;
  /** Set by a cluster worker (src/cluster/worker.ts); absent in a single process. */
  cluster?: ClusterRole;
}

/** ClusterRole is what differs in a cluster worker: who binds the admin listener, and what /metrics covers. */
export interface ClusterRole {
  /** Whether this worker binds the admin listener (one worker does; the others keep metrics for its scrapes). */
  readonly adminListener: boolean;
  /** metrics returns the /metrics source covering every worker, given this worker's own metrics. */
  metrics(local: GatewayMetrics): MetricsSource;
}

/** RunningGateway is a started gateway. */
export interface RunningGateway {
  readonly gateway: Gateway;
  /** Base URL clients use, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly port: number;
  /** reload loads the file again; resolves true if the new config is live, false if it was refused. */
  reload(): Promise<boolean>;
  /** close shuts down gracefully (drains in-flight requests up to the configured shutdownTimeout). */
  close(): Promise<void>;
  /** The store, meter and fail mode in use (replaced when a reload changes `store:` or `metering:`). */
  readonly counters: Counters;
  /** Base URL of the admin listener (http://127.0.0.1:9080), or null when `admin:` is not set. */
  readonly adminUrl: string | null;
  /** The live config's `listen.shutdownTimeout`, in ms (how long close() may drain). */
  readonly shutdownTimeoutMs: number;
}

/** startGateway loads the config, listens, and returns the running gateway; throws ConfigError on a bad config. */
export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const log = opts.log ?? createLogger(opts.logDestination === undefined ? {} : { destination: opts.logDestination });
  const file = resolve(opts.configFile);
  // Where the config lives and changes go (admin.changes): the file, or Redis, whose version then wins.
  const control = await ConfigControl.open(file, opts.env ?? process.env, log);
  let loaded = control.initial;
  if (opts.log === undefined && (opts.env ?? process.env).GATEHOUSE_LOG_LEVEL === undefined) log.level = loaded.config.log.level;
  const wallClock = opts.wallClock ?? Date.now;
  let accessLog: AccessLog | null;
  let tracer: Awaited<ReturnType<typeof createTracer>>;
  let tlsSettings: TlsSettings | null;
  let counters: Counters;
  try {
    // Workers share each listening port through the primary, where a port 0 would be a different port per
    // listener and worker: the admin listener (in one worker only) must have a fixed one.
    if (opts.cluster !== undefined && loaded.config.admin?.port === 0) {
      throw new ConfigError([{ path: 'admin.port', message: 'must be a fixed port with --workers above 1 (0 picks a different port per worker)', file: basename(file), line: loaded.lineOf(['admin', 'port']) }]);
    }
    await preloadFor(loaded.config);
    // What can fail on the user's input (an access-log path) comes before what must be cleaned up (the store).
    const accessCfg = loaded.config.log.access;
    if (accessCfg.enabled) {
      const where = accessLogDestination(accessCfg, loaded.dir, opts.accessDestination ?? pino.destination({ dest: 1, sync: false }));
      accessLog = new AccessLog(accessCfg, where.destination, log, where.batchBytes);
    } else accessLog = null;
    tracer = await createTracer(loaded.config.tracing, log, opts.tracing);
    // Certificates are read before anything that must be cleaned up: a bad file is a plain config error.
    tlsSettings = loadTlsSettings(loaded);
    counters = await Counters.open(loaded.config.store, loaded.config.metering, log, wallClock);
  } catch (err) {
    await control.close();
    throw err;
  }
  let runtime;
  try {
    runtime = compile(loaded, log, undefined, null, counters);
  } catch (err) {
    await counters.close();
    await control.close();
    throw err;
  }
  for (const w of runtime.warnings) log.warn({ event: 'config_warning' }, w);
  // Observability lives as long as the process: every config generation reports to the same sinks.
  // Metrics are served by the admin listener: without one there is nobody to scrape them, so none are kept.
  // prom-client is imported only then, so a gateway without an admin listener does not carry it in memory.
  const metrics: GatewayMetrics | null = loaded.config.admin !== undefined && loaded.config.metrics.enabled
    ? new (await import('./observability/metrics.js')).GatewayMetrics(loaded.config.metrics, () => gateway.runtime, () => counters.store.health) : null;
  // The dashboard's live numbers (GET /api/stats): kept only when there is an admin listener to ask for them.
  const stats = loaded.config.admin !== undefined ? new StatsSink({ routeNames: () => gateway.runtime.routes.map((r) => r.name) }) : null;
  const parts = [accessLog, metrics, stats].filter((s): s is NonNullable<typeof s> => s !== null);
  const sink: RequestSink | null = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : new ManySinks(parts);
  const observe = (rt: Runtime): void => { rt.sink = sink; rt.tracer = tracer; };
  observe(runtime);
  const listen = loaded.config.listen;
  const gateway = new Gateway(runtime, log, { tls: tlsSettings === null ? null : new ListenerTls(tlsSettings), http2: listen.http2, h2: listen.h2 });
  if (metrics !== null) gateway.tunnels.observer = metrics;
  runtime.start();
  let admin: AdminServer | null = null;
  let adminUrl: string | null = null;
  // In a cluster, every worker answers the primary's scrapes; the one with the admin listener serves them merged.
  const adminMetrics = metrics !== null && opts.cluster !== undefined ? opts.cluster.metrics(metrics) : metrics;
  if (loaded.config.admin !== undefined && opts.cluster?.adminListener !== false) {
    admin = new AdminServer(loaded.config.admin, { runtime: () => gateway.runtime, counters: () => counters, metrics: adminMetrics, draining: () => gateway.draining, control, stats });
    try {
      const a = await admin.listen(loaded.config.admin.host, loaded.config.admin.port);
      adminUrl = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    } catch (err) {
      await runtime.retire(0);
      await counters.close();
      await tracer?.close();
      await control.close();
      throw err;
    }
  }
  const { host, port } = loaded.config.listen;
  let address;
  try {
    address = await gateway.listen(host, port);
  } catch (err) {
    await admin?.close();
    await runtime.retire(0);
    await counters.close();
    await tracer?.close();
    await control.close();
    throw err;
  }
  const redirect = listen.redirectHttp;
  if (redirect !== undefined && tlsSettings !== null) {
    try {
      const r = await gateway.listenRedirect(redirect.host ?? host, redirect.port, address.port);
      log.info({ event: 'redirect_started', port: r.port }, `plain HTTP on port ${r.port} redirects to HTTPS on port ${address.port}`);
    } catch (err) {
      await gateway.shutdown(0);
      await admin?.close();
      await counters.close();
      await tracer?.close();
      await control.close();
      throw err;
    }
  }
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${gateway.scheme}://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${address.port}`;
  if (adminUrl !== null) log.info({ event: 'admin_started', url: adminUrl }, `admin listener on ${adminUrl} (/healthz, /readyz, /metrics, /api/, dashboard at /)`);
  log.info({ event: 'started', url, routes: runtime.routes.length, services: runtime.services.size, generation: runtime.generation },
    `gatehouse listening on ${url} (${runtime.routes.length} route${runtime.routes.length === 1 ? '' : 's'}, ${runtime.services.size} service${runtime.services.size === 1 ? '' : 's'})`);

  // apply makes a new config live: what a reload does once the text is read. ConfigControl calls it for every
  // change (admin API, file edit, Redis, SIGHUP), one at a time.
  const apply = async (load: () => LoadedConfig, meta: ApplyMeta): Promise<ApplyResult> => {
    let next: LoadedConfig;
    let rt;
    let nextCounters = counters;
    let nextTls: TlsSettings | null = null;
    try {
      next = load();
      // Certificates are read again on every reload (a renewed file at the same path is picked up), before
      // anything is built that a bad file would have to undo.
      if (gateway.tls !== null && next.config.listen.tls !== undefined) nextTls = loadTlsSettings(next);
      await preloadFor(next.config);
      // The store and the meter are kept across reloads unless their settings changed.
      const keep = counters.keeps(next.config.store, next.config.metering);
      if (keep === 'store') nextCounters = counters.withMetering(next.config.metering, log);
      else if (keep === 'none') nextCounters = await Counters.open(next.config.store, next.config.metering, log, wallClock);
      rt = compile(next, log, undefined, gateway.runtime, nextCounters);
      observe(rt);
    } catch (err) {
      if (nextCounters !== counters) await nextCounters.close();
      const problems: readonly ConfigProblem[] = err instanceof ConfigError ? err.problems : [{ path: '', message: String((err as Error).message), file: basename(file), line: 0 }];
      const lines = err instanceof ConfigError ? err.message.split('\n') : [String((err as Error).message)];
      metrics?.onReload(false);
      // A change refused by the admin API is answered with its problems; the log keeps it at warn level.
      log[meta.origin === 'admin' ? 'warn' : 'error']({ event: 'reload_refused', problems: lines, origin: meta.origin, actor: meta.actor }, `config reload refused; the previous config keeps serving:\n${lines.join('\n')}`);
      return { ok: false, problems };
    }
    for (const key of ['listen', 'admin', 'log', 'tracing', 'metrics'] as const) {
      const before = key === 'listen' ? restartListen(loaded.config.listen) : loaded.config[key];
      const after = key === 'listen' ? restartListen(next.config.listen) : next.config[key];
      if (JSON.stringify(after) !== JSON.stringify(before)) log.warn({ event: 'config_warning' }, `${key} settings changed: they take effect at the next restart`);
    }
    if (nextTls !== null) {
      // New handshakes get the new certificates; connections already open keep theirs (nothing is dropped).
      gateway.tls!.update(gateway.server as unknown as TlsServer, nextTls);
      log.info({ event: 'tls_reloaded', names: nextTls.exact.size + nextTls.wildcard.size }, 'TLS certificates reloaded for new connections');
    }
    for (const w of rt.warnings) log.warn({ event: 'config_warning' }, w);
    const diff = configDiff(loaded, next);
    const drainMs = parseDuration(next.config.listen.shutdownTimeout);
    const retired = gateway.swap(rt, drainMs);
    if (nextCounters !== counters) {
      const old = counters;
      nextCounters.adoptStore(old);
      counters = nextCounters;
      // The old store serves the old generation's requests until they finish, then its usage is flushed.
      void Promise.resolve(retired).then(() => old.close());
    }
    loaded = next;
    metrics?.onReload(true);
    log.info({ event: 'config_reloaded', generation: rt.generation, origin: meta.origin, actor: meta.actor, ...diff }, `config reloaded (generation ${rt.generation}): ${describeDiff(diff)}`);
    return { ok: true, generation: rt.generation };
  };
  control.bind({ loaded: () => loaded, apply });
  // Redis is always watched (other instances' changes); the file only unless watch is off.
  control.start(opts.watch !== false);
  const reload = (): Promise<boolean> => control.reload('signal');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await control.close();
      log.info({ event: 'shutdown' }, 'shutting down: draining requests in flight');
      await gateway.shutdown(parseDuration(loaded.config.listen.shutdownTimeout));
      await admin?.close();
      await counters.close();
      await tracer?.close();
      await accessLog?.flush();
      log.info({ event: 'stopped' }, 'stopped');
    })();
    return closing;
  };

  if (opts.signals) {
    process.on('SIGHUP', () => void reload());
    const stop = (): void => { void close().then(() => { log.flush?.(); process.exit(0); }); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }
  return {
    gateway, url, port: address.port, reload, close, adminUrl,
    get counters() { return counters; },
    get shutdownTimeoutMs() { return parseDuration(loaded.config.listen.shutdownTimeout); },
  };
}

/**
 * restartListen is the part of `listen:` that only a restart applies: all of it but the TLS material
 * (certificates, client CA, HSTS), which a reload swaps live on a TLS listener. Turning TLS on or off is a
 * restart.
 */
function restartListen(l: GatehouseConfig['listen']): unknown {
  return { ...l, tls: l.tls !== undefined, clientCerts: undefined, hsts: undefined };
}

/** ManySinks reports each finished request to every sink that is on (access log, metrics, dashboard statistics). */
class ManySinks implements RequestSink {
  readonly #list: readonly RequestSink[];
  constructor(list: readonly RequestSink[]) { this.#list = list; }
  onEnd(ex: Exchange): void { for (let i = 0; i < this.#list.length; i++) this.#list[i]!.onEnd(ex); }
}

/** ConfigDiff names the routes and services a reload added, removed or changed. */
export interface ConfigDiff {
  routes: { added: string[]; removed: string[]; changed: string[] };
  services: { added: string[]; removed: string[]; changed: string[] };
}

/** configDiff compares two configs by route and service name. */
export function configDiff(a: LoadedConfig, b: LoadedConfig): ConfigDiff {
  const routesA = new Map(a.config.routes.map((r) => [r.name, JSON.stringify(r)]));
  const routesB = new Map(b.config.routes.map((r) => [r.name, JSON.stringify(r)]));
  const servA = new Map(Object.entries(a.config.services).map(([k, v]) => [k, JSON.stringify(v)]));
  const servB = new Map(Object.entries(b.config.services).map(([k, v]) => [k, JSON.stringify(v)]));
  return { routes: diffMaps(routesA, routesB), services: diffMaps(servA, servB) };
}

function diffMaps(a: Map<string, string>, b: Map<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  return {
    added: [...b.keys()].filter((k) => !a.has(k)),
    removed: [...a.keys()].filter((k) => !b.has(k)),
    changed: [...b.keys()].filter((k) => a.has(k) && a.get(k) !== b.get(k)),
  };
}

/** describeDiff renders a diff in one line for the log. */
export function describeDiff(d: ConfigDiff): string {
  const parts: string[] = [];
  for (const [kind, x] of [['route', d.routes], ['service', d.services]] as const) {
    if (x.added.length) parts.push(`${kind}s added: ${x.added.join(', ')}`);
    if (x.removed.length) parts.push(`${kind}s removed: ${x.removed.join(', ')}`);
    if (x.changed.length) parts.push(`${kind}s changed: ${x.changed.join(', ')}`);
  }
  return parts.length ? parts.join('; ') : 'no route or service changed';
}
