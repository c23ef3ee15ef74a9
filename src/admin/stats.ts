/**
 * The live numbers behind the dashboard and GET /api/stats: per route, one-second buckets of the last 60 s
 * holding the request count, the error count and a small latency histogram. It is a RequestSink, so it sits
 * on the hot path whenever the admin listener is on; recording a request is a map lookup, one clock read, a
 * logarithm and a few typed-array increments, with no allocation (a route's arrays are made the first time
 * it is seen). Everything else (rates, percentiles, series) is computed when the admin API asks, at most
 * about once a second per open dashboard.
 *
 * What counts as an error: an answer with status 5xx (which includes every gateway error of the 5xx family:
 * upstream unreachable, timed out, circuit open, internal error), or a request that carries a gateway error
 * code although its status is below 400 (an upstream that broke after the head was sent, so the client got a
 * truncated answer). Refusals with a 4xx status (authentication, limits, validation) are the gateway doing
 * its job, not errors. Requests that matched no route are not counted (their number is in /metrics).
 */
import type { Exchange } from '../core/exchange.js';
import type { RequestSink } from '../observability/types.js';
import type { RouteStatsJson, StatsJson, StatsSeriesPoint } from './stats-types.js';

export type { RouteStatsJson, StatsJson, StatsSeriesPoint } from './stats-types.js';

/** WINDOW_S is how many one-second buckets are kept per route. */
const WINDOW_S = 60;
/** RATE_WINDOW_S is the span, in seconds, of the live rate, percentiles and error rate. */
const RATE_WINDOW_S = 5;
/**
 * Latency buckets grow by a factor of sqrt(2) from 0.25 ms: bucket i holds (0.25·2^((i-1)/2), 0.25·2^(i/2)]
 * ms, and the last one everything above ~130 s. 40 counters per second per route (9.6 KB per route) keep a
 * percentile within the bucket's span, which is interpolated; a dashboard needs no better. The index is one
 * Math.log2, cheaper than a scan over bounds.
 */
const BUCKETS = 40;
const BASE_MS = 0.25;

/** StatsOptions configures a StatsSink. */
export interface StatsOptions {
  /** The names of the routes of the current config, in order: they are listed even before their first request. */
  routeNames?: () => Iterable<string>;
  /** The wall clock in epoch ms (tests pin it). Default: performance.timeOrigin + performance.now(). */
  now?: () => number;
}

/** The buckets of one route: slot s holds the second `seconds[s]`, with s = second mod WINDOW_S. */
class RouteStats {
  readonly seconds: Float64Array;
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  /** WINDOW_S rows of BUCKETS latency counters. */
  readonly latency: Uint32Array;
  total: number;
  constructor() {
    this.seconds = new Float64Array(WINDOW_S).fill(-1);
    this.requests = new Uint32Array(WINDOW_S);
    this.errors = new Uint32Array(WINDOW_S);
    this.latency = new Uint32Array(WINDOW_S * BUCKETS);
    this.total = 0;
  }

  /** slot returns the slot of `second`, cleared first when it still holds an older second. */
  slot(second: number): number {
    const s = second % WINDOW_S;
    if (this.seconds[s] !== second) {
      this.seconds[s] = second;
      this.requests[s] = 0;
      this.errors[s] = 0;
      this.latency.fill(0, s * BUCKETS, s * BUCKETS + BUCKETS);
    }
    return s;
  }

  /** lastSecond is the newest second that holds data, or -1. */
  lastSecond(): number {
    let last = -1;
    for (let s = 0; s < WINDOW_S; s++) if (this.requests[s]! > 0 && this.seconds[s]! > last) last = this.seconds[s]!;
    return last;
  }
}

/** StatsSink keeps the last minute of per-route numbers for the dashboard; snapshot() renders /api/stats. */
export class StatsSink implements RequestSink {
  readonly #routes: Map<string, RouteStats>;
  readonly #routeNames: (() => Iterable<string>) | null;
  /** A pinned clock, or null for the monotonic one (see onEnd). */
  readonly #now: (() => number) | null;

  constructor(opts: StatsOptions = {}) {
    this.#routes = new Map();
    this.#routeNames = opts.routeNames ?? null;
    this.#now = opts.now ?? null;
  }

  /** onEnd records one finished request. It never throws: a statistics bug must not break a response. */
  onEnd(ex: Exchange): void {
    try {
      const route = ex.route;
      if (route === null) return;
      const rs = this.#routes.get(route.name) ?? this.#add(route.name);
      // One clock read serves both the latency and the second: the wall clock is the monotonic one plus its
      // origin. A Date.now() call besides would add ~30 ns to the ~90-110 ns this method costs (Node 20,
      // bench/micro/stats-sink). It ignores later steps of the system clock, which suits a one-minute window.
      const t = performance.now();
      const s = rs.slot(Math.floor((this.#now === null ? performance.timeOrigin + t : this.#now()) / 1000));
      rs.requests[s]!++;
      rs.total++;
      const status = ex.status;
      if (status >= 500 || (ex.errorCode !== null && status < 400)) rs.errors[s]!++;
      rs.latency[s * BUCKETS + bucketOf(t - ex.start)]!++;
    } catch {
      // Nothing to do: the request is over.
    }
  }

  /**
   * snapshot renders the /api/stats document: the routes of the current config (when the sink knows them)
   * in config order, then any other route seen in the last minute (one removed by a reload fades out after
   * 60 s, and is then forgotten, so the map stays bounded by the config).
   */
  snapshot(): StatsJson {
    const at = Math.round(this.#now === null ? performance.timeOrigin + performance.now() : this.#now());
    const now = Math.floor(at / 1000);
    // The live rate covers the last RATE_WINDOW_S - 1 whole seconds and the elapsed part of this one, so it
    // moves as soon as traffic starts instead of a second later.
    const span = RATE_WINDOW_S - 1 + Math.max(0.001, (at - now * 1000) / 1000);
    const out: RouteStatsJson[] = [];
    const listed = new Set<string>();
    const merged = new Uint32Array(BUCKETS);
    if (this.#routeNames !== null) {
      for (const name of this.#routeNames()) {
        if (listed.has(name)) continue;
        listed.add(name);
        out.push(this.#route(this.#routes.get(name) ?? null, name, now, span, merged));
      }
    }
    for (const [name, rs] of this.#routes) {
      if (listed.has(name)) continue;
      if (rs.lastSecond() <= now - WINDOW_S) {
        if (this.#routeNames !== null) this.#routes.delete(name);
        continue;
      }
      out.push(this.#route(rs, name, now, span, merged));
    }
    return { at, windowS: WINDOW_S, routes: out };
  }

  #add(name: string): RouteStats {
    const rs = new RouteStats();
    this.#routes.set(name, rs);
    return rs;
  }

  #route(rs: RouteStats | null, name: string, now: number, span: number, merged: Uint32Array): RouteStatsJson {
    const series: StatsSeriesPoint[] = new Array(WINDOW_S);
    merged.fill(0);
    let recent = 0;
    let recentErrors = 0;
    for (let i = 0; i < WINDOW_S; i++) {
      const t = now - WINDOW_S + 1 + i;
      const s = t % WINDOW_S;
      if (rs === null || rs.seconds[s] !== t || rs.requests[s] === 0) {
        series[i] = { t, requests: 0, errors: 0, p99Ms: 0 };
        continue;
      }
      const requests = rs.requests[s]!;
      const errors = rs.errors[s]!;
      series[i] = { t, requests, errors, p99Ms: quantile(rs.latency, s * BUCKETS, requests, 0.99) };
      if (t > now - RATE_WINDOW_S) {
        recent += requests;
        recentErrors += errors;
        for (let b = 0; b < BUCKETS; b++) merged[b]! += rs.latency[s * BUCKETS + b]!;
      }
    }
    return {
      route: name,
      rps: round(recent / span),
      p50Ms: quantile(merged, 0, recent, 0.5),
      p99Ms: quantile(merged, 0, recent, 0.99),
      errorRate: recent === 0 ? 0 : round(recentErrors / recent, 4),
      total: rs === null ? 0 : rs.total,
      series,
    };
  }
}

/** bucketOf is the latency bucket of `ms` (see BUCKETS). */
export function bucketOf(ms: number): number {
  if (!(ms > BASE_MS)) return 0;
  const i = Math.ceil(2 * Math.log2(ms / BASE_MS));
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** upper bound, in ms, of bucket i. */
function upper(i: number): number {
  return BASE_MS * 2 ** (i / 2);
}

/**
 * quantile estimates the q-quantile (0..1) of the `n` latencies counted in `counts[from .. from+BUCKETS)`,
 * interpolating geometrically inside the bucket where it falls; 0 when n is 0.
 */
function quantile(counts: Uint32Array, from: number, n: number, q: number): number {
  if (n === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    const c = counts[from + i]!;
    if (c === 0 || seen + c < rank) { seen += c; continue; }
    if (i === 0) return round(BASE_MS);
    const lo = upper(i - 1);
    if (i === BUCKETS - 1) return round(lo);
    const frac = (rank - seen) / c;
    return round(lo * (upper(i) / lo) ** frac);
  }
  return round(upper(BUCKETS - 1));
}

/** round keeps `digits` decimals (2 by default): the dashboard shows no more. */
function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
