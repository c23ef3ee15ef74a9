/**
 * The admin API under /api/: read the config and each element with its status, change routes, services,
 * consumers (and their API keys) and plans, roll back, read the audit log, usage, statements and request
 * statistics, purge caches. The routes are one table (API_ROUTES) that the OpenAPI document is checked
 * against. Every change goes through ConfigControl: validated as the file would be, applied as one swap,
 * stored, audited. Secrets are masked on the way out (mask.ts) and restored when sent back masked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Runtime } from '../core/runtime.js';
import type { Counters } from '../stores/counters.js';
import { ERRORS, type ErrorCode } from '../core/errors.js';
import { formatProblem } from '../config/errors.js';
import { hasPlaceholder, isPlainObject, type ConfigEditor, type KeyPath } from '../config/edit.js';
import { DEFAULT_KEY_PREFIX, hashApiKey, newApiKey, validKeyPrefix } from '../identity/api-key/key-format.js';
import { purgeCache } from '../features/cache/feature.js';
import { HOUR_MS } from '../metering/meter.js';
import { PlanIndex } from '../plans/plans.js';
import { calendarPeriod, periodFromId } from '../billing/calendar.js';
import { computeStatement, statementToJson, usageToJson } from '../billing/statement.js';
import { ChangeError, type ConfigControl } from './control.js';
import { ElementViews } from './elements.js';
import { maskConfig, maskKeyHash, unmask } from './mask.js';
import { BodyError, json, problem, readJson } from './http.js';
import type { ElementKind } from './audit.js';
import type { StatsJson } from './stats-types.js';

/** StatsSource gives the request statistics the dashboard plots (src/admin/stats.ts). */
export interface StatsSource { snapshot(): StatsJson }

/** ApiState is what the API reads: the live runtime and counters, the config control, the statistics. */
export interface ApiState {
  runtime(): Runtime;
  counters(): Counters;
  readonly control?: ConfigControl | null | undefined;
  readonly stats?: StatsSource | null | undefined;
}

/** ApiOp names a handler of API_ROUTES. */
export type ApiOp =
  | 'overview' | 'config' | 'stats' | 'audit' | 'versions' | 'rollback' | 'purge'
  | 'listRoutes' | 'createRoute' | 'getRoute' | 'putRoute' | 'deleteRoute'
  | 'listServices' | 'createService' | 'getService' | 'putService' | 'deleteService'
  | 'listConsumers' | 'createConsumer' | 'getConsumer' | 'putConsumer' | 'deleteConsumer'
  | 'addKey' | 'deleteKey' | 'usage' | 'statement'
  | 'listPlans' | 'createPlan' | 'getPlan' | 'putPlan' | 'deletePlan';

/** ApiRoute is one row of the routing table: method, path pattern (`:param` segments), handler. */
export interface ApiRoute { readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'; readonly path: string; readonly op: ApiOp }

/** API_ROUTES is every /api/ endpoint (the OpenAPI test compares it with the document). */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/api/overview', op: 'overview' },
  { method: 'GET', path: '/api/config', op: 'config' },
  { method: 'GET', path: '/api/stats', op: 'stats' },
  { method: 'GET', path: '/api/audit', op: 'audit' },
  { method: 'GET', path: '/api/versions', op: 'versions' },
  { method: 'POST', path: '/api/rollback', op: 'rollback' },
  { method: 'POST', path: '/api/cache/purge', op: 'purge' },
  { method: 'GET', path: '/api/routes', op: 'listRoutes' },
  { method: 'POST', path: '/api/routes', op: 'createRoute' },
  { method: 'GET', path: '/api/routes/:name', op: 'getRoute' },
  { method: 'PUT', path: '/api/routes/:name', op: 'putRoute' },
  { method: 'DELETE', path: '/api/routes/:name', op: 'deleteRoute' },
  { method: 'GET', path: '/api/services', op: 'listServices' },
  { method: 'POST', path: '/api/services', op: 'createService' },
  { method: 'GET', path: '/api/services/:name', op: 'getService' },
  { method: 'PUT', path: '/api/services/:name', op: 'putService' },
  { method: 'DELETE', path: '/api/services/:name', op: 'deleteService' },
  { method: 'GET', path: '/api/consumers', op: 'listConsumers' },
  { method: 'POST', path: '/api/consumers', op: 'createConsumer' },
  { method: 'GET', path: '/api/consumers/:id', op: 'getConsumer' },
  { method: 'PUT', path: '/api/consumers/:id', op: 'putConsumer' },
  { method: 'DELETE', path: '/api/consumers/:id', op: 'deleteConsumer' },
  { method: 'POST', path: '/api/consumers/:id/keys', op: 'addKey' },
  { method: 'DELETE', path: '/api/consumers/:id/keys/:keyId', op: 'deleteKey' },
  { method: 'GET', path: '/api/consumers/:id/usage', op: 'usage' },
  { method: 'GET', path: '/api/consumers/:id/statement', op: 'statement' },
  { method: 'GET', path: '/api/plans', op: 'listPlans' },
  { method: 'POST', path: '/api/plans', op: 'createPlan' },
  { method: 'GET', path: '/api/plans/:name', op: 'getPlan' },
  { method: 'PUT', path: '/api/plans/:name', op: 'putPlan' },
  { method: 'DELETE', path: '/api/plans/:name', op: 'deletePlan' },
];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const LIST_LIMIT_MAX = 1000;

/** Ctx is one API request. */
interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly actor: string;
}

/** A kind of element kept in a mapping by name (`services:`, `consumers:`, `plans:`). */
type RecordKind = { kind: ElementKind; section: 'services' | 'consumers' | 'plans'; param: 'name' | 'id' };
const SERVICES: RecordKind = { kind: 'service', section: 'services', param: 'name' };
const CONSUMERS: RecordKind = { kind: 'consumer', section: 'consumers', param: 'id' };
const PLANS: RecordKind = { kind: 'plan', section: 'plans', param: 'name' };

/** AdminApi serves API_ROUTES. */
export class AdminApi {
  readonly #state: ApiState;
  readonly #ops: Readonly<Record<ApiOp, (c: Ctx) => Promise<void>>>;

  constructor(state: ApiState) {
    this.#state = state;
    this.#ops = {
      overview: (c) => this.#overview(c),
      config: (c) => this.#config(c),
      stats: async (c) => { json(c.res, 200, this.#state.stats?.snapshot() ?? { at: Date.now(), windowS: 60, routes: [] }); },
      audit: (c) => this.#audit(c),
      versions: (c) => this.#versions(c),
      rollback: (c) => this.#rollback(c),
      purge: (c) => this.#purge(c),
      listRoutes: async (c) => this.#list(c, (v) => v.routes()),
      createRoute: (c) => this.#writeRoute(c, 'post'),
      getRoute: async (c) => this.#one(c, 'route', (v) => v.route(c.params.name!)),
      putRoute: (c) => this.#writeRoute(c, 'put'),
      deleteRoute: (c) => this.#writeRoute(c, 'delete'),
      listServices: async (c) => this.#list(c, (v) => v.services()),
      createService: (c) => this.#writeRecord(c, SERVICES, 'post'),
      getService: async (c) => this.#one(c, 'service', (v) => v.service(c.params.name!)),
      putService: (c) => this.#writeRecord(c, SERVICES, 'put'),
      deleteService: (c) => this.#writeRecord(c, SERVICES, 'delete'),
      listConsumers: async (c) => this.#list(c, (v) => v.consumers()),
      createConsumer: (c) => this.#writeRecord(c, CONSUMERS, 'post'),
      getConsumer: async (c) => this.#one(c, 'consumer', (v) => v.consumer(c.params.id!)),
      putConsumer: (c) => this.#writeRecord(c, CONSUMERS, 'put'),
      deleteConsumer: (c) => this.#writeRecord(c, CONSUMERS, 'delete'),
      addKey: (c) => this.#addKey(c),
      deleteKey: (c) => this.#deleteKey(c),
      usage: (c) => this.#usage(c),
      statement: (c) => this.#statement(c),
      listPlans: async (c) => this.#list(c, (v) => v.plans()),
      createPlan: (c) => this.#writeRecord(c, PLANS, 'post'),
      getPlan: async (c) => this.#one(c, 'plan', (v) => v.plan(c.params.name!)),
      putPlan: (c) => this.#writeRecord(c, PLANS, 'put'),
      deletePlan: (c) => this.#writeRecord(c, PLANS, 'delete'),
    };
  }

  /**
   * handle answers a request under /api/ (authorization and origin already checked by the server): finds the
   * route, answers 404/405 when there is none, and turns refused changes into problem documents.
   */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: string, actor: string): Promise<void> {
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    const found = matchRoute(path);
    if (found === null) return fail(res, 'GH_ROUTE_NOT_FOUND', 'No admin API endpoint has this path');
    const route = found.routes.find((r) => r.method === method);
    if (route === undefined) {
      const allow = [...new Set(found.routes.map((r) => r.method).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))].join(', ');
      return fail(res, 'GH_METHOD_NOT_ALLOWED', `Allowed here: ${allow}`, undefined, ['allow', allow]);
    }
    if (found.params === null) return fail(res, 'GH_BAD_REQUEST', 'A path segment has an invalid encoding');
    if (route.op !== 'stats' && route.op !== 'purge' && (this.#state.control === undefined || this.#state.control === null)) {
      return fail(res, 'GH_CONFIG_UNAVAILABLE', 'The configuration is not available to the admin API in this process');
    }
    try {
      await this.#ops[route.op]({ req, res, params: found.params, query: new URLSearchParams(query), actor });
    } catch (err) {
      if (err instanceof ChangeError) return fail(res, err.code as ErrorCode, err.detail, err.errors);
      if (err instanceof BodyError) {
        const code: ErrorCode = err.status === 413 ? 'GH_BODY_TOO_LARGE' : err.status === 415 ? 'GH_UNSUPPORTED_MEDIA_TYPE' : 'GH_BAD_REQUEST';
        return fail(res, code, err.message);
      }
      throw err;
    }
  }

  get #control(): ConfigControl {
    return this.#state.control!;
  }

  #views(): ElementViews {
    const c = this.#control;
    return new ElementViews(c.loaded(), this.#state.runtime(), c.current(), c.refused);
  }

  #etag(): string[] {
    return ['etag', `"${this.#control.version}"`];
  }

  async #overview(c: Ctx): Promise<void> {
    const ctl = this.#control;
    const cfg = ctl.loaded().config;
    const w = ctl.source.writable();
    const refused = ctl.refused;
    json(c.res, 200, {
      version: ctl.version,
      generation: this.#state.runtime().generation,
      source: ctl.source.kind,
      writable: w.ok,
      ...(w.ok ? {} : { readonlyReason: w.reason }),
      routes: cfg.routes.length,
      services: Object.keys(cfg.services).length,
      consumers: Object.keys(cfg.consumers).length,
      plans: Object.keys(cfg.plans).length,
      startedAt: ctl.startedAt,
      refused: refused === null ? null : { at: refused.at, version: refused.version, problems: refused.problems.map(formatProblem) },
    }, this.#etag());
  }

  async #config(c: Ctx): Promise<void> {
    json(c.res, 200, { version: this.#control.version, config: maskConfig(this.#control.current().get([]) ?? {}) }, this.#etag());
  }

  #list(c: Ctx, fn: (v: ElementViews) => unknown): void {
    json(c.res, 200, fn(this.#views()), this.#etag());
  }

  #one(c: Ctx, kind: string, fn: (v: ElementViews) => unknown): void {
    const found = fn(this.#views());
    if (found === null) return fail(c.res, 'GH_CONFIG_NOT_FOUND', `No ${kind} has this name`);
    json(c.res, 200, found, this.#etag());
  }

  async #audit(c: Ctx): Promise<void> {
    json(c.res, 200, await this.#control.audit.list(limitOf(c.query)));
  }

  async #versions(c: Ctx): Promise<void> {
    const versions = await this.#control.history(limitOf(c.query));
    json(c.res, 200, versions.map((v) => ({ version: v.version, at: v.at, actor: v.actor, summary: v.summary })));
  }

  async #rollback(c: Ctx): Promise<void> {
    const body = await readJson(c.req);
    if (body !== undefined && !isPlainObject(body)) throw badBody('', 'must be a JSON object: { "version": n } or nothing');
    const b = (body ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'version') throw badBody(`/${k}`, `unknown key "${k}"`);
    if (b.version !== undefined && !(Number.isInteger(b.version) && (b.version as number) > 0)) throw badBody('/version', 'must be a whole number > 0');
    const r = await this.#control.rollback((b.version as number | undefined) ?? null, c.actor, ifMatch(c.req));
    json(c.res, 200, { version: r.version });
  }

  async #purge(c: Ctx): Promise<void> {
    const route = c.query.get('route');
    const prefix = c.query.get('prefix');
    if (route === null || route === '') return fail(c.res, 'GH_BAD_REQUEST', 'The route to purge is required: ?route=NAME');
    let r;
    try {
      r = await purgeCache(this.#state.runtime(), route, prefix ?? undefined);
    } catch {
      return fail(c.res, 'GH_STORE_UNAVAILABLE', 'The cache store cannot be reached');
    }
    if (r.ok) return json(c.res, 200, { route, prefix, purged: r.purged });
    if (r.reason === 'unknown-route') return fail(c.res, 'GH_ROUTE_NOT_FOUND', 'No route has this name');
    if (r.reason === 'no-cache') return fail(c.res, 'GH_BAD_REQUEST', 'This route has no cache');
    return fail(c.res, 'GH_BAD_REQUEST', 'The prefix must start with /');
  }

  /** PUT (create or update), POST (create) and DELETE of a route, found by name in `routes:`. */
  async #writeRoute(c: Ctx, mode: 'post' | 'put' | 'delete'): Promise<void> {
    const { name, body } = await this.#nameAndBody(c, mode, 'name');
    const r = await this.#control.change({
      action: mode === 'delete' ? 'delete' : mode === 'post' ? 'create' : 'update', kind: 'route', name, actor: c.actor, ifMatch: ifMatch(c.req),
      edit: (doc: ConfigEditor) => {
        const i = doc.routeIndex(name);
        if (mode === 'delete') {
          if (i === -1) throw notFound('route', name);
          doc.delete(['routes', i]);
          return { path: ['routes', i] };
        }
        if (mode === 'post' && i !== -1) throw exists('route', name);
        const path: KeyPath = ['routes', i === -1 ? doc.count(['routes']) : i];
        const rest = { ...body! };
        delete rest.name;
        const value = { name, ...(unmask(rest, i === -1 ? undefined : doc.get(path), path) as Record<string, unknown>) };
        if (i === -1) { doc.append(['routes'], value); return { path, action: 'create' }; }
        doc.set(path, value);
        return { path, action: 'update' };
      },
    });
    answerChange(c.res, r, name);
  }

  /** PUT, POST and DELETE of a service, consumer or plan (mappings by name). */
  async #writeRecord(c: Ctx, k: RecordKind, mode: 'post' | 'put' | 'delete'): Promise<void> {
    const { name, body } = await this.#nameAndBody(c, mode, k.param);
    const r = await this.#control.change({
      action: mode === 'delete' ? 'delete' : mode === 'post' ? 'create' : 'update', kind: k.kind, name, actor: c.actor, ifMatch: ifMatch(c.req),
      edit: (doc: ConfigEditor) => {
        const path: KeyPath = [k.section, name];
        const had = doc.has(path);
        if (mode === 'delete') {
          if (!had) throw notFound(k.kind, name);
          doc.delete(path);
          return { path };
        }
        if (mode === 'post' && had) throw exists(k.kind, name);
        const rest = { ...body! };
        delete rest[k.param];
        doc.set(path, unmask(rest, had ? doc.get(path) : undefined, path));
        return { path, action: had ? 'update' : 'create' };
      },
    });
    answerChange(c.res, r, name);
  }

  /** The element's name (from the URL, or the body of a POST) and its body, checked. */
  async #nameAndBody(c: Ctx, mode: 'post' | 'put' | 'delete', param: 'name' | 'id'): Promise<{ name: string; body: Record<string, unknown> | null }> {
    if (mode === 'delete') {
      const name = c.params[param]!;
      return { name, body: null };
    }
    const body = await readJson(c.req);
    if (!isPlainObject(body)) throw badBody('', 'must be a JSON object: the element as it would appear in the YAML');
    if (hasPlaceholder(body)) throw badBody('', 'must not contain the text __gatehouse_env_');
    const given = body[param];
    let name: string;
    if (mode === 'post') {
      if (typeof given !== 'string') throw badBody(`/${param}`, given === undefined ? 'is required' : 'must be a string');
      name = given;
    } else {
      name = c.params[param]!;
      if (given !== undefined && given !== name) throw badBody(`/${param}`, `must be "${name}", the ${param} in the URL (or left out)`);
    }
    if (!NAME_RE.test(name)) throw badBody(`/${param}`, 'must start with a letter or digit and contain only letters, digits and _ . -');
    return { name, body };
  }

  async #addKey(c: Ctx): Promise<void> {
    const id = c.params.id!;
    const body = await readJson(c.req);
    if (body !== undefined && !isPlainObject(body)) throw badBody('', 'must be a JSON object: { "expires"?: "2027-01-01", "prefix"?: "gh_live_" }');
    const b = (body ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (k !== 'expires' && k !== 'prefix') throw badBody(`/${k}`, `unknown key "${k}"`);
    const prefix = b.prefix ?? DEFAULT_KEY_PREFIX;
    if (typeof prefix !== 'string' || !validKeyPrefix(prefix)) throw badBody('/prefix', 'must be 2 to 24 characters of a-z, 0-9 and _, starting with a letter and ending with _ (gh_live_)');
    if (b.expires !== undefined && typeof b.expires !== 'string') throw badBody('/expires', 'must be a date (2027-06-30) or a date-time with a zone');
    const key = newApiKey(prefix);
    const hash = hashApiKey(key);
    const r = await this.#control.change({
      action: 'create', kind: 'credential', name: `${id}/${maskKeyHash(hash)}`, actor: c.actor, ifMatch: ifMatch(c.req),
      edit: (doc: ConfigEditor) => {
        if (!doc.has(['consumers', id])) throw notFound('consumer', id);
        const n = doc.count(['consumers', id, 'keys']);
        doc.append(['consumers', id, 'keys'], b.expires === undefined ? hash : { hash, expires: b.expires });
        return { path: ['consumers', id, 'keys', n] };
      },
    });
    // The key itself is in this answer only: the config keeps its hash.
    json(c.res, 201, { key, id: maskKeyHash(hash), version: r.version });
  }

  async #deleteKey(c: Ctx): Promise<void> {
    const id = c.params.id!;
    const m = /^(?:sha256:)?([0-9a-f]{12,64})(?:…|\.\.\.)?$/.exec(c.params.keyId!);
    if (m === null) return fail(c.res, 'GH_BAD_REQUEST', 'The key id is `sha256:` and at least 12 hex digits of the key\'s hash, as the API shows it');
    const hex = m[1]!;
    const r = await this.#control.change({
      action: 'delete', kind: 'credential', name: `${id}/sha256:${hex.slice(0, 12)}…`, actor: c.actor, ifMatch: ifMatch(c.req),
      edit: (doc: ConfigEditor) => {
        if (!doc.has(['consumers', id])) throw notFound('consumer', id);
        const keys = doc.get(['consumers', id, 'keys']);
        const list = Array.isArray(keys) ? keys : [];
        const hits = list.map((k, i) => [i, typeof k === 'string' ? k : isPlainObject(k) ? String(k.hash) : ''] as const).filter(([, h]) => h.startsWith(`sha256:${hex}`));
        if (hits.length === 0) throw new ChangeError(404, 'GH_CONFIG_NOT_FOUND', `consumer "${id}" has no key with this id`);
        if (hits.length > 1) throw new ChangeError(409, 'GH_CONFIG_CONFLICT', 'several keys start with these digits: give more of them');
        doc.delete(['consumers', id, 'keys', hits[0]![0]]);
        return { path: ['consumers', id] };
      },
    });
    json(c.res, 200, { version: r.version });
  }

  async #usage(c: Ctx): Promise<void> {
    const id = c.params.id!;
    if (id !== '-' && !Object.hasOwn(this.#control.loaded().config.consumers, id)) return fail(c.res, 'GH_CONFIG_NOT_FOUND', 'No consumer has this id');
    const counters = this.#state.counters();
    const now = counters.wallClock();
    const from = c.query.has('from') ? parseInstant(c.query.get('from')!) : calendarPeriod(now, 'month', 'UTC').start;
    const to = c.query.has('to') ? parseInstant(c.query.get('to')!) : now;
    if (Number.isNaN(from) || Number.isNaN(to)) return fail(c.res, 'GH_BAD_REQUEST', '`from` and `to` are dates (2026-11-01, UTC midnight) or ISO timestamps with a zone');
    if (!(to > from)) return fail(c.res, 'GH_BAD_REQUEST', '`to` must be after `from`');
    if (to - from > 731 * 24 * HOUR_MS) return fail(c.res, 'GH_BAD_REQUEST', 'at most two years of usage are read at once');
    let records;
    try {
      records = await counters.store.readUsage(id, Math.floor(from / HOUR_MS) * HOUR_MS, Math.ceil(to / HOUR_MS) * HOUR_MS);
    } catch {
      return fail(c.res, 'GH_STORE_UNAVAILABLE', 'The store holding usage cannot be reached');
    }
    json(c.res, 200, usageToJson(records));
  }

  async #statement(c: Ctx): Promise<void> {
    const id = c.params.id!;
    const cfg = this.#control.loaded().config;
    const consumer = Object.hasOwn(cfg.consumers, id) ? cfg.consumers[id] : undefined;
    if (consumer === undefined) return fail(c.res, 'GH_CONFIG_NOT_FOUND', 'No consumer has this id');
    if (consumer.plan === undefined) return fail(c.res, 'GH_BAD_REQUEST', `Consumer "${id}" has no plan, so no pricing`);
    const plan = new PlanIndex(cfg.plans).get(consumer.plan);
    if (plan === undefined || plan.pricing === null) return fail(c.res, 'GH_BAD_REQUEST', `Plan "${consumer.plan}" has no pricing`);
    const counters = this.#state.counters();
    let period;
    try {
      const p = c.query.get('period');
      period = p === null ? calendarPeriod(counters.wallClock(), 'month', plan.timeZone) : periodFromId(p, plan.timeZone);
    } catch {
      return fail(c.res, 'GH_BAD_REQUEST', '`period` is a month (2026-11) or a day (2026-11-22)');
    }
    let usage;
    try {
      usage = await counters.store.readUsage(id, Math.floor(period.start / HOUR_MS) * HOUR_MS, Math.ceil(period.end / HOUR_MS) * HOUR_MS);
    } catch {
      return fail(c.res, 'GH_STORE_UNAVAILABLE', 'The store holding usage cannot be reached');
    }
    const st = computeStatement({ consumer: id, plan: plan.name, pricing: plan.pricing, period: { ...period, timeZone: plan.timeZone }, usage });
    json(c.res, 200, statementToJson(st));
  }
}

/** matchRoute finds the table rows whose pattern matches `path`, with the decoded parameters (null: bad encoding). */
export function matchRoute(path: string): { routes: ApiRoute[]; params: Record<string, string> | null } | null {
  const segs = path.split('/');
  let params: Record<string, string> | null = null;
  const routes: ApiRoute[] = [];
  for (const r of API_ROUTES) {
    const ps = r.path.split('/');
    if (ps.length !== segs.length) continue;
    const got: Record<string, string> = {};
    let ok = true;
    let bad = false;
    for (let i = 0; i < ps.length && ok; i++) {
      const p = ps[i]!;
      if (p.startsWith(':')) {
        if (segs[i] === '') { ok = false; break; }
        try { got[p.slice(1)] = decodeURIComponent(segs[i]!); } catch { bad = true; }
      } else if (p !== segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    routes.push(r);
    if (routes.length === 1) params = bad ? null : got;
  }
  return routes.length === 0 ? null : { routes, params };
}

function fail(res: ServerResponse, code: ErrorCode, detail: string, errors?: readonly { in: string; field: string; message: string }[], headers?: readonly string[]): void {
  const spec = ERRORS[code];
  problem(res, spec.status, code, spec.title, { detail, ...(errors === undefined ? {} : { errors }), ...(headers === undefined ? {} : { headers }) });
}

function answerChange(res: ServerResponse, r: { version: number; action: string }, name: string): void {
  if (r.action === 'delete') json(res, 200, { version: r.version });
  else json(res, r.action === 'create' ? 201 : 200, { version: r.version, name }, ['etag', `"${r.version}"`]);
}

function badBody(field: string, message: string): ChangeError {
  return new ChangeError(422, 'GH_CONFIG_INVALID', field === '' ? message : `${field.slice(1)}: ${message}`, [{ in: 'body', field, message }]);
}

function notFound(kind: string, name: string): ChangeError {
  return new ChangeError(404, 'GH_CONFIG_NOT_FOUND', `no ${kind} named "${name}"`);
}

function exists(kind: string, name: string): ChangeError {
  return new ChangeError(409, 'GH_CONFIG_CONFLICT', `a ${kind} named "${name}" exists already (PUT changes it)`);
}

/** ifMatch reads `If-Match: "<version>"` (a weak tag or a bare number too); `*` or none is null. */
function ifMatch(req: IncomingMessage): number | null {
  const h = req.headers['if-match'];
  if (h === undefined || h.trim() === '*') return null;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h);
  if (m === null) throw new ChangeError(412, 'GH_CONFIG_VERSION_MISMATCH', 'If-Match must be a version as the ETag gives it ("12")');
  return Number(m[1]);
}

function limitOf(q: URLSearchParams): number {
  const n = Number(q.get('limit') ?? '50');
  return Number.isInteger(n) && n > 0 ? Math.min(n, LIST_LIMIT_MAX) : 50;
}

/** parseInstant accepts `2026-11-01` (UTC midnight) or an ISO timestamp with a zone; NaN otherwise. */
function parseInstant(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return Date.parse(`${text}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : NaN;
}
