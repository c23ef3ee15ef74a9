// The benchmark's results: the row type, the ratios of each gatehouse row against the yardstick and
// direct rows of the same scenario, the printed table and the JSON file. docs/benchmarks.md explains
// every column.
import type { LoadResult } from './load.js';
import type { TargetKind } from './targets.js';

/** Row is one target x scenario: its load result and the target process's memory and CPU. */
export interface Row {
  target: string;
  kind: TargetKind;
  scenario: string;
  load: LoadResult;
  /** Peak RSS of the target process during the scenario (warm-up included), bytes; null for direct. */
  peakRssBytes: number | null;
  /** `scenario` when the peak was reset before the scenario, `process` when it covers the process's life. */
  peakRssScope: 'scenario' | 'process' | null;
  /** CPU time of the target process during the measured run, milliseconds; null for direct. */
  cpuMs: number | null;
  /** cpuMs per completed request, microseconds: what one request costs the target, whatever the load
   * generator and the scheduler did to the throughput. */
  cpuUsPerRequest: number | null;
  /** What the single check request before the load found wrong, or null. */
  preflightProblem: string | null;
  ratios: Ratios | null;
  /** With `--rounds` above 1: this row's req/s and its req/s ratio to the plain route in each round. */
  rounds?: { rps: number[]; vsPlainRps: (number | null)[] };
}

/** Ratios of a gatehouse row against the reference rows of the same scenario; null where a side is missing. */
export interface Ratios {
  vsYardstick: { rps: number | null; p99: number | null; peakRss: number | null; cpuPerRequest: number | null };
  vsDirect: { rps: number | null; p99: number | null };
  /** Against the plain `gatehouse` row of the same scenario: what a feature costs (null for that row itself). */
  vsPlain: { rps: number | null; p99: number | null; cpuPerRequest: number | null } | null;
}

/** TargetStatus is how a target's run went, for the report's notes and the exit code. */
export interface TargetStatus {
  target: string;
  kind: TargetKind;
  description: string;
  /** `ok`; `unavailable` (not built yet: skipped, not a failure); `failed` (harness failure). */
  state: 'ok' | 'unavailable' | 'failed';
  message: string | null;
  /** RSS of the target process once listening, before any request, bytes. */
  idleRssBytes: number | null;
  /** Bytes the target wrote to stdout during the whole run (its logs). */
  stdoutBytes: number | null;
  url: string | null;
}

/** PLAIN_TARGET is the Gatehouse row every feature target is compared with. */
export const PLAIN_TARGET = 'gatehouse';

/** ratio is a / b, or null when either is missing or not finite, or b is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** addRatios fills `ratios` on every gatehouse row from the yardstick and direct rows of its scenario. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.kind !== 'gatehouse') continue;
    const ys = rows.find((r) => r.kind === 'yardstick' && r.scenario === row.scenario) ?? null;
    const direct = rows.find((r) => r.kind === 'direct' && r.scenario === row.scenario) ?? null;
    const plain = row.target === PLAIN_TARGET ? null : rows.find((r) => r.target === PLAIN_TARGET && r.scenario === row.scenario) ?? null;
    row.ratios = {
      vsPlain: plain === null ? null : {
        rps: ratio(row.load.requestsPerSecond, plain.load.requestsPerSecond),
        p99: ratio(row.load.p99Ms, plain.load.p99Ms),
        cpuPerRequest: ratio(row.cpuUsPerRequest, plain.cpuUsPerRequest),
      },
      vsYardstick: {
        rps: ratio(row.load.requestsPerSecond, ys?.load.requestsPerSecond ?? null),
        p99: ratio(row.load.p99Ms, ys?.load.p99Ms ?? null),
        peakRss: ratio(row.peakRssBytes, ys?.peakRssBytes ?? null),
        cpuPerRequest: ratio(row.cpuUsPerRequest, ys?.cpuUsPerRequest ?? null),
      },
      vsDirect: {
        rps: ratio(row.load.requestsPerSecond, direct?.load.requestsPerSecond ?? null),
        p99: ratio(row.load.p99Ms, direct?.load.p99Ms ?? null),
      },
    };
  }
}

/** median of the numbers (the lower middle of an even count); null when there are none. */
function median(values: readonly (number | null | undefined)[]): number | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)]!;
}

/**
 * combineRounds merges the rows of several rounds (each with its ratios already computed against the rows
 * of the same round) into one row per target x scenario: the round with the median req/s stands for the
 * row, and every ratio is the median of the per-round ratios. A ratio taken within a round compares two
 * targets measured a minute apart, so a machine that drifts over the run moves both sides of it.
 */
export function combineRounds(rounds: Row[][]): Row[] {
  if (rounds.length === 1) return rounds[0]!;
  const groups = new Map<string, Row[]>();
  for (const rows of rounds) {
    for (const row of rows) {
      const key = `${row.target}\u0000${row.scenario}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [row]);
      else group.push(row);
    }
  }
  const out: Row[] = [];
  for (const group of groups.values()) {
    const byRps = [...group].sort((a, b) => a.load.requestsPerSecond - b.load.requestsPerSecond);
    const row: Row = { ...byRps[Math.floor((byRps.length - 1) / 2)]! };
    const rs = group.map((r) => r.ratios);
    if (row.ratios !== null) {
      const m = (pick: (r: Ratios) => number | null | undefined): number | null => median(rs.map((r) => (r === null ? null : pick(r))));
      row.ratios = {
        vsYardstick: { rps: m((r) => r.vsYardstick.rps), p99: m((r) => r.vsYardstick.p99), peakRss: m((r) => r.vsYardstick.peakRss), cpuPerRequest: m((r) => r.vsYardstick.cpuPerRequest) },
        vsDirect: { rps: m((r) => r.vsDirect.rps), p99: m((r) => r.vsDirect.p99) },
        vsPlain: row.ratios.vsPlain === null ? null : { rps: m((r) => r.vsPlain?.rps), p99: m((r) => r.vsPlain?.p99), cpuPerRequest: m((r) => r.vsPlain?.cpuPerRequest) },
      };
    }
    row.rounds = { rps: group.map((r) => r.load.requestsPerSecond), vsPlainRps: rs.map((r) => r?.vsPlain?.rps ?? null) };
    out.push(row);
  }
  return out;
}

/** formatRounds lists, for each row compared with the plain route, its req/s ratio in every round. */
export function formatRounds(rows: Row[]): string {
  const compared = rows.filter((r) => r.rounds !== undefined && r.ratios?.vsPlain != null);
  if (compared.length === 0) return '';
  const w = Math.max(...compared.map((r) => `${r.target} ${r.scenario}`.length));
  const out = ['req/s vs the plain route, per round (the table shows the median):'];
  for (const r of compared) out.push(`  ${`${r.target} ${r.scenario}`.padEnd(w)}  ${r.rounds!.vsPlainRps.map(fmtRatio).join('  ')}   median ${fmtRatio(r.ratios!.vsPlain!.rps)}`);
  return out.join('\n');
}

const DASH = '-';
const MIB = 1024 * 1024;

function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : DASH;
}
function fmtMs(n: number): string {
  if (!Number.isFinite(n)) return DASH;
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}
function fmtMiB(bytes: number | null): string {
  return bytes === null ? DASH : (bytes / MIB).toFixed(1);
}
function fmtRatio(r: number | null | undefined): string {
  return r === null || r === undefined ? DASH : `${r.toFixed(2)}x`;
}

interface Column {
  title: string;
  left?: boolean;
  /** Printed before the column: a group separator. */
  sep?: string;
}

const COLUMNS: Column[] = [
  { title: 'target', left: true },
  { title: 'scenario', left: true },
  { title: 'req/s' },
  { title: 'p50 ms' },
  { title: 'p99 ms' },
  { title: 'peak MiB' },
  { title: 'cpu us/req' },
  { title: 'non-2xx' },
  { title: 'errors' },
  { title: 'req/s', sep: ' | ' },
  { title: 'p99' },
  { title: 'RSS' },
  { title: 'cpu' },
  { title: 'req/s', sep: ' | ' },
  { title: 'p99' },
  { title: 'req/s', sep: ' | ' },
  { title: 'p99' },
  { title: 'cpu' },
];

function cells(row: Row): string[] {
  const r = row.ratios;
  const peak = row.peakRssBytes === null ? DASH : fmtMiB(row.peakRssBytes) + (row.peakRssScope === 'process' ? '*' : '');
  return [
    row.target,
    row.scenario,
    fmtInt(row.load.requestsPerSecond),
    fmtMs(row.load.p50Ms),
    fmtMs(row.load.p99Ms),
    peak,
    row.cpuUsPerRequest === null ? DASH : fmtInt(row.cpuUsPerRequest),
    fmtInt(row.load.non2xx),
    fmtInt(row.load.errors),
    fmtRatio(r?.vsYardstick.rps),
    fmtRatio(r?.vsYardstick.p99),
    fmtRatio(r?.vsYardstick.peakRss),
    fmtRatio(r?.vsYardstick.cpuPerRequest),
    fmtRatio(r?.vsDirect.rps),
    fmtRatio(r?.vsDirect.p99),
    fmtRatio(r?.vsPlain?.rps),
    fmtRatio(r?.vsPlain?.p99),
    fmtRatio(r?.vsPlain?.cpuPerRequest),
  ];
}

/** formatTable renders the rows as the fixed-width text table printed at the end of a run. */
export function formatTable(rows: Row[]): string {
  const body = rows.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...body.map((b) => b[i]!.length)));
  const line = (values: string[]): string =>
    COLUMNS.map((c, i) => (c.sep ?? (i === 0 ? '' : '  ')) + (c.left ? values[i]!.padEnd(widths[i]!) : values[i]!.padStart(widths[i]!)))
      .join('').trimEnd();

  // A group header over the ratio columns, aligned on the separators.
  const ownWidth = line(COLUMNS.map((c) => c.title)).indexOf(' | ');
  const ysWidth = widths[9]! + widths[10]! + widths[11]! + widths[12]! + 6;
  const directWidth = widths[13]! + widths[14]! + 2;
  const group = ' '.repeat(ownWidth) + ' | ' + 'vs yardstick'.padEnd(ysWidth) + ' | ' + 'vs direct'.padEnd(directWidth) + ' | ' + 'vs plain route';
  const out = [group, line(COLUMNS.map((c) => c.title)), line(COLUMNS.map((_, i) => '-'.repeat(widths[i]!)))];
  let previousTarget = '';
  for (let i = 0; i < rows.length; i++) {
    if (rows[i]!.target !== previousTarget && i > 0) out.push('');
    previousTarget = rows[i]!.target;
    out.push(line(body[i]!));
  }
  return out.join('\n');
}

/** formatTargets renders one line per target: state, idle RSS, and why it was skipped or failed. */
export function formatTargets(statuses: TargetStatus[]): string {
  const w = Math.max(6, ...statuses.map((s) => s.target.length));
  const out = [`${'target'.padEnd(w)}  idle MiB  state`];
  for (const s of statuses) {
    const idle = s.kind === 'direct' ? DASH : fmtMiB(s.idleRssBytes);
    const state = s.state === 'ok' ? `ok (${s.description})` : `${s.state}: ${s.message ?? ''}`;
    out.push(`${s.target.padEnd(w)}  ${idle.padStart(8)}  ${state}`);
  }
  return out.join('\n');
}
