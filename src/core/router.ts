/**
 * The route table. Routes are sorted once at config load into one deterministic match order:
 *   1. explicit `priority` (higher first; none counts as 0);
 *   2. host: exact names before wildcards (longer suffix first) before routes with no host;
 *   3. path: exact before parameterised before prefix; then more literal segments, then more segments;
 *   4. more conditions (methods, headers, query, version) first;
 *   5. the order in the config file.
 * The first route whose every condition holds wins. Exact paths are also indexed in a Map so the common case
 * skips the scan. When a route matches everything but the method, the answer is 405 with `Allow`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MatchConfig } from '../config/schema.js';

/** PathKind orders path patterns by specificity (higher is more specific). */
export const enum PathKind { Prefix = 1, Params = 2, Exact = 3 }

type Segment = { literal: string } | { param: string };

/** RouteMatcher is the compiled `match:` of one route. */
export class RouteMatcher {
  readonly pathPattern: string;
  readonly pathKind: PathKind;
  /** For Exact: the path; for Prefix: the literal prefix without `/*`. Compared lower-cased when case-insensitive. */
  readonly literal: string;
  readonly segments: readonly Segment[];
  readonly exactHosts: ReadonlySet<string> | null;
  /** Wildcard host suffixes including the dot: `.example.com`. */
  readonly wildcardHosts: readonly string[] | null;
  readonly methods: ReadonlySet<string> | null;
  /** Header conditions as [lower-case name, value or '*'] pairs. */
  readonly headers: readonly (readonly [string, string])[] | null;
  readonly query: readonly (readonly [string, string])[] | null;
  readonly versionHeader: string | null;
  readonly versionValue: string | null;
  readonly mediaType: string | null;
  readonly caseSensitive: boolean;
  /** Whether the pattern has `:name` segments. */
  readonly hasParams: boolean;
  /** Whether a prefix route captures the rest of the path as the `*` parameter (a rewrite uses it). */
  readonly captureRest: boolean;

  constructor(match: MatchConfig, caseSensitive: boolean, captureRest = false) {
    this.caseSensitive = caseSensitive;
    this.captureRest = captureRest && match.path.endsWith('/*');
    const path = caseSensitive ? match.path : match.path.toLowerCase();
    this.pathPattern = match.path;
    if (path.endsWith('/*')) {
      this.pathKind = PathKind.Prefix;
      this.literal = path.slice(0, -2);
    } else if (path.includes('/:')) {
      this.pathKind = PathKind.Params;
      this.literal = path;
    } else {
      this.pathKind = PathKind.Exact;
      this.literal = path;
    }
    // Segments from the pattern as written: parameter names keep their case, literals follow `caseSensitive`.
    const segPath = this.pathKind === PathKind.Prefix ? match.path.slice(0, -2) : match.path;
    this.segments = segPath.split('/').slice(1).filter((s, i, a) => s !== '' || i < a.length - 1).map((s) =>
      s.startsWith(':') ? { param: s.slice(1) } : { literal: caseSensitive ? s : s.toLowerCase() });
    this.hasParams = this.segments.some((x) => 'param' in x);
    const hosts = match.host === undefined ? null : (Array.isArray(match.host) ? match.host : [match.host]).map((h) => h.toLowerCase());
    const exact = hosts?.filter((h) => !h.startsWith('*.')) ?? [];
    const wild = hosts?.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)) ?? [];
    this.exactHosts = exact.length > 0 ? new Set(exact) : null;
    this.wildcardHosts = wild.length > 0 ? wild.sort((a, b) => b.length - a.length) : null;
    this.methods = match.methods ? new Set(match.methods.includes('GET') ? [...match.methods, 'HEAD'] : match.methods) : null;
    const hdr = match.headers ? Object.entries(match.headers).map(([k, v]) => [k.toLowerCase(), v] as const) : [];
    this.versionHeader = match.version && 'header' in match.version ? match.version.header.toLowerCase() : null;
    this.versionValue = match.version && 'header' in match.version ? match.version.value : null;
    this.mediaType = match.version && 'mediaType' in match.version ? match.version.mediaType.toLowerCase() : null;
    this.headers = hdr.length > 0 ? hdr : null;
    this.query = match.query ? Object.entries(match.query) : null;
  }

  /** hasHost says whether the route names hosts. */
  get hasHost(): boolean { return this.exactHosts !== null || this.wildcardHosts !== null; }

  /** conditionCount counts the non-path, non-host conditions, for ordering. */
  get conditionCount(): number {
    return (this.methods ? 1 : 0) + (this.headers?.length ?? 0) + (this.query?.length ?? 0) + (this.versionHeader || this.mediaType ? 1 : 0);
  }

  /** matchHost checks the request's host (lower-case, port removed). */
  matchHost(host: string): boolean {
    if (this.exactHosts === null && this.wildcardHosts === null) return true;
    if (this.exactHosts !== null && this.exactHosts.has(host)) return true;
    if (this.wildcardHosts !== null) {
      for (let i = 0; i < this.wildcardHosts.length; i++) {
        const suffix = this.wildcardHosts[i]!;
        // `*.example.com` needs at least one label before the suffix.
        if (host.length > suffix.length && host.endsWith(suffix)) return true;
      }
    }
    return false;
  }

  /**
   * matchPath checks a path: `key` is the path as compared (lower-cased when case-insensitive) and `path` the
   * normalized path as sent, from which parameter values are taken. Normalized paths are ASCII, so both have
   * the same indexes. Returns the parameters, true (no parameters), or false.
   */
  matchPath(key: string, path: string): Record<string, string> | boolean {
    switch (this.pathKind) {
      case PathKind.Exact:
        return key === this.literal;
      case PathKind.Prefix: {
        if (this.hasParams || this.captureRest) return this.matchSegments(key, path, true);
        const lit = this.literal;
        if (lit === '') return true;
        if (!key.startsWith(lit)) return false;
        // Segment boundary: `/v1/*` matches `/v1` and `/v1/x`, never `/v1x`.
        return key.length === lit.length || key.charCodeAt(lit.length) === 47 || lit.endsWith('/');
      }
      default:
        return this.matchSegments(key, path, false);
    }
  }

  /** Walks the pattern's segments; with `prefix`, the path may go on and the rest is captured as `*` if asked. */
  private matchSegments(key: string, path: string, prefix: boolean): Record<string, string> | false {
    const segs = this.segments;
    let pos = 1;
    let params: Record<string, string> | null = null;
    for (let i = 0; i < segs.length; i++) {
      if (pos > key.length) return false; // the path has fewer segments than the pattern
      let end = key.indexOf('/', pos);
      if (end === -1) end = key.length;
      const seg = segs[i]!;
      if ('literal' in seg) {
        if (key.slice(pos, end) !== seg.literal) return false;
      } else {
        if (end === pos) return false; // an empty segment never fills a parameter
        (params ??= {})[seg.param] = path.slice(pos, end);
      }
      pos = end + 1;
    }
    if (!prefix) return pos > key.length ? (params ?? {}) : false;
    if (this.captureRest) (params ??= {})['*'] = pos > path.length ? '' : path.slice(pos);
    return params ?? {};
  }

  /** matchConditions checks headers, query and version. */
  matchConditions(headers: IncomingHttpHeaders, query: string): boolean {
    if (this.headers !== null) {
      for (let i = 0; i < this.headers.length; i++) {
        const [name, want] = this.headers[i]!;
        const got = headers[name];
        if (got === undefined || (want !== '*' && got !== want)) return false;
      }
    }
    if (this.versionHeader !== null && headers[this.versionHeader] !== this.versionValue) return false;
    if (this.mediaType !== null) {
      const accept = headers.accept;
      if (accept === undefined || !acceptsMediaType(accept, this.mediaType)) return false;
    }
    if (this.query !== null) {
      const params = new URLSearchParams(query);
      for (let i = 0; i < this.query.length; i++) {
        const [name, want] = this.query[i]!;
        const got = params.get(name);
        if (got === null || (want !== '*' && got !== want)) return false;
      }
    }
    return true;
  }
}

function acceptsMediaType(accept: string, mediaType: string): boolean {
  const lower = accept.toLowerCase();
  let i = lower.indexOf(mediaType);
  while (i !== -1) {
    const before = i === 0 ? ',' : lower[i - 1]!;
    const after = lower[i + mediaType.length];
    if ((before === ',' || before === ' ') && (after === undefined || after === ',' || after === ';' || after === ' ')) return true;
    i = lower.indexOf(mediaType, i + 1);
  }
  return false;
}

/** Routable is what the router needs of a route. */
export interface Routable {
  readonly name: string;
  readonly index: number;
  readonly priority: number;
  readonly matcher: RouteMatcher;
}

/** RouteResult is a match with its parameters. */
export interface RouteMatch<R> { route: R; params: Record<string, string> | null }

/** compareRoutes orders two routes as documented at the top of this file (negative: a first). */
export function compareRoutes(a: Routable, b: Routable): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const ha = hostRank(a.matcher), hb = hostRank(b.matcher);
  if (ha !== hb) return hb - ha;
  const ma = a.matcher, mb = b.matcher;
  if (ma.pathKind !== mb.pathKind) return mb.pathKind - ma.pathKind;
  const la = literalCount(ma), lb = literalCount(mb);
  if (la !== lb) return lb - la;
  if (ma.segments.length !== mb.segments.length) return mb.segments.length - ma.segments.length;
  if (ma.conditionCount !== mb.conditionCount) return mb.conditionCount - ma.conditionCount;
  return a.index - b.index;
}

function hostRank(m: RouteMatcher): number {
  if (m.exactHosts !== null) return 1_000_000;
  if (m.wildcardHosts !== null) return 1000 + m.wildcardHosts[m.wildcardHosts.length - 1]!.length;
  return 0;
}

function literalCount(m: RouteMatcher): number {
  let n = 0;
  for (const s of m.segments) if ('literal' in s) n++;
  return n;
}

/** Router finds the route of a request. */
export class Router<R extends Routable> {
  /** Every route in match order. */
  readonly ordered: readonly R[];
  /** Exact-path routes by path (lower-cased when case-insensitive), each list in match order. */
  private readonly exact: Map<string, R[]>;
  /** Non-exact routes in match order. */
  private readonly patterns: readonly R[];
  private readonly rank: Map<R, number>;
  readonly caseSensitive: boolean;

  constructor(routes: readonly R[], caseSensitive: boolean) {
    this.caseSensitive = caseSensitive;
    this.ordered = [...routes].sort(compareRoutes);
    this.rank = new Map(this.ordered.map((r, i) => [r, i]));
    this.exact = new Map();
    const patterns: R[] = [];
    for (const r of this.ordered) {
      if (r.matcher.pathKind === PathKind.Exact) {
        let list = this.exact.get(r.matcher.literal);
        if (!list) this.exact.set(r.matcher.literal, (list = []));
        list.push(r);
      } else {
        patterns.push(r);
      }
    }
    this.patterns = patterns;
  }

  /**
   * find returns the matching route, or the list of methods allowed on the path when only the method failed
   * (for 405), or null (404). `host` is lower-case without port; `path` is normalized.
   */
  find(method: string, host: string, path: string, headers: IncomingHttpHeaders, query: string): RouteMatch<R> | string[] | null {
    const key = this.caseSensitive ? path : path.toLowerCase();
    const exact = this.exact.get(key);
    const patterns = this.patterns;
    let allow: Set<string> | null = null;
    let ei = 0;
    let pi = 0;
    const el = exact === undefined ? 0 : exact.length;
    // Merge the two lists, both already in match order.
    while (ei < el || pi < patterns.length) {
      let r: R;
      if (ei < el && (pi >= patterns.length || this.rank.get(exact![ei]!)! < this.rank.get(patterns[pi]!)!)) r = exact![ei++]!;
      else r = patterns[pi++]!;
      const m = r.matcher;
      if (!m.matchHost(host)) continue;
      const params = m.pathKind === PathKind.Exact ? true : m.matchPath(key, path);
      if (params === false) continue;
      if (!m.matchConditions(headers, query)) continue;
      if (m.methods !== null && !m.methods.has(method)) {
        allow ??= new Set();
        for (const x of m.methods) allow.add(x);
        continue;
      }
      return { route: r, params: params === true ? null : params };
    }
    return allow === null ? null : [...allow].sort();
  }
}

/** shadowedBy returns the earlier route that makes `r` unreachable, if any (for `gatehouse validate`). */
export function shadowedBy<R extends Routable>(ordered: readonly R[], r: R): R | null {
  const idx = ordered.indexOf(r);
  for (let i = 0; i < idx; i++) {
    const e = ordered[i]!;
    if (covers(e.matcher, r.matcher)) return e;
  }
  return null;
}

function covers(e: RouteMatcher, r: RouteMatcher): boolean {
  // Hosts: e must accept every host r accepts.
  if (e.hasHost) {
    if (!r.hasHost) return false;
    if (r.wildcardHosts !== null && !(r.wildcardHosts.every((w) => e.wildcardHosts?.some((s) => w.endsWith(s))))) return false;
    if (r.exactHosts !== null) for (const h of r.exactHosts) if (!e.matchHost(h)) return false;
  }
  // Methods: e must accept every method r accepts.
  if (e.methods !== null) {
    if (r.methods === null) return false;
    for (const x of r.methods) if (!e.methods.has(x)) return false;
  }
  // Conditions: every condition of e must also be a condition of r.
  if (e.headers !== null && !e.headers.every(([n, v]) => r.headers?.some(([n2, v2]) => n === n2 && (v === '*' || v === v2)))) return false;
  if (e.query !== null && !e.query.every(([n, v]) => r.query?.some(([n2, v2]) => n === n2 && (v === '*' || v === v2)))) return false;
  if (e.versionHeader !== null && !(r.versionHeader === e.versionHeader && r.versionValue === e.versionValue)) return false;
  if (e.mediaType !== null && r.mediaType !== e.mediaType) return false;
  return pathCovers(e, r);
}

function pathCovers(e: RouteMatcher, r: RouteMatcher): boolean {
  if (e.pathKind === PathKind.Exact) return r.pathKind === PathKind.Exact && r.literal === e.literal;
  const es = e.segments, rs = r.segments;
  if (e.pathKind === PathKind.Params) {
    if (r.pathKind === PathKind.Prefix || rs.length !== es.length) return false;
  } else if (rs.length < es.length) {
    return false;
  }
  for (let i = 0; i < es.length; i++) {
    const a = es[i]!, b = rs[i]!;
    if ('literal' in a && !('literal' in b && b.literal === a.literal)) return false;
  }
  return true;
}
