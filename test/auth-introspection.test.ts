/**
 * Token introspection (RFC 7662) through the real gateway, a recording upstream and a local introspection
 * server that records its calls: an active token is accepted (consumer and claim headers, no Authorization
 * upstream); inactive and unknown tokens, and every token while the endpoint is down, are answered 401 with
 * nothing upstream; answers are cached (calls counted); a route with `jwt` then `introspection` sends JWTs of
 * its issuer to the first and opaque tokens to the second.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { IntrospectionServer, JwksServer, makeKey, sign, type TestKey } from './helpers/idp.js';

const ISS = 'https://id.example.com/';
const CLIENT_SECRET = 'introspection-client-secret';

describe('introspection through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let idp: IntrospectionServer;
  let jwks: JwksServer;
  let key: TestKey;
  const exp = (): number => Math.floor(Date.now() / 1000) + 300;

  before(async () => {
    key = await makeKey('ES256', 'k1');
    up = await startUpstream('a');
    idp = await new IntrospectionServer().start();
    jwks = await new JwksServer([key]).start();
    gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
consumers:
  acme: { groups: [partners], jwt: { subject: acme-client } }
auth:
  opaque:
    introspection:
      url: ${idp.endpoint}
      clientId: gatehouse
      clientSecret: '\${INTROSPECTION_SECRET}'
      timeout: 300ms
      claimsToHeaders: { email: x-user-email }
  staff-jwt:
    jwt: { issuer: '${ISS}', audience: api, jwks: ${jwks.jwksUrl}, algorithms: [ES256] }
routes:
  - { name: api, match: { path: /api/* }, service: a, auth: [opaque] }
  - { name: both, match: { path: /both/* }, service: a, auth: [staff-jwt, opaque] }
`, { env: { ...process.env, INTROSPECTION_SECRET: CLIENT_SECRET } });
  });
  after(async () => { await gw.close(); await up.close(); await idp.stop(); await jwks.stop(); });
  beforeEach(() => { up.received.length = 0; idp.status = 200; idp.delayMs = 0; });

  const call = (path: string, token: string, headers: Record<string, string> = {}): Promise<Reply> =>
    request(gw.url + path, { headers: { authorization: `Bearer ${token}`, ...headers } });

  function assertRefused(r: Reply): void {
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(header(r, 'www-authenticate'), 'Bearer realm="gatehouse"');
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
  }

  test('an active token: consumer and claim headers upstream, never the token; the call authenticated as the gateway', async () => {
    idp.answers.set('opaque-active-1', { active: true, sub: 'acme-client', scope: 'read', email: 'ann@acme.test', exp: exp() });
    const r = await call('/api/x', 'opaque-active-1', { 'x-user-email': 'spoof@evil.test' });
    assert.equal(r.status, 200, r.body);
    const h = up.received[0]!.headers;
    assert.equal(h['x-consumer-id'], 'acme');
    assert.equal(h['x-consumer-groups'], 'partners');
    assert.equal(h['x-user-email'], 'ann@acme.test');
    assert.equal(h.authorization, undefined);
    const c = idp.calls.at(-1)!;
    assert.equal(c.authorization, `Basic ${Buffer.from(`gatehouse:${CLIENT_SECRET}`).toString('base64')}`);
    assert.equal(c.token, 'opaque-active-1');
  });

  test('inactive and unknown tokens: 401, nothing upstream', async () => {
    idp.answers.set('opaque-revoked', { active: false });
    assertRefused(await call('/api/x', 'opaque-revoked'));
    assertRefused(await call('/api/x', 'never-issued'));
    idp.answers.set('opaque-stranger', { active: true, sub: 'stranger' });
    const r = await call('/api/x', 'opaque-stranger');
    assertProblem(r, 401, 'GH_UNKNOWN_CONSUMER');
    assert.equal(up.received.length, 0);
  });

  test('endpoint down (5xx, too slow): 401 with a warning, nothing upstream, and not cached', async () => {
    idp.answers.set('opaque-while-down', { active: true, sub: 'acme-client' });
    idp.status = 503;
    assertRefused(await call('/api/x', 'opaque-while-down'));
    idp.status = 200;
    // The endpoint would answer after 5 s: the 300 ms timeout must refuse long before (the bound leaves a
    // loaded machine 2 s of slack).
    idp.delayMs = 5000;
    const t0 = performance.now();
    assertRefused(await call('/api/x', 'opaque-while-down'));
    assert.ok(performance.now() - t0 < 2500, 'refused at the timeout, not at the answer');
    idp.delayMs = 0;
    const warn = gw.logs.find((l) => l.event === 'introspection_failed');
    assert.equal(warn?.level, 40);
    assert.equal(warn?.reason, 'status 503');
    assert.equal((await call('/api/x', 'opaque-while-down')).status, 200, 'works again at once: failures are not cached');
  });

  test('cache hits: one call for repeated requests with one token', async () => {
    idp.answers.set('opaque-cached', { active: true, sub: 'acme-client', exp: exp() });
    idp.answers.set('opaque-inactive-cached', { active: false });
    const before = idp.calls.length;
    for (let i = 0; i < 5; i++) assert.equal((await call('/api/x', 'opaque-cached')).status, 200);
    await Promise.all(Array.from({ length: 10 }, () => call('/api/x', 'opaque-cached')));
    for (let i = 0; i < 3; i++) assertProblem(await call('/api/x', 'opaque-inactive-cached'), 401, 'GH_UNAUTHORIZED');
    assert.equal(idp.calls.length - before, 2, 'one call per token');
  });

  test('jwt then introspection on one route: the issuer\'s JWTs never reach the endpoint, opaque tokens do', async () => {
    idp.answers.set('opaque-both', { active: true, sub: 'acme-client' });
    const before = idp.calls.length;
    const jwt = await sign(key, { iss: ISS, aud: 'api', sub: 'acme-client' });
    assert.equal((await call('/both/x', jwt)).status, 200);
    assert.equal(idp.calls.length, before, 'the JWT was verified locally');
    assert.equal((await call('/both/x', 'opaque-both')).status, 200);
    assert.equal(idp.calls.length, before + 1);
    // A bad JWT of the issuer is refused by the jwt entry; it is not tried at the endpoint.
    up.received.length = 0;
    const expired = await sign(key, { iss: ISS, aud: 'api', sub: 'acme-client', exp: Math.floor(Date.now() / 1000) - 600 });
    assertProblem(await call('/both/x', expired), 401, 'GH_UNAUTHORIZED');
    assert.equal(idp.calls.length, before + 1);
    assert.equal(up.received.length, 0);
  });

  test('no token or client secret in any log line', () => {
    const text = JSON.stringify(gw.logs);
    for (const t of ['opaque-active-1', 'opaque-revoked', 'opaque-while-down', 'opaque-cached', CLIENT_SECRET]) assert.ok(!text.includes(t), t);
  });
});
