/**
 * The basic method on an in-memory exchange: header parsing (scheme, strict base64, colon), bcrypt and
 * scrypt hashes, unknown users costing a hash, the success cache, and the hash formats.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hashSync } from 'bcryptjs';
import { pino } from 'pino';
import type { Exchange } from '../../core/exchange.js';
import { ConsumerIndex } from '../consumers.js';
import type { ConsumerConfig } from '../schema.js';
import type { AuthResult } from '../types.js';
import { BasicAuthenticator, BASIC_CACHE_MAX } from './authenticator.js';
import { dummyLike, hashPassword, parsePasswordHash, PASSWORD_HASH_PATTERN, verifyPassword, SCRYPT_DEFAULTS } from './password-hash.js';
import { BCRYPT } from './password-hash.js';

// The lazily loaded bcryptjs is loaded here as the gateway's preload step would (src/config/preload.ts).
await BCRYPT.load();

/** Cheap parameters keep the tests fast; the format and code path are the same as the defaults. */
const FAST = { N: 1024, r: 8, p: 1 };

function exchange(authorization?: string): Exchange {
  return { upstreamHeaders: authorization === undefined ? ['accept', '*/*'] : ['accept', '*/*', 'authorization', authorization], query: '' } as unknown as Exchange;
}

const basicHeader = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function outcome(a: BasicAuthenticator, header?: string): Promise<string> {
  const r: AuthResult = await a.authenticate(exchange(header));
  return r.kind === 'ok' ? `ok:${r.identity.consumer!.id}` : r.kind === 'invalid' ? r.reason : 'absent';
}

function consumer(username: string, password: string): ConsumerConfig {
  return { groups: [], metadata: {}, keys: [], basic: { username, password } };
}

describe('password hashes', () => {
  test('scrypt: the format, a round trip, a wrong password', async () => {
    const h = await hashPassword('correct horse', FAST);
    assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.match(h, new RegExp(PASSWORD_HASH_PATTERN));
    const p = parsePasswordHash(h);
    assert.ok(typeof p !== 'string');
    assert.equal(await verifyPassword('correct horse', p), true);
    assert.equal(await verifyPassword('correct horsE', p), false);
    assert.notEqual(await hashPassword('correct horse', FAST), h, 'a fresh salt each time');
  });

  test('the default scrypt parameters', async () => {
    const h = await hashPassword('pw');
    assert.ok(h.startsWith(`scrypt$${SCRYPT_DEFAULTS.N}$${SCRYPT_DEFAULTS.r}$${SCRYPT_DEFAULTS.p}$`));
  });

  test('passwords are compared after NFC normalisation', async () => {
    const p = parsePasswordHash(await hashPassword('caf\u00e9', FAST));
    assert.ok(typeof p !== 'string');
    assert.equal(await verifyPassword('cafe\u0301', p), true);
  });

  test('bcrypt $2a$, $2b$, $2y$', async () => {
    const b = hashSync('s3cret', 4);
    for (const variant of ['$2a$', '$2b$', '$2y$']) {
      const p = parsePasswordHash(variant + b.slice(4));
      assert.ok(typeof p !== 'string', variant);
      assert.equal(await verifyPassword('s3cret', p), true, variant);
      assert.equal(await verifyPassword('s3creT', p), false, variant);
    }
  });

  test('bad hashes are named problems', () => {
    assert.match(parsePasswordHash('hunter2') as string, /never the password itself/);
    assert.match(parsePasswordHash('scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43)) as string, /power of 2/);
    assert.match(parsePasswordHash('scrypt$1048576$8$1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43)) as string, /256 MiB/);
    assert.match(parsePasswordHash('scrypt$1024$8$1$AAAA$' + 'A'.repeat(43)) as string, /salt/);
    assert.match(parsePasswordHash('$2b$03$' + 'a'.repeat(53)) as string, /cost/);
  });

  test('a dummy has the same kind and cost and matches nothing', async () => {
    const p = parsePasswordHash(hashSync('x', 5));
    assert.ok(typeof p !== 'string');
    const d = dummyLike(p);
    assert.equal(d.kind, 'bcrypt');
    assert.ok(d.kind === 'bcrypt' && d.cost === 5);
    assert.equal(await verifyPassword('x', d), false);
    const s = parsePasswordHash(await hashPassword('x', FAST));
    assert.ok(typeof s !== 'string');
    const ds = dummyLike(s);
    assert.ok(ds.kind === 'scrypt' && ds.N === 1024);
    assert.equal(await verifyPassword('x', ds), false);
  });
});

describe('BasicAuthenticator', async () => {
  const scryptHash = await hashPassword('open sesame', FAST);
  const bcryptHash = hashSync('pa:ss wörd', 4);
  const consumers = { alice: consumer('alice', scryptHash), bob: consumer('bob', bcryptHash) };
  const make = (cacheTtl = '60s', now: () => number = Date.now, cs: Record<string, ConsumerConfig> = consumers): BasicAuthenticator =>
    new BasicAuthenticator({ realm: 'gatehouse', cacheTtl }, { name: 'basic-users', consumers: new ConsumerIndex(cs), now, log: pino({ level: 'silent' }) });

  test('good users with scrypt and bcrypt hashes (a colon in the password is part of it)', async () => {
    const a = make('0s');
    assert.equal(await outcome(a, basicHeader('alice', 'open sesame')), 'ok:alice');
    assert.equal(await outcome(a, basicHeader('bob', 'pa:ss wörd')), 'ok:bob');
    assert.equal(await outcome(a, `bAsIc   ${Buffer.from('alice:open sesame').toString('base64')}`), 'ok:alice');
    assert.equal(a.challenge, 'Basic realm="gatehouse", charset="UTF-8"');
    assert.deepEqual(a.credentialHeaders, ['authorization']);
  });

  test('refusals: wrong password, unknown user, malformed credentials', async () => {
    const a = make('0s');
    assert.equal(await outcome(a, basicHeader('alice', 'open sesamE')), 'wrong password');
    assert.equal(await outcome(a, basicHeader('mallory', 'open sesame')), 'unknown user');
    assert.equal(await outcome(a, 'Basic !!!notbase64'), 'malformed Basic credentials');
    assert.equal(await outcome(a, `Basic !!${Buffer.from('alice:open sesame').toString('base64')}`), 'malformed Basic credentials');
    assert.equal(await outcome(a, 'Basic abc'), 'malformed Basic credentials'); // 3 chars: not base64
    assert.equal(await outcome(a, 'Basic'), 'malformed Basic credentials');
    assert.equal(await outcome(a, `Basic ${Buffer.from('alice-no-colon').toString('base64')}`), 'Basic credentials without a colon');
    assert.equal(await outcome(a, `Basic ${Buffer.from(':password').toString('base64')}`), 'malformed Basic credentials');
    assert.equal(await outcome(a, `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`), 'malformed Basic credentials');
    assert.equal(await outcome(a, `Basic ${'A'.repeat(5000)}`), 'malformed Basic credentials');
    // Unpadded base64 is accepted.
    assert.equal(await outcome(a, `Basic ${Buffer.from('alice:open sesame').toString('base64').replace(/=+$/, '')}`), 'ok:alice');
  });

  test('no Authorization, or another scheme: absent (the next method may try)', async () => {
    const a = make();
    assert.equal(await outcome(a), 'absent');
    assert.equal(await outcome(a, 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'), 'absent');
    assert.equal(await outcome(a, 'Basicfoo'), 'absent');
  });

  test('an unknown user costs a password hash like a known one', async () => {
    // Users all at bcrypt cost 8; the directory lists them, so the dummy is bcrypt cost 8 too.
    const slow = hashSync('pw', 8);
    class Listing extends ConsumerIndex {
      constructor(private readonly cs: Record<string, ConsumerConfig>) { super(cs); }
      override *basicUsers(): Iterable<readonly [string, { consumer: NonNullable<ReturnType<ConsumerIndex['byId']>>; passwordHash: string }]> {
        for (const [id, c] of Object.entries(this.cs)) yield [c.basic!.username, { consumer: this.byId(id)!, passwordHash: c.basic!.password }];
      }
    }
    const a = new BasicAuthenticator({ realm: 'r', cacheTtl: '0s' }, { name: 'b', consumers: new Listing({ u1: consumer('u1', slow), u2: consumer('u2', hashSync('pw2', 8)) }), now: Date.now, log: pino({ level: 'silent' }) });
    const time = async (h: string): Promise<number> => {
      const t0 = performance.now();
      await a.authenticate(exchange(h));
      return performance.now() - t0;
    };
    await time(basicHeader('u1', 'warm up'));
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      known.push(await time(basicHeader('u1', `wrong${i}`)));
      unknown.push(await time(basicHeader(`nobody${i}`, `wrong${i}`)));
    }
    // The fastest run of each is the one least disturbed by whatever else the machine does.
    const ratio = Math.min(...unknown) / Math.min(...known);
    assert.ok(ratio > 0.5 && ratio < 2, `unknown/known time ratio ${ratio.toFixed(2)} (${Math.min(...unknown).toFixed(1)} ms vs ${Math.min(...known).toFixed(1)} ms)`);
  });

  test('a bad stored hash is refused at load (the schema refuses it first in a config file)', () => {
    assert.throws(
      () => new BasicAuthenticator({ realm: 'r', cacheTtl: '0s' }, { name: 'b', consumers: new ConsumerIndex({ eve: consumer('eve', 'plaintext') }), now: Date.now, log: pino({ level: 'silent' }) }),
      /consumers\.eve\.basic\.password: must be a bcrypt hash/,
    );
  });

  test('success is cached for cacheTtl; failures are not', async () => {
    let now = 1_000_000;
    const a = make('60s', () => now);
    const h = basicHeader('bob', 'pa:ss wörd');
    assert.equal(await outcome(a, h), 'ok:bob');
    const hit = a.authenticate(exchange(h));
    assert.ok(!(hit instanceof Promise), 'a cache hit answers synchronously');
    assert.equal(hit.kind, 'ok');
    now += 59_000;
    assert.ok(!(a.authenticate(exchange(h)) instanceof Promise));
    now += 2_000;
    const miss = a.authenticate(exchange(h));
    assert.ok(miss instanceof Promise, 'past the TTL the password is checked again');
    assert.equal((await miss).kind, 'ok');
    const wrong = basicHeader('bob', 'nope');
    assert.equal(await outcome(a, wrong), 'wrong password');
    assert.ok(a.authenticate(exchange(wrong)) instanceof Promise);
    assert.equal(BASIC_CACHE_MAX, 10_000);
  });

  test('identical requests in flight share one check', async () => {
    const a = make('60s');
    const h = basicHeader('alice', 'open sesame');
    const p1 = a.authenticate(exchange(h));
    const p2 = a.authenticate(exchange(h));
    assert.equal(p1, p2);
    assert.equal((await p1).kind, 'ok');
  });
});
