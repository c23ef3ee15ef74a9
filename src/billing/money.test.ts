/**
 * Tests for exact money: prices as YAML gives them (numbers and strings, from real YAML text), refusals with
 * their messages, currency digits from ISO 4217 (not Intl's display digits), half-up rounding at the edges,
 * and formatting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { MONEY_ONE, formatMinor, formatScaled, isCurrency, minorDigits, minorUnit, parsePrice, priceProblem, roundToMinor } from './money.js';

test('parsePrice reads YAML numbers and decimal strings exactly', () => {
  const doc = parse('a: 0.0002\nb: "0.0002"\nc: 2e-4\nd: "12.50"\ne: 12\nf: 0\ng: 1.5e-10\nh: 0.000000000001\ni: "123456789012345678.123456789012"\nj: 1e+21\n') as Record<string, number | string>;
  assert.equal(parsePrice(doc.a!), 200_000_000n);
  assert.equal(parsePrice(doc.b!), 200_000_000n);
  assert.equal(parsePrice(doc.c!), 200_000_000n);
  assert.equal(parsePrice(doc.d!), 12_500_000_000_000n);
  assert.equal(parsePrice(doc.e!), 12n * MONEY_ONE);
  assert.equal(parsePrice(doc.f!), 0n);
  assert.equal(parsePrice(doc.g!), 150n);
  assert.equal(parsePrice(doc.h!), 1n);
  assert.equal(parsePrice(doc.i!), 123456789012345678123456789012n);
  assert.equal(parsePrice(doc.j!), 10n ** 33n);
  assert.equal(parsePrice(-0), 0n);
  assert.equal(parsePrice('0.100000000000000000'), 100_000_000_000n, 'trailing zeros are not decimals');
  assert.equal(parsePrice('007.5'), 7_500_000_000_000n);
  // 0.3 has no exact binary form, but its shortest decimal form is exactly what was written.
  assert.equal(parsePrice(0.3), 300_000_000_000n);
});

test('priceProblem refuses what is not an exact non-negative price, and says why', () => {
  const cases: [unknown, string][] = [
    [0.0000000000001, 'has more than 12 decimals'],
    ['0.0000000000001', 'has more than 12 decimals'],
    [1e-13, 'has more than 12 decimals'],
    [-1, 'must not be negative'],
    ['-1', 'must not be negative'],
    [Number.NaN, 'must be a finite number'],
    [Number.POSITIVE_INFINITY, 'must be a finite number'],
    [0.1 + 0.2, 'has more significant digits than a YAML number holds exactly (it reads as 0.30000000000000004): write it as a string in quotes'],
    [1234567890.1234567, 'has more significant digits than a YAML number holds exactly (it reads as 1234567890.1234567): write it as a string in quotes'],
    ['1e-4', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    ['.5', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    ['5.', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    [' 5', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    ['1,5', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    ['', 'must be a decimal number such as 0.0002 or "12.50" (digits, optionally a point and decimals)'],
    ['1'.repeat(41), 'must be at most 40 characters'],
    [true, 'must be a number or a decimal string'],
    [null, 'must be a number or a decimal string'],
  ];
  for (const [value, message] of cases) {
    assert.equal(priceProblem(value), message, String(value));
    if (typeof value === 'number' || typeof value === 'string') assert.throws(() => parsePrice(value), { name: 'RangeError', message });
  }
  assert.equal(priceProblem('0.000000000001'), null);
  assert.equal(priceProblem(123456789012345), null);
});

test('minor digits are ISO 4217 exponents, not Intl display digits', () => {
  const expected: Record<number, string[]> = {
    0: ['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'],
    3: ['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'],
    4: ['CLF', 'UYW'],
    // Intl formats these with 0 decimals (CLDR display digits); ISO 4217 gives them 2.
    2: ['USD', 'EUR', 'GBP', 'HUF', 'IDR', 'COP', 'AFN', 'ALL', 'IRR', 'LAK', 'LBP', 'MGA', 'MMK', 'PKR', 'RSD', 'SOS', 'SYP', 'YER', 'XDR'],
  };
  for (const [digits, codes] of Object.entries(expected)) {
    for (const code of codes) {
      assert.equal(isCurrency(code), true, code);
      assert.equal(minorDigits(code), Number(digits), code);
    }
  }
  // Every code Node knows has an answer of 0, 2, 3 or 4.
  for (const code of Intl.supportedValuesOf('currency')) assert.ok([0, 2, 3, 4].includes(minorDigits(code)), code);
  assert.equal(formatMinor(123_456n, 'IQD'), '123.456');
  assert.equal(formatMinor(123_456n, 'HUF'), '1234.56');
  assert.equal(formatMinor(123_456n, 'CLF'), '12.3456');
  for (const code of ['usd', 'US', 'USDX', 'ZZZ', '', 'US$', 'clf']) assert.equal(isCurrency(code), false, code);
  assert.throws(() => minorDigits('ZZZ'), { name: 'RangeError', message: 'unknown currency "ZZZ": expected an ISO 4217 code such as USD' });
});

test('roundToMinor rounds half-up to whole minor units', () => {
  const cent = minorUnit(2);
  assert.equal(cent, 10_000_000_000n);
  assert.equal(roundToMinor(parsePrice('0.125'), 2), 13n);
  assert.equal(roundToMinor(parsePrice('0.124999999999'), 2), 12n);
  assert.equal(roundToMinor(parsePrice('0.005'), 2), 1n);
  assert.equal(roundToMinor(parsePrice('0.004999999999'), 2), 0n);
  assert.equal(roundToMinor(parsePrice('0.015'), 2), 2n, 'half-up, not half-even');
  assert.equal(roundToMinor(parsePrice('12.34'), 2), 1234n);
  assert.equal(roundToMinor(0n, 2), 0n);
  assert.equal(roundToMinor(parsePrice('1.5'), 0), 2n);
  assert.equal(roundToMinor(parsePrice('2.5'), 0), 3n);
  assert.equal(roundToMinor(parsePrice('2.4999'), 0), 2n);
  assert.equal(roundToMinor(parsePrice('0.0005'), 3), 1n);
  assert.equal(roundToMinor(1n, 12), 1n);
  // Negative amounts (never billed) round symmetrically.
  assert.equal(roundToMinor(-parsePrice('0.125'), 2), -13n);
  assert.equal(roundToMinor(-parsePrice('0.124'), 2), -12n);
  assert.throws(() => roundToMinor(1n, 13), RangeError);
  assert.throws(() => roundToMinor(1n, 1.5), RangeError);
});

test('formatMinor and formatScaled write exact decimal strings', () => {
  assert.equal(formatMinor(1234n, 'USD'), '12.34');
  assert.equal(formatMinor(1234n, 2), '12.34');
  assert.equal(formatMinor(5n, 'USD'), '0.05');
  assert.equal(formatMinor(0n, 'USD'), '0.00');
  assert.equal(formatMinor(100, 'USD'), '1.00');
  assert.equal(formatMinor(1234n, 'JPY'), '1234');
  assert.equal(formatMinor(0n, 'JPY'), '0');
  assert.equal(formatMinor(1234n, 'BHD'), '1.234');
  assert.equal(formatMinor(-5n, 'USD'), '-0.05');
  assert.equal(formatMinor(123456789012345678901234567890n, 'USD'), '1234567890123456789012345678.90');
  assert.equal(formatScaled(200_000_000n), '0.0002');
  assert.equal(formatScaled(12_500_000_000_000n), '12.5');
  assert.equal(formatScaled(12_500_000_000_000n, 2), '12.50');
  assert.equal(formatScaled(0n), '0');
  assert.equal(formatScaled(0n, 2), '0.00');
  assert.equal(formatScaled(1n), '0.000000000001');
  assert.equal(formatScaled(MONEY_ONE * 7n, 0), '7');
  assert.equal(formatScaled(-150n), '-0.00000000015');
  // Round trip: every formatted amount parses back to itself.
  for (const s of ['0.0002', '12.5', '0.000000000001', '99999999.999999999999']) assert.equal(formatScaled(parsePrice(s)), s);
});
