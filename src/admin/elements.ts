/**
 * What the admin API shows of each config element: routes, services (with their targets' health), consumers
 * (credentials as ids only) and plans, each with its status: `active`, or `refused` with the problems when the
 * last text read from the source (a hand edit, another instance's change) could not be applied and names
 * this element; the live version keeps serving. Built from the live config and runtime on each request (the
 * admin API is not a hot path).
 */
import { parseDocument, isMap, isSeq } from 'yaml';
import type { LoadedConfig } from '../config/load.js';
import type { Runtime } from '../core/runtime.js';
import { BACKENDS } from '../backends/index.js';
import { formatProblem, type ConfigProblem } from '../config/errors.js';
import { maskConfig, maskKeyHash } from './mask.js';
import type { RefusedConfig } from './control.js';
import type { ConfigEditor } from '../config/edit.js';

/** ElementStatus is `active`, or `refused` with why. */
export interface ElementStatus { status: 'active' | 'refused'; problems?: string[] }

/** Keys of a route that are not features. */
const NOT_FEATURES: ReadonlySet<string> = new Set(['name', 'match', 'service', 'priority', 'websocket', ...BACKENDS.map((b) => b.key)]);

/** ElementViews renders elements of one config generation. */
export class ElementViews {
  readonly #loaded: LoadedConfig;
  readonly #runtime: Runtime;
  readonly #raw: ConfigEditor;
  readonly #refused: ReadonlyMap<string, string[]>;

  constructor(loaded: LoadedConfig, runtime: Runtime, raw: ConfigEditor, refused: RefusedConfig | null) {
    this.#loaded = loaded;
    this.#runtime = runtime;
    this.#raw = raw;
    this.#refused = refused === null ? NO_REFUSALS : refusedByElement(refused);
  }

  /** routes lists every route in config order. */
  routes(): Record<string, unknown>[] {
    return this.#loaded.config.routes.map((r) => this.#route(r as unknown as Record<string, unknown>));
  }

  /** route is one route with its config as written (masked), or null. */
  route(name: string): Record<string, unknown> | null {
    const r = this.#loaded.config.routes.find((x) => x.name === name);
    if (r === undefined) return null;
    const i = this.#raw.routeIndex(name);
    return { ...this.#route(r as unknown as Record<string, unknown>), config: maskConfig(i === -1 ? null : this.#raw.get(['routes', i]), ['routes', i]) };
  }

  /** services lists every service with its routes and targets. */
  services(): Record<string, unknown>[] {
    return Object.keys(this.#loaded.config.services).map((n) => this.#service(n));
  }

  service(name: string): Record<string, unknown> | null {
    if (!Object.hasOwn(this.#loaded.config.services, name)) return null;
    return { ...this.#service(name), config: maskConfig(this.#raw.get(['services', name]) ?? null, ['services', name]) };
  }

  consumers(): Record<string, unknown>[] {
    return Object.keys(this.#loaded.config.consumers).map((id) => this.#consumer(id));
  }

  consumer(id: string): Record<string, unknown> | null {
    if (!Object.hasOwn(this.#loaded.config.consumers, id)) return null;
    return { ...this.#consumer(id), config: maskConfig(this.#raw.get(['consumers', id]) ?? null, ['consumers', id]) };
  }

  plans(): Record<string, unknown>[] {
    return Object.keys(this.#loaded.config.plans).map((n) => this.#plan(n));
  }

  plan(name: string): Record<string, unknown> | null {
    if (!Object.hasOwn(this.#loaded.config.plans, name)) return null;
    return { ...this.#plan(name), config: maskConfig(this.#raw.get(['plans', name]) ?? null, ['plans', name]) };
  }

  #status(kind: string, name: string): ElementStatus {
    const p = this.#refused.get(`${kind}:${name}`);
    return p === undefined ? { status: 'active' } : { status: 'refused', problems: p };
  }

  #route(r: Record<string, unknown>): Record<string, unknown> {
    const name = r.name as string;
    const backendKey = r.service !== undefined ? 'service' : BACKENDS.find((b) => r[b.key] !== undefined)?.key ?? 'none';
    const backend: Record<string, unknown> = { kind: backendKey };
    if (typeof r.service === 'string') backend.service = r.service;
    const raw = this.#raw.get(['routes', this.#raw.routeIndex(name)]);
    const keys = raw !== null && typeof raw === 'object' ? Object.keys(raw) : Object.keys(r);
    return {
      name,
      match: r.match,
      backend,
      features: keys.filter((k) => !NOT_FEATURES.has(k)),
      websocket: r.websocket !== undefined,
      ...this.#status('route', name),
    };
  }

  #service(name: string): Record<string, unknown> {
    const s = this.#runtime.services.get(name);
    const routes = this.#loaded.config.routes.filter((r) => namesService(r, name)).map((r) => r.name);
    return {
      name,
      ...this.#status('service', name),
      routes,
      critical: s?.critical ?? false,
      circuit: s?.breaker?.state ?? null,
      targets: s === undefined ? [] : s.targets.map((t) => ({
        url: t.id, weight: t.weight, healthy: t.activeHealthy, ejected: t.passive.ejected, available: t.available, active: t.active,
      })),
    };
  }

  #consumer(id: string): Record<string, unknown> {
    const c = this.#loaded.config.consumers[id]!;
    return {
      id,
      ...this.#status('consumer', id),
      groups: c.groups,
      plan: c.plan ?? null,
      metadata: c.metadata,
      credentials: {
        keys: c.keys.map((k) => (typeof k === 'string' ? { id: maskKeyHash(k), expires: null } : { id: maskKeyHash(k.hash), expires: k.expires ?? null })),
        jwt: c.jwt === undefined ? null : { subject: c.jwt.subject, issuer: c.jwt.issuer ?? null },
        basic: c.basic === undefined ? null : { username: c.basic.username },
        certificates: c.certificates?.length ?? 0,
      },
    };
  }

  #plan(name: string): Record<string, unknown> {
    const p = this.#loaded.config.plans[name]!;
    return {
      name,
      ...this.#status('plan', name),
      consumers: Object.entries(this.#loaded.config.consumers).filter(([, c]) => c.plan === name).map(([id]) => id),
      timeZone: p.timeZone,
      rateLimit: p['rate-limit'] !== undefined,
      quota: p.quota ?? null,
      pricing: p.pricing !== undefined,
    };
  }
}

/** namesService says whether a route sends requests to `service` anywhere: its own, split, mirror, aggregate parts. */
function namesService(route: unknown, service: string): boolean {
  if (Array.isArray(route)) return route.some((x) => namesService(x, service));
  if (route === null || typeof route !== 'object') return false;
  for (const [k, v] of Object.entries(route)) {
    if (k === 'service' && v === service) return true;
    if (typeof v === 'object' && namesService(v, service)) return true;
  }
  return false;
}

const NO_REFUSALS: ReadonlyMap<string, string[]> = new Map();

/** The grouping of each refusal, made once: a refusal stays until the next text is read, across many requests. */
const GROUPED = new WeakMap<RefusedConfig, ReadonlyMap<string, string[]>>();

/** Groups the problems of a refused text by the element they concern (`route:users-v1`). */
function refusedByElement(refused: RefusedConfig): ReadonlyMap<string, string[]> {
  let out = GROUPED.get(refused);
  if (out === undefined) {
    out = groupRefusal(refused);
    GROUPED.set(refused, out);
  }
  return out;
}

function groupRefusal(refused: RefusedConfig): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let routeNames: string[] = [];
  try {
    const doc = parseDocument(refused.text.replace(/\$\{[^}]*\}/g, 'x'));
    const routes = doc.get('routes', true);
    if (isSeq(routes)) routeNames = routes.items.map((r) => (isMap(r) ? String((r.get('name', true) as { value?: unknown } | undefined)?.value ?? '') : ''));
  } catch { /* unparsable text: problems stay unassigned */ }
  const add = (key: string, p: ConfigProblem): void => {
    const list = out.get(key) ?? [];
    list.push(formatProblem(p));
    out.set(key, list);
  };
  for (const p of refused.problems) {
    const r = /^routes\[(\d+)\]/.exec(p.path);
    if (r !== null) { const n = routeNames[Number(r[1])]; if (n) add(`route:${n}`, p); continue; }
    const m = /^(services|consumers|plans)\.([^.[]+)/.exec(p.path);
    if (m !== null) add(`${m[1]!.slice(0, -1)}:${m[2]}`, p);
  }
  return out;
}
