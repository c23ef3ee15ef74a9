/**
 * The jwt method on an in-memory exchange, with keys generated here: every refusal of SECURITY.md (alg none,
 * HS/RS confusion, aud, iss, exp, nbf, skew, size), tokens of other issuers left to the next method, the
 * cache of verified tokens, claims to headers and scopes, and the config checks of the method.
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { SignJWT } from 'jose';
import { Value } from '@sinclair/typebox/value';
import type { Exchange } from '../../core/exchange.js';
import type { AuthResult } from '../types.js';
import { ConsumerIndex } from '../consumers.js';
import { JwtAuthenticator, checkJwt, keyProblem, loadPublicKey } from './authenticator.js';
import { JwtSchema, type JwtConfig } from './schema.js';
import { JOSE } from './jose.js';
import { JwksServer, makeKey, sign, unsignedToken, b64url, type TestKey } from '../../../test/helpers/idp.js';

// jose is loaded lazily (src/core/lazy.ts); the gateway preloads it for configs with a jwt entry.
await JOSE.load();

const ISS = 'https://id.example.com/';
const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const log = pino({ level: 'silent' });
const consumers = new ConsumerIndex({
  acme: { groups: ['partners'], metadata: {}, keys: [], jwt: { subject: 'acme-client' } },
  other: { groups: [], metadata: {}, keys: [], jwt: { subject: 'other-sub', issuer: 'https://other.example/' } },
});

function config(c: Partial<JwtConfig> & Record<string, unknown>): JwtConfig {
  return Value.Default(JwtSchema, structuredClone({ issuer: ISS, audience: 'api', ...c })) as JwtConfig;
}

function make(c: Partial<JwtConfig> & Record<string, unknown>, now?: () => number): JwtAuthenticator {
  return new JwtAuthenticator(config(c), { name: 'staff-jwt', consumers, now: now ?? Date.now, configDir: tmpdir(), log });
}

function exchange(headers: string[]): Exchange {
  return { upstreamHeaders: headers } as unknown as Exchange;
}

function bearer(token: string, extra: string[] = []): Exchange {
  return exchange(['accept', '*/*', 'authorization', `Bearer ${token}`, ...extra]);
}

async function verdict(a: JwtAuthenticator, ex: Exchange): Promise<AuthResult> {
  return await a.authenticate(ex);
}

function reason(r: AuthResult): string {
  return r.kind === 'invalid' ? r.reason : r.kind;
}

let rsa: TestKey;
let es: TestKey;
let ed: TestKey;
let ps: TestKey;
const now = (): number => Math.floor(Date.now() / 1000);

before(async () => {
  [rsa, es, ed, ps] = await Promise.all([makeKey('RS256', 'r1'), makeKey('ES256', 'e1'), makeKey('EdDSA', 'd1'), makeKey('PS256', 'p1')]);
});

describe('jwt: accepting', () => {
  test('RS256, ES256, EdDSA, PS256 with a PEM key: identity, consumer, expiry, scopes', async () => {
    for (const k of [rsa, es, ed, ps]) {
      const a = make({ algorithms: [k.alg as 'RS256'], publicKey: k.pem });
      const exp = now() + 120;
      const r = await verdict(a, bearer(await sign(k, { iss: ISS, aud: 'api', sub: 'acme-client', exp, scope: 'users:read users:write' })));
      assert.equal(r.kind, 'ok', `${k.alg}: ${reason(r)}`);
      if (r.kind !== 'ok') continue;
      assert.equal(r.identity.consumer?.id, 'acme');
      assert.equal(r.identity.subject, 'acme');
      assert.equal(r.identity.method, 'staff-jwt');
      assert.equal(r.identity.expiresAt, exp * 1000);
      assert.deepEqual([...r.identity.scopes], ['users:read', 'users:write']);
      assert.equal(r.identity.claims?.sub, 'acme-client');
      await a.close();
    }
  });

  test('HS256 with a secret; an unknown subject gives an identity without consumer', async () => {
    const a = make({ algorithms: ['HS256'], secret: SECRET });
    const token = await sign({ alg: 'HS256', secret: new TextEncoder().encode(SECRET) }, { iss: ISS, aud: 'api', sub: 'someone', scp: ['a', 'b'] });
    const r = await verdict(a, bearer(token));
    assert.equal(r.kind, 'ok', reason(r));
    if (r.kind === 'ok') {
      assert.equal(r.identity.consumer, null);
      assert.equal(r.identity.subject, 'someone');
      assert.deepEqual([...r.identity.scopes], ['a', 'b']);
    }
  });

  test('a base64 secret', async () => {
    const raw = Buffer.alloc(32, 7);
    const a = make({ algorithms: ['HS256'], secret: raw.toString('base64'), secretEncoding: 'base64' });
    const r = await verdict(a, bearer(await sign({ alg: 'HS256', secret: raw }, { iss: ISS, aud: 'api', sub: 'x' })));
    assert.equal(r.kind, 'ok', reason(r));
  });

  test('a consumer bound to another issuer is not matched', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const r = await verdict(a, bearer(await sign(rsa, { iss: ISS, aud: 'api', sub: 'other-sub' })));
    assert.equal(r.kind === 'ok' && r.identity.consumer, null);
  });

  test('audience lists, consumerClaim, requiredClaims, matchClaims', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem, audience: ['web', 'api'], consumerClaim: 'client_id', requiredClaims: ['email'], matchClaims: { tenant: 'acme', roles: 'admin', email_verified: true } });
    const good = { iss: ISS, aud: ['other', 'api'], client_id: 'acme-client', email: 'a@b.c', tenant: 'acme', roles: ['user', 'admin'], email_verified: true };
    const ok = await verdict(a, bearer(await sign(rsa, good)));
    assert.equal(ok.kind === 'ok' && ok.identity.consumer?.id, 'acme');
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...good, email: undefined })))), 'required claim "email" missing');
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...good, tenant: 'evil' })))), 'claim "tenant" does not have the required value');
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...good, roles: ['user'] })))), 'claim "roles" does not have the required value');
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...good, email_verified: 'true' })))), 'claim "email_verified" does not have the required value');
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...good, client_id: undefined })))), 'subject claim missing or not a string');
  });

  test('token from another header, or from a cookie', async () => {
    const token = await sign(rsa, { iss: ISS, aud: 'api', sub: 'acme-client' });
    const h = make({ algorithms: ['RS256'], publicKey: rsa.pem, header: 'X-Id-Token' });
    assert.deepEqual(h.credentialHeaders, ['x-id-token']);
    assert.equal((await verdict(h, exchange(['x-id-token', token]))).kind, 'ok');
    assert.equal((await verdict(h, bearer(token))).kind, 'absent');
    const c = make({ algorithms: ['RS256'], publicKey: rsa.pem, cookie: 'id_token' });
    assert.deepEqual(c.credentialHeaders, []);
    assert.equal((await verdict(c, exchange(['cookie', `theme=dark; id_token=${token}; lang=en`]))).kind, 'ok');
    assert.equal((await verdict(c, exchange(['cookie', 'theme=dark', 'cookie', `id_token="${token}"`]))).kind, 'ok');
    assert.equal((await verdict(c, exchange(['cookie', `xid_token=${token}`]))).kind, 'absent');
    assert.equal((await verdict(c, bearer(token))).kind, 'absent');
  });
});

describe('jwt: refusing', () => {
  const base = { iss: ISS, aud: 'api', sub: 'acme-client' };

  test('alg none, hand-crafted, is refused (and alg None, NONE)', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    for (const alg of ['none', 'None', 'NONE']) {
      const r = await verdict(a, bearer(unsignedToken({ alg, typ: 'JWT' }, { ...base, exp: now() + 60 })));
      assert.equal(r.kind, 'invalid', alg);
    }
    // Even when the header names an allowed algorithm, an empty signature fails.
    assert.equal(reason(await verdict(a, bearer(unsignedToken({ alg: 'RS256', kid: 'r1' }, { ...base, exp: now() + 60 })))), 'signature invalid');
  });

  test('HS/RS confusion: a token HMAC-signed with the RSA public key PEM as secret is refused', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const forged = await new SignJWT({ ...base, exp: now() + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(rsa.pem));
    const r = await verdict(a, bearer(forged));
    assert.equal(reason(r), 'algorithm not allowed');
  });

  test('wrong aud, expired, nbf in the future; skew respected both ways', async () => {
    const a = make({ algorithms: ['ES256'], publicKey: es.pem });
    assert.equal(reason(await verdict(a, bearer(await sign(es, { ...base, aud: 'other' })))), 'audience mismatch');
    assert.equal(reason(await verdict(a, bearer(await sign(es, { iss: ISS, sub: 'acme-client' })))), 'audience mismatch');
    assert.equal(reason(await verdict(a, bearer(await sign(es, { ...base, exp: now() - 61 })))), 'token expired');
    assert.equal((await verdict(a, bearer(await sign(es, { ...base, exp: now() - 30 })))).kind, 'ok');
    assert.equal(reason(await verdict(a, bearer(await sign(es, { ...base, nbf: now() + 120 })))), 'token not yet valid (nbf)');
    assert.equal((await verdict(a, bearer(await sign(es, { ...base, nbf: now() + 30 })))).kind, 'ok');
    const strict = make({ algorithms: ['ES256'], publicKey: es.pem, clockSkew: '0s' });
    assert.equal(reason(await verdict(strict, bearer(await sign(es, { ...base, exp: now() - 2 })))), 'token expired');
  });

  test('a token without exp is refused', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, { ...base, exp: undefined })))), 'token has no exp');
  });

  test('a wrong signature, a wrong key type, a tampered payload', async () => {
    const other = await makeKey('RS256', 'r1');
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    assert.equal(reason(await verdict(a, bearer(await sign(other, base)))), 'signature invalid');
    const good = await sign(rsa, base);
    const [h, , s] = good.split('.');
    const tampered = `${h}.${b64url({ ...base, sub: 'admin', exp: now() + 60 })}.${s}`;
    assert.equal(reason(await verdict(a, bearer(tampered))), 'signature invalid');
  });

  test('typ checked when configured', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem, typ: 'at+jwt' });
    assert.equal(reason(await verdict(a, bearer(await sign(rsa, base)))), 'typ header mismatch');
    assert.equal((await verdict(a, bearer(await sign(rsa, base, { typ: 'at+jwt' })))).kind, 'ok');
  });

  test('an oversized token is refused before any parsing', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const big = await sign(rsa, { ...base, pad: 'x'.repeat(9000) });
    const r = a.authenticate(bearer(big));
    assert.ok(!(r instanceof Promise), 'answered synchronously: no verification started');
    assert.equal(reason(r as AuthResult), 'token larger than maxTokenSize');
    // Not even a JWT: still refused by size, not handed to the next method.
    assert.equal(reason(a.authenticate(bearer('x'.repeat(8193))) as AuthResult), 'token larger than maxTokenSize');
    const roomy = make({ algorithms: ['RS256'], publicKey: rsa.pem, maxTokenSize: '16kb' });
    assert.equal((await verdict(roomy, bearer(big))).kind, 'ok');
  });

  test('embedded jwk, jku, x5u in the header are ignored: the configured key decides', async () => {
    const attacker = await makeKey('RS256', 'r1');
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const forged = await sign(attacker, base, { jwk: attacker.jwk, jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/cert.pem' });
    assert.equal(reason(await verdict(a, bearer(forged))), 'signature invalid');
  });

  test('claims mapped to headers: CR/LF and non-scalar values refuse the token', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem, claimsToHeaders: { email: 'x-user-email', name: 'x-user-name', tier: 'x-tier' } });
    const ok = await verdict(a, bearer(await sign(rsa, { ...base, email: 'a@b.c', name: 'José Ünal', tier: 3 })));
    assert.equal(ok.kind, 'ok', reason(ok));
    if (ok.kind === 'ok') {
      assert.deepEqual(ok.identity.upstreamHeaders, ['x-user-email', 'a@b.c', 'x-user-name', Buffer.from('José Ünal').toString('latin1'), 'x-tier', '3']);
    }
    for (const email of ['a@b.c\r\nx-admin: 1', 'a\nb', 'a\u0000b', ['a'], { a: 1 }]) {
      const r = await verdict(a, bearer(await sign(rsa, { ...base, email })));
      assert.equal(reason(r), 'a claim mapped to a header is not a plain value or holds control characters', JSON.stringify(email));
    }
    // A missing claim sends no header.
    const none = await verdict(a, bearer(await sign(rsa, base)));
    assert.deepEqual(none.kind === 'ok' && none.identity.upstreamHeaders, []);
  });

  test('a client copy of a claim header is removed when the token is accepted', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem, claimsToHeaders: { email: 'X-User-Email' } });
    assert.deepEqual(a.credentialHeaders, ['authorization', 'x-user-email']);
    const ex = bearer(await sign(rsa, base), ['x-user-email', 'admin@evil']);
    assert.equal((await verdict(a, ex)).kind, 'ok');
    assert.ok(!ex.upstreamHeaders.includes('x-user-email'));
  });
});

describe('jwt: which tokens are this entry\'s', () => {
  test('no token, another scheme, an empty bearer: absent', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    for (const h of [[], ['authorization', 'Basic dXNlcjpwYXNz'], ['authorization', 'Bearer '], ['authorization', 'Bearer'], ['x-api-key', 'k']]) {
      assert.equal(a.authenticate(exchange(h)), (await import('../types.js')).ABSENT, JSON.stringify(h));
    }
  });

  test('another issuer\'s token, an opaque token, a JWE: absent (the next method may try)', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const foreign = await sign(rsa, { iss: 'https://other.example/', aud: 'api', sub: 'x' });
    for (const t of [foreign, 'opaque-token-123', 'a.b.c.d.e', await sign(rsa, { aud: 'api', sub: 'x' })]) {
      const r = a.authenticate(bearer(t));
      assert.ok(!(r instanceof Promise), 'decided without verification');
      assert.equal((r as AuthResult).kind, 'absent', t.slice(0, 40));
    }
  });

  test('scheme is case-insensitive and padding tolerated', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const token = await sign(rsa, { iss: ISS, aud: 'api', sub: 'acme-client' });
    for (const v of [`bearer ${token}`, `BEARER  ${token} `]) {
      assert.equal((await verdict(a, exchange(['authorization', v]))).kind, 'ok', v.slice(0, 10));
    }
  });
});

describe('jwt: the cache of verified tokens', () => {
  test('a token seen again is answered synchronously, until its exp (+ skew)', async () => {
    let t = Date.now();
    const a = make({ algorithms: ['ES256'], publicKey: es.pem, clockSkew: '10s' }, () => t);
    const exp = Math.floor(t / 1000) + 60;
    const token = await sign(es, { iss: ISS, aud: 'api', sub: 'acme-client', exp });
    const first = a.authenticate(bearer(token));
    assert.ok(first instanceof Promise);
    const r1 = await first;
    const second = a.authenticate(bearer(token));
    assert.ok(!(second instanceof Promise), 'cache hit is synchronous');
    assert.equal(second, r1);
    t = exp * 1000 + 9_000;
    assert.ok(!(a.authenticate(bearer(token)) instanceof Promise), 'still within the skew');
    t = exp * 1000 + 10_001;
    const late = a.authenticate(bearer(token));
    assert.ok(late instanceof Promise, 'expired entry: verified again');
    assert.equal(reason(await late), 'token expired');
  });

  test('refusals are not cached; verifiedCache: 0b disables the cache', async () => {
    const a = make({ algorithms: ['RS256'], publicKey: rsa.pem, verifiedCache: '0b' });
    const token = await sign(rsa, { iss: ISS, aud: 'api', sub: 'acme-client' });
    await verdict(a, bearer(token));
    assert.ok(a.authenticate(bearer(token)) instanceof Promise);
    const b = make({ algorithms: ['RS256'], publicKey: rsa.pem });
    const bad = await sign(rsa, { iss: ISS, aud: 'nope', sub: 'acme-client' });
    await verdict(b, bearer(bad));
    assert.ok(b.authenticate(bearer(bad)) instanceof Promise);
  });
});

describe('jwt: config checks', () => {
  const problems = (c: Record<string, unknown>, dir = tmpdir()): [string, string][] => checkJwt(config(c), dir);

  test('one key source, algorithms that fit it', () => {
    assert.deepEqual(problems({ algorithms: ['RS256'] }), [['', 'needs one key source: jwks, publicKey or secret']]);
    assert.deepEqual(problems({ algorithms: ['RS256'], jwks: 'https://id.example.com/jwks.json', secret: SECRET }).map((p) => p[0]), ['', '.algorithms']);
    assert.deepEqual(problems({ algorithms: ['HS256'], jwks: 'https://id.example.com/jwks.json' }), [['.algorithms', 'HS256 needs `secret`; a public key or JWKS must never serve as an HMAC secret']]);
    assert.deepEqual(problems({ algorithms: ['HS256', 'RS256'], secret: SECRET }), [['.algorithms', 'RS256 cannot be verified with a shared secret; with `secret` use HS256, HS384 or HS512']]);
    assert.deepEqual(problems({ algorithms: ['HS256'], publicKey: rsa.pem }), [['.algorithms', 'HS256 needs `secret`; a public key or JWKS must never serve as an HMAC secret']]);
    assert.deepEqual(problems({ algorithms: ['RS256'], jwks: 'https://id.example.com/jwks.json' }), []);
  });

  test('secret length per algorithm', () => {
    assert.deepEqual(problems({ algorithms: ['HS256'], secret: 'short' }), [['.secret', 'is 5 bytes; HS256 needs a secret of at least 32 bytes (e.g. `openssl rand -base64 32` with secretEncoding: base64)']]);
    assert.deepEqual(problems({ algorithms: ['HS256', 'HS512'], secret: SECRET }).map((p) => p[1].slice(0, 30)), ['is 38 bytes; HS512 needs a sec']);
    assert.deepEqual(problems({ algorithms: ['HS256'], secret: SECRET }), []);
  });

  test('publicKey: file, inline, type against algorithms, private keys refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-jwt-'));
    writeFileSync(join(dir, 'rsa.pem'), rsa.pem);
    assert.deepEqual(problems({ algorithms: ['RS256', 'PS256'], publicKey: 'rsa.pem' }, dir), []);
    assert.deepEqual(problems({ algorithms: ['RS256'], publicKey: 'missing.pem' }, dir), [['.publicKey', 'file not found: missing.pem (relative to the config file)']]);
    assert.deepEqual(problems({ algorithms: ['ES256'], publicKey: rsa.pem }), [['.publicKey', 'is a rsa key; ES256 needs an EC key on prime256v1']]);
    assert.deepEqual(problems({ algorithms: ['ES384'], publicKey: es.pem }), [['.publicKey', 'is a ec prime256v1 key; ES384 needs an EC key on secp384r1']]);
    assert.deepEqual(problems({ algorithms: ['EdDSA'], publicKey: ed.pem }), []);
    assert.deepEqual(problems({ algorithms: ['RS256'], publicKey: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }), [['.publicKey', 'is not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate']]);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.match(problems({ algorithms: ['RS256'], publicKey: priv })[0]![1], /is a private key/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    assert.equal(keyProblem(small, ['RS256']), 'is a 1024-bit RSA key; RS256 needs at least 2048 bits');
    assert.equal(loadPublicKey(rsa.pem, dir).asymmetricKeyType, 'rsa');
  });

  test('header and cookie; reserved headers; claim headers', () => {
    assert.deepEqual(problems({ algorithms: ['RS256'], publicKey: rsa.pem, header: 'x-token', cookie: 'c' }), [['.cookie', 'give either `header` or `cookie`, not both']]);
    assert.deepEqual(problems({ algorithms: ['RS256'], publicKey: rsa.pem, header: 'Cookie' }).map((p) => p[0]), ['.header']);
    assert.deepEqual(problems({ algorithms: ['RS256'], publicKey: rsa.pem, claimsToHeaders: { sub: 'x-consumer-id', email: 'authorization', a: 'x-a', b: 'x-a' } }).map((p) => p[0]), ['.claimsToHeaders.sub', '.claimsToHeaders.email', '.claimsToHeaders.b']);
  });
});

describe('jwt: with a JWKS', () => {
  test('entries with the same JWKS share its cache; closing one twice does not close it under the other', async () => {
    const srv = await new JwksServer([rsa]).start();
    try {
      const a = make({ algorithms: ['RS256'], jwks: srv.jwksUrl });
      const b = make({ algorithms: ['RS256'], jwks: srv.jwksUrl, audience: 'other' });
      assert.equal(a.jwks, b.jwks);
      assert.equal(a.jwks!.refs, 2);
      await a.close();
      await a.close();
      assert.equal(b.jwks!.refs, 1);
      const r = await verdict(b, bearer(await sign(rsa, { iss: ISS, aud: 'other', sub: 'acme-client' })));
      assert.equal(r.kind, 'ok', reason(r));
      assert.equal(srv.fetches, 1);
      await b.close();
      assert.equal(b.jwks!.refs, 0);
    } finally {
      await srv.stop();
    }
  });
});
