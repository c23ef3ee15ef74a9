/**
 * The /api/stats document (src/admin/stats.ts): its wire types, with no imports, so that the dashboard
 * (dashboard/src/api.ts) types its reads with the same declarations the server writes.
 */

/** StatsSeriesPoint is one second of one route in the /api/stats document. */
export interface StatsSeriesPoint {
  /** The second, as epoch seconds. */
  t: number;
  requests: number;
  errors: number;
  /** The 99th percentile latency of that second, in ms; 0 when it saw no request. */
  p99Ms: number;
}

/** RouteStatsJson is one route in the /api/stats document. */
export interface RouteStatsJson {
  route: string;
  /** Requests per second over the last 5 s. */
  rps: number;
  /** Median and 99th percentile latency over the last 5 s, in ms (0 without requests). */
  p50Ms: number;
  p99Ms: number;
  /** Share (0..1) of errors among the requests of the last 5 s. */
  errorRate: number;
  /** Requests counted since the gateway started. */
  total: number;
  /** The last 60 s, oldest first, one point per second. */
  series: StatsSeriesPoint[];
}

/** StatsJson is the /api/stats document. */
export interface StatsJson {
  /** When it was taken, epoch ms. */
  at: number;
  windowS: number;
  routes: RouteStatsJson[];
}
