/**
 * The introspection method against a local RFC 7662 server: the call it makes, active and inactive answers,
 * exp/nbf/iss/aud of the answer, the cache (bounded by exp, cacheTtl, size; negative answers briefly),
 * shared calls for one token, the endpoint down, and the config checks.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Value } from '@sinclair/typebox/value';
import type { Exchange } from '../../core/exchange.js';
import type { AuthResult } from '../types.js';
import { ConsumerIndex } from '../consumers.js';
import { IntrospectionAuthenticator, checkIntrospection } from './authenticator.js';
import { IntrospectionSchema, type IntrospectionConfig } from './schema.js';
import { IntrospectionServer } from '../../../test/helpers/idp.js';

const consumers = new ConsumerIndex({ acme: { groups: ['partners'], metadata: {}, keys: [], jwt: { subject: 'acme-client' } } });
let srv: IntrospectionServer;
const lines: Record<string, unknown>[] = [];
const log = pino({ level: 'debug' }, new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } }));
const made: IntrospectionAuthenticator[] = [];

function config(c: Record<string, unknown>): IntrospectionConfig {
  return Value.Default(IntrospectionSchema, structuredClone({ url: srv.endpoint, ...c })) as IntrospectionConfig;
}

function make(c: Record<string, unknown> = {}, now: () => number = Date.now): IntrospectionAuthenticator {
  const a = new IntrospectionAuthenticator(config(c), { name: 'opaque', consumers, now, log });
  made.push(a);
  return a;
}

function bearer(token: string, extra: string[] = []): Exchange {
  return { upstreamHeaders: ['authorization', `Bearer ${token}`, ...extra] } as unknown as Exchange;
}

async function verdict(a: IntrospectionAuthenticator, token: string): Promise<AuthResult> {
  return await a.authenticate(bearer(token));
}

const reason = (r: AuthResult): string => (r.kind === 'invalid' ? r.reason : r.kind);
const inFive = (): number => Math.floor(Date.now() / 1000) + 300;

before(async () => { srv = await new IntrospectionServer().start(); });
after(async () => { for (const a of made) await a.close(); await srv.stop(); });

describe('introspection', () => {
  test('an active token: the call (Basic client auth, form body), the identity', async () => {
    srv.answers.set('tok-1', { active: true, sub: 'acme-client', scope: 'a b', exp: inFive(), email: 'x@y.z' });
    const a = make({ clientId: 'gate house', clientSecret: 's3cr:t', claimsToHeaders: { email: 'x-user-email' } });
    const r = await verdict(a, 'tok-1');
    assert.equal(r.kind, 'ok', reason(r));
    const call = srv.calls.at(-1)!;
    assert.equal(call.authorization, `Basic ${Buffer.from('gate+house:s3cr%3At').toString('base64')}`);
    assert.equal(call.contentType, 'application/x-www-form-urlencoded');
    assert.equal(call.token, 'tok-1');
    assert.equal(call.hint, 'access_token');
    if (r.kind === 'ok') {
      assert.equal(r.identity.consumer?.id, 'acme');
      assert.deepEqual([...r.identity.scopes], ['a', 'b']);
      assert.deepEqual(r.identity.upstreamHeaders, ['x-user-email', 'x@y.z']);
      assert.equal(r.identity.expiresAt, (srv.answers.get('tok-1')!.exp as number) * 1000);
    }
    assert.deepEqual(a.credentialHeaders, ['authorization', 'x-user-email']);
  });

  test('inactive, expired, not yet valid, wrong issuer or audience, no subject: refused', async () => {
    const a = make({ issuer: 'https://as.example/', audience: ['api'] });
    const t = Math.floor(Date.now() / 1000);
    const cases: [Record<string, unknown>, string][] = [
      [{ active: false }, 'token inactive (introspection)'],
      [{ active: true, sub: 's', aud: 'api', exp: t - 5 }, 'token expired'],
      [{ active: true, sub: 's', aud: 'api', nbf: t + 60 }, 'token not yet valid (nbf)'],
      [{ active: true, sub: 's', aud: 'api', iss: 'https://evil/' }, 'issuer mismatch'],
      [{ active: true, sub: 's', aud: ['web'] }, 'audience mismatch'],
      [{ active: true, sub: 's' }, 'audience mismatch'],
      [{ active: true, aud: 'api' }, 'subject claim missing or not a string'],
      [{ active: 'true', sub: 's', aud: 'api' }, 'introspection endpoint unavailable'],
    ];
    for (const [i, [answer, why]] of cases.entries()) {
      srv.answers.set(`bad-${i}`, answer);
      assert.equal(reason(await verdict(a, `bad-${i}`)), why, JSON.stringify(answer));
    }
    srv.answers.set('good', { active: true, sub: 's', aud: ['web', 'api'], iss: 'https://as.example/' });
    assert.equal((await verdict(a, 'good')).kind, 'ok');
  });

  test('no bearer token: absent; an oversized token: refused without a call', async () => {
    const a = make();
    const calls = srv.calls.length;
    assert.equal((a.authenticate({ upstreamHeaders: ['authorization', 'Basic abc'] } as unknown as Exchange) as AuthResult).kind, 'absent');
    assert.equal((a.authenticate({ upstreamHeaders: [] } as unknown as Exchange) as AuthResult).kind, 'absent');
    assert.equal(reason(a.authenticate(bearer('x'.repeat(8193))) as AuthResult), 'token larger than maxTokenSize');
    assert.equal(srv.calls.length, calls);
  });

  test('cache: hits make no call, bounded by exp and cacheTtl; inactive answers cached briefly', async () => {
    let now = Date.now();
    const a = make({ cacheTtl: '60s', negativeCacheTtl: '5s' }, () => now);
    const exp = Math.floor(now / 1000) + 30;
    srv.answers.set('c-1', { active: true, sub: 'acme-client', exp });
    srv.answers.set('c-2', { active: true, sub: 'acme-client' });
    const calls = srv.calls.length;
    await verdict(a, 'c-1');
    const hit = a.authenticate(bearer('c-1'));
    assert.ok(!(hit instanceof Promise) && hit.kind === 'ok', 'a hit is synchronous');
    assert.equal(srv.calls.length, calls + 1);
    now = exp * 1000;
    await verdict(a, 'c-1');
    assert.equal(srv.calls.length, calls + 2, 'expired with the token');
    await verdict(a, 'c-2');
    now += 59_000;
    await verdict(a, 'c-2');
    assert.equal(srv.calls.length, calls + 3);
    now += 2_000;
    await verdict(a, 'c-2');
    assert.equal(srv.calls.length, calls + 4, 'cacheTtl bounds an answer without exp');
    await verdict(a, 'unknown-1');
    await verdict(a, 'unknown-1');
    assert.equal(srv.calls.length, calls + 5, 'inactive answer cached');
    now += 5_001;
    await verdict(a, 'unknown-1');
    assert.equal(srv.calls.length, calls + 6, 'for negativeCacheTtl only');
  });

  test('cacheSize bounds the cache; cacheSize 0 disables it', async () => {
    const a = make({ cacheSize: 2 });
    for (const t of ['s-1', 's-2', 's-3']) srv.answers.set(t, { active: true, sub: 'x' });
    const calls = srv.calls.length;
    for (const t of ['s-1', 's-2', 's-3', 's-3', 's-2', 's-1']) await verdict(a, t);
    assert.equal(srv.calls.length, calls + 4, 's-1 was evicted by s-3');
    const b = make({ cacheSize: 0 });
    await verdict(b, 's-1');
    await verdict(b, 's-1');
    assert.equal(srv.calls.length, calls + 6);
  });

  test('concurrent requests with one token share one call', async () => {
    const a = make();
    srv.answers.set('same', { active: true, sub: 'x' });
    srv.delayMs = 100;
    try {
      const calls = srv.calls.length;
      const rs = await Promise.all(Array.from({ length: 10 }, () => verdict(a, 'same')));
      assert.ok(rs.every((r) => r.kind === 'ok'));
      assert.equal(srv.calls.length, calls + 1);
    } finally {
      srv.delayMs = 0;
    }
  });

  test('endpoint down, slow or failing: refused, not cached, one warning per 10 s', async () => {
    const a = make({ timeout: '150ms' });
    srv.answers.set('d-1', { active: true, sub: 'x' });
    const before = lines.length;
    srv.status = 500;
    assert.equal(reason(await verdict(a, 'd-1')), 'introspection endpoint unavailable');
    srv.status = 200;
    // The endpoint would answer after 5 s: the 150 ms timeout must refuse long before (the bound leaves a
    // loaded machine over 2 s of slack).
    srv.delayMs = 5000;
    const t0 = performance.now();
    assert.equal(reason(await verdict(a, 'd-1')), 'introspection endpoint unavailable');
    assert.ok(performance.now() - t0 < 2500, 'refused at the timeout, not at the answer');
    srv.delayMs = 0;
    const warned = lines.slice(before).filter((l) => l.event === 'introspection_failed');
    assert.equal(warned.length, 1);
    assert.equal(warned[0]!.reason, 'status 500');
    assert.ok(!JSON.stringify(lines).includes('d-1'), 'the token is never logged');
    assert.equal((await verdict(a, 'd-1')).kind, 'ok', 'failures were not cached');
  });

  test('config checks', () => {
    assert.deepEqual(checkIntrospection(config({ clientId: 'x' })), [['.clientSecret', 'is required with clientId']]);
    assert.deepEqual(checkIntrospection(config({ clientSecret: 'x' })), [['.clientId', 'is required with clientSecret']]);
    assert.deepEqual(checkIntrospection(config({ claimsToHeaders: { sub: 'x-consumer-id' } })).map((p) => p[0]), ['.claimsToHeaders.sub']);
    assert.deepEqual(checkIntrospection(config({})), []);
  });
});
