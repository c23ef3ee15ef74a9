/**
 * Tests for checkStoreConfig: the Redis URLs it accepts, the exact messages of those it refuses, and that
 * no message ever carries the URL's password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStoreConfig } from './index.js';
import type { StoreConfig } from './schema.js';

function redis(url: string): StoreConfig {
  return { redis: { url, keyPrefix: 'gatehouse:', timeout: '250ms', failMode: 'open' } };
}

test('checkStoreConfig accepts memory and every well-formed Redis URL', () => {
  assert.deepEqual(checkStoreConfig('memory'), []);
  for (const url of [
    'redis://127.0.0.1:6379',
    'redis://127.0.0.1:6379/',
    'redis://127.0.0.1:6379/15',
    'redis://localhost',
    'rediss://cache.example.com:6380/2',
    'redis://:s3cret@127.0.0.1:6379/0',
    'redis://gatehouse:p%40ss%23word@127.0.0.1:1',
    'redis://[::1]:65535/0',
    // The URL parser encodes the space, and the client decodes it.
    'redis://admin:two words@127.0.0.1:6379',
  ]) assert.deepEqual(checkStoreConfig(redis(url)), [], url);
});

test('checkStoreConfig refuses a URL the client would misread, and says why', () => {
  const url = '.redis.url';
  const cases: [string, [string, string][]][] = [
    ['redis://admin:s3cretPW@127.0.0.1:99999/0', [[url, 'port is out of range (1 to 65535)']]],
    ['redis://127.0.0.1:70000', [[url, 'port is out of range (1 to 65535)']]],
    ['redis://127.0.0.1:0', [[url, 'port is out of range (1 to 65535)']]],
    ['redis://admin:s3cret#PW@127.0.0.1:6379', [[url, 'is not a valid URL (expected redis://[user:password@]host:port[/db], with special characters of the password percent-encoded)']]],
    ['redis://127.0.0.1:port', [[url, 'is not a valid URL (expected redis://[user:password@]host:port[/db], with special characters of the password percent-encoded)']]],
    ['redis:///0', [[url, 'must name a host (redis://host:port)']]],
    ['redis://127.0.0.1:6379/cache', [[url, 'path must be a database number (redis://host:port/0) or nothing']]],
    ['redis://127.0.0.1:6379/0/1', [[url, 'path must be a database number (redis://host:port/0) or nothing']]],
    ['redis://127.0.0.1:6379/-1', [[url, 'path must be a database number (redis://host:port/0) or nothing']]],
    ['redis://127.0.0.1:6379/99999999999', [[url, 'path must be a database number (redis://host:port/0) or nothing']]],
    ['redis://127.0.0.1:6379/0?commandTimeout=60000', [[url, 'must not have a query (?...): set options under store.redis']]],
    ['redis://127.0.0.1:6379?', [[url, 'must not have a query (?...): set options under store.redis']]],
    ['redis://127.0.0.1:6379/0#x', [[url, 'must not have a fragment (#...): percent-encode # in a password as %23']]],
    ['http://127.0.0.1:6379', [[url, 'must be a redis:// or rediss:// URL']]],
  ];
  for (const [text, expected] of cases) {
    const problems = checkStoreConfig(redis(text));
    assert.deepEqual(problems, expected, text);
    for (const [, message] of problems) assert.ok(!/s3cret|PW|admin/.test(message), `${text}: ${message}`);
  }
});
