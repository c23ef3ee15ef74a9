/**
 * Reading tokens from requests (Bearer, cookies), the unverified issuer peek, the bounded TTL cache and the
 * claim helpers shared by the token methods.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, cookieValue, headerOf, peekIssuer } from './token.js';
import { TtlCache } from './ttl-cache.js';
import { headerText, removeHeaders, scopesOf } from './claims.js';
import { isSafeUrl, safeUrl } from './fetch.js';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('token reading', () => {
  test('bearerToken', () => {
    assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
    assert.equal(bearerToken('bEaReR   abc  '), 'abc');
    for (const v of ['Bearer', 'Bearer ', 'Bearer    ', 'Basic abc', 'Bearerabc', 'Bearer\tabc', '', 'Token abc']) assert.equal(bearerToken(v), null, JSON.stringify(v));
  });

  test('headerOf takes the first copy', () => {
    assert.equal(headerOf(['a', '1', 'b', '2', 'b', '3'], 'b'), '2');
    assert.equal(headerOf(['a', '1'], 'b'), undefined);
  });

  test('cookieValue', () => {
    const h = ['cookie', 'a=1; session=xyz; b=2', 'cookie', 'late=4'];
    assert.equal(cookieValue(h, 'session'), 'xyz');
    assert.equal(cookieValue(h, 'late'), '4');
    assert.equal(cookieValue(h, 'sess'), null);
    assert.equal(cookieValue(['cookie', 'xsession=1'], 'session'), null);
    assert.equal(cookieValue(['cookie', 'session='], 'session'), null);
    assert.equal(cookieValue(['cookie', 'session="q"'], 'session'), 'q');
    assert.equal(cookieValue(['x', 'session=1'], 'session'), null);
  });

  test('peekIssuer reads iss without verifying; anything else is no JWT', () => {
    assert.equal(peekIssuer(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://a/' })}.sig`), 'https://a/');
    assert.equal(peekIssuer(`${b64({ alg: 'none' })}.${b64({ iss: 'https://a/' })}.`), 'https://a/');
    for (const t of ['opaque', 'a.b', '.b.c', 'a..c', 'a.b.c.d.e', `x.${b64([1])}.y`, `x.${b64({ iss: 3 })}.y`, `x.${b64('str')}.y`, 'x.!!!.y', `x.${b64(null)}.y`]) {
      assert.equal(peekIssuer(t), null, t);
    }
  });
});

describe('TtlCache', () => {
  test('entries expire at their own time; weight bounds the whole; oldest go first', () => {
    const c = new TtlCache<string>(10);
    c.set('a', 'A', 100, 4, 0);
    c.set('b', 'B', 50, 4, 0);
    assert.equal(c.get('a', 10), 'A');
    assert.equal(c.get('b', 50), undefined, 'expired at its time');
    c.set('c', 'C', 100, 4, 10);
    c.set('d', 'D', 100, 4, 10);
    assert.equal(c.get('a', 10), undefined, 'evicted as the oldest');
    assert.equal(c.get('c', 10), 'C');
    assert.equal(c.get('d', 10), 'D');
    c.set('huge', 'H', 100, 11, 10);
    assert.equal(c.get('huge', 10), undefined, 'heavier than the cache: not kept');
    c.set('past', 'P', 5, 1, 10);
    assert.equal(c.size, 2);
    c.set('c', 'C2', 100, 4, 10);
    assert.equal(c.get('c', 10), 'C2');
    c.delete('c');
    assert.equal(c.get('c', 10), undefined);
    c.clear();
    assert.equal(c.size, 0);
  });
});

describe('claims helpers', () => {
  test('scopesOf', () => {
    assert.deepEqual([...scopesOf({ scope: 'a  b c' })], ['a', 'b', 'c']);
    assert.deepEqual([...scopesOf({ scp: ['x', 'y', 3, ''] })], ['x', 'y']);
    assert.deepEqual([...scopesOf({ scp: 'x y', scope: 'a' })], ['a', 'x', 'y']);
    assert.equal(scopesOf({}).size, 0);
    assert.equal(scopesOf({ scope: 7 }).size, 0);
  });

  test('headerText', () => {
    assert.equal(headerText('plain'), 'plain');
    assert.equal(headerText(12.5), '12.5');
    assert.equal(headerText(false), 'false');
    assert.equal(headerText('é'), '\u00c3\u00a9');
    for (const v of ['a\rb', 'a\nb', 'a\u0000', '\u007f', 'tab\there', '\u0085', NaN, Infinity, null, [1], {}]) assert.equal(headerText(v), null, JSON.stringify(v));
  });

  test('removeHeaders', () => {
    const h = ['a', '1', 'x-user-email', 'evil', 'b', '2', 'x-user-email', 'evil2'];
    removeHeaders(h, ['x-user-email']);
    assert.deepEqual(h, ['a', '1', 'b', '2']);
  });
});

describe('URLs of identity calls', () => {
  test('safeUrl drops user info and query; isSafeUrl wants https off loopback', () => {
    assert.equal(safeUrl('https://user:pw@id.example.com/jwks.json?key=secret'), 'https://id.example.com/jwks.json');
    assert.equal(safeUrl('nope'), '(invalid URL)');
    for (const u of ['https://id.example.com/j', 'http://127.0.0.1:9/j', 'http://localhost/j', 'http://[::1]:8/j']) assert.equal(isSafeUrl(u), true, u);
    for (const u of ['http://id.example.com/j', 'http://10.0.0.1/j', 'ftp://x/', 'nope']) assert.equal(isSafeUrl(u), false, u);
  });
});
