/**
 * The compiled route table as `gatehouse routes` shows it: one row per route in match order, saying which
 * requests it takes and where they go. Also the golden-test format of compiled configs.
 */
import type { Runtime } from '../core/runtime.js';
import { PathKind } from '../core/router.js';

/** RouteRow is one line of the route table. */
export interface RouteRow {
  order: number;
  name: string;
  priority: number;
  host: string;
  methods: string;
  path: string;
  kind: 'exact' | 'params' | 'prefix';
  conditions: string;
  service: string;
  features: string;
  bodyLimit: number;
}

/** routeTable lists a runtime's routes in match order. */
export function routeTable(rt: Runtime): RouteRow[] {
  return rt.routes.map((r, i) => {
    const m = r.matcher;
    const hosts = [...(m.exactHosts ?? []), ...(m.wildcardHosts ?? []).map((w) => `*${w}`)];
    const conds: string[] = [];
    for (const [k, v] of m.headers ?? []) conds.push(`header ${k}=${v}`);
    for (const [k, v] of m.query ?? []) conds.push(`query ${k}=${v}`);
    if (m.versionHeader) conds.push(`version ${m.versionHeader}=${m.versionValue}`);
    if (m.mediaType) conds.push(`accept ${m.mediaType}`);
    return {
      order: i + 1,
      name: r.name,
      priority: r.priority,
      host: hosts.length ? hosts.join(',') : '*',
      // HEAD is implied wherever GET is allowed; list it only when given alone.
      methods: m.methods ? [...m.methods].filter((x) => x !== 'HEAD' || !m.methods!.has('GET')).join(',') : '*',
      path: m.pathPattern,
      kind: m.pathKind === PathKind.Exact ? 'exact' : m.pathKind === PathKind.Params ? 'params' : 'prefix',
      conditions: conds.join('; '),
      service: r.service?.name ?? '-',
      features: r.features.map((f) => f.name).join(','),
      bodyLimit: r.bodyLimit,
    };
  });
}

const COLUMNS = ['order', 'name', 'priority', 'host', 'methods', 'path', 'kind', 'conditions', 'service', 'features'] as const;

/** renderRouteTable prints rows as an aligned text table. */
export function renderRouteTable(rows: readonly RouteRow[]): string {
  const width = COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(COLUMNS.map((c) => c.toUpperCase())), ...rows.map((r) => line(COLUMNS.map((c) => String(r[c]))))].join('\n') + '\n';
}
