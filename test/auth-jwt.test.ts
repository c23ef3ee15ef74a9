/**
 * JWTs through the real gateway, a recording upstream and a local JWKS server, with keys generated here:
 * a good token is accepted (consumer headers, claim headers, no Authorization upstream, spoofed copies
 * removed); every attack of SECURITY.md is answered 401 with a Bearer challenge and nothing upstream (alg
 * none, HS/RS confusion, wrong aud/iss, expired, nbf, jku/x5u/jwk injection, oversized); the clock skew;
 * several issuers on one route; an HS256 secret from the environment; unknown subjects; no token in logs.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { JwksServer, makeKey, sign, unsignedToken, type TestKey } from './helpers/idp.js';

const ISS_A = 'https://id.example.com/';
const ISS_B = 'https://partners.example.org';
const ISS_C = 'https://legacy.example.net/';
const SECRET = 'hs256-secret-from-the-environment-0123456789';
const CHALLENGE = 'Bearer realm="gatehouse"';

describe('jwt through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let jwks: JwksServer;
  let attacker: JwksServer;
  let rs: TestKey, ps: TestKey, es: TestKey, ed: TestKey, partner: TestKey, evil: TestKey;
  const tokens: string[] = [];
  const hs = { alg: 'HS256', secret: new TextEncoder().encode(SECRET) };

  before(async () => {
    [rs, ps, es, ed, partner, evil] = await Promise.all([
      makeKey('RS256', 'rs-1'), makeKey('PS256', 'ps-1'), makeKey('ES256', 'es-1'), makeKey('EdDSA', 'ed-1'), makeKey('ES256', 'partner-1'), makeKey('RS256', 'evil-1'),
    ]);
    up = await startUpstream('a');
    jwks = await new JwksServer([rs, ps, es, ed]).start();
    attacker = await new JwksServer([evil]).start();
    gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
consumers:
  acme: { groups: [partners, beta], jwt: { subject: acme-client, issuer: '${ISS_A}' } }
  globex: { jwt: { subject: partner-7, issuer: '${ISS_B}' } }
  legacy: { jwt: { subject: legacy-1 } }
auth:
  staff-jwt:
    jwt:
      issuer: '${ISS_A}'
      audience: api
      jwks: ${jwks.jwksUrl}
      algorithms: [RS256, PS256, ES256, EdDSA]
      claimsToHeaders: { email: x-user-email, tier: x-user-tier }
  partner-jwt:
    jwt:
      issuer: '${ISS_B}'
      audience: [partners-api, api]
      algorithms: [ES256]
      publicKey: |
${partner.pem.trim().split('\n').map((l) => `        ${l}`).join('\n')}
  legacy-jwt:
    jwt: { issuer: '${ISS_C}', audience: api, algorithms: [HS256], secret: '\${JWT_SECRET}' }
  small-jwt:
    jwt: { issuer: '${ISS_A}', audience: api, jwks: ${jwks.jwksUrl}, algorithms: [RS256], maxTokenSize: 1kb }
routes:
  - { name: staff, match: { path: /staff/* }, service: a, auth: [staff-jwt] }
  - { name: multi, match: { path: /multi/* }, service: a, auth: [staff-jwt, partner-jwt] }
  - { name: legacy, match: { path: /legacy/* }, service: a, auth: [legacy-jwt] }
  - { name: small, match: { path: /small/* }, service: a, auth: [small-jwt] }
  - { name: open, match: { path: /open/* }, service: a, auth: { methods: [staff-jwt], unknownConsumers: true } }
`, { env: { ...process.env, JWT_SECRET: SECRET } });
  });
  after(async () => { await gw.close(); await up.close(); await jwks.stop(); await attacker.stop(); });
  beforeEach(() => { up.received.length = 0; });

  async function call(path: string, token: string | null, headers: Record<string, string> = {}): Promise<Reply> {
    if (token !== null) tokens.push(token);
    return request(gw.url + path, { headers: token === null ? headers : { authorization: `Bearer ${token}`, ...headers } });
  }

  function assertRefused(r: Reply, code = 'GH_UNAUTHORIZED'): void {
    assertProblem(r, 401, code);
    // One challenge per method of the route (two jwt entries give the same one twice).
    const challenges = header(r, 'www-authenticate').split(', Bearer').map((c, i) => (i === 0 ? c : `Bearer${c}`));
    assert.ok(challenges.length >= 1 && challenges.every((c) => c === CHALLENGE), header(r, 'www-authenticate'));
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
  }

  const good = { iss: ISS_A, aud: 'api', sub: 'acme-client' };

  test('a good token: consumer headers and claims upstream, never the token; spoofed copies removed', async () => {
    const token = await sign(rs, { ...good, email: 'ann@acme.test', tier: 2 });
    const r = await call('/staff/x', token, { 'x-consumer-id': 'admin', 'x-user-email': 'boss@evil.test', 'x-consumer-groups': 'root' });
    assert.equal(r.status, 200, r.body);
    const h = up.received[0]!.headers;
    assert.equal(h['x-consumer-id'], 'acme');
    assert.equal(h['x-consumer-groups'], 'partners,beta');
    assert.equal(h['x-user-email'], 'ann@acme.test');
    assert.equal(h['x-user-tier'], '2');
    assert.equal(h.authorization, undefined);
    assert.equal(up.received[0]!.rawHeaders.filter((n) => /^x-user-email$/i.test(n)).length, 1);
    assert.equal(up.received[0]!.rawHeaders.filter((n) => /^x-consumer-id$/i.test(n)).length, 1);
  });

  test('every algorithm of the key set: RS256, PS256, ES256, EdDSA', async () => {
    for (const k of [rs, ps, es, ed]) {
      up.received.length = 0;
      const r = await call('/staff/alg', await sign(k, good));
      assert.equal(r.status, 200, `${k.alg}: ${r.body}`);
      assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
    }
  });

  test('no token: 401 with the challenge', async () => {
    assertRefused(await call('/staff/x', null));
  });

  test('alg none (hand-crafted), in every spelling', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      assertRefused(await call('/staff/x', unsignedToken({ alg, typ: 'JWT' }, { ...good, exp: Math.floor(Date.now() / 1000) + 60 })));
    }
  });

  test('HS/RS confusion: HMAC-signed with the RSA public key PEM as secret', async () => {
    const forged = await new SignJWT({ ...good, exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: rs.kid })
      .sign(new TextEncoder().encode(rs.pem));
    assertRefused(await call('/staff/x', forged));
    // The same trick with the JWK's modulus as the secret.
    const forged2 = await new SignJWT({ ...good, exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).sign(new TextEncoder().encode(JSON.stringify(rs.jwk)));
    assertRefused(await call('/staff/x', forged2));
  });

  test('wrong aud, wrong iss, expired, nbf in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    assertRefused(await call('/staff/x', await sign(rs, { ...good, aud: 'other-api' })));
    assertRefused(await call('/staff/x', await sign(rs, { ...good, iss: 'https://evil.example/' })));
    assertRefused(await call('/staff/x', await sign(rs, { ...good, iss: 'https://id.example.com' })), 'GH_UNAUTHORIZED');
    assertRefused(await call('/staff/x', await sign(rs, { ...good, exp: now - 120 })));
    assertRefused(await call('/staff/x', await sign(rs, { ...good, nbf: now + 300 })));
    const reasons = gw.logs.filter((l) => l.event === 'auth_refused').map((l) => l.reason);
    for (const why of ['audience mismatch', 'token expired', 'token not yet valid (nbf)']) assert.ok(reasons.includes(why), `${why} in ${JSON.stringify(reasons)}`);
  });

  test('clock skew: exp 30 s ago and nbf 30 s ahead are accepted with the default 60 s', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await call('/staff/x', await sign(rs, { ...good, exp: now - 30 }))).status, 200);
    assert.equal((await call('/staff/x', await sign(rs, { ...good, nbf: now + 30 }))).status, 200);
  });

  test('a forged signature and a tampered payload', async () => {
    assertRefused(await call('/staff/x', await sign({ ...evil, kid: rs.kid }, good)));
    const real = await sign(rs, { ...good, sub: 'nobody' });
    const [h, , s] = real.split('.');
    const payload = Buffer.from(JSON.stringify({ ...good, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    assertRefused(await call('/staff/x', `${h}.${payload}.${s}`));
  });

  test('jku / x5u / embedded jwk injection: the attacker\'s server gets no request, the token is refused', async () => {
    const before = jwks.fetches;
    for (const kid of ['evil-1', rs.kid]) {
      const forged = await sign({ ...evil, kid }, good, {
        jku: attacker.jwksUrl,
        x5u: `${attacker.url}/cert.pem`,
        jwk: evil.jwk,
      });
      assertRefused(await call('/staff/x', forged));
    }
    assert.equal(attacker.fetches, 0, 'the attacker\'s JWKS was never fetched');
    assert.ok(jwks.fetches - before <= 1, 'at most one refetch of the issuer\'s own JWKS for the unknown kid');
  });

  test('an oversized token is refused without verification (maxTokenSize), and past 8 KiB by the header limit', async () => {
    const big = await sign(rs, { ...good, pad: 'x'.repeat(1500) });
    assertRefused(await call('/small/x', big));
    const refusal = gw.logs.filter((l) => l.event === 'auth_refused' && l.route === 'small').at(-1);
    assert.equal(refusal?.reason, 'token larger than maxTokenSize');
    assert.equal((await call('/staff/x', big)).status, 200, 'within the default 8 KiB');
    const huge = await sign(rs, { ...good, pad: 'x'.repeat(9000) });
    const r = await call('/staff/x', huge);
    assert.ok(r.status === 401 || r.status === 431, `refused: ${r.status}`);
    assert.equal(up.received.length, 1, 'only the in-limit request went upstream');
  });

  test('two issuers on one route: each token accepted by its entry, issuer B not refused by entry A', async () => {
    const a = await call('/multi/x', await sign(rs, good));
    assert.equal(a.status, 200, a.body);
    assert.equal(up.received.at(-1)!.headers['x-consumer-id'], 'acme');
    const b = await call('/multi/x', await sign(partner, { iss: ISS_B, aud: 'partners-api', sub: 'partner-7' }));
    assert.equal(b.status, 200, b.body);
    assert.equal(up.received.at(-1)!.headers['x-consumer-id'], 'globex');
    assert.equal(up.received.at(-1)!.headers['x-user-email'], undefined);
    up.received.length = 0;
    // Issuer B's token on a route that only knows issuer A.
    assertRefused(await call('/staff/x', await sign(partner, { iss: ISS_B, aud: 'api', sub: 'partner-7' })));
    // A token claiming issuer B but signed with A's key: entry B refuses it.
    assertRefused(await call('/multi/x', await sign(rs, { iss: ISS_B, aud: 'api', sub: 'partner-7' })));
    // A consumer bound to issuer B is not reachable with issuer A's subject of the same name.
    const c = await call('/multi/x', await sign(rs, { ...good, sub: 'partner-7' }));
    assertProblem(c, 401, 'GH_UNKNOWN_CONSUMER');
  });

  test('HS256 with a secret from the environment', async () => {
    const r = await call('/legacy/x', await sign(hs, { iss: ISS_C, aud: 'api', sub: 'legacy-1' }));
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'legacy');
    up.received.length = 0;
    const wrong = { alg: 'HS256', secret: new TextEncoder().encode(`${SECRET}!`) };
    assertRefused(await call('/legacy/x', await sign(wrong, { iss: ISS_C, aud: 'api', sub: 'legacy-1' })));
    // An RS256 token on the HS entry: algorithm not allowed.
    assertRefused(await call('/legacy/x', await sign(rs, { iss: ISS_C, aud: 'api', sub: 'legacy-1' })));
  });

  test('unknown subject: GH_UNKNOWN_CONSUMER, or an identity without consumer where the route allows it', async () => {
    const token = await sign(rs, { ...good, sub: 'stranger' });
    assertRefused(await call('/staff/x', token), 'GH_UNKNOWN_CONSUMER');
    const r = await call('/open/x', token);
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.headers['x-authenticated-subject'], 'stranger');
    assert.equal(up.received[0]!.headers['x-consumer-id'], undefined);
  });

  test('a client-sent X-Authenticated-Subject never reaches the upstream', async () => {
    const r = await call('/open/x', await sign(rs, { ...good, sub: 'stranger' }), { 'x-authenticated-subject': 'admin' });
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.headers['x-authenticated-subject'], 'stranger');
  });

  test('a claim with CR/LF mapped to a header refuses the token', async () => {
    assertRefused(await call('/staff/x', await sign(rs, { ...good, email: 'a@b.c\r\nx-admin: yes' })));
    assertRefused(await call('/staff/x', await sign(rs, { ...good, email: ['a@b.c'] })));
  });

  test('no token, key or secret appears in any log line', () => {
    const text = JSON.stringify(gw.logs);
    for (const t of tokens) {
      assert.ok(!text.includes(t), 'a token was logged');
      const sig = t.split('.')[2]!;
      if (sig !== '') assert.ok(!text.includes(sig), 'a signature was logged');
    }
    assert.ok(!text.includes(SECRET));
  });
});

describe('jwt from a cookie', () => {
  test('the token cookie is removed before forwarding; other cookies stay', async () => {
    const up = await startUpstream('cookie');
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const gw = await startTestGateway(`${LISTEN}
consumers:
  web: { jwt: { subject: web-user } }
auth:
  session:
    jwt: { issuer: https://cookie.test/, audience: web, algorithms: [HS256], secret: '${secret}', cookie: gh_token }
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: app, match: { path: /app/* }, service: a, auth: [session] }
`);
    try {
      const token = await sign({ alg: 'HS256', secret: new TextEncoder().encode(secret) }, { iss: 'https://cookie.test/', aud: 'web', sub: 'web-user', exp: Math.floor(Date.now() / 1000) + 600 });
      const r = await request(`${gw.url}/app/x`, { headers: { cookie: `theme=dark; gh_token=${token}; lang=en` } });
      assert.equal(r.status, 200, r.body);
      const got = up.received[0]!.headers;
      assert.equal(got['x-consumer-id'], 'web');
      assert.equal(got.cookie, 'theme=dark; lang=en');
      const only = await request(`${gw.url}/app/y`, { headers: { cookie: `gh_token=${token}` } });
      assert.equal(only.status, 200);
      assert.equal(up.received[1]!.headers.cookie, undefined, 'an emptied Cookie header is not sent');
    } finally { await gw.close(); await up.close(); }
  });
});
