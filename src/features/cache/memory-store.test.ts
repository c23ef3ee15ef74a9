/** Unit tests of the in-memory LRU: eviction by bytes, recency, expiry, purge by prefix; and the Redis blob format. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../core/clock.js';
import { MemoryCacheStore } from './memory-store.js';
import { CacheEntry } from './store.js';
import { decodeEntry, encodeEntry, escapeGlob } from './redis-store.js';

function entry(bodyBytes: number, until: number, key = 'k'): CacheEntry {
  return new CacheEntry(200, ['content-type', 'text/plain'], Buffer.alloc(bodyBytes, 1), 0, until, until, null, null, null, key.length);
}

test('the LRU evicts the least recently used entries once past its byte budget', () => {
  const clock = new ManualClock();
  const one = entry(1000, 1e9).size;
  const store = new MemoryCacheStore(one * 3, clock.now);
  store.set('a', entry(1000, 1e9));
  store.set('b', entry(1000, 1e9));
  store.set('c', entry(1000, 1e9));
  assert.equal(store.count, 3);
  assert.equal(store.bytes, one * 3);
  assert.ok(store.get('a') !== null, 'a is now the most recently used');
  store.set('d', entry(1000, 1e9));
  assert.equal(store.get('b'), null, 'b, the least recently used, went first');
  assert.ok(store.get('a') !== null);
  assert.ok(store.get('c') !== null);
  assert.ok(store.get('d') !== null);
  assert.ok(store.bytes <= store.maxBytes);
});

test('one large entry evicts as many small ones as it needs; a too-large one is not kept', () => {
  const clock = new ManualClock();
  const small = entry(100, 1e9).size;
  const store = new MemoryCacheStore(small * 10, clock.now);
  for (let i = 0; i < 10; i++) store.set(`s${i}`, entry(100, 1e9));
  assert.equal(store.count, 10);
  store.set('big', entry(small * 5, 1e9));
  assert.ok(store.get('big') !== null);
  assert.ok(store.bytes <= store.maxBytes);
  assert.equal(store.get('s0'), null);
  assert.ok(store.get('s9') !== null, 'the newest small ones stay');
  store.set('huge', entry(small * 20, 1e9));
  assert.equal(store.get('huge'), null, 'larger than the whole budget');
  assert.ok(store.get('big') !== null, 'and it evicted nothing');
});

test('replacing an entry keeps the byte count exact; expired entries are gone', () => {
  const clock = new ManualClock();
  const store = new MemoryCacheStore(1e6, clock.now);
  store.set('a', entry(100, 1000));
  store.set('a', entry(300, 1000));
  assert.equal(store.count, 1);
  assert.equal(store.bytes, entry(300, 1000).size);
  clock.advance(999);
  assert.ok(store.get('a') !== null);
  clock.advance(1);
  assert.equal(store.get('a'), null, 'past staleUntil');
  assert.equal(store.bytes, 0);
});

test('purge deletes by key prefix and reports how many', async () => {
  const store = new MemoryCacheStore(1e6, () => 0);
  for (const k of ['r\u0000GET\u0000/users/1', 'r\u0000GET\u0000/users/2', 'r\u0000GET\u0000/orders/1', 'r2\u0000GET\u0000/users/1']) store.set(k, entry(10, 1e9, k));
  assert.equal(await store.purge('r\u0000GET\u0000/users/'), 2);
  assert.equal(store.count, 2);
  assert.equal(await store.purge('r\u0000'), 1);
  assert.equal(store.count, 1, 'route r2 is not route r');
});

test('the Redis blob round-trips an entry; other bytes read as a miss', () => {
  const e = new CacheEntry(200, ['etag', '"1"', 'content-type', 'application/json'], Buffer.from('{"a":1}'), 1, 2, 3, null, '"1"', null, 5);
  const d = decodeEntry(encodeEntry(e), 5)!;
  assert.deepEqual([d.status, d.headers, d.body.toString(), d.dateMs, d.freshUntil, d.staleUntil, d.vary, d.etag, d.lastModified],
    [200, ['etag', '"1"', 'content-type', 'application/json'], '{"a":1}', 1, 2, 3, null, '"1"', null]);
  const v = new CacheEntry(0, [], Buffer.alloc(0), 1, 2, 3, ['accept-language'], null, null, 5);
  assert.deepEqual(decodeEntry(encodeEntry(v), 5)!.vary, ['accept-language']);
  assert.equal(decodeEntry(Buffer.from('garbage'), 1), null);
  assert.equal(decodeEntry(Buffer.from([1, 0, 0, 0, 99, 1]), 1), null);
  assert.equal(escapeGlob('a*b?c[d]e\\f'), 'a\\*b\\?c\\[d\\]e\\\\f');
});
