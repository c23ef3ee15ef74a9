/** Unit tests of `cache`: its config problems, and the key's query handling. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RouteFixture } from '../testing.js';
import { cacheFeatureOf } from './feature.js';
import { pickQuery, sortQuery, variantKey, pathKeyPrefix, routeKeyPrefix } from './key.js';

const fx = new RouteFixture();
after(() => fx.close());

test('a valid cache config compiles with its defaults', () => {
  const rt = fx.compile('cache: {}');
  const f = cacheFeatureOf(rt.routes[0]!.features)!;
  assert.ok(f !== null);
  assert.deepEqual([...f.statuses], [200, 301, 404]);
  assert.equal(f.ttlMs, 60_000);
  assert.equal(f.staleMs, 0);
  assert.equal(f.maxEntrySize, 1024 * 1024);
  assert.equal(f.lockTimeoutMs, 5000);
  assert.equal(f.storeKind, 'memory');
  assert.equal(f.store.kind, 'memory');
  assert.ok(rt.routes[0]!.removeResponseHeaders.has('x-cache'), 'an upstream X-Cache never reaches the client');
});

test('config problems name the key', () => {
  assert.deepEqual(fx.problems('cache: { statuses: [200, 304] }'), ['routes[0].cache.statuses[1]: 304 responses are never stored (partial and not-modified answers describe another response) (gatehouse.yaml:7)']);
  assert.deepEqual(fx.problems('cache: { maxEntrySize: 2mb, maxSize: 1mb }'), ['routes[0].cache.maxEntrySize: is larger than maxSize: no response could be stored (gatehouse.yaml:7)']);
  assert.match(fx.problems('cache: { query: sometimes }')[0]!, /routes\[0\]\.cache\.query: must be all, ignore or a list of parameter names/);
  assert.match(fx.problems('cache: { store: disk }')[0]!, /routes\[0\]\.cache\.store: must be memory or redis/);
  assert.match(fx.problems('cache: { ttl: 10 }')[0]!, /routes\[0\]\.cache\.ttl: must be a duration/);
  assert.match(fx.problems('cache: { extra: 1 }')[0]!, /routes\[0\]\.cache/);
  assert.deepEqual(fx.problems('cache: { store: redis }'), ['routes[0].cache.store: is redis, but the top-level `store:` is memory: set `store: { redis: { url } }` to share the cache, or use `store: memory` here (gatehouse.yaml:7)']);
});

test('the query is sorted by name, keeping the order of repeated names', () => {
  assert.equal(sortQuery('b=1&a=2'), 'a=2&b=1');
  assert.equal(sortQuery('a=2&a=1&b'), 'a=2&a=1&b');
  assert.equal(sortQuery('x=1'), 'x=1');
  assert.equal(sortQuery('b=1&&a=2&'), 'a=2&b=1');
});

test('a list of parameters keeps only those, compared decoded', () => {
  const names = new Set(['page', 'q']);
  assert.equal(pickQuery('utm=x&q=shoes&page=2', names), 'page=2&q=shoes');
  assert.equal(pickQuery('%70age=3&utm=1', names), '%70age=3', 'an encoded name still counts as page');
  assert.equal(pickQuery('%zz=1', names), null, 'a name that does not decode: no key');
  assert.equal(pickQuery('utm=1', names), '');
});

test('keys nest: route, then path prefix, then variants', () => {
  const base = 'r\u0000GET\u0000/users/42\u0000http://h';
  assert.ok(base.startsWith(pathKeyPrefix('r', '/users/')));
  assert.ok(base.startsWith(routeKeyPrefix('r')));
  assert.ok(!base.startsWith(routeKeyPrefix('r2')));
  const v = variantKey(base, ['accept-language'], ['accept-language', 'de']);
  assert.ok(v.startsWith(base));
  assert.notEqual(v, variantKey(base, ['accept-language'], ['accept-language', 'fr']));
  assert.notEqual(variantKey(base, ['accept-language'], []), variantKey(base, ['accept-language'], ['accept-language', '']), 'absent is not empty');
});
