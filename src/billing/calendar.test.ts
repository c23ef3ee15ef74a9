/**
 * Tests for calendar periods: boundaries checked against known instants (DST changes in New York, a gap at
 * midnight in Santiago, a double midnight in Havana, half-hour offsets, the day Samoa skipped), id parsing,
 * and, for many random instants in many zones, the properties quotas and statements rely on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calendarPeriod, isValidTimeZone, periodFromId, type CalendarPeriod } from './calendar.js';

const H = 3_600_000;
const t = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

function assertPeriod(p: CalendarPeriod, id: string, start: string, end: string): void {
  assert.deepEqual({ id: p.id, start: iso(p.start), end: iso(p.end) }, { id, start: new Date(start).toISOString(), end: new Date(end).toISOString() });
}

test('UTC days and months', () => {
  assertPeriod(calendarPeriod(t('2026-11-22T13:45:00Z'), 'day', 'UTC'), '2026-11-22', '2026-11-22T00:00Z', '2026-11-23T00:00Z');
  assertPeriod(calendarPeriod(t('2026-11-22T13:45:00Z'), 'month', 'UTC'), '2026-11', '2026-11-01T00:00Z', '2026-12-01T00:00Z');
  assertPeriod(calendarPeriod(t('2026-12-31T23:59:59.999Z'), 'month', 'UTC'), '2026-12', '2026-12-01T00:00Z', '2027-01-01T00:00Z');
  assertPeriod(calendarPeriod(t('2028-02-29T00:00:00Z'), 'day', 'UTC'), '2028-02-29', '2028-02-29T00:00Z', '2028-03-01T00:00Z');
  // The end is exclusive: midnight belongs to the new period.
  assertPeriod(calendarPeriod(t('2026-12-01T00:00:00Z'), 'month', 'UTC'), '2026-12', '2026-12-01T00:00Z', '2027-01-01T00:00Z');
});

test('America/New_York: a 23-hour day in March and a 25-hour day in November', () => {
  // 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
  const spring = calendarPeriod(t('2026-03-08T12:00:00Z'), 'day', 'America/New_York');
  assertPeriod(spring, '2026-03-08', '2026-03-08T05:00Z', '2026-03-09T04:00Z');
  assert.equal(spring.end - spring.start, 23 * H);
  const fall = calendarPeriod(t('2026-11-01T12:00:00Z'), 'day', 'America/New_York');
  assertPeriod(fall, '2026-11-01', '2026-11-01T04:00Z', '2026-11-02T05:00Z');
  assert.equal(fall.end - fall.start, 25 * H);
  // Both 01:30s of the repeated hour are on November 1st.
  assert.equal(calendarPeriod(t('2026-11-01T05:30:00Z'), 'day', 'America/New_York').id, '2026-11-01');
  assert.equal(calendarPeriod(t('2026-11-01T06:30:00Z'), 'day', 'America/New_York').id, '2026-11-01');
  // Just before local midnight is still the previous day.
  assertPeriod(calendarPeriod(t('2026-11-02T04:59:59.999Z'), 'day', 'America/New_York'), '2026-11-01', '2026-11-01T04:00Z', '2026-11-02T05:00Z');
  assertPeriod(calendarPeriod(t('2026-11-15T00:00:00Z'), 'month', 'America/New_York'), '2026-11', '2026-11-01T04:00Z', '2026-12-01T05:00Z');
  assertPeriod(calendarPeriod(t('2026-03-15T00:00:00Z'), 'month', 'America/New_York'), '2026-03', '2026-03-01T05:00Z', '2026-04-01T04:00Z');
  // 2026-12-01T03:00Z is still November 30th in New York, so still November.
  assert.equal(calendarPeriod(t('2026-12-01T03:00:00Z'), 'month', 'America/New_York').id, '2026-11');
});

test('half-hour and quarter-hour offsets', () => {
  assertPeriod(calendarPeriod(t('2026-11-22T12:00:00Z'), 'day', 'Asia/Kolkata'), '2026-11-22', '2026-11-21T18:30Z', '2026-11-22T18:30Z');
  assertPeriod(calendarPeriod(t('2026-11-21T18:29:59Z'), 'day', 'Asia/Kolkata'), '2026-11-21', '2026-11-20T18:30Z', '2026-11-21T18:30Z');
  assertPeriod(calendarPeriod(t('2026-11-21T18:30:00Z'), 'month', 'Asia/Kolkata'), '2026-11', '2026-10-31T18:30Z', '2026-11-30T18:30Z');
  assertPeriod(calendarPeriod(t('2026-06-10T00:00:00Z'), 'day', 'Asia/Kathmandu'), '2026-06-10', '2026-06-09T18:15Z', '2026-06-10T18:15Z');
  // Lord Howe Island moves by half an hour: +10:30 → +11 on 2026-10-04 at 02:00.
  const lh = calendarPeriod(t('2026-10-04T06:00:00Z'), 'day', 'Australia/Lord_Howe');
  assertPeriod(lh, '2026-10-04', '2026-10-03T13:30Z', '2026-10-04T13:00Z');
  assert.equal(lh.end - lh.start, 23.5 * H);
});

test('a DST gap at midnight: the day starts at the end of the gap (America/Santiago, America/Havana)', () => {
  // Santiago 2026-09-06: 00:00 -04 does not exist; the clock goes from 23:59:59 to 01:00 -03 at 04:00Z.
  const santiago = periodFromId('2026-09-06', 'America/Santiago');
  assertPeriod(santiago, '2026-09-06', '2026-09-06T04:00Z', '2026-09-07T03:00Z');
  assert.equal(calendarPeriod(t('2026-09-06T03:59:59Z'), 'day', 'America/Santiago').id, '2026-09-05');
  assert.equal(calendarPeriod(t('2026-09-06T04:00:00Z'), 'day', 'America/Santiago').id, '2026-09-06');
  // Santiago 2026-04-04: 24:00 -03 falls back to 23:00 -04, so April 4th lasts 25 hours.
  assertPeriod(periodFromId('2026-04-04', 'America/Santiago'), '2026-04-04', '2026-04-04T03:00Z', '2026-04-05T04:00Z');
  // Havana 2026-03-08: 00:00 -05 → 01:00 -04.
  assertPeriod(periodFromId('2026-03-08', 'America/Havana'), '2026-03-08', '2026-03-08T05:00Z', '2026-03-09T04:00Z');
  // Havana 2026-11-01: 01:00 -04 → 00:00 -05, so midnight happens twice; the day starts at the first.
  assertPeriod(periodFromId('2026-11-01', 'America/Havana'), '2026-11-01', '2026-11-01T04:00Z', '2026-11-02T05:00Z');
  assert.equal(calendarPeriod(t('2026-11-01T05:30:00Z'), 'day', 'America/Havana').id, '2026-11-01');
});

test('a day that did not happen (Samoa, 2011-12-30) is empty, and its neighbours meet', () => {
  const skipped = periodFromId('2011-12-30', 'Pacific/Apia');
  assert.equal(skipped.start, skipped.end);
  assert.equal(iso(skipped.start), '2011-12-30T10:00:00.000Z');
  assertPeriod(calendarPeriod(t('2011-12-30T09:59:59Z'), 'day', 'Pacific/Apia'), '2011-12-29', '2011-12-29T10:00Z', '2011-12-30T10:00Z');
  assertPeriod(calendarPeriod(t('2011-12-30T10:00:00Z'), 'day', 'Pacific/Apia'), '2011-12-31', '2011-12-30T10:00Z', '2011-12-31T10:00Z');
  assertPeriod(periodFromId('2011-12', 'Pacific/Apia'), '2011-12', '2011-12-01T10:00Z', '2011-12-31T10:00Z');
});

test('periodFromId parses months and days and refuses anything else with a RangeError', () => {
  assertPeriod(periodFromId('2026-11', 'UTC'), '2026-11', '2026-11-01T00:00Z', '2026-12-01T00:00Z');
  assertPeriod(periodFromId('2026-11-22', 'America/New_York'), '2026-11-22', '2026-11-22T05:00Z', '2026-11-23T05:00Z');
  assertPeriod(periodFromId('2024-02-29', 'UTC'), '2024-02-29', '2024-02-29T00:00Z', '2024-03-01T00:00Z');
  const bad: [string, RegExp][] = [
    ['2026-13', /month must be 01 to 12/],
    ['2026-00', /month must be 01 to 12/],
    ['2026-02-29', /2026-02 has no day 29/],
    ['2026-11-31', /2026-11 has no day 31/],
    ['2026-11-00', /has no day 00/],
    ['2026-1', /expected YYYY-MM \(a month\) or YYYY-MM-DD \(a day\)/],
    ['26-11', /expected YYYY-MM/],
    ['2026-11-22T00:00', /expected YYYY-MM/],
    [' 2026-11', /expected YYYY-MM/],
    ['', /expected YYYY-MM/],
    ['0999-01', /years before 1000/],
  ];
  for (const [id, message] of bad) assert.throws(() => periodFromId(id, 'UTC'), (e: unknown) => e instanceof RangeError && message.test(e.message), id);
  assert.throws(() => periodFromId('2026-11', 'Mars/Olympus'), { name: 'RangeError', message: 'unknown time zone "Mars/Olympus": expected an IANA name such as UTC or Europe/Berlin' });
});

test('isValidTimeZone accepts IANA names and links, refuses the rest', () => {
  for (const tz of ['UTC', 'Etc/UTC', 'Europe/Berlin', 'America/New_York', 'US/Eastern', 'Asia/Kolkata', 'Etc/GMT-5']) assert.equal(isValidTimeZone(tz), true, tz);
  for (const tz of ['', 'Mars/Olympus', '+05:30', '-03:00', 'Europe/Berlin ', 'x'.repeat(100)]) assert.equal(isValidTimeZone(tz), false, tz);
  assert.throws(() => calendarPeriod(0, 'day', '+05:30'), RangeError);
  assert.throws(() => calendarPeriod(Number.NaN, 'day', 'UTC'), /outside the supported years/);
  assert.throws(() => calendarPeriod(Date.UTC(10000, 0, 1), 'month', 'UTC'), RangeError);
});

test('a cached period is returned again while it contains now', () => {
  const a = calendarPeriod(t('2026-05-10T10:00:00Z'), 'day', 'Europe/Paris');
  const b = calendarPeriod(t('2026-05-10T21:59:59Z'), 'day', 'Europe/Paris');
  assert.equal(a, b);
  const c = calendarPeriod(t('2026-05-10T22:00:00Z'), 'day', 'Europe/Paris');
  assert.equal(c.id, '2026-05-11');
  assert.equal(c.start, a.end);
});

/** Local calendar date of an instant, as Intl writes it (the independent reference). */
function localDate(ms: number, tz: string): string {
  let f = REFERENCE.get(tz);
  if (f === undefined) REFERENCE.set(tz, f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }));
  return f.format(ms);
}
const REFERENCE = new Map<string, Intl.DateTimeFormat>();

test('random instants: periods contain now, tile time, start on their local date, and agree with periodFromId', () => {
  const zones = ['UTC', 'America/New_York', 'Europe/London', 'Europe/Berlin', 'Asia/Kolkata', 'Asia/Kathmandu',
    'Australia/Lord_Howe', 'Australia/Adelaide', 'America/Santiago', 'America/Havana', 'Asia/Beirut', 'Pacific/Chatham',
    'America/St_Johns', 'Asia/Tehran', 'Africa/Casablanca', 'Pacific/Kiritimati', 'Pacific/Pago_Pago'];
  let seed = 0x9e3779b9;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const from = t('1995-01-01T00:00:00Z'), to = t('2040-01-01T00:00:00Z');
  for (let i = 0; i < 1500; i++) {
    const tz = zones[i % zones.length]!;
    const now = Math.floor(from + random() * (to - from));
    for (const unit of ['day', 'month'] as const) {
      const p = calendarPeriod(now, unit, tz);
      const where = `${unit} ${tz} ${iso(now)}`;
      assert.ok(p.start <= now && now < p.end, where);
      assert.deepEqual(periodFromId(p.id, tz), p, where);
      // The first instant of the period is on its date; the one before is not.
      assert.ok(localDate(p.start, tz).startsWith(p.id), where);
      assert.ok(!localDate(p.start - 1, tz).startsWith(p.id), where);
      const next = calendarPeriod(p.end, unit, tz);
      assert.equal(next.start, p.end, where);
      if (unit === 'day') {
        assert.equal(p.id, localDate(now, tz), where);
        assert.ok(p.end - p.start >= 22 * H && p.end - p.start <= 26 * H, where);
      } else {
        assert.equal(p.id, localDate(now, tz).slice(0, 7), where);
      }
    }
  }
});
