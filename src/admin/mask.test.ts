/** Masking: no secret leaves the admin API, and a masked value sent back restores the secret. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskConfig, maskKeyHash, maskUrlPassword, unmask, REDACTED } from './mask.js';

const HASH = `sha256:${'2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae'}`;

test('key hashes show 12 hex digits; secrets are redacted; ${VAR} alone is shown', () => {
  const cfg = {
    admin: { token: 'a-very-long-admin-token', port: 9080 },
    store: { redis: { url: 'redis://user:pw@10.0.0.1:6379/0' } },
    tracing: { headers: { 'x-api-key': 'k' } },
    consumers: { acme: { keys: [HASH, { hash: HASH, expires: '2027-01-01' }], basic: { username: 'a', password: '$2b$10$abc' } } },
    auth: { j: { jwt: { secret: '${JWT_SECRET}', publicKey: '-----BEGIN PRIVATE KEY-----\nx' } }, i: { introspection: { clientSecret: 's3cret' } } },
  };
  const m = maskConfig(cfg) as typeof cfg;
  assert.equal(m.admin.token, REDACTED);
  assert.equal(m.admin.port, 9080);
  assert.equal(m.store.redis.url, `redis://user:${REDACTED}@10.0.0.1:6379/0`);
  assert.equal(m.tracing.headers['x-api-key'], REDACTED);
  assert.equal(m.consumers.acme.keys[0], 'sha256:2c26b46b68ff…');
  assert.deepEqual(m.consumers.acme.keys[1], { hash: 'sha256:2c26b46b68ff…', expires: '2027-01-01' });
  assert.equal(m.consumers.acme.basic.password, REDACTED);
  assert.equal(m.auth.j.jwt.secret, '${JWT_SECRET}');
  assert.equal(m.auth.j.jwt.publicKey, REDACTED);
  assert.equal(m.auth.i.introspection.clientSecret, REDACTED);
  assert.doesNotMatch(JSON.stringify(m), /2c26b46b68ffc6|s3cret|:pw@|\$2b\$/);
  assert.equal(maskKeyHash('nonsense'), REDACTED);
  assert.equal(maskUrlPassword('http://example.com/a'), 'http://example.com/a');
});

test('unmask restores what was sent back masked, and keeps what was changed', () => {
  const current = { keys: [HASH], basic: { username: 'a', password: '$2b$10$abc' }, groups: ['x'] };
  const path = ['consumers', 'acme'];
  const masked = maskConfig(current, path) as Record<string, unknown>;
  const back = unmask({ ...masked, groups: ['y'] }, current, path) as typeof current;
  assert.deepEqual(back, { ...current, groups: ['y'] });
  const changed = unmask({ basic: { username: 'a', password: '$2b$10$new' } }, current, path) as typeof current;
  assert.equal(changed.basic.password, '$2b$10$new');
});
