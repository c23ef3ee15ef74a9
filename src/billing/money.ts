/**
 * Exact money for billing. Prices are held as BigInt counts of 10^-12 of the currency's major unit (a
 * "scaled" amount: 0.0002 USD is 200_000_000n), so sums of millions of calls at sub-cent prices are exact.
 * Amounts are rounded to the currency's minor unit (cents, or whole yen) only where a statement says so,
 * half-up. The minor unit is ISO 4217's (a static table below), not Intl's: Intl formats with CLDR's display
 * digits, which drop decimals ISO keeps (0 for HUF, IDR, COP; 0 for IQD, whose ISO exponent is 3). Floating point never touches an amount: a price written as a YAML number is read back from its
 * shortest decimal form (`String(0.0002)` is "0.0002"), which is exactly what was written as long as it has
 * at most 15 significant digits (what a double holds); longer prices must be quoted.
 */

/** MONEY_SCALE is the number of decimals of a scaled amount: 12. */
export const MONEY_SCALE = 12;
/** MONEY_ONE is one major unit (1 USD, 1 JPY) as a scaled amount: 10^12. */
export const MONEY_ONE = 10n ** BigInt(MONEY_SCALE);

const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;
// Forms of String(number) for a finite non-negative number: 12, 0.5, 1e-7, 1.5e+21.
const NUMBER_TEXT_RE = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/;
// A double holds any decimal of up to 15 significant digits exactly (DBL_DIG).
const DOUBLE_DIGITS = 15;
// Longest price text accepted: bounds the BigInt work on hostile input.
const MAX_PRICE_TEXT = 40;
/**
 * ISO 4217 exponents other than 2 (its "minor unit" column). Every other code isCurrency accepts
 * has 2, including those ISO lists without a minor unit (XDR, XSU): billing needs one, and 2 is the norm.
 */
const ISO_EXPONENTS: ReadonlyMap<string, number> = new Map([
  ...['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'].map((c) => [c, 0] as const),
  ...['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'].map((c) => [c, 3] as const),
  ...['CLF', 'UYW'].map((c) => [c, 4] as const),
]);
let currencies: ReadonlySet<string> | null = null;

/**
 * priceProblem returns why `value` is not a valid price, or null when it is one: a non-negative YAML number
 * or a decimal string (`0.0002`, `"0.0002"`, `2e-4`, `"12.50"`) with at most 12 decimals.
 */
export function priceProblem(value: unknown): string | null {
  return parse(value).problem;
}

/**
 * parsePrice turns a price (YAML number or decimal string) into a scaled amount (10^-12 units). Throws
 * RangeError with the message of priceProblem when it is not a valid price.
 */
export function parsePrice(value: number | string): bigint {
  const r = parse(value);
  if (r.problem !== null) throw new RangeError(r.problem);
  return r.scaled;
}

function parse(value: unknown): { scaled: bigint; problem: string | null } {
  let digits: string, fraction: string, exponent: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return fail('must be a finite number');
    if (value < 0) return fail('must not be negative');
    const text = String(value === 0 ? 0 : value);
    const m = NUMBER_TEXT_RE.exec(text);
    if (m === null) return fail('must be a decimal number');
    digits = m[1]!; fraction = m[2] ?? ''; exponent = m[3] === undefined ? 0 : Number(m[3]);
    const significant = (digits + fraction).replace(/^0+/, '').replace(/0+$/, '').length;
    if (significant > DOUBLE_DIGITS) {
      return fail(`has more significant digits than a YAML number holds exactly (it reads as ${text}): write it as a string in quotes`);
    }
  } else if (typeof value === 'string') {
    if (value.length > MAX_PRICE_TEXT) return fail(`must be at most ${MAX_PRICE_TEXT} characters`);
    const m = DECIMAL_RE.exec(value);
    if (m === null) {
      return fail(value.startsWith('-') ? 'must not be negative' : 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)');
    }
    digits = m[1]!; fraction = m[2] ?? ''; exponent = 0;
  } else {
    return fail('must be a number or a decimal string');
  }
  // value = (digits.fraction) * 10^exponent = all * 10^(exponent - fraction.length); trailing zeros of the
  // fraction do not count as decimals ("12.500000000000000" is exactly 12.5).
  const all = (digits + fraction.replace(/0+$/, '')) || '0';
  const decimals = fraction.replace(/0+$/, '').length - exponent;
  if (decimals > MONEY_SCALE) return fail(`has more than ${MONEY_SCALE} decimals`);
  return { scaled: BigInt(all) * 10n ** BigInt(MONEY_SCALE - decimals), problem: null };
}

function fail(problem: string): { scaled: bigint; problem: string } {
  return { scaled: 0n, problem };
}

/**
 * isCurrency tells whether `code` is an ISO 4217 code that this Node.js knows (upper case: `USD`, `JPY`), or
 * one of the table of exponents above (the funds codes CLF, UYI and UYW, which ICU does not list).
 */
export function isCurrency(code: string): boolean {
  if (typeof code !== 'string' || !/^[A-Z]{3}$/.test(code)) return false;
  currencies ??= new Set(Intl.supportedValuesOf('currency'));
  return currencies.has(code) || ISO_EXPONENTS.has(code);
}

/**
 * minorDigits returns the decimals of the currency's minor unit, its ISO 4217 exponent: USD 2, HUF 2,
 * JPY 0, BHD 3, IQD 3, CLF 4. Throws RangeError for a code isCurrency refuses.
 */
export function minorDigits(currency: string): number {
  if (!isCurrency(currency)) throw new RangeError(`unknown currency "${String(currency)}": expected an ISO 4217 code such as USD`);
  return ISO_EXPONENTS.get(currency) ?? 2;
}

/** minorUnit returns one minor unit (a cent, a yen) as a scaled amount, for a currency of `digits` decimals. */
export function minorUnit(digits: number): bigint {
  checkDigits(digits);
  return 10n ** BigInt(MONEY_SCALE - digits);
}

/**
 * roundToMinor rounds a scaled amount to whole minor units, half-up: 0.125 USD is 13 cents, 0.1249 is 12.
 * Billing amounts are never negative; a negative one is rounded symmetrically (half away from zero), so
 * rounding commutes with negation.
 */
export function roundToMinor(scaled: bigint, digits: number): bigint {
  const unit = minorUnit(digits);
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  let q = abs / unit;
  if ((abs % unit) * 2n >= unit) q += 1n;
  return negative ? -q : q;
}

/**
 * formatMinor writes an amount of minor units as a decimal string in major units, without grouping or
 * symbol: 1234n is '12.34' in USD, '1234' in JPY, '1.234' in BHD. `currency` is a code or its minorDigits.
 */
export function formatMinor(minor: bigint | number, currency: string | number): string {
  const digits = typeof currency === 'number' ? currency : minorDigits(currency);
  checkDigits(digits);
  const v = BigInt(minor);
  return formatFixed(v < 0n ? -v : v, digits, digits, v < 0n);
}

/**
 * formatScaled writes a scaled amount exactly, with trailing zeros removed down to `minDecimals` decimals:
 * 200_000_000n is '0.0002'; 12_500_000_000_000n is '12.5', or '12.50' with minDecimals 2.
 */
export function formatScaled(scaled: bigint, minDecimals = 0): string {
  checkDigits(minDecimals);
  return formatFixed(scaled < 0n ? -scaled : scaled, MONEY_SCALE, minDecimals, scaled < 0n);
}

/** Writes abs / 10^scale with at least minDecimals decimals (trailing zeros beyond those removed). */
function formatFixed(abs: bigint, scale: number, minDecimals: number, negative: boolean): string {
  const sign = negative ? '-' : '';
  if (scale === 0) return sign + abs.toString();
  const text = abs.toString().padStart(scale + 1, '0');
  const whole = text.slice(0, text.length - scale);
  let fraction = text.slice(text.length - scale);
  let end = fraction.length;
  while (end > minDecimals && fraction.charCodeAt(end - 1) === 48 /* '0' */) end--;
  fraction = fraction.slice(0, end);
  return fraction.length === 0 ? sign + whole : `${sign}${whole}.${fraction}`;
}

function checkDigits(digits: number): void {
  if (!Number.isInteger(digits) || digits < 0 || digits > MONEY_SCALE) throw new RangeError(`minor digits must be an integer from 0 to ${MONEY_SCALE}, not ${digits}`);
}
