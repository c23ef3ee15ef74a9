/**
 * Billing statements: what one consumer owes for one calendar period under one plan's pricing, computed
 * exactly from metered usage, and the CSV and JSON forms of statements and of raw usage.
 *
 * The rules (docs/billing.md states them for users):
 * 1. Usage is metered per consumer x route x status class x UTC hour. A statement counts the consumer's
 *    hours that start within `[period.start, period.end)`. Where the zone's offset is not a whole number
 *    of hours (Asia/Kolkata, +05:30), the hour that straddles local midnight counts in the period it starts
 *    in. Every call is listed (`calls`); only calls of a `billable` status class are charged and counted
 *    against `included` (`billableCalls`).
 * 2. Billable calls are numbered 1, 2, 3... in the order they arrived as far as hourly buckets tell: by
 *    hour, and within an hour by route name (code-unit order), so the same usage always gives the same
 *    statement.
 * 3. Calls 1 to `included` cost nothing. Every later call costs the `perCall` of the tier its number falls
 *    in (graduated pricing: calls 1,001 to 10,000 at one price, 10,001 onward at another), or the flat
 *    `perCall`.
 * 4. Each route's amount is summed exactly (10^-12 of the major unit, BigInt). The total is the exact sum
 *    of the routes plus the fee, rounded half-up to the currency's minor unit once. The route lines and the
 *    fee line are then given whole minor units by the largest-remainder method: each gets its amount
 *    rounded down, and the minor units still missing from the total go one each to the lines with the
 *    largest remainders (ties: routes by name, then the fee). So the lines add up exactly to the total, and
 *    each line is within one minor unit of its exact amount.
 * 5. The tier breakdown lists each band of call numbers with a price: the included calls first, then each
 *    tier from the first call after the included ones (a tier entirely within `included` is not listed),
 *    with its calls and its exact (unrounded) amount.
 */
import type { UsageRecord } from '../stores/types.js';
import type { CalendarPeriod } from './calendar.js';
import type { Pricing } from './schema.js';
import { formatMinor, formatScaled, minorUnit, roundToMinor } from './money.js';

/** StatementPeriod is the calendar period of a statement with the zone its boundaries were taken in. */
export type StatementPeriod = CalendarPeriod & { readonly timeZone: string };

/** StatementInput is what computeStatement needs: one consumer, its plan's pricing, a period and usage. */
export interface StatementInput {
  readonly consumer: string;
  readonly plan: string;
  readonly pricing: Pricing;
  readonly period: StatementPeriod;
  /** Usage records; those of other consumers or outside the period are ignored. */
  readonly usage: readonly UsageRecord[];
}

/** StatementLine is the charge for one route. */
export interface StatementLine {
  readonly route: string;
  /** Calls of every status class. */
  readonly calls: number;
  /** Calls of a billable status class (free included calls among them). */
  readonly billableCalls: number;
  /** Charged amount in minor units (cents), after the largest-remainder allocation. */
  readonly amountMinor: bigint;
  /** amountMinor as a decimal string in major units ('12.34'). */
  readonly amount: string;
}

/** StatementFee is the fixed fee line. */
export interface StatementFee {
  readonly amountMinor: bigint;
  readonly amount: string;
}

/** StatementTier is one band of call numbers with its price: the included calls, or a tier. */
export interface StatementTier {
  /** First call number of the band (1-based). */
  readonly from: number;
  /** Last call number of the band (inclusive), or null for the open-ended band. */
  readonly upTo: number | null;
  /** Billable calls of the period that fell in the band. */
  readonly calls: number;
  /** Price of each call, exact, with at least the currency's minor digits ('0.002', '0.00'). */
  readonly perCall: string;
  /** calls x perCall, exact (not rounded). */
  readonly amount: string;
}

/** Statement is what a consumer owes for a period. Every amount is exact or a whole number of minor units. */
export interface Statement {
  readonly consumer: string;
  readonly plan: string;
  readonly currency: string;
  /** Decimals of the currency's minor unit. */
  readonly minorDigits: number;
  readonly period: StatementPeriod;
  /** Calls of every status class. */
  readonly calls: number;
  readonly billableCalls: number;
  /** Free calls per period under the plan. */
  readonly included: number;
  /** Free calls used: min(billableCalls, included). */
  readonly includedUsed: number;
  /** One line per route that had calls, by route name. */
  readonly routes: readonly StatementLine[];
  readonly fee: StatementFee;
  readonly tiers: readonly StatementTier[];
  /** The total: routes plus fee, rounded half-up once; equal to the sum of the lines. */
  readonly totalMinor: bigint;
  readonly total: string;
}

/** Price band of call numbers (the included calls, or a tier after them). */
interface Band {
  readonly from: number;
  readonly upTo: number | null;
  readonly perCall: bigint;
  calls: number;
  exact: bigint;
}

/** Totals of one route while the statement is computed. */
interface RouteTotals {
  calls: number;
  billable: number;
  exact: bigint;
}

/** One hour x route of billable calls, in the order calls are numbered. */
interface Bucket {
  readonly hour: number;
  readonly route: string;
  count: number;
}

/** computeStatement applies the rules in this file's header to one consumer's usage for one period. */
export function computeStatement(input: StatementInput): Statement {
  const { consumer, pricing, period } = input;
  const routes = new Map<string, RouteTotals>();
  const buckets: Bucket[] = [];
  let calls = 0;
  for (const r of input.usage) {
    if (r.consumer !== consumer || !(r.hour >= period.start && r.hour < period.end)) continue;
    if (!Number.isSafeInteger(r.count) || r.count < 0) throw new RangeError(`usage count must be a whole number >= 0, not ${r.count} (${r.route} at ${r.hour})`);
    if (r.count === 0) continue;
    let totals = routes.get(r.route);
    if (totals === undefined) routes.set(r.route, totals = { calls: 0, billable: 0, exact: 0n });
    totals.calls += r.count;
    calls += r.count;
    if (pricing.billable.has(r.statusClass)) {
      totals.billable += r.count;
      buckets.push({ hour: r.hour, route: r.route, count: r.count });
    }
  }

  // Number the calls: by hour, then by route; buckets of one hour x route (several status classes) merge.
  buckets.sort((a, b) => a.hour - b.hour || compareText(a.route, b.route));
  const bands = makeBands(pricing);
  let numbered = 0;
  let band = 0;
  for (let i = 0; i < buckets.length; i++) {
    const bucket = buckets[i]!;
    const totals = routes.get(bucket.route)!;
    let left = bucket.count;
    while (left > 0) {
      const b = bands[band]!;
      const room = b.upTo === null ? left : b.upTo - numbered;
      if (room <= 0) { band++; continue; }
      const take = Math.min(left, room);
      const amount = BigInt(take) * b.perCall;
      b.calls += take;
      b.exact += amount;
      totals.exact += amount;
      numbered += take;
      left -= take;
    }
  }

  // Round the total once, then share it out over the lines by largest remainder.
  const digits = pricing.minorDigits;
  const unit = minorUnit(digits);
  const names = [...routes.keys()].sort(compareText);
  const exacts: bigint[] = names.map((n) => routes.get(n)!.exact);
  exacts.push(pricing.fee);
  let exactTotal = 0n;
  for (const e of exacts) exactTotal += e;
  const totalMinor = roundToMinor(exactTotal, digits);
  const minors = allocate(exacts, unit, totalMinor);

  const lines: StatementLine[] = names.map((route, i) => {
    const t = routes.get(route)!;
    return Object.freeze({ route, calls: t.calls, billableCalls: t.billable, amountMinor: minors[i]!, amount: formatMinor(minors[i]!, digits) });
  });
  const feeMinor = minors[minors.length - 1]!;
  const tiers: StatementTier[] = bands.map((b) => Object.freeze({
    from: b.from, upTo: b.upTo, calls: b.calls, perCall: formatScaled(b.perCall, digits), amount: formatScaled(b.exact, digits),
  }));
  return Object.freeze({
    consumer,
    plan: input.plan,
    currency: pricing.currency,
    minorDigits: digits,
    period: Object.freeze({ start: period.start, end: period.end, id: period.id, timeZone: period.timeZone }),
    calls,
    billableCalls: numbered,
    included: pricing.included,
    includedUsed: Math.min(numbered, pricing.included),
    routes: Object.freeze(lines),
    fee: Object.freeze({ amountMinor: feeMinor, amount: formatMinor(feeMinor, digits) }),
    tiers: Object.freeze(tiers),
    totalMinor,
    total: formatMinor(totalMinor, digits),
  });
}

/** The price bands: the included calls (if any), then each tier from the first call after them. */
function makeBands(pricing: Pricing): Band[] {
  const bands: Band[] = [];
  const included = pricing.included;
  if (included > 0) bands.push({ from: 1, upTo: included, perCall: 0n, calls: 0, exact: 0n });
  let previous = 0;
  for (const t of pricing.tiers) {
    const from = Math.max(previous, included) + 1;
    if (t.upTo === null || t.upTo >= from) bands.push({ from, upTo: t.upTo, perCall: t.perCall, calls: 0, exact: 0n });
    if (t.upTo === null) break;
    previous = t.upTo;
  }
  // compilePricing guarantees an open last tier; this keeps the numbering loop finite whatever it is given.
  if (bands.length === 0 || bands[bands.length - 1]!.upTo !== null) throw new RangeError('pricing has no open-ended tier');
  return bands;
}

/**
 * Largest remainder: each amount rounded down to whole units, then the units still missing from `total`
 * one each to the largest remainders (ties to the earlier line). `total` must lie between the sum of the
 * floors and the sum of the ceilings, which rounding the exact sum guarantees.
 */
function allocate(exacts: readonly bigint[], unit: bigint, total: bigint): bigint[] {
  const minors = exacts.map((e) => e / unit);
  let missing = total;
  for (const m of minors) missing -= m;
  const order = exacts.map((_, i) => i).sort((a, b) => {
    const ra = exacts[a]! % unit, rb = exacts[b]! % unit;
    return ra === rb ? a - b : (rb > ra ? 1 : -1);
  });
  for (let k = 0; missing > 0n; k++, missing--) {
    const i = order[k]!;
    if (exacts[i]! % unit === 0n) throw new Error('allocate: total exceeds the sum of the ceilings');
    minors[i]! += 1n;
  }
  return minors;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** StatementJson is the JSON form of a statement: amounts as integers of minor units and as decimal strings. */
export interface StatementJson {
  consumer: string;
  plan: string;
  currency: string;
  minorDigits: number;
  period: { id: string; start: string; end: string; timeZone: string };
  calls: number;
  billableCalls: number;
  included: number;
  includedUsed: number;
  routes: { route: string; calls: number; billableCalls: number; amountMinor: number; amount: string }[];
  fee: { amountMinor: number; amount: string };
  tiers: { from: number; upTo: number | null; calls: number; perCall: string; amount: string }[];
  totalMinor: number;
  total: string;
}

/**
 * statementToJson returns a plain JSON-able object (no bigint): period bounds as ISO UTC instants, amounts
 * as integers of minor units and decimal strings. Throws RangeError for an amount beyond 2^53 minor units,
 * which a JSON number could not carry exactly.
 */
export function statementToJson(st: Statement): StatementJson {
  return {
    consumer: st.consumer,
    plan: st.plan,
    currency: st.currency,
    minorDigits: st.minorDigits,
    period: { id: st.period.id, start: new Date(st.period.start).toISOString(), end: new Date(st.period.end).toISOString(), timeZone: st.period.timeZone },
    calls: st.calls,
    billableCalls: st.billableCalls,
    included: st.included,
    includedUsed: st.includedUsed,
    routes: st.routes.map((l) => ({ route: l.route, calls: l.calls, billableCalls: l.billableCalls, amountMinor: safe(l.amountMinor), amount: l.amount })),
    fee: { amountMinor: safe(st.fee.amountMinor), amount: st.fee.amount },
    tiers: st.tiers.map((t) => ({ from: t.from, upTo: t.upTo, calls: t.calls, perCall: t.perCall, amount: t.amount })),
    totalMinor: safe(st.totalMinor),
    total: st.total,
  };
}

function safe(minor: bigint): number {
  const n = Number(minor);
  if (!Number.isSafeInteger(n)) throw new RangeError(`amount of ${minor} minor units is too large for a JSON number`);
  return n;
}

/** STATEMENT_CSV_HEADER is the header row of statementToCsv. */
export const STATEMENT_CSV_HEADER = ['consumer', 'plan', 'period', 'currency', 'line', 'route', 'calls', 'billable_calls', 'amount_minor', 'amount'] as const;

/**
 * statementToCsv writes a statement as RFC 4180 CSV (CRLF line ends, fields quoted where needed): the header
 * row, one `route` row per route, a `fee` row and a `total` row. Each row repeats consumer, plan, period and
 * currency, so statements can be concatenated and filtered.
 */
export function statementToCsv(st: Statement): string {
  const head = [st.consumer, st.plan, st.period.id, st.currency];
  const rows: (string | number)[][] = [[...STATEMENT_CSV_HEADER]];
  for (const l of st.routes) rows.push([...head, 'route', l.route, l.calls, l.billableCalls, l.amountMinor.toString(), l.amount]);
  rows.push([...head, 'fee', '', '', '', st.fee.amountMinor.toString(), st.fee.amount]);
  rows.push([...head, 'total', '', st.calls, st.billableCalls, st.totalMinor.toString(), st.total]);
  return toCsv(rows);
}

/** UsageJson is one usage record as exported: hour as an ISO UTC instant, status as '2xx'. */
export interface UsageJson {
  hour: string;
  consumer: string;
  route: string;
  status: string;
  count: number;
}

/** USAGE_CSV_HEADER is the header row of usageToCsv. */
export const USAGE_CSV_HEADER = ['hour', 'consumer', 'route', 'status', 'count'] as const;

/** usageToJson turns usage records into plain objects for `gatehouse usage --format json`, in the given order. */
export function usageToJson(records: readonly UsageRecord[]): UsageJson[] {
  return records.map((r) => ({ hour: new Date(r.hour).toISOString(), consumer: r.consumer, route: r.route, status: `${r.statusClass}xx`, count: r.count }));
}

/** usageToCsv writes usage records as RFC 4180 CSV with a header row (hour, consumer, route, status, count). */
export function usageToCsv(records: readonly UsageRecord[]): string {
  const rows: (string | number)[][] = [[...USAGE_CSV_HEADER]];
  for (const r of records) rows.push([new Date(r.hour).toISOString(), r.consumer, r.route, `${r.statusClass}xx`, r.count]);
  return toCsv(rows);
}

function toCsv(rows: readonly (readonly (string | number)[])[]): string {
  let out = '';
  for (const row of rows) out += row.map(csvField).join(',') + '\r\n';
  return out;
}

/** RFC 4180: a field holding a comma, a quote, CR or LF is quoted, with quotes doubled. */
function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
