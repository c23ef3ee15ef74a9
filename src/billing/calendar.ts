/**
 * Calendar periods (days and months) in an IANA time zone, for quotas and billing statements. A period starts
 * at local midnight and ends at the next one, so a New York day lasts 23 or 25 hours around DST changes and
 * a Kolkata day starts at 18:30 UTC. Built on Intl alone (Node 20 has no Temporal) and proleptic Gregorian.
 *
 * Where local midnight does not exist (a DST gap at midnight, as in America/Santiago or America/Havana) the
 * day starts at the first instant after the gap; where it happens twice (a fall-back at midnight) the day
 * starts at the first one, as Temporal's `startOfDay` does. Periods always tile time: each one ends exactly
 * where the next starts, and every instant lies in exactly one.
 *
 * `calendarPeriod` may run per request (quota keys), so each zone keeps its Intl.DateTimeFormat (slow to
 * build) and its current day and month: a call inside the cached period allocates nothing.
 */

/** CalendarUnit is the length of a calendar period. */
export type CalendarUnit = 'day' | 'month';

/** CalendarPeriod is one day or month: `[start, end)` in Unix ms, and `id`, its local date ('2026-11', '2026-11-22'). */
export interface CalendarPeriod {
  readonly start: number;
  readonly end: number;
  readonly id: string;
}

const DAY_MS = 86_400_000;
// Periods are supported for years 1000 to 9999: ids have four-digit years, and Date.UTC misreads years < 100.
const MIN_TIME = Date.UTC(1000, 0, 2);
const MAX_TIME = Date.UTC(9999, 11, 1);
// The cache is keyed by the name as given; bound it so odd spellings of names cannot grow it without end.
const MAX_ZONES = 256;
const ID_RE = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/;
const FORMAT_OPTIONS: Intl.DateTimeFormatOptions = {
  year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  hourCycle: 'h23',
};

/** What one zone keeps: its formatter and the last day and month asked for. */
class Zone {
  readonly format: Intl.DateTimeFormat;
  day: CalendarPeriod | null;
  month: CalendarPeriod | null;

  constructor(format: Intl.DateTimeFormat) {
    this.format = format;
    this.day = null;
    this.month = null;
  }
}

const ZONES = new Map<string, Zone>();

/**
 * isValidTimeZone tells whether `tz` names an IANA time zone (or a link such as `US/Eastern`, or `UTC`).
 * Offsets such as `+05:30` are refused: Node 24 accepts them and Node 20 does not, and a config must load
 * the same on both (`Etc/GMT-5` is the IANA name of a fixed offset).
 */
export function isValidTimeZone(tz: string): boolean {
  try {
    zoneOf(tz);
    return true;
  } catch {
    return false;
  }
}

/**
 * calendarPeriod returns the day or month in `timeZone` that contains the instant `now` (Unix ms). Throws
 * RangeError for an unknown zone or a `now` outside the years 1000 to 9999.
 */
export function calendarPeriod(now: number, unit: CalendarUnit, timeZone: string): CalendarPeriod {
  const zone = zoneOf(timeZone);
  const cached = unit === 'day' ? zone.day : zone.month;
  if (cached !== null && now >= cached.start && now < cached.end) return cached;
  if (!(now >= MIN_TIME && now < MAX_TIME)) throw new RangeError(`time ${now} is outside the supported years 1000 to 9999`);
  const f = localFields(zone.format, now);
  let y = f[0], m = f[1], d = unit === 'day' ? f[2] : 1;
  let period = makePeriod(zone, y, m, d, unit);
  // Only a fall-back across midnight puts an instant of local date D after the start of D + 1 (the repeated
  // hour belongs to the next day, which has begun), or in theory before the start of D: step until it fits.
  for (let i = 0; i < 3 && (now < period.start || now >= period.end); i++) {
    [y, m, d] = step(y, m, d, unit, now < period.start ? -1 : 1);
    period = makePeriod(zone, y, m, d, unit);
  }
  if (unit === 'day') zone.day = period;
  else zone.month = period;
  return period;
}

/**
 * periodFromId returns the period named by a local date: '2026-11' (a month) or '2026-11-22' (a day) in
 * `timeZone`. Throws RangeError on a malformed id, a date that does not exist, or an unknown zone.
 */
export function periodFromId(id: string, timeZone: string): CalendarPeriod {
  const m = typeof id === 'string' ? ID_RE.exec(id) : null;
  if (m === null) throw new RangeError(`invalid period "${String(id)}": expected YYYY-MM (a month) or YYYY-MM-DD (a day)`);
  const year = Number(m[1]), month = Number(m[2]), day = m[3] === undefined ? 1 : Number(m[3]);
  if (year < 1000) throw new RangeError(`invalid period "${id}": years before 1000 are not supported`);
  if (month < 1 || month > 12) throw new RangeError(`invalid period "${id}": month must be 01 to 12`);
  if (day < 1 || day > daysInMonth(year, month)) throw new RangeError(`invalid period "${id}": ${year}-${pad2(month)} has no day ${m[3]}`);
  return makePeriod(zoneOf(timeZone), year, month, day, m[3] === undefined ? 'month' : 'day');
}

function zoneOf(timeZone: string): Zone {
  let zone = ZONES.get(timeZone);
  if (zone !== undefined) return zone;
  const format = makeFormat(timeZone);
  if (format === null) throw new RangeError(`unknown time zone "${String(timeZone)}": expected an IANA name such as UTC or Europe/Berlin`);
  zone = new Zone(format);
  if (ZONES.size >= MAX_ZONES) ZONES.clear();
  ZONES.set(timeZone, zone);
  return zone;
}

function makeFormat(tz: string): Intl.DateTimeFormat | null {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64 || !/^[A-Za-z]/.test(tz)) return null;
  try {
    // Explicit calendar and digits: the default locale could otherwise bring another calendar or numerals.
    return new Intl.DateTimeFormat('en-US-u-ca-gregory-nu-latn', { ...FORMAT_OPTIONS, timeZone: tz });
  } catch {
    return null;
  }
}

function makePeriod(zone: Zone, y: number, m: number, d: number, unit: CalendarUnit): CalendarPeriod {
  const [ny, nm, nd] = step(y, m, d, unit, 1);
  const id = unit === 'day' ? `${y}-${pad2(m)}-${pad2(d)}` : `${y}-${pad2(m)}`;
  return Object.freeze({ start: startOfDay(zone.format, y, m, d), end: startOfDay(zone.format, ny, nm, nd), id });
}

/** The date one unit after (or before) y-m-d; for months d is 1. */
function step(y: number, m: number, d: number, unit: CalendarUnit, by: 1 | -1): [number, number, number] {
  const t = unit === 'day' ? Date.UTC(y, m - 1, d + by) : Date.UTC(y, m - 1 + by, 1);
  const date = new Date(t);
  return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
}

/**
 * The first instant whose local date is y-m-d. Both offsets in force a day either side are tried for local
 * midnight; the earliest that really reads as midnight wins (two do after a fall-back at midnight). If
 * neither does, midnight falls in a gap, and the day starts at the transition, found by bisection (whole
 * seconds) between the two candidates, which lie on either side of it.
 */
function startOfDay(format: Intl.DateTimeFormat, y: number, m: number, d: number): number {
  const wall = Date.UTC(y, m - 1, d);
  const before = wall - offsetAt(format, wall - DAY_MS);
  const after = wall - offsetAt(format, wall + DAY_MS);
  const okBefore = wallTime(format, before) === wall;
  const okAfter = after !== before && wallTime(format, after) === wall;
  if (okBefore && okAfter) return Math.min(before, after);
  if (okBefore) return before;
  if (okAfter) return after;
  let lo = Math.min(before, after), hi = Math.max(before, after);
  if (wallTime(format, lo) >= wall) return lo;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallTime(format, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Local offset in ms at instant t (local wall time minus UTC, to the second). */
function offsetAt(format: Intl.DateTimeFormat, t: number): number {
  return wallTime(format, t) - Math.floor(t / 1000) * 1000;
}

/** The local wall time at instant t, written as if it were UTC (to the second). */
function wallTime(format: Intl.DateTimeFormat, t: number): number {
  const f = localFields(format, t);
  return Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4], f[5]);
}

/** [year, month, day, hour, minute, second] at instant t in the formatter's zone. */
function localFields(format: Intl.DateTimeFormat, t: number): [number, number, number, number, number, number] {
  const out: [number, number, number, number, number, number] = [0, 0, 0, 0, 0, 0];
  for (const p of format.formatToParts(t)) {
    switch (p.type) {
      case 'year': out[0] = Number(p.value); break;
      case 'month': out[1] = Number(p.value); break;
      case 'day': out[2] = Number(p.value); break;
      case 'hour': out[3] = Number(p.value); break;
      case 'minute': out[4] = Number(p.value); break;
      case 'second': out[5] = Number(p.value); break;
      default: break;
    }
  }
  return out;
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
