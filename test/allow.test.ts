/**
 * Authorization end to end: identities made by the real `apiKey` and `jwt` (HS256) authenticators, checked by
 * `allow` and `deny` on the real gateway. Every refusal is a 403 problem document with `GH_FORBIDDEN`, and
 * the upstream receives nothing; every acceptance reaches the upstream with the consumer headers.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const SECRET = 'test-secret-of-at-least-32-bytes-for-hs256!';
const ISSUER = 'https://id.test/';

const KEYS = { acme: newApiKey(), globex: newApiKey(), initech: newApiKey(), suspended: newApiKey() };

async function token(claims: Record<string, unknown>, sub = 'someone'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience('api').setSubject(sub)
    .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
}

function config(upUrl: string): string {
  return `${LISTEN}
consumers:
  acme: { groups: [partners], keys: [${hashApiKey(KEYS.acme)}], jwt: { subject: acme-client } }
  globex: { groups: [internal], keys: [${hashApiKey(KEYS.globex)}] }
  initech: { keys: [${hashApiKey(KEYS.initech)}] }
  suspended-co: { groups: [partners, suspended], keys: [${hashApiKey(KEYS.suspended)}] }
auth:
  keys: { apiKey: {} }
  tokens: { jwt: { issuer: "${ISSUER}", audience: api, algorithms: [HS256], secret: "${SECRET}" } }
services:
  up: { targets: ['${upUrl}'], retries: 0 }
routes:
  - name: by-consumer
    match: { path: /consumer }
    service: up
    auth: [keys]
    allow: { consumers: [acme, globex] }
  - name: by-group
    match: { path: /group }
    service: up
    auth: [keys]
    allow: { groups: [partners] }
    deny: { groups: [suspended] }
  - name: by-scope
    match: { path: /scope }
    service: up
    auth: { methods: [tokens], unknownConsumers: true }
    allow: { scopes: [users:read, users:write] }
  - name: by-claim
    match: { path: /claim }
    service: up
    auth: { methods: [tokens], unknownConsumers: true }
    allow: { claims: { tenant: t1, roles: [admin, ops] } }
  - name: either
    match: { path: /either }
    service: up
    auth: { methods: [keys, tokens], unknownConsumers: true }
    allow: [ { groups: [internal] }, { scopes: [admin] } ]
  - name: anonymous-allowed
    match: { path: /anon }
    service: up
    auth: { methods: [keys], anonymous: true }
    allow: { groups: [partners] }
  - name: anonymous-deny
    match: { path: /anon-deny }
    service: up
    auth: { methods: [keys], anonymous: true }
    deny: { consumers: [initech] }
`;
}

describe('allow and deny with real authenticators', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up');
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const get = (path: string, headers: Record<string, string> = {}) => request(`${gw.url}${path}`, { headers });
  const key = (k: string) => ({ 'x-api-key': k });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  /** Asserts a 403 GH_FORBIDDEN that the upstream never saw. */
  async function refused(path: string, headers: Record<string, string> = {}): Promise<void> {
    const r = await get(path, headers);
    assertProblem(r, 403, 'GH_FORBIDDEN');
    assert.equal(r.json.detail, undefined, 'the answer does not say which rule failed');
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
  }

  async function accepted(path: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const r = await get(path, headers);
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received.length, 1);
    const h = up.received[0]!.headers;
    up.received.length = 0;
    return h;
  }

  test('consumers: listed consumers pass, others are refused', async () => {
    const h = await accepted('/consumer', key(KEYS.acme));
    assert.equal(h['x-consumer-id'], 'acme');
    assert.equal(h['x-api-key'], undefined, 'the key itself is not forwarded');
    await accepted('/consumer', key(KEYS.globex));
    await refused('/consumer', key(KEYS.initech));
  });

  test('groups: any listed group passes; deny wins over allow', async () => {
    const h = await accepted('/group', key(KEYS.acme));
    assert.equal(h['x-consumer-groups'], 'partners');
    await refused('/group', key(KEYS.globex));
    await refused('/group', key(KEYS.initech));
    await refused('/group', key(KEYS.suspended));
  });

  test('scopes: every listed scope is required, from `scope` or `scp`', async () => {
    await accepted('/scope', bearer(await token({ scope: 'users:read users:write other' })));
    await accepted('/scope', bearer(await token({ scp: ['users:write', 'users:read'] })));
    await accepted('/scope', bearer(await token({ scp: 'users:read users:write' })));
    await refused('/scope', bearer(await token({ scope: 'users:read' })));
    await refused('/scope', bearer(await token({ scp: ['users:read'] })));
    await refused('/scope', bearer(await token({})));
  });

  test('claims: equality and list membership, on scalar and list claims', async () => {
    await accepted('/claim', bearer(await token({ tenant: 't1', roles: 'admin' })));
    await accepted('/claim', bearer(await token({ tenant: 't1', roles: ['viewer', 'ops'] })));
    await refused('/claim', bearer(await token({ tenant: 't2', roles: ['admin'] })));
    await refused('/claim', bearer(await token({ tenant: 't1', roles: ['viewer'] })));
    await refused('/claim', bearer(await token({ roles: ['admin'] })));
  });

  test('a list of rules: any one suffices, whichever method authenticated', async () => {
    await accepted('/either', key(KEYS.globex));
    await accepted('/either', bearer(await token({ scope: 'admin' })));
    await refused('/either', key(KEYS.acme));
    await refused('/either', bearer(await token({ scope: 'users:read' }, 'acme-client')));
  });

  test('a request without identity fails every allow rule, even where auth lets it in', async () => {
    await refused('/anon');
    await accepted('/anon', key(KEYS.acme));
  });

  test('a request without identity matches no deny rule', async () => {
    await accepted('/anon-deny');
    await refused('/anon-deny', key(KEYS.initech));
    await accepted('/anon-deny', key(KEYS.globex));
  });

  test('authentication still comes first: a bad credential is 401, not 403', async () => {
    // The last character changed (keys are random: one in 62 already ends in x).
    const r = await get('/group', key(KEYS.acme.slice(0, -1) + (KEYS.acme.endsWith('x') ? 'y' : 'x')));
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(up.received.length, 0);
  });

  test('refusals are logged with the subject, never the credential', async () => {
    gw.logs.length = 0;
    await refused('/group', key(KEYS.suspended));
    const line = gw.logs.find((l) => l.event === 'access_denied');
    assert.ok(line, 'an access_denied log line');
    assert.equal(line.subject, 'suspended-co');
    assert.equal(line.by, 'deny');
    assert.ok(!JSON.stringify(gw.logs).includes(KEYS.suspended), 'the key is in no log line');
  });
});

describe('allow config errors at startup', () => {
  test('an unknown consumer id refuses the config with file, line and key path', async () => {
    await assert.rejects(startTestGateway(`${LISTEN}
consumers:
  acme: {}
services:
  up: { targets: ['http://127.0.0.1:9'] }
routes:
  - name: r
    match: { path: /r }
    service: up
    allow: { consumers: [acme, acmee] }
`), /routes\[0\]\.allow\.consumers\[1\]: unknown consumer "acmee"; define it under consumers: \(gatehouse\.yaml:10\)/);
  });
});
