/**
 * Tests for statements: a tiered plan worked out by hand (below), a currency without minor units, rounding
 * of the total, the CSV and JSON forms, and, for many random usages and plans (seeded PRNG), a comparison
 * with a slow reference that prices every call one by one, and the lines adding up exactly to the total.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import type { UsageRecord } from '../stores/types.js';
import { periodFromId } from './calendar.js';
import { compilePricing, type PricingConfig } from './schema.js';
import { minorUnit, parsePrice } from './money.js';
import { computeStatement, statementToCsv, statementToJson, usageToCsv, usageToJson, type Statement, type StatementPeriod } from './statement.js';

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);
const rec = (consumer: string, route: string, statusClass: number, hour: number, count: number): UsageRecord => ({ consumer, route, statusClass, hour, count });
const period = (id: string, timeZone: string): StatementPeriod => ({ ...periodFromId(id, timeZone), timeZone });

/*
 * The hand-worked statement. Plan: USD, 1,000 calls included, calls up to 10,000 at 0.002, beyond at 0.001,
 * a fee of 5. Period: November 2026 in New York, [2026-11-01T04:00Z, 2026-12-01T05:00Z).
 *
 * Billable calls (2xx, 3xx) numbered by hour, then route:
 *   H0 2026-11-01T04:00Z  alpha 600    calls     1 –   600   included
 *                         beta  500    calls   601 – 1,100   400 included, 100 × 0.002 = 0.200
 *                         gamma 3      calls 1,101 – 1,103   3 × 0.002 = 0.006
 *   H1 2026-11-02T16:00Z  alpha 4,000  calls 1,104 – 5,103   (3,000 2xx + 1,000 3xx) × 0.002 = 8.000
 *                         gamma 4,000  calls 5,104 – 9,103   4,000 × 0.002 = 8.000
 *   H2 2026-11-20T09:00Z  alpha 2,349  calls 9,104 – 11,452  897 × 0.002 = 1.794, 1,452 × 0.001 = 1.452
 *                         beta  1,236  calls 11,453 – 12,688  1,236 × 0.001 = 1.236
 * Not counted: beta's 7 5xx, alpha's 10 5xx, gamma's 1 4xx (listed as calls, free); another consumer; the
 * hour before local midnight of Nov 1st (2026-11-01T03:00Z) and the hour at local midnight of Dec 1st.
 *
 * Exact: alpha 8.000 + 1.794 + 1.452 = 11.246; beta 0.200 + 1.236 = 1.436; gamma 0.006 + 8.000 = 8.006;
 * fee 5.000. Sum 25.688 → total 25.69 (half-up, once).
 * Lines rounded down: 11.24 + 1.43 + 8.00 + 5.00 = 25.67; 2 cents missing go to the largest remainders:
 * alpha (0.6 cent), beta (0.6 cent, tie after alpha by name); gamma (0.6 cent too, but third) stays at 8.00.
 * Lines: alpha 11.25 + beta 1.44 + gamma 8.00 + fee 5.00 = 25.69. (Rounding each line alone would give
 * 11.25 + 1.44 + 8.01 + 5.00 = 25.70, a cent more than the total.)
 * Tiers: calls 1–1,000: 1,000 included; 1,001–10,000: 9,000 × 0.002 = 18.000; 10,001+: 2,688 × 0.001 = 2.688.
 */
const HAND_PRICING = compilePricing(parse(`
currency: USD
included: 1000
tiers:
  - { upTo: 10000, perCall: 0.002 }
  - { perCall: "0.001" }
fee: 5
`) as PricingConfig);
const H0 = at('2026-11-01T04:00:00Z'), H1 = at('2026-11-02T16:00:00Z'), H2 = at('2026-11-20T09:00:00Z');
const HAND_USAGE: UsageRecord[] = [
  // Deliberately out of order: the statement sorts.
  rec('acme', 'beta', 2, H2, 1236),
  rec('acme', 'alpha', 5, H2, 10),
  rec('acme', 'alpha', 2, H2, 2349),
  rec('acme', 'gamma', 4, H2, 1),
  rec('acme', 'gamma', 2, H1, 4000),
  rec('acme', 'alpha', 3, H1, 1000),
  rec('acme', 'alpha', 2, H1, 3000),
  rec('acme', 'gamma', 3, H0, 3),
  rec('acme', 'beta', 5, H0, 7),
  rec('acme', 'beta', 2, H0, 500),
  rec('acme', 'alpha', 2, H0, 600),
  rec('globex', 'alpha', 2, H0, 99_999),
  rec('acme', 'alpha', 2, H0 - H, 500),
  rec('acme', 'beta', 2, at('2026-12-01T05:00:00Z'), 500),
];

function handStatement(): Statement {
  return computeStatement({ consumer: 'acme', plan: 'gold', pricing: HAND_PRICING, period: period('2026-11', 'America/New_York'), usage: HAND_USAGE });
}

test('a tiered plan: the statement matches the total worked out by hand', () => {
  assert.deepEqual(statementToJson(handStatement()), {
    consumer: 'acme',
    plan: 'gold',
    currency: 'USD',
    minorDigits: 2,
    period: { id: '2026-11', start: '2026-11-01T04:00:00.000Z', end: '2026-12-01T05:00:00.000Z', timeZone: 'America/New_York' },
    calls: 12_706,
    billableCalls: 12_688,
    included: 1000,
    includedUsed: 1000,
    routes: [
      { route: 'alpha', calls: 6959, billableCalls: 6949, amountMinor: 1125, amount: '11.25' },
      { route: 'beta', calls: 1743, billableCalls: 1736, amountMinor: 144, amount: '1.44' },
      { route: 'gamma', calls: 4004, billableCalls: 4003, amountMinor: 800, amount: '8.00' },
    ],
    fee: { amountMinor: 500, amount: '5.00' },
    tiers: [
      { from: 1, upTo: 1000, calls: 1000, perCall: '0.00', amount: '0.00' },
      { from: 1001, upTo: 10_000, calls: 9000, perCall: '0.002', amount: '18.00' },
      { from: 10_001, upTo: null, calls: 2688, perCall: '0.001', amount: '2.688' },
    ],
    totalMinor: 2569,
    total: '25.69',
  });
  const st = handStatement();
  assert.equal(typeof st.totalMinor, 'bigint');
  assert.equal(st.routes.reduce((s, l) => s + l.amountMinor, st.fee.amountMinor), st.totalMinor);
  // JSON-able: no bigint anywhere.
  assert.doesNotThrow(() => JSON.stringify(statementToJson(st)));
});

test('statementToCsv: header, one row per route, a fee row and a total row (RFC 4180)', () => {
  assert.equal(statementToCsv(handStatement()), [
    'consumer,plan,period,currency,line,route,calls,billable_calls,amount_minor,amount',
    'acme,gold,2026-11,USD,route,alpha,6959,6949,1125,11.25',
    'acme,gold,2026-11,USD,route,beta,1743,1736,144,1.44',
    'acme,gold,2026-11,USD,route,gamma,4004,4003,800,8.00',
    'acme,gold,2026-11,USD,fee,,,,500,5.00',
    'acme,gold,2026-11,USD,total,,12706,12688,2569,25.69',
    '',
  ].join('\r\n'));
  const odd = computeStatement({ consumer: 'a "b", c', plan: 'p\nq', pricing: HAND_PRICING, period: period('2026-11', 'UTC'), usage: [] });
  assert.equal(statementToCsv(odd).split('\r\n')[1], '"a ""b"", c","p\nq",2026-11,USD,fee,,,,500,5.00');
});

test('a flat price, the included calls used in part, and rounding of the total half-up', () => {
  const pricing = compilePricing({ currency: 'USD', included: 10, perCall: '0.0005', fee: 0, billable: ['2xx'] });
  const p = period('2026-11-22', 'Asia/Kolkata');
  const hour = at('2026-11-21T19:00:00Z');
  // 10 included + 10 × 0.0005 = 0.005 → 0.01 (half-up); 3xx is not billable here.
  let st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'r', 2, hour, 20), rec('c', 'r', 3, hour, 4)] });
  assert.deepEqual([st.calls, st.billableCalls, st.includedUsed, st.totalMinor, st.total, st.routes[0]!.amount], [24, 20, 10, 1n, '0.01', '0.01']);
  assert.deepEqual(st.tiers, [
    { from: 1, upTo: 10, calls: 10, perCall: '0.00', amount: '0.00' },
    { from: 11, upTo: null, calls: 10, perCall: '0.0005', amount: '0.005' },
  ]);
  // 9 calls beyond: 0.0045 → 0.00. 4 included used of 10.
  st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'r', 2, hour, 19)] });
  assert.equal(st.total, '0.00');
  st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'r', 2, hour, 4)] });
  assert.deepEqual([st.includedUsed, st.total, st.fee.amount], [4, '0.00', '0.00']);
  // Kolkata's November 22nd starts at 18:30Z: the hour starting 18:00Z counts in November 21st.
  st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'r', 2, at('2026-11-21T18:00:00Z'), 50)] });
  assert.equal(st.calls, 0);
  assert.deepEqual(st.routes, []);
});

test('JPY has no minor unit: whole yen, shared out by largest remainder', () => {
  const pricing = compilePricing({ currency: 'JPY', included: 0, perCall: 0.5, fee: 0, billable: ['2xx', '3xx'] });
  const p = period('2026-11', 'Asia/Tokyo');
  const h = at('2026-11-10T00:00:00Z');
  // one: 3 × 0.5 = 1.5, two: 3 × 0.5 = 1.5; total 3 yen; floors 1 + 1, the missing yen to "one" (tie, by name).
  let st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'two', 2, h, 3), rec('c', 'one', 2, h, 3)] });
  assert.deepEqual(st.routes.map((l) => [l.route, l.amountMinor, l.amount]), [['one', 2n, '2'], ['two', 1n, '1']]);
  assert.deepEqual([st.totalMinor, st.total, st.fee.amount, st.tiers[0]!.perCall], [3n, '3', '0', '0.5']);
  // 1 call: 0.5 yen → 1 (half-up).
  st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: p, usage: [rec('c', 'one', 2, h, 1)] });
  assert.deepEqual([st.totalMinor, st.total], [1n, '1']);
  assert.equal(statementToCsv(st).split('\r\n')[3], 'c,x,2026-11,JPY,total,,1,1,1,1');
});

test('a fee with sub-minor decimals takes part in the allocation', () => {
  const pricing = compilePricing({ currency: 'USD', included: 0, perCall: '0.004', fee: '9.995', billable: ['2xx'] });
  const st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: period('2026-11', 'UTC'), usage: [rec('c', 'r', 2, at('2026-11-02T00:00:00Z'), 1)] });
  // 0.004 + 9.995 = 9.999 → 10.00; floors 0.00 + 9.99; the missing cent goes to the fee (0.5 cent > 0.4 cent).
  assert.deepEqual([st.routes[0]!.amount, st.fee.amount, st.total], ['0.00', '10.00', '10.00']);
});

test('tiers entirely within the included calls are not listed, and a tier straddling them starts after', () => {
  const pricing = compilePricing({ currency: 'EUR', included: 150, tiers: [{ upTo: 100, perCall: 1 }, { upTo: 200, perCall: '0.5' }, { perCall: '0.25' }], fee: 0, billable: ['2xx'] });
  const st = computeStatement({ consumer: 'c', plan: 'x', pricing, period: period('2026-11', 'Europe/Berlin'), usage: [rec('c', 'r', 2, at('2026-11-10T00:00:00Z'), 300)] });
  assert.deepEqual(st.tiers, [
    { from: 1, upTo: 150, calls: 150, perCall: '0.00', amount: '0.00' },
    { from: 151, upTo: 200, calls: 50, perCall: '0.50', amount: '25.00' },
    { from: 201, upTo: null, calls: 100, perCall: '0.25', amount: '25.00' },
  ]);
  assert.equal(st.total, '50.00');
});

test('bad usage counts are refused rather than billed', () => {
  const p = period('2026-11', 'UTC');
  assert.throws(() => computeStatement({ consumer: 'c', plan: 'x', pricing: HAND_PRICING, period: p, usage: [rec('c', 'r', 2, at('2026-11-02T00:00:00Z'), -1)] }), RangeError);
  assert.throws(() => computeStatement({ consumer: 'c', plan: 'x', pricing: HAND_PRICING, period: p, usage: [rec('c', 'r', 2, at('2026-11-02T00:00:00Z'), 1.5)] }), RangeError);
});

test('usage exports: CSV and JSON with hour, consumer, route, status, count', () => {
  const records = [rec('acme', 'users-v1', 2, at('2026-11-02T16:00:00Z'), 42), rec('a,"b"', 'r', 5, at('2026-11-02T17:00:00Z'), 1)];
  assert.equal(usageToCsv(records), 'hour,consumer,route,status,count\r\n2026-11-02T16:00:00.000Z,acme,users-v1,2xx,42\r\n2026-11-02T17:00:00.000Z,"a,""b""",r,5xx,1\r\n');
  assert.equal(usageToCsv([]), 'hour,consumer,route,status,count\r\n');
  assert.deepEqual(usageToJson(records), [
    { hour: '2026-11-02T16:00:00.000Z', consumer: 'acme', route: 'users-v1', status: '2xx', count: 42 },
    { hour: '2026-11-02T17:00:00.000Z', consumer: 'a,"b"', route: 'r', status: '5xx', count: 1 },
  ]);
});

// ---- Property test against a slow reference ----

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Prices every billable call one at a time, straight from the config; returns exact amounts per route. */
function reference(config: PricingConfig, consumer: string, p: StatementPeriod, usage: readonly UsageRecord[]): Map<string, bigint> {
  const billable = new Set(config.billable.map((c) => Number(c[0])));
  const calls: { hour: number; route: string }[] = [];
  const amounts = new Map<string, bigint>();
  for (const r of usage) {
    if (r.consumer !== consumer || r.hour < p.start || r.hour >= p.end || r.count === 0) continue;
    if (!amounts.has(r.route)) amounts.set(r.route, 0n);
    if (billable.has(r.statusClass)) for (let i = 0; i < r.count; i++) calls.push({ hour: r.hour, route: r.route });
  }
  calls.sort((a, b) => a.hour - b.hour || (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
  const tiers = config.tiers ?? [{ perCall: config.perCall! }];
  calls.forEach((c, i) => {
    const n = i + 1;
    if (n <= config.included) return;
    const tier = tiers.find((t) => t.upTo === undefined || n <= t.upTo)!;
    amounts.set(c.route, amounts.get(c.route)! + parsePrice(tier.perCall));
  });
  return amounts;
}

function randomPrice(random: () => number): string | number {
  const decimals = Math.floor(random() * 13);
  const digits = String(Math.floor(random() * 10 ** Math.min(decimals + 2, 14))).padStart(decimals + 1, '0');
  const text = decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
  // Some as YAML numbers, when a double holds them exactly.
  return random() < 0.3 && text.replace(/^[0.]+/, '').length <= 15 ? Number(text) : text;
}

test('random usages: the lines add up exactly to the total, which matches a call-by-call reference', () => {
  const random = mulberry32(20261122);
  const currencies = ['USD', 'JPY', 'BHD', 'EUR', 'KWD', 'ISK'];
  const zones = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
  const statuses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
  let allocated = 0;
  for (let run = 0; run < 400; run++) {
    const tierCount = Math.floor(random() * 4);
    const tiers: { upTo?: number; perCall: string | number }[] = [];
    let upTo = 0;
    for (let i = 0; i < tierCount; i++) tiers.push({ upTo: upTo += 1 + Math.floor(random() * 150), perCall: randomPrice(random) });
    if (tierCount > 0) tiers.push({ perCall: randomPrice(random) });
    const config: PricingConfig = {
      currency: currencies[run % currencies.length]!,
      included: random() < 0.3 ? 0 : Math.floor(random() * 200),
      ...(tierCount > 0 ? { tiers } : { perCall: randomPrice(random) }),
      fee: random() < 0.5 ? 0 : randomPrice(random),
      billable: statuses.filter(() => random() < 0.5),
    };
    const pricing = compilePricing(config);
    const timeZone = zones[run % zones.length]!;
    const p = period(run % 2 === 0 ? '2026-03' : '2026-03-08', timeZone);
    const routes = ['a', 'b', 'c', 'users-v1', 'users-v2', 'Z'].slice(0, 1 + Math.floor(random() * 6));
    const usage: UsageRecord[] = [];
    const records = Math.floor(random() * 40);
    for (let i = 0; i < records; i++) {
      // Hours from a day before the period to a day after it.
      const hour = Math.floor((p.start - 24 * H) / H) * H + Math.floor(random() * ((p.end - p.start) / H + 48)) * H;
      usage.push(rec(random() < 0.85 ? 'acme' : 'globex', routes[Math.floor(random() * routes.length)]!, 1 + Math.floor(random() * 5), hour, Math.floor(random() * 80)));
    }
    const st = computeStatement({ consumer: 'acme', plan: 'p', pricing, period: p, usage });
    const where = `run ${run}: ${JSON.stringify(config)}`;

    const exact = reference(config, 'acme', p, usage);
    const unit = minorUnit(pricing.minorDigits);
    let exactTotal = pricing.fee;
    for (const v of exact.values()) exactTotal += v;
    // Half-up, written independently of roundToMinor: floor((2x + unit) / (2 unit)).
    const expectedTotal = (2n * exactTotal + unit) / (2n * unit);
    assert.equal(st.totalMinor, expectedTotal, where);
    assert.equal(st.routes.reduce((s, l) => s + l.amountMinor, st.fee.amountMinor), st.totalMinor, where);
    assert.deepEqual(st.routes.map((l) => l.route), [...exact.keys()].sort(), where);
    // Each line within one minor unit of its exact amount, and only lines with larger remainders rounded up.
    const lines = [...st.routes.map((l) => [l.amountMinor, exact.get(l.route)!] as const), [st.fee.amountMinor, pricing.fee] as const];
    let smallestUp: bigint | null = null, largestDown: bigint | null = null;
    for (const [minor, ex] of lines) {
      const floor = ex / unit;
      assert.ok(minor === floor || (minor === floor + 1n && ex % unit !== 0n), where);
      const rem = ex % unit;
      if (minor > floor) smallestUp = smallestUp === null || rem < smallestUp ? rem : smallestUp;
      else if (rem > 0n) largestDown = largestDown === null || rem > largestDown ? rem : largestDown;
    }
    if (smallestUp !== null && largestDown !== null) assert.ok(smallestUp >= largestDown, where);
    // Count the runs where rounding each line alone would not have added up to the total.
    if (lines.reduce((s, [, ex]) => s + (2n * ex + unit) / (2n * unit), 0n) !== st.totalMinor) allocated++;
    // The tier breakdown accounts for every billable call and the exact sum.
    assert.equal(st.tiers.reduce((s, t) => s + t.calls, 0), st.billableCalls, where);
    assert.equal(st.tiers.reduce((s, t) => s + parsePrice(t.amount), 0n) + pricing.fee, exactTotal, where);
    assert.equal(st.includedUsed, Math.min(st.billableCalls, config.included), where);
    assert.doesNotThrow(() => JSON.stringify(statementToJson(st)), where);
  }
  assert.ok(allocated > 20, `only ${allocated} runs needed the largest-remainder allocation`);
});
