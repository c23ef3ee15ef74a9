/** Unit tests of the caching rules: Cache-Control and Vary parsing, freshness, conditional checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageMs, etagMatches, freshnessMs, headerValues, notModifiedSince, parseCacheControl, parseHttpDate, parseVary } from './policy.js';

test('parseCacheControl reads the directives a shared cache needs', () => {
  const cc = parseCacheControl('public, max-age=60, s-maxage=300, stale-while-revalidate=30');
  assert.equal(cc.maxAge, 60);
  assert.equal(cc.sMaxAge, 300);
  assert.equal(cc.staleWhileRevalidate, 30);
  assert.equal(cc.noStore, false);
  assert.equal(cc.isPrivate, false);

  assert.equal(parseCacheControl('No-Store').noStore, true, 'names are case-insensitive');
  assert.equal(parseCacheControl('no-cache').noCache, true);
  assert.equal(parseCacheControl('must-revalidate, max-age=5').mustRevalidate, true);
  assert.equal(parseCacheControl('proxy-revalidate').mustRevalidate, true);
  const none = parseCacheControl(undefined);
  assert.deepEqual([none.maxAge, none.sMaxAge, none.staleWhileRevalidate], [-1, -1, -1]);
});

test('parseCacheControl handles quoted values, spaces, repeats and bad numbers', () => {
  const q = parseCacheControl('private="set-cookie, x-user", max-age=10');
  assert.equal(q.isPrivate, true, 'a qualified private still counts');
  assert.equal(q.maxAge, 10, 'the comma inside quotes does not end the directive');
  assert.equal(parseCacheControl('no-cache="set-cookie"').noCache, true);
  assert.equal(parseCacheControl(' max-age = 20 ').maxAge, 20);
  assert.equal(parseCacheControl('max-age=60, max-age=10').maxAge, 10, 'repeated: the most restrictive');
  assert.equal(parseCacheControl('max-age=abc').maxAge, 0, 'malformed: stale at once');
  assert.equal(parseCacheControl('max-age="30"').maxAge, 30);
  assert.equal(parseCacheControl('max-age=99999999999').maxAge, 2_147_483_648, 'capped at 2^31');
  assert.equal(parseCacheControl(',,max-age=3,').maxAge, 3);
});

test('parseVary gives sorted lower-case names, * or null', () => {
  assert.deepEqual(parseVary('Accept-Language, accept-encoding, Accept-Language'), ['accept-encoding', 'accept-language']);
  assert.equal(parseVary('accept, *'), '*');
  assert.equal(parseVary(undefined), null);
  assert.equal(parseVary(' , '), null);
});

test('freshness: s-maxage over max-age over Expires over the default, less Age', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(freshnessMs(parseCacheControl('max-age=60, s-maxage=10'), [], now, 5000), 10_000);
  assert.equal(freshnessMs(parseCacheControl('max-age=60'), [], now, 5000), 60_000);
  assert.equal(freshnessMs(parseCacheControl('max-age=60'), ['age', '15'], now, 5000), 45_000);
  assert.equal(freshnessMs(parseCacheControl(undefined), [], now, 5000), 5000);
  const exp = ['date', 'Thu, 01 Jan 2026 00:00:00 GMT', 'expires', 'Thu, 01 Jan 2026 00:02:00 GMT'];
  assert.equal(freshnessMs(parseCacheControl(undefined), exp, now, 5000), 120_000);
  assert.equal(freshnessMs(parseCacheControl(undefined), ['expires', 'Thu, 01 Jan 2026 00:00:30 GMT'], now, 5000), 30_000, 'no Date: from now');
  assert.equal(freshnessMs(parseCacheControl(undefined), ['expires', '0'], now, 5000), 0, 'unreadable Expires: expired');
  assert.equal(freshnessMs(parseCacheControl('max-age=5'), exp, now, 5000), 5000, 'max-age wins over Expires');
});

test('ageMs and headerValues', () => {
  assert.equal(ageMs(['age', '7']), 7000);
  assert.equal(ageMs(['age', 'x']), 0);
  assert.equal(ageMs([]), 0);
  assert.equal(headerValues(['cache-control', 'max-age=1', 'x', 'y', 'cache-control', 'private'], 'cache-control'), 'max-age=1, private');
  assert.equal(headerValues([], 'vary'), undefined);
});

test('If-None-Match uses the weak comparison; If-Modified-Since compares dates', () => {
  assert.equal(etagMatches('"a"', '"a"'), true);
  assert.equal(etagMatches('W/"a"', '"a"'), true);
  assert.equal(etagMatches('"x", "a"', 'W/"a"'), true);
  assert.equal(etagMatches('*', '"a"'), true);
  assert.equal(etagMatches('"b"', '"a"'), false);
  assert.equal(notModifiedSince('Thu, 01 Jan 2026 00:00:00 GMT', 'Wed, 31 Dec 2025 00:00:00 GMT'), true);
  assert.equal(notModifiedSince('Wed, 31 Dec 2025 00:00:00 GMT', 'Thu, 01 Jan 2026 00:00:00 GMT'), false);
  assert.equal(notModifiedSince('garbage', 'Thu, 01 Jan 2026 00:00:00 GMT'), false);
});

test('parseHttpDate accepts the three HTTP date forms only', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), t);
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
  assert.ok(Number.isNaN(parseHttpDate('0')));
  assert.ok(Number.isNaN(parseHttpDate('-1')));
  assert.ok(Number.isNaN(parseHttpDate('2026-01-01')));
});
