/**
 * The apiKey method on an in-memory exchange: key format (shape, checksum, prefix), header and query
 * lookup, expiry, duplicates, and the config checks of the method.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { pino } from 'pino';
import type { Exchange } from '../../core/exchange.js';
import { ConsumerIndex } from '../consumers.js';
import type { ConsumerConfig } from '../schema.js';
import { ApiKeyAuthenticator, apiKey, queryValue } from './authenticator.js';
import { DEFAULT_KEY_PREFIX, hasKeyShape, hashApiKey, isGatehouseKey, isOpaqueKey, keyDigest, newApiKey, validKeyPrefix } from './key-format.js';

function consumer(keys: ConsumerConfig['keys'], groups: string[] = []): ConsumerConfig {
  return { groups, metadata: {}, keys };
}

function exchange(headers: string[], query = ''): Exchange {
  return { upstreamHeaders: headers, query } as unknown as Exchange;
}

const NOW = Date.parse('2026-01-01T00:00:00Z');

function authenticator(config: Partial<{ header: string; query: string; format: 'gatehouse' | 'any' }>, consumers: Record<string, ConsumerConfig>): ApiKeyAuthenticator {
  return new ApiKeyAuthenticator({ header: 'x-api-key', format: 'gatehouse', ...config }, { name: 'keys', consumers: new ConsumerIndex(consumers), now: () => NOW });
}

describe('API key format', () => {
  test('new keys: default prefix, 57 characters, base62, valid checksum, all different', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = newApiKey();
      assert.match(k, /^gh_live_[0-9A-Za-z]{49}$/);
      assert.ok(isGatehouseKey(k), k);
      seen.add(k);
    }
    assert.equal(seen.size, 200);
    assert.equal(DEFAULT_KEY_PREFIX, 'gh_live_');
  });

  test('a custom prefix; bad prefixes refused', () => {
    const k = newApiKey('acme_test_');
    assert.ok(k.startsWith('acme_test_') && isGatehouseKey(k));
    for (const p of ['', 'g', 'gh', 'Gh_', '1h_', 'gh-live_', 'a'.repeat(24) + '_']) {
      assert.equal(validKeyPrefix(p), false, p);
      assert.throws(() => newApiKey(p), /invalid key prefix/);
    }
    assert.ok(validKeyPrefix('gh_'));
  });

  test('the checksum is the standard CRC-32 (zlib) of prefix + random part, in 6 base62 digits', () => {
    const digits = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < 100; i++) {
      const k = newApiKey(i % 2 === 0 ? 'gh_live_' : 'x_');
      let sum = 0;
      for (const ch of k.slice(-6)) sum = sum * 62 + digits.indexOf(ch);
      assert.equal(sum, crc32(k.slice(0, -6)), k);
    }
  });

  test('the checksum catches any one changed character', () => {
    const k = newApiKey();
    for (let i = 0; i < k.length; i++) {
      const c = k[i] === 'a' ? 'b' : 'a';
      const changed = k.slice(0, i) + c + k.slice(i + 1);
      assert.equal(isGatehouseKey(changed), false, `changed at ${i}: ${changed}`);
    }
  });

  test('the shape check (what the gateway checks before hashing) refuses junk', () => {
    const k = newApiKey();
    assert.ok(hasKeyShape(k));
    for (const bad of ['', 'gh_live_', k + 'x', k.slice(0, -1), ` ${k}`, k.replace('gh_live_', 'GH_LIVE_'), k.replace('gh_live_', 'gh_live-'),
      k.slice(0, -1) + '-', k.slice(0, -1) + '\u00e9', 'x'.repeat(8000), `${'a'.repeat(24)}_${'b'.repeat(49)}`]) {
      assert.equal(hasKeyShape(bad), false, bad.slice(0, 80));
      assert.equal(isGatehouseKey(bad), false, bad.slice(0, 80));
    }
  });

  test('opaque keys (format: any): 16 to 256 visible ASCII characters', () => {
    assert.ok(isOpaqueKey('0123456789abcdef'));
    assert.ok(isOpaqueKey('!~'.repeat(128)));
    assert.equal(isOpaqueKey('short'), false);
    assert.equal(isOpaqueKey('has a space in it!'), false);
    assert.equal(isOpaqueKey('x'.repeat(257)), false);
    assert.equal(isOpaqueKey('ünïcode-is-not-ascii'), false);
  });

  test('the stored hash is sha256 of the key, as `sha256:<hex>`', () => {
    const k = newApiKey();
    assert.equal(hashApiKey(k), `sha256:${createHash('sha256').update(k).digest('hex')}`);
    assert.equal(keyDigest('foo'), '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae');
  });
});

describe('queryValue', () => {
  test('finds a parameter by name without being fooled by look-alikes', () => {
    assert.equal(queryValue('api_key=abc', 'api_key'), 'abc');
    assert.equal(queryValue('a=1&api_key=abc&b=2', 'api_key'), 'abc');
    assert.equal(queryValue('xapi_key=abc&api_keyx=d&api_ke=e', 'api_key'), undefined);
    assert.equal(queryValue('a=api_key=1', 'api_key'), undefined);
    assert.equal(queryValue('api_key', 'api_key'), '');
    assert.equal(queryValue('api_key=', 'api_key'), '');
    assert.equal(queryValue('', 'api_key'), undefined);
  });

  test('decodes the value and an encoded name; a parameter given twice is flagged', () => {
    assert.equal(queryValue('api_key=a%2Bb', 'api_key'), 'a+b');
    assert.equal(queryValue('api%5Fkey=abc', 'api_key'), 'abc');
    assert.equal(queryValue('api_key=%zz', 'api_key'), '%zz');
    assert.notEqual(queryValue('api_key=a&api_key=b', 'api_key'), 'a');
    assert.notEqual(queryValue('api_key=a&api%5fkey=a', 'api_key'), 'a');
  });
});

describe('ApiKeyAuthenticator', () => {
  const good = newApiKey();
  const old = newApiKey();
  const other = newApiKey();
  const consumers = {
    acme: consumer([hashApiKey(good), { hash: hashApiKey(old), expires: '2025-12-31' }], ['partners']),
    zeta: consumer([{ hash: hashApiKey(other), expires: '2026-06-30T00:00:00Z' }]),
  };

  test('a good key maps to its consumer, with the key\'s expiry', () => {
    const a = authenticator({}, consumers);
    const r = a.authenticate(exchange(['accept', '*/*', 'x-api-key', good]));
    assert.equal(r.kind, 'ok');
    assert.ok(r.kind === 'ok');
    assert.equal(r.identity.consumer?.id, 'acme');
    assert.deepEqual(r.identity.consumer?.groups, ['partners']);
    assert.equal(r.identity.subject, 'acme');
    assert.equal(r.identity.method, 'keys');
    assert.equal(r.identity.expiresAt, null);
    const z = a.authenticate(exchange(['x-api-key', other]));
    assert.ok(z.kind === 'ok');
    assert.equal(z.identity.expiresAt, Date.parse('2026-06-30T00:00:00Z'));
  });

  test('absent, unknown, expired, malformed, twice', () => {
    const a = authenticator({}, consumers);
    assert.equal(a.authenticate(exchange(['accept', '*/*'])).kind, 'absent');
    const reason = (h: string[], q = ''): string => {
      const r = a.authenticate(exchange(h, q));
      return r.kind === 'invalid' ? r.reason : r.kind;
    };
    assert.equal(reason(['x-api-key', newApiKey()]), 'unknown key');
    assert.equal(reason(['x-api-key', old]), 'expired key');
    assert.equal(reason(['x-api-key', 'not-a-key']), 'malformed key');
    assert.equal(reason(['x-api-key', '']), 'malformed key');
    // Right shape, wrong checksum: not worth a separate check on the hot path; the lookup finds nothing.
    assert.equal(reason(['x-api-key', good.slice(0, -1) + (good.endsWith('a') ? 'b' : 'a')]), 'unknown key');
    assert.equal(reason(['x-api-key', good, 'x-api-key', good]), 'more than one key in the request');
    // The query is not read unless configured.
    assert.equal(reason([], `api_key=${good}`), 'absent');
  });

  test('the key from a configured query parameter; header and query together are ambiguous', () => {
    const a = authenticator({ query: 'api_key' }, consumers);
    assert.equal(a.authenticate(exchange([], `x=1&api_key=${good}`)).kind, 'ok');
    const both = a.authenticate(exchange(['x-api-key', good], `api_key=${good}`));
    assert.equal(both.kind, 'invalid');
    assert.equal(a.authenticate(exchange([], `api_key=${good}&api_key=${good}`)).kind, 'invalid');
    assert.deepEqual(a.credentialQuery, ['api_key']);
    assert.deepEqual(a.credentialHeaders, ['x-api-key']);
    assert.equal(a.challenge, 'ApiKey header="x-api-key", query="api_key"');
  });

  test('a custom header (any case in the config) and format: any', () => {
    const opaque = 'legacy-key-0123456789';
    const a = authenticator({ header: 'X-Partner-Key', format: 'any' }, { old: consumer([hashApiKey(opaque)]) });
    assert.equal(a.challenge, 'ApiKey header="x-partner-key"');
    const r = a.authenticate(exchange(['x-partner-key', opaque]));
    assert.ok(r.kind === 'ok');
    assert.equal(r.identity.consumer?.id, 'old');
    assert.equal(a.authenticate(exchange(['x-api-key', opaque])).kind, 'absent');
    // A Gatehouse-format authenticator refuses the legacy key before hashing it.
    const strict = authenticator({ header: 'x-partner-key' }, { old: consumer([hashApiKey(opaque)]) });
    assert.equal(strict.authenticate(exchange(['x-partner-key', opaque])).kind, 'invalid');
  });

  test('config check: headers the gateway owns cannot carry a key', () => {
    for (const h of ['Authorization', 'host', 'X-Forwarded-For', 'x-consumer-id', 'cookie']) {
      const out = apiKey.check!({ header: h, format: 'gatehouse' }, { configDir: '.' });
      assert.equal(out.length, 1, h);
      assert.equal(out[0]![0], '.header');
    }
    assert.deepEqual(apiKey.check!({ header: 'x-api-key', format: 'gatehouse' }, { configDir: '.' }), []);
    assert.ok(apiKey.create({ header: 'x-api-key', format: 'gatehouse' }, { name: 'k', consumers: new ConsumerIndex({}), configDir: '.', log: pino({ level: 'silent' }), now: Date.now }));
  });
});
