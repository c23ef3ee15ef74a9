/**
 * The aggregate backend (KrakenD's "aggregation as a node over N child backends"): a route answers by calling
 * several of the config's services and merging their JSON answers, under keys or flat. Calls run in parallel
 * unless a path takes a value from another call's answer (`/orders/{profile.lastOrderId}`), which makes it
 * wait for that call: steps run in dependency order, independent ones side by side.
 *
 * Everything that can be decided at config load is: templates are split into literal parts, field paths into
 * trees, dependencies into a launch order and a list of the values each call hands on. A request then fills an
 * array of encoded values, concatenates paths, and runs one async function per call.
 *
 * Failure is reported per part, never as a single flag: with `onFailure: partial` the answer holds what
 * arrived plus a `$errors` member and a `Gatehouse-Partial` header naming each failed part with its status and
 * code; with `onFailure: fail` (or when nothing arrived) the answer is a problem document with the worst
 * status of the failed parts. Upstream text and addresses never reach the client.
 */
import type { ServerResponse } from 'node:http';
import type { Backend } from '../../core/route.js';
import { clientGone, type Exchange } from '../../core/exchange.js';
import { ERRORS, type ErrorCode } from '../../core/errors.js';
import type { Service } from '../../upstreams/service.js';
import { CallGroup, callService } from '../../upstreams/call.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { didYouMean } from '../../config/errors.js';
import { defineBackend, type BackendCheckContext } from '../types.js';
import { sendResponse } from '../respond.js';
import { AggregateSchema, BACKEND_NAME, DEFAULT_CALL_METHOD, DEFAULT_MAX_SIZE, type AggregateConfig } from './schema.js';
import { SourceKind, RESERVED_ROOTS, UNSAFE_KEYS, decodeParam, encodeValue, parseTemplate, render, type ParsedTemplate, type Placeholder } from './template.js';
import { Shaper, getPath, withinDepth } from './shape.js';

/** ERRORS_MEMBER is the member of a partial answer that lists the failed parts; `$` keeps it apart from data. */
export const ERRORS_MEMBER = '$errors';

/** PARTIAL_HEADER names the failed parts of a partial answer (an RFC 8941 list). */
export const PARTIAL_HEADER = 'gatehouse-partial';

/**
 * Request headers not passed to the calls: framing and body headers (no body is sent), conditionals and
 * ranges (a 304 or 206 is no JSON to merge), and the content negotiation the gateway sets itself.
 */
const NOT_SENT: ReadonlySet<string> = new Set([
  'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'expect', 'te', 'trailer', 'upgrade', 'connection', 'keep-alive',
  'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range', 'accept', 'accept-encoding',
]);

/** Export is a value one call hands to a later one: read at `path` in its answer, stored at `slot`. */
interface Export { readonly slot: number; readonly path: readonly string[] }

/** AggregateCall is one configured call, compiled. */
export class AggregateCall {
  readonly name: string;
  readonly service: Service;
  readonly method: string;
  readonly literals: readonly string[];
  readonly placeholders: readonly Placeholder[];
  /** Where this call's placeholder values start in a run's value array. */
  readonly base: number;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly shaper: Shaper | null;
  readonly hide: boolean;
  /** Indexes of the calls this one waits for. */
  readonly deps: readonly number[];
  /** Values later calls take from this call's answer. */
  readonly exports: readonly Export[];

  constructor(name: string, service: Service, method: string, template: ParsedTemplate, base: number, timeoutMs: number, maxBytes: number, shaper: Shaper | null, hide: boolean, deps: readonly number[], exports: readonly Export[]) {
    this.name = name;
    this.service = service;
    this.method = method;
    this.literals = template.literals;
    this.placeholders = template.placeholders;
    this.base = base;
    this.timeoutMs = timeoutMs;
    this.maxBytes = maxBytes;
    this.shaper = shaper;
    this.hide = hide;
    this.deps = deps;
    this.exports = exports;
  }
}

/** PartFailure is why one call gave nothing: a catalogue code and the status it stands for. */
export interface PartFailure { readonly status: number; readonly code: ErrorCode }

const DEPENDENCY_FAILED: PartFailure = Object.freeze({ status: 424, code: 'GH_DEPENDENCY_FAILED' });
const BAD_ANSWER: PartFailure = Object.freeze({ status: 502, code: 'GH_UPSTREAM_ERROR' });
const OUT_OF_TIME: PartFailure = Object.freeze({ status: 504, code: 'GH_UPSTREAM_TIMEOUT' });

/** AggregateBackend answers a route from several calls. Built once per config generation. */
export class AggregateBackend implements Backend {
  /** Calls in config order (the order of the merged answer). */
  readonly calls: readonly AggregateCall[];
  /** Call indexes in launch order: every call after those it waits for. */
  readonly order: readonly number[];
  readonly flat: boolean;
  readonly failWhole: boolean;
  readonly timeoutMs: number;
  /** Placeholders of every call. */
  readonly slots: number;
  /** Whether any placeholder reads the query string (parsed once per request only then). */
  readonly readsQuery: boolean;

  constructor(calls: readonly AggregateCall[], order: readonly number[], flat: boolean, failWhole: boolean, timeoutMs: number) {
    this.calls = calls;
    this.order = order;
    this.flat = flat;
    this.failWhole = failWhole;
    this.timeoutMs = timeoutMs;
    let slots = 0;
    let readsQuery = false;
    for (const c of calls) {
      slots += c.placeholders.length;
      if (c.placeholders.some((p) => p.kind === SourceKind.Query)) readsQuery = true;
    }
    this.slots = slots;
    this.readsQuery = readsQuery;
  }

  handle(ex: Exchange): Promise<void> | void {
    const run = new AggregateRun(this, ex);
    if (!run.fillRequestValues()) return;
    return run.execute();
  }
}

/** UNUSABLE stands for a value that is there but cannot be read (a parameter that does not decode). */
const UNUSABLE: object = Object.freeze({});

const RUN = Symbol('gatehouse.aggregate');
type Carrier = ServerResponse & { [RUN]?: AggregateRun };

/** The client left before the answer was written: the calls still out are abandoned. */
function onClientClose(this: Carrier): void {
  // Not `writableFinished`: an HTTP/2 response whose stream the client reset reports true there.
  if (!this.writableEnded) this[RUN]?.group.cancel();
}

/** AggregateRun is one request's aggregation: its values, results and failures, indexed like the calls. */
class AggregateRun {
  readonly agg: AggregateBackend;
  readonly ex: Exchange;
  /** Encoded placeholder values of every call; step values arrive as their calls answer (null: unusable). */
  readonly values: (string | null)[];
  readonly results: unknown[];
  readonly failures: (PartFailure | null)[];
  readonly done: (Promise<boolean> | null)[];
  /** The request headers every call sends, built once. */
  headers: string[];
  readonly deadline: number;
  readonly group: CallGroup;
  /** Monotonic ms when the last answer arrived. */
  lastAnswer: number;

  constructor(agg: AggregateBackend, ex: Exchange) {
    this.agg = agg;
    this.ex = ex;
    const n = agg.calls.length;
    this.values = new Array<string | null>(agg.slots).fill(null);
    this.results = new Array<unknown>(n).fill(null);
    this.failures = new Array<PartFailure | null>(n).fill(null);
    this.done = new Array<Promise<boolean> | null>(n).fill(null);
    this.headers = [];
    this.deadline = performance.now() + agg.timeoutMs;
    this.group = new CallGroup();
    this.lastAnswer = 0;
  }

  /**
   * fillRequestValues encodes every value taken from the request and its identity, for every call, before
   * any call leaves: a request that cannot fill a path is refused whole (400 for its own input, 401/403 for
   * identity) and no service sees anything of it. The refusal names the placeholder, never the value.
   */
  fillRequestValues(): boolean {
    const ex = this.ex;
    const calls = this.agg.calls;
    const values = this.values;
    const query = this.agg.readsQuery ? new URLSearchParams(ex.query) : null;
    for (let c = 0; c < calls.length; c++) {
      const call = calls[c]!;
      const ps = call.placeholders;
      for (let i = 0; i < ps.length; i++) {
        const p = ps[i]!;
        let raw: unknown;
        switch (p.kind) {
          case SourceKind.Step: continue;
          case SourceKind.Param: {
            const v = ex.params?.[p.name];
            raw = v === undefined ? undefined : (decodeParam(v) ?? UNUSABLE);
            break;
          }
          case SourceKind.Query: raw = query!.get(p.name) ?? undefined; break;
          case SourceKind.Header: raw = headerOf(ex.upstreamHeaders, p.name); break;
          default: {
            const id = ex.identity;
            if (id === null) { ex.fail('GH_UNAUTHORIZED', { detail: `${p.text} needs an authenticated caller` }); return false; }
            raw = p.kind === SourceKind.ConsumerId ? (id.consumer?.id ?? id.subject)
              : p.kind === SourceKind.ConsumerMeta ? (id.consumer !== null && Object.hasOwn(id.consumer.metadata, p.name) ? id.consumer.metadata[p.name] : undefined)
                : getPath(id.claims, p.path);
          }
        }
        const enc = encodeValue(raw);
        if (enc === null) { refuse(ex, p, raw === undefined || raw === null); return false; }
        values[call.base + i] = enc;
      }
    }
    return true;
  }

  async execute(): Promise<void> {
    const ex = this.ex;
    const agg = this.agg;
    this.headers = callHeaders(ex.upstreamHeaders);
    const res = ex.res as Carrier;
    res[RUN] = this;
    res.on('close', onClientClose);
    ex.upstreamStart = performance.now();
    // One timer for the aggregation's deadline, shared by every call without a shorter timeout of its own.
    this.group.startDeadline(Math.max(1, Math.ceil(this.deadline - ex.upstreamStart)));
    const order = agg.order;
    for (let i = 0; i < order.length; i++) this.done[order[i]!] = this.runCall(order[i]!);
    await Promise.all(this.done);
    this.group.finish();
    res.removeListener('close', onClientClose);
    res[RUN] = undefined;
    if (this.lastAnswer > 0) ex.upstreamMs = this.lastAnswer - ex.upstreamStart;
    if (clientGone(res) || res.headersSent) return;
    this.answer();
  }

  /** runCall waits for the calls this one depends on, sends it, and keeps its shaped answer or its failure. */
  async runCall(index: number): Promise<boolean> {
    const call = this.agg.calls[index]!;
    const deps = call.deps;
    for (let i = 0; i < deps.length; i++) {
      if (!(await this.done[deps[i]!])) return this.failed(index, DEPENDENCY_FAILED);
    }
    const values = this.values;
    const ps = call.placeholders;
    // A value taken from an earlier answer that was missing or refused leaves its slot null.
    for (let i = 0; i < ps.length; i++) if (values[call.base + i] === null) return this.failed(index, BAD_ANSWER);
    const left = this.deadline - performance.now();
    if (left < 1) return this.failed(index, OUT_OF_TIME);
    const ex = this.ex;
    ex.attempts++;
    const r = await callService(call.service, {
      method: call.method,
      path: render(call.literals, values, call.base),
      headers: this.headers,
      body: null,
      // A call with a shorter timeout of its own gets a timer; the others share the group's deadline.
      timeoutMs: call.timeoutMs < left ? call.timeoutMs : 0,
      maxBytes: call.maxBytes,
      group: this.group,
    }, ex);
    this.lastAnswer = performance.now();
    if (r.target !== null) ex.target = r.target;
    if (!r.ok) return this.failed(index, r.code === 'GH_UPSTREAM_TIMEOUT' ? OUT_OF_TIME : { status: ERRORS[r.code].status, code: r.code });
    const status = r.status;
    if (status < 200 || status > 299) return this.failed(index, status >= 400 && status <= 599 ? { status, code: 'GH_UPSTREAM_ERROR' } : BAD_ANSWER);
    let value: unknown = null;
    if (status !== 204) {
      const h = r.headers;
      const encoding = h['content-encoding'];
      if (encoding !== undefined && encoding !== 'identity') return this.failed(index, BAD_ANSWER);
      if (!isJsonType(h['content-type'])) return this.failed(index, BAD_ANSWER);
      try { value = JSON.parse(r.body.toString('utf8')); } catch { return this.failed(index, BAD_ANSWER); }
      if (!withinDepth(value, r.body.length)) return this.failed(index, BAD_ANSWER);
    }
    // Values for later calls come from the answer as the service sent it, before this call's field operations.
    const exports = call.exports;
    for (let i = 0; i < exports.length; i++) values[exports[i]!.slot] = encodeValue(getPath(value, exports[i]!.path));
    this.results[index] = call.shaper === null ? value : call.shaper.apply(value);
    return true;
  }

  failed(index: number, f: PartFailure): false {
    this.failures[index] = f;
    return false;
  }

  /** answer writes the merged answer, a partial one, or the whole failure. */
  answer(): void {
    const ex = this.ex;
    const agg = this.agg;
    const calls = agg.calls;
    const failures = this.failures;
    let failed = 0;
    let shown = 0;
    for (let i = 0; i < calls.length; i++) {
      if (failures[i] !== null) failed++;
      else if (!calls[i]!.hide) shown++;
    }
    if (failed > 0 && (agg.failWhole || shown === 0)) {
      ex.fail('GH_AGGREGATE_FAILED', { status: worstStatus(failures), extensions: { failed: this.failedParts() } });
      return;
    }
    const out: Record<string, unknown> = {};
    const results = this.results;
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      if (call.hide || failures[i] !== null) continue;
      const v = results[i];
      if (!agg.flat || v === null || typeof v !== 'object' || Array.isArray(v)) { out[call.name] = v; continue; }
      const keys = Object.keys(v);
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        // A member named like the gateway's own, or one that would reach the prototype, is never merged.
        if (key === ERRORS_MEMBER || UNSAFE_KEYS.has(key)) continue;
        out[key] = (v as Record<string, unknown>)[key];
      }
    }
    if (failed === 0) {
      sendResponse(ex, 200, JSON_HEADERS, null, { json: out });
      return;
    }
    out[ERRORS_MEMBER] = this.failedParts();
    sendResponse(ex, 200, ['content-type', 'application/json', 'cache-control', 'no-store', PARTIAL_HEADER, partialHeader(calls, failures)], null, { json: out });
  }

  /** failedParts is the `$errors` (and problem `failed`) member: each failed part's status, code and title. */
  failedParts(): Record<string, { status: number; code: ErrorCode; title: string }> {
    const out: Record<string, { status: number; code: ErrorCode; title: string }> = {};
    const calls = this.agg.calls;
    for (let i = 0; i < calls.length; i++) {
      const f = this.failures[i];
      if (f !== null && f !== undefined) out[calls[i]!.name] = { status: f.status, code: f.code, title: ERRORS[f.code].title };
    }
    return out;
  }
}

const JSON_HEADERS: readonly string[] = ['content-type', 'application/json'];

/**
 * worstStatus is the status of a whole failure: the highest of the failed parts (5xx above 4xx, 504 above
 * 502). Parts skipped because a call they wait for failed only repeat that failure, so they count only when
 * nothing else failed (which cannot happen, but the answer stays defined).
 */
export function worstStatus(failures: readonly (PartFailure | null)[]): number {
  let worst = 0;
  for (const f of failures) if (f !== null && f.code !== 'GH_DEPENDENCY_FAILED' && f.status > worst) worst = f.status;
  return worst === 0 ? 502 : worst;
}

/** partialHeader is `Gatehouse-Partial`: `orders;status=504;code="GH_UPSTREAM_TIMEOUT", billing;...` (RFC 8941 list of tokens). */
export function partialHeader(calls: readonly AggregateCall[], failures: readonly (PartFailure | null)[]): string {
  let out = '';
  for (let i = 0; i < calls.length; i++) {
    const f = failures[i];
    if (f === null || f === undefined) continue;
    out += `${out === '' ? '' : ', '}${calls[i]!.name};status=${f.status};code="${f.code}"`;
  }
  return out;
}

function refuse(ex: Exchange, p: Placeholder, missing: boolean): void {
  const what = missing ? 'is required' : 'cannot be used in a backend path';
  // Worded like the validate feature's refusals: `in`, a JSON pointer, and a detail that never holds the value.
  const place = p.kind === SourceKind.Param ? 'path' : p.kind === SourceKind.Query ? 'query' : p.kind === SourceKind.Header ? 'header' : null;
  if (place === null) {
    // The caller's identity lacks what the route needs: authenticated, but not enough to use it.
    ex.fail('GH_FORBIDDEN', { detail: `${p.text} ${missing ? 'is missing' : 'cannot be used in a backend path'} for this caller` });
    return;
  }
  ex.fail('GH_VALIDATION_FAILED', { detail: `${place}.${p.name}: ${what}`, errors: [{ in: place, field: `/${p.name.replaceAll('~', '~0').replaceAll('/', '~1')}`, message: what }] });
}

function headerOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** callHeaders copies the request's upstream headers for the calls and asks for uncompressed JSON. */
function callHeaders(given: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < given.length; i += 2) if (!NOT_SENT.has(given[i]!)) out.push(given[i]!, given[i + 1]!);
  out.push('accept', 'application/json', 'accept-encoding', 'identity');
  return out;
}

function isJsonType(type: string | undefined): boolean {
  if (type === undefined) return false;
  const semi = type.indexOf(';');
  const base = (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json');
}

const NAME_RE = new RegExp(BACKEND_NAME);

/** Parsed is an aggregate block after its checks: templates, dependencies and launch order. */
interface Parsed {
  readonly names: readonly string[];
  readonly templates: readonly ParsedTemplate[];
  readonly deps: readonly number[][];
  readonly order: readonly number[];
}

/** analyse parses every call's template and orders the calls; problems go to `out` as [key, message]. */
function analyse(cfg: AggregateConfig, ctx: BackendCheckContext, out: [string, string][]): Parsed {
  const names = Object.keys(cfg.backends);
  const templates: ParsedTemplate[] = [];
  const deps: number[][] = [];
  const routeMs = parseDuration(cfg.timeout);
  names.forEach((name, i) => {
    const b = cfg.backends[name]!;
    const at = `backends.${name}`;
    const d: number[] = [];
    deps.push(d);
    if (!NAME_RE.test(name)) out.push([at, 'must start with a letter and hold only letters, digits, "_" and "-"']);
    else if (RESERVED_ROOTS.has(name)) out.push([at, `"${name}" is reserved for placeholders (${name === 'consumer' ? '{consumer.id}' : `{${name}.name}`}); give the backend another name`]);
    if (!ctx.serviceNames.has(b.service)) {
      const hint = didYouMean(b.service, ctx.serviceNames);
      out.push([`${at}.service`, `unknown service "${b.service}"${hint ? ` (did you mean "${hint}"?)` : ''}`]);
    }
    if (b.timeout !== undefined && parseDuration(b.timeout) > routeMs) out.push([`${at}.timeout`, `is longer than the aggregate's timeout (${cfg.timeout}), which bounds every call`]);
    for (const [rel, message] of Shaper.problems(b)) out.push([rel === '' ? at : `${at}.${rel}`, message]);
    const t = parseTemplate(b.path, ctx.paramNames);
    if (typeof t === 'string') { out.push([`${at}.path`, t]); templates.push({ literals: ['/'], placeholders: [] }); return; }
    templates.push(t);
    for (const p of t.placeholders) {
      if (p.kind !== SourceKind.Step) continue;
      const j = names.indexOf(p.name);
      if (j === i) out.push([`${at}.path`, `has a placeholder ${p.text} that takes a value from this backend's own answer`]);
      else if (j === -1) {
        const hint = didYouMean(p.name, names);
        out.push([`${at}.path`, `has a placeholder ${p.text}, but there is no backend "${p.name}"${hint ? ` (did you mean "${hint}"?)` : ''}; sources are path parameters, query, header, consumer and claims`]);
      } else if (!d.includes(j)) d.push(j);
    }
  });
  // Kahn's algorithm: the launch order, and what is left over is a cycle.
  const order: number[] = [];
  const waiting = deps.map((d) => d.length);
  const ready = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  while (ready.length > 0) {
    const i = ready.shift()!;
    order.push(i);
    deps.forEach((d, j) => { if (d.includes(i) && --waiting[j]! === 0) ready.push(j); });
  }
  if (order.length < names.length) {
    const cycle = findCycle(deps, new Set(names.map((_, i) => i).filter((i) => !order.includes(i))));
    out.push(['backends', `calls wait for each other in a cycle: ${cycle.map((i) => names[i]).join(' → ')}`]);
  }
  names.forEach((name, i) => {
    if (cfg.backends[name]!.hide === true && !deps.some((d) => d.includes(i))) out.push([`backends.${name}.hide`, 'hides a backend whose answer no other path uses; remove the call']);
  });
  if (names.every((n) => cfg.backends[n]!.hide === true)) out.push(['backends', 'every backend is hidden; the answer would be empty']);
  return { names, templates, deps, order };
}

/**
 * findCycle names one cycle among the calls Kahn's algorithm could not order: each of them waits for at least
 * one other such call, so following those waits from any of them must come back to a call already seen.
 */
function findCycle(deps: readonly number[][], unordered: ReadonlySet<number>): number[] {
  const path: number[] = [];
  let i = unordered.values().next().value!;
  while (!path.includes(i)) { path.push(i); i = deps[i]!.find((d) => unordered.has(d))!; }
  return [...path.slice(path.indexOf(i)), i];
}

/** aggregateBackend is the `aggregate:` key of a route. */
export const aggregateBackend = defineBackend({
  key: 'aggregate',
  schema: AggregateSchema,
  check(cfg, ctx) {
    const out: [string, string][] = [];
    analyse(cfg, ctx, out);
    return out;
  },
  create(cfg, ctx) {
    const problems: [string, string][] = [];
    const parsed = analyse(cfg, ctx, problems);
    if (problems.length > 0) throw new Error(`${problems[0]![0]}: ${problems[0]![1]}`);
    const { names, templates, deps, order } = parsed;
    const bases: number[] = [];
    let slots = 0;
    for (const t of templates) { bases.push(slots); slots += t.placeholders.length; }
    const exports: Export[][] = names.map(() => []);
    templates.forEach((t, i) => t.placeholders.forEach((p, k) => {
      if (p.kind === SourceKind.Step) exports[names.indexOf(p.name)]!.push({ slot: bases[i]! + k, path: p.path });
    }));
    const routeMs = parseDuration(cfg.timeout);
    const calls = names.map((name, i) => {
      const b = cfg.backends[name]!;
      return new AggregateCall(name, ctx.services.get(b.service)!, b.method ?? DEFAULT_CALL_METHOD, templates[i]!, bases[i]!, b.timeout === undefined ? routeMs : parseDuration(b.timeout),
        parseSize(b.maxSize ?? DEFAULT_MAX_SIZE), Shaper.build(b), b.hide === true, deps[i]!, exports[i]!);
    });
    return new AggregateBackend(calls, order, cfg.merge === 'flat', cfg.onFailure === 'fail', routeMs);
  },
});
