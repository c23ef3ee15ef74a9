/**
 * Compile: a validated config becomes a Runtime. Cross-references and cross-field rules are checked here,
 * each route's features are built by their factories (once), sorted into hook arrays by stage, and services
 * get their pools and balancers. Any problem is reported with file, line and key path.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { BlockList, isIP, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { FEATURES } from '../features/index.js';
import type { Feature, FeatureContext, FeatureDefinition } from '../core/feature.js';
import type { Authenticator } from '../identity/types.js';
import { AUTH_METHODS } from '../identity/methods.js';
import { ConsumerIndex, duplicateCredentials } from '../identity/consumers.js';
import { stageIndex } from '../core/stages.js';
import { Router, RouteMatcher, shadowedBy } from '../core/router.js';
import type { CompiledRoute } from '../core/route.js';
import { Runtime, type Limits } from '../core/runtime.js';
import { ProxyBackend } from '../backends/proxy.js';
import { BACKENDS } from '../backends/index.js';
import type { BackendCheckContext, BackendContext } from '../backends/types.js';
import { SplitBackend, checkSplit } from '../backends/split.js';
import { MirrorBackend } from '../backends/mirror.js';
import { WebSocketBackend } from '../backends/websocket/backend.js';
import { checkWebSocket } from '../backends/websocket/schema.js';
import type { Backend } from '../core/route.js';
import { Service, serviceFingerprint } from '../upstreams/service.js';
import { RewriteFeature } from '../features/rewrite/feature.js';
import { MONOTONIC, type Clock } from '../core/clock.js';
import { parseDuration, parseSize } from './units.js';
import { ConfigError, didYouMean, pathToString, splitRelative, type ConfigProblem } from './errors.js';
import type { LoadedConfig } from './load.js';
import type { RouteConfig } from './schema.js';
import type { ServiceConfig } from '../upstreams/schema.js';
import { Counters } from '../stores/counters.js';
import { PlanIndex, checkPlans } from '../plans/plans.js';
import { MeterFeature } from '../metering/feature.js';
import { checkStoreConfig } from '../stores/index.js';

let generations = 0;

const NO_HEADERS: ReadonlySet<string> = new Set();

/**
 * compile builds a Runtime from a loaded config, or throws ConfigError with every problem. Services whose
 * config is unchanged from `previous` are shared with it, keeping their pools, health, ejections, circuit
 * and retry budget across a reload.
 */
export function compile(loaded: LoadedConfig, log: Logger, clock: Clock = MONOTONIC, previous: Runtime | null = null, counters: Counters | null = null): Runtime {
  const cfg = loaded.config;
  const problems: ConfigProblem[] = [];
  const problem = (path: (string | number)[], message: string): void => {
    problems.push({ path: pathToString(path), message, file: loaded.file, line: loaded.lineOf(path) });
  };

  // Cross-references and rules the schema cannot express.
  const names = new Map<string, number>();
  const serviceNames: ReadonlySet<string> = new Set(Object.keys(cfg.services));
  cfg.routes.forEach((r, i) => {
    const first = names.get(r.name);
    if (first !== undefined) problem(['routes', i, 'name'], `duplicate route name "${r.name}" (first used by routes[${first}])`);
    else names.set(r.name, i);
    const rf0 = r as Record<string, unknown>;
    const backends = ['service', ...BACKENDS.map((b) => b.key)].filter((k) => rf0[k] !== undefined);
    if (backends.length === 0) problem(['routes', i], `needs a backend: \`service\` to send requests to, or one of ${BACKENDS.map((b) => `\`${b.key}\``).join(', ')}`);
    else if (backends.length > 1) problem(['routes', i], `names ${backends.length} backends (${backends.join(', ')}); a route has exactly one`);
    if (r.websocket !== undefined && r.service === undefined) problem(['routes', i, 'websocket'], 'needs the route\'s `service` (the WebSocket service the connections are tunnelled to)');
    if (r.websocket !== undefined) for (const [rel, message] of checkWebSocket(r.websocket)) problem(['routes', i, 'websocket', ...splitRelative(rel)], message);
    for (const k of ['split', 'mirror'] as const) if (rf0[k] !== undefined && r.service === undefined) problem(['routes', i, k], 'needs the route\'s `service` (it divides or copies proxied traffic)');
    if (r.split !== undefined) for (const [rel, message] of checkSplit(r.split, serviceNames)) problem(['routes', i, 'split', ...splitRelative(rel)], message);
    if (r.mirror !== undefined && !serviceNames.has(r.mirror.service)) problem(['routes', i, 'mirror', 'service'], `unknown service "${r.mirror.service}"`);
    for (const b of BACKENDS) {
      if (rf0[b.key] === undefined || b.check === undefined) continue;
      for (const [rel, message] of b.check(rf0[b.key] as never, backendCheckContext(r.name, r.match.path, loaded.dir, serviceNames))) problem(['routes', i, b.key, ...splitRelative(rel)], message);
    }
    if (r.service !== undefined && !(r.service in cfg.services)) {
      const hint = didYouMean(r.service, Object.keys(cfg.services));
      problem(['routes', i, 'service'], `unknown service "${r.service}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
    const rf = r as Record<string, unknown>;
    if (rf['strip-prefix'] !== undefined && rf.rewrite !== undefined) problem(['routes', i], 'use either strip-prefix or rewrite, not both');
    if (typeof rf.rewrite === 'string') {
      const available = new Set(r.match.path.split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1)));
      if (r.match.path.endsWith('/*')) available.add('*');
      for (const p of new RewriteFeature(rf.rewrite).paramNames()) {
        if (!available.has(p)) problem(['routes', i, 'rewrite'], `uses ${p === '*' ? '`*`, but the path does not end in /*' : `:${p}, which the path pattern does not define`}`);
      }
    }
    const params = r.match.path.split('/').filter((s) => s.startsWith(':'));
    if (new Set(params).size !== params.length) problem(['routes', i, 'match', 'path'], 'repeats a parameter name');
    if (r.match.path.includes('*') && !r.match.path.endsWith('/*')) problem(['routes', i, 'match', 'path'], '`*` may only end a path, as `/*`');
  });
  cfg.trustedProxies.forEach((p, i) => { if (!validCidr(p)) problem(['trustedProxies', i], 'is not a valid IP address or CIDR range'); });
  for (const [name, sc] of Object.entries(cfg.services)) {
    const seen = new Map<string, number>();
    sc.targets.forEach((t, i) => {
      const origin = new URL(typeof t === 'string' ? t : t.url).origin;
      const first = seen.get(origin);
      if (first !== undefined) problem(['services', name, 'targets', i], `lists ${origin} again (first at targets[${first}]); use weight to give a target more traffic`);
      else seen.set(origin, i);
    });
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = sc.tls?.[k];
      if (f !== undefined && !existsSync(resolve(loaded.dir, f))) problem(['services', name, 'tls', k], `file not found: ${f} (relative to the config file)`);
    }
    if (sc.tls !== undefined && (sc.tls.cert === undefined) !== (sc.tls.key === undefined)) problem(['services', name, 'tls'], 'needs both `cert` and `key` (the client certificate the gateway presents), or neither');
  }
  checkListen(cfg.listen, loaded.dir, problem);
  for (const [name, entry] of Object.entries(cfg.auth)) {
    if ((entry as Record<string, unknown>).mtls !== undefined && cfg.listen.clientCerts === undefined) problem(['auth', name, 'mtls'], 'needs `listen.clientCerts`: without it the listener never asks clients for a certificate');
  }
  for (const [path, message] of duplicateCredentials(cfg.consumers)) problem(path, message);
  for (const [name, entry] of Object.entries(cfg.auth)) {
    const given = AUTH_METHODS.filter((m) => (entry as Record<string, unknown>)[m.key] !== undefined);
    if (given.length !== 1) {
      problem(['auth', name], given.length === 0
        ? `needs one method: ${AUTH_METHODS.map((m) => m.key).join(', ')}`
        : `names ${given.length} methods (${given.map((m) => m.key).join(', ')}); give each its own entry`);
      continue;
    }
    const m = given[0]!;
    for (const [rel, message] of m.check?.((entry as Record<string, never>)[m.key], { configDir: loaded.dir }) ?? []) {
      problem(['auth', name, m.key, ...splitRelative(rel)], message);
    }
  }
  for (const [path, message] of checkPlans(cfg.plans, cfg.consumers)) problem(path, message);
  for (const [rel, message] of checkStoreConfig(cfg.store)) problem(['store', ...splitRelative(rel)], message);
  const admin = cfg.admin;
  if (admin !== undefined) {
    const loopback = admin.host === 'localhost' || admin.host === '::1' || (isIP(admin.host) === 4 && admin.host.startsWith('127.'));
    if (!loopback && admin.token === undefined) problem(['admin', 'token'], 'is required when admin.host is not a loopback address (write it as ${GATEHOUSE_ADMIN_TOKEN})');
    if (admin.port !== 0 && admin.port === cfg.listen.port) problem(['admin', 'port'], `is the same port as listen.port (${admin.port}); the admin listener needs its own`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const consumers = new ConsumerIndex(cfg.consumers);
  const authenticators = new Map<string, Authenticator>();
  try {
    for (const [name, entry] of Object.entries(cfg.auth)) {
      const m = AUTH_METHODS.find((x) => (entry as Record<string, unknown>)[x.key] !== undefined)!;
      authenticators.set(name, m.create((entry as Record<string, never>)[m.key], { name, consumers, configDir: loaded.dir, log, now: Date.now }));
    }
  } catch (err) {
    for (const a of authenticators.values()) void a.close?.();
    const name = Object.keys(cfg.auth)[authenticators.size] ?? '';
    throw new ConfigError([{ path: `auth.${name}`, message: (err as Error).message, file: loaded.file, line: loaded.lineOf(['auth', name]) }]);
  }
  // Without the gateway's own counters (config checks, tools, unit tests), limits count in a private memory store.
  const env: CompileEnv = { consumers, authenticators, generation: new Map(), counters: counters ?? Counters.memory(cfg.metering, log), plans: new PlanIndex(cfg.plans) };

  // Feature checks the schema cannot express (references to authenticators, files, ...).
  cfg.routes.forEach((r, i) => {
    const ctx = featureContext(r.name, loaded, log, clock, cfg.routing.caseSensitive, env);
    for (const def of FEATURES) {
      const value = featureValue(def, r as Record<string, unknown>, r.service === undefined ? undefined : cfg.services[r.service] as Record<string, unknown> | undefined, cfg.defaults as Record<string, unknown>);
      if (value === undefined || def.check === undefined) continue;
      const where = value.from === 'route' ? ['routes', i, def.key] : value.from === 'service' ? ['services', r.service!, def.key] : ['defaults', def.key];
      for (const [rel, message] of def.check(value.value as never, ctx)) problem([...where, ...splitRelative(rel)], message);
    }
  });
  if (problems.length > 0) {
    for (const a of authenticators.values()) void a.close?.();
    throw new ConfigError(dedupeProblems(problems));
  }

  const services = new Map<string, Service>();
  const built: Service[] = [];
  try {
    for (const [name, sc] of Object.entries(cfg.services)) {
      const kept = previous?.services.get(name);
      if (kept !== undefined && kept.fingerprint === serviceFingerprint(sc as unknown as ServiceConfig, loaded.dir)) {
        services.set(name, kept);
        continue;
      }
      const s = new Service(name, sc as unknown as ServiceConfig, loaded.dir, log, clock);
      services.set(name, s);
      built.push(s);
    }
  } catch (err) {
    // Checks above catch what users get wrong; this is for what the checks did not foresee (an unreadable
    // CA file, say). The message names the service but never carries a library's text to a client.
    for (const s of built) { s.acquire(); void s.release(true); }
    const name = Object.keys(cfg.services)[built.length] ?? '';
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: `services.${name}`, message: `cannot be set up${code ? ` (${code})` : ''}`, file: loaded.file, line: loaded.lineOf(['services', name]) }]);
  }

  const caseSensitive = cfg.routing.caseSensitive;
  const defaultBody = parseSize(cfg.defaults['body-limit'] ?? cfg.limits.body);
  let routes: CompiledRoute[];
  try {
    routes = cfg.routes.map((r, i) => compileRoute(r, i, loaded, services, caseSensitive, defaultBody, log, clock, env));
  } catch (err) {
    if (!(err instanceof RouteBuildError)) throw err;
    for (const s of built) { s.acquire(); void s.release(true); }
    for (const a of authenticators.values()) void a.close?.();
    throw new ConfigError([{ path: pathToString(err.path), message: err.message, file: loaded.file, line: loaded.lineOf(err.path) }]);
  }
  const router = new Router(routes, caseSensitive);
  const warnings: string[] = [];
  for (const r of router.ordered) {
    const by = shadowedBy(router.ordered, r);
    if (by !== null) warnings.push(`routes[${r.index}] "${r.name}" can never match: every request it matches is taken first by routes[${by.index}] "${by.name}" (${loaded.file}:${loaded.lineOf(['routes', r.index])})`);
  }
  const l = cfg.limits;
  const limits: Limits = {
    url: parseSize(l.url),
    headers: parseSize(l.headers),
    header: parseSize(l.header),
    headerCount: l.headerCount,
    headersTimeoutMs: parseDuration(l.headersTimeout),
    requestTimeoutMs: parseDuration(l.requestTimeout),
    bodyIdleTimeoutMs: parseDuration(l.bodyIdleTimeout),
    keepAliveTimeoutMs: parseDuration(l.keepAliveTimeout),
    requestsPerConnection: l.requestsPerConnection,
    connections: l.connections,
    connectionsPerIp: l.connectionsPerIp,
  };
  let trusted: BlockList | null = null;
  if (cfg.trustedProxies.length > 0) {
    trusted = new BlockList();
    for (const p of cfg.trustedProxies) addCidr(trusted, p);
  }
  return new Runtime(++generations, router, services, limits, trusted, warnings, log, authenticators);
}

/**
 * checkListen checks the TLS side of `listen:`: the files exist, and what needs TLS has it. (Whether the
 * files hold a usable certificate and key is checked when they are loaded: src/listen/tls.ts.)
 */
function checkListen(listen: LoadedConfig['config']['listen'], dir: string, problem: (path: (string | number)[], message: string) => void): void {
  const tls = listen.tls;
  if (tls !== undefined) {
    const pairs = Array.isArray(tls) ? tls : [tls];
    pairs.forEach((p, i) => {
      for (const k of ['cert', 'key'] as const) {
        if (!existsSync(resolve(dir, p[k]))) problem(Array.isArray(tls) ? ['listen', 'tls', i, k] : ['listen', 'tls', k], `file not found: ${p[k]} (relative to the config file)`);
      }
    });
    if (listen.clientCerts !== undefined && !existsSync(resolve(dir, listen.clientCerts.ca))) problem(['listen', 'clientCerts', 'ca'], `file not found: ${listen.clientCerts.ca} (relative to the config file)`);
    if (listen.redirectHttp !== undefined && listen.redirectHttp.port !== 0 && listen.redirectHttp.port === listen.port) problem(['listen', 'redirectHttp', 'port'], `is the same port as listen.port (${listen.port}); the redirect listener needs its own`);
    return;
  }
  for (const k of ['clientCerts', 'hsts', 'redirectHttp'] as const) {
    if (listen[k] !== undefined) problem(['listen', k], 'needs `listen.tls` (it only applies to an HTTPS listener)');
  }
}

/** What features may use at compile time besides their own config: this generation's identity objects. */
interface CompileEnv {
  readonly consumers: ConsumerIndex;
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  readonly generation: Map<unknown, unknown>;
  readonly counters: Counters;
  readonly plans: PlanIndex;
}

function featureContext(routeName: string, loaded: LoadedConfig, log: Logger, clock: Clock, caseSensitive: boolean, env: CompileEnv, service: Service | null = null): FeatureContext {
  return { routeName, configDir: loaded.dir, log: log.child({ route: routeName }), clock, caseSensitive, consumers: env.consumers, authenticators: env.authenticators, generation: env.generation, counters: env.counters, plans: env.plans, service, storeKind: typeof loaded.config.store === 'object' ? 'redis' : 'memory' };
}

/** The route's own setting of a feature wins, then its service's, then `defaults`. */
function featureValue(def: FeatureDefinition, route: Record<string, unknown>, service: Record<string, unknown> | undefined, defaults: Record<string, unknown>): { value: unknown; from: 'route' | 'service' | 'defaults' } | undefined {
  if (route[def.key] !== undefined) return { value: route[def.key], from: 'route' };
  if (def.scopes.includes('service') && service?.[def.key] !== undefined) return { value: service[def.key], from: 'service' };
  if (def.scopes.includes('defaults') && defaults[def.key] !== undefined) return { value: defaults[def.key], from: 'defaults' };
  return undefined;
}

function dedupeProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => { const k = `${p.path}\n${p.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

/** RouteBuildError is a backend factory's refusal, carried to the config error with the route's key path. */
class RouteBuildError extends Error {
  readonly path: (string | number)[];
  constructor(path: (string | number)[], message: string) { super(message); this.path = path; }
}

function backendCheckContext(routeName: string, pattern: string, configDir: string, serviceNames: ReadonlySet<string>): BackendCheckContext {
  const paramNames = new Set(pattern.split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1)));
  if (pattern.endsWith('/*')) paramNames.add('*');
  return { routeName, configDir, serviceNames, paramNames };
}

/** Builds the route's backend: the proxy (split and mirrored where configured) or the one it names. */
function buildBackend(r: RouteConfig, index: number, loaded: LoadedConfig, services: Map<string, Service>, log: Logger, clock: Clock, env: CompileEnv): Backend {
  if (r.service !== undefined) {
    const proxies = new Map<string, ProxyBackend>();
    const proxyOf = (name: string): ProxyBackend => {
      let p = proxies.get(name);
      if (p === undefined) { p = new ProxyBackend(services.get(name)!); proxies.set(name, p); }
      return p;
    };
    let backend: Backend = proxyOf(r.service);
    if (r.split !== undefined) backend = new SplitBackend(r.split, backend, proxyOf);
    if (r.mirror !== undefined) backend = new MirrorBackend(r.mirror, backend, services.get(r.mirror.service)!, log.child({ route: r.name }));
    return backend;
  }
  const rf = r as Record<string, unknown>;
  const def = BACKENDS.find((b) => rf[b.key] !== undefined)!;
  const ctx: BackendContext = { ...backendCheckContext(r.name, r.match.path, loaded.dir, new Set(services.keys())), log: log.child({ route: r.name }), clock, services, counters: env.counters };
  try {
    return def.create(rf[def.key] as never, ctx);
  } catch (err) {
    throw new RouteBuildError(['routes', index, def.key], (err as Error).message);
  }
}

function compileRoute(r: RouteConfig, index: number, loaded: LoadedConfig, services: Map<string, Service>, caseSensitive: boolean, defaultBody: number, log: Logger, clock: Clock, env: CompileEnv): CompiledRoute {
  const cfg = loaded.config;
  const service = r.service === undefined ? null : services.get(r.service)!;
  const serviceCfg = (r.service === undefined ? {} : cfg.services[r.service]!) as Record<string, unknown>;
  const routeCfg = r as Record<string, unknown>;
  const defaults = cfg.defaults as Record<string, unknown>;
  const features: { def: FeatureDefinition; feature: Feature }[] = [];
  const ctx = featureContext(r.name, loaded, log, clock, caseSensitive, env, service);
  for (const def of FEATURES) {
    const value = featureValue(def, routeCfg, serviceCfg, defaults);
    if (value === undefined) continue;
    features.push({ def, feature: def.create(value.value as never, ctx) });
  }
  features.sort((a, b) => stageIndex(a.def.stage) - stageIndex(b.def.stage));
  const list = features.map((f) => f.feature);
  const onRequest = list.filter((f) => f.onRequest);
  const onResponse = list.filter((f) => f.onResponse).reverse();
  const onLog = list.filter((f) => f.onLog);
  // Metering is not a route feature (no YAML key on routes): it counts every route's requests, last.
  const meter = env.counters.meter;
  if (meter !== null) onLog.push(new MeterFeature(meter, r.name));
  const onResponseBody = list.filter((f) => f.onResponseBody).reverse();
  const bodyLimitText = (r['body-limit'] ?? serviceCfg['body-limit']) as string | undefined;
  // One removal set per route, so the proxy still does a single lookup per upstream header.
  const removing = list.filter((f) => f.removeResponseHeaders !== undefined);
  const own: ReadonlySet<string> = service === null ? NO_HEADERS : service.removeResponseHeaders;
  const removeResponseHeaders = removing.length === 0 ? own
    : new Set([...own, ...removing.flatMap((f) => [...f.removeResponseHeaders!])]);
  const defaultResponseHeaders = list.flatMap((f) => f.defaultResponseHeaders ?? []);
  return {
    name: r.name,
    index,
    priority: r.priority ?? 0,
    matcher: new RouteMatcher(r.match, caseSensitive, typeof routeCfg.rewrite === 'string' && routeCfg.rewrite.includes('*')),
    onRequest: onRequest.length > 0 ? onRequest : null,
    onResponse: onResponse.length > 0 ? onResponse : null,
    onLog: onLog.length > 0 ? onLog : null,
    onResponseBody: onResponseBody.length > 0 ? onResponseBody : null,
    handlesPreflight: list.some((f) => f.handlesPreflight === true),
    removeResponseHeaders,
    defaultResponseHeaders: defaultResponseHeaders.length > 0 ? defaultResponseHeaders : null,
    features: list,
    service,
    backend: buildBackend(r, index, loaded, services, log, clock, env),
    websocket: r.websocket === undefined || service === null ? null : new WebSocketBackend(r.websocket, service, r.name, log.child({ route: r.name })),
    bodyLimit: bodyLimitText === undefined ? defaultBody : parseSize(bodyLimitText),
  };
}

function validCidr(text: string): boolean {
  try { addCidr(new BlockList(), text); return true; } catch { return false; }
}

function addCidr(list: BlockList, text: string): void {
  const [addr, bits] = text.split('/');
  const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
  if (bits === undefined) list.addAddress(addr!, type);
  else list.addSubnet(addr!, Number(bits), type);
}

