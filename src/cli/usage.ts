/**
 * `gatehouse usage` and `gatehouse statement`: read metered usage from the configured store and print it, or
 * the billing statement computed from it, as a table, CSV or JSON. They read the store the gateway writes, so
 * they need `store: { redis: ... }`: the memory store lives inside the gateway process.
 */
import { loadConfigFile } from '../config/load.js';
import { compile } from '../config/compile.js';
import { preloadFor } from '../config/preload.js';
import { silentLogger } from '../observability/log.js';
import { createStore } from '../stores/index.js';
import type { Store, UsageRecord } from '../stores/types.js';
import { HOUR_MS } from '../metering/meter.js';
import { PlanIndex } from '../plans/plans.js';
import { periodFromId, calendarPeriod } from '../billing/calendar.js';
import { computeStatement, statementToCsv, statementToJson, usageToCsv, usageToJson } from '../billing/statement.js';

/** UsageOptions are the flags of `gatehouse usage` and `gatehouse statement`. */
export interface UsageOptions {
  file: string;
  consumer?: string;
  from?: string;
  to?: string;
  period?: string;
  format: 'table' | 'csv' | 'json';
  /** Clock for the defaults (this month); tests inject one. */
  now?: number;
}

/** CliError is a user mistake reported in one line with exit code 2 (1 for a bad config, from the loader). */
export class CliError extends Error {}

/** runUsage prints the usage of one consumer in [from, to), by hour, route and status class. */
export async function runUsage(o: UsageOptions, out: (s: string) => void): Promise<void> {
  const { config } = await loadChecked(o.file);
  const consumer = need(o.consumer, '--consumer ID is required');
  if (consumer !== '-' && !(consumer in config.consumers)) throw new CliError(`unknown consumer "${consumer}"`);
  const now = o.now ?? Date.now();
  const month = calendarPeriod(now, 'month', 'UTC');
  const from = o.from === undefined ? month.start : parseInstant(o.from, '--from');
  const to = o.to === undefined ? now : parseInstant(o.to, '--to');
  if (!(to > from)) throw new CliError('--to must be after --from');
  const records = await withStore(config.store, (s) => s.readUsage(consumer, Math.floor(from / HOUR_MS) * HOUR_MS, Math.ceil(to / HOUR_MS) * HOUR_MS));
  if (o.format === 'csv') out(usageToCsv(records));
  else if (o.format === 'json') out(`${JSON.stringify(usageToJson(records), null, 2)}\n`);
  else out(usageTable(consumer, from, to, records));
}

/** runStatement prints the statement of one consumer for one period of its plan (default: this month). */
export async function runStatement(o: UsageOptions, out: (s: string) => void): Promise<void> {
  const { config } = await loadChecked(o.file);
  const consumerId = need(o.consumer, '--consumer ID is required');
  const consumer = config.consumers[consumerId];
  if (consumer === undefined) throw new CliError(`unknown consumer "${consumerId}"`);
  if (consumer.plan === undefined) throw new CliError(`consumer "${consumerId}" has no plan, so no pricing`);
  const plan = new PlanIndex(config.plans).get(consumer.plan)!;
  if (plan.pricing === null) throw new CliError(`plan "${plan.name}" has no pricing`);
  let period;
  try {
    period = o.period === undefined ? calendarPeriod(o.now ?? Date.now(), 'month', plan.timeZone) : periodFromId(o.period, plan.timeZone);
  } catch (err) {
    throw new CliError(`--period: ${(err as Error).message}`);
  }
  const usage = await withStore(config.store, (s) => s.readUsage(consumerId, Math.floor(period.start / HOUR_MS) * HOUR_MS, Math.ceil(period.end / HOUR_MS) * HOUR_MS));
  const st = computeStatement({ consumer: consumerId, plan: plan.name, pricing: plan.pricing, period: { ...period, timeZone: plan.timeZone }, usage });
  if (o.format === 'csv') out(statementToCsv(st));
  else out(`${JSON.stringify(statementToJson(st), null, 2)}\n`);
}

async function loadChecked(file: string): Promise<{ config: ReturnType<typeof loadConfigFile>['config'] }> {
  const loaded = loadConfigFile(file);
  await preloadFor(loaded.config);
  // Compiling checks the whole config (plans, consumers) the same way `gatehouse validate` does.
  const rt = compile(loaded, silentLogger());
  await rt.retire(0);
  if (loaded.config.store === 'memory') {
    throw new CliError('this config keeps usage in memory, inside the gateway process; set `store: { redis: { url } }` to read usage and statements from the command line');
  }
  return { config: loaded.config };
}

async function withStore<T>(config: ReturnType<typeof loadConfigFile>['config']['store'], fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await createStore(config, silentLogger());
  try {
    if (!store.health.up) throw new CliError('the store cannot be reached');
    return await fn(store);
  } finally {
    await store.close();
  }
}

function need(v: string | undefined, message: string): string {
  if (v === undefined || v === '') throw new CliError(message);
  return v;
}

/** parseInstant accepts `2026-11-01` (UTC midnight) or an ISO 8601 timestamp with a zone. */
function parseInstant(text: string, flag: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : /(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new CliError(`${flag}: expected a date (2026-11-01) or an ISO timestamp with a zone (2026-11-01T12:00:00Z), got "${text}"`);
  return t;
}

const CLASS_NAMES = ['', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** usageTable renders usage summed per route and status class, with the total. */
function usageTable(consumer: string, from: number, to: number, records: readonly UsageRecord[]): string {
  const sums = new Map<string, number[]>();
  let total = 0;
  for (const r of records) {
    let row = sums.get(r.route);
    if (row === undefined) { row = [0, 0, 0, 0, 0, 0]; sums.set(r.route, row); }
    row[r.statusClass]! += r.count;
    total += r.count;
  }
  const head = ['route', ...CLASS_NAMES.slice(1), 'total'];
  const rows = [...sums.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([route, c]) => [route, ...c.slice(1).map(String), String(c.slice(1).reduce((a, b) => a + b, 0))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `usage of ${consumer} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (hours that overlap it)`,
    line(head),
    ...rows.map(line),
    `total: ${total} request${total === 1 ? '' : 's'}`,
    '',
  ].join('\n');
}
