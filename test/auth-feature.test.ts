/**
 * The route feature `auth` with real authenticators, through the real gateway: several methods on a route
 * (each alone works; the first credential present decides, so a bad one refuses even when a later method
 * would accept), anonymous access, forwardCredentials, auth under `defaults:` and on a service, and the
 * config errors (unknown authenticator with did-you-mean, key path and line; a key hash in two consumers;
 * a header the gateway owns).
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { hashSync } from 'bcryptjs';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';
import { loadConfigText } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { ConfigError } from '../src/config/errors.js';
import { silentLogger } from '../src/observability/log.js';

const KEY = newApiKey();
const OTHER_KEY = newApiKey();
const PW = 'pa55word';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const KEY_CHALLENGE = 'ApiKey header="x-api-key"';
const BASIC_CHALLENGE = 'Basic realm="gatehouse", charset="UTF-8"';

describe('auth on routes', () => {
  let up: Upstream;
  let gw: TestGateway;
  let base: string;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(`${LISTEN}
defaults:
  auth: [keys]
services:
  a: { targets: ['${up.url}'], retries: 0 }
  guarded: { targets: ['${up.url}'], retries: 0, auth: [users] }
consumers:
  acme: { groups: [partners], keys: [${hashApiKey(KEY)}] }
  zed:  { keys: [${hashApiKey(OTHER_KEY)}], basic: { username: zed, password: '${hashSync(PW, 4)}' } }
auth:
  keys:  { apiKey: {} }
  users: { basic: { cacheTtl: 0s } }
routes:
  - { name: either, match: { path: /either/* }, service: a, auth: [keys, users] }
  - { name: basic-first, match: { path: /basic-first/* }, service: a, auth: [users, keys] }
  - { name: anon, match: { path: /anon/* }, service: a, auth: { methods: [keys, users], anonymous: true } }
  - { name: fwd, match: { path: /fwd/* }, service: a, auth: { methods: [keys, users], forwardCredentials: true } }
  - { name: by-default, match: { path: /by-default/* }, service: a }
  - { name: by-service, match: { path: /by-service/* }, service: guarded }
  - { name: own-wins, match: { path: /own-wins/* }, service: guarded, auth: [keys] }
`);
    base = `http://127.0.0.1:${gw.port}`;
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => request(base + path, { headers });

  function assertRefused(r: Reply, challenges: string[]): void {
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    const h = r.headers['www-authenticate'];
    assert.deepEqual(Array.isArray(h) ? h : [h], challenges);
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
  }

  function forwardedAs(r: Reply, consumer: string | undefined): Record<string, unknown> {
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received.length, 1);
    const h = up.received[0]!.headers;
    assert.equal(h['x-consumer-id'], consumer);
    return h;
  }

  test('key OR basic: each works alone; both credentials are removed', async () => {
    const k = forwardedAs(await get('/either/x', { 'x-api-key': KEY }), 'acme');
    assert.equal(k['x-api-key'], undefined);
    up.received.length = 0;
    const b = forwardedAs(await get('/either/x', { authorization: basic('zed', PW) }), 'zed');
    assert.equal(b.authorization, undefined);
  });

  test('no credential on a two-method route: 401 with both challenges, in route order', async () => {
    assertRefused(await get('/either/x'), [KEY_CHALLENGE, BASIC_CHALLENGE]);
    assertRefused(await get('/basic-first/x'), [BASIC_CHALLENGE, KEY_CHALLENGE]);
  });

  test('the first credential present decides: a bad key refuses even with good Basic credentials', async () => {
    assertRefused(await get('/either/x', { 'x-api-key': newApiKey(), authorization: basic('zed', PW) }), [KEY_CHALLENGE, BASIC_CHALLENGE]);
    assertRefused(await get('/basic-first/x', { authorization: basic('zed', 'wrong'), 'x-api-key': KEY }), [BASIC_CHALLENGE, KEY_CHALLENGE]);
  });

  test('the first credential present decides: a good key wins over bad Basic credentials, which are not forwarded', async () => {
    const h = forwardedAs(await get('/either/x', { 'x-api-key': KEY, authorization: basic('zed', 'wrong') }), 'acme');
    assert.equal(h.authorization, undefined);
  });

  test('anonymous: no credential is forwarded without consumer headers', async () => {
    const h = forwardedAs(await get('/anon/x', { 'x-consumer-id': 'acme' }), undefined);
    assert.equal(h['x-consumer-groups'], undefined);
  });

  test('anonymous: a good credential still identifies the caller', async () => {
    forwardedAs(await get('/anon/x', { 'x-api-key': KEY }), 'acme');
  });

  test('anonymous: a bad credential is refused', async () => {
    assertRefused(await get('/anon/x', { 'x-api-key': 'junk' }), [KEY_CHALLENGE, BASIC_CHALLENGE]);
    assertRefused(await get('/anon/x', { authorization: basic('zed', 'wrong') }), [KEY_CHALLENGE, BASIC_CHALLENGE]);
  });

  test('forwardCredentials: the key and the Authorization header reach the upstream', async () => {
    const k = forwardedAs(await get('/fwd/x', { 'x-api-key': KEY }), 'acme');
    assert.equal(k['x-api-key'], KEY);
    up.received.length = 0;
    const b = forwardedAs(await get('/fwd/x', { authorization: basic('zed', PW) }), 'zed');
    assert.equal(b.authorization, basic('zed', PW));
  });

  test('auth under defaults applies to a route without its own', async () => {
    assertRefused(await get('/by-default/x'), [KEY_CHALLENGE]);
    forwardedAs(await get('/by-default/x', { 'x-api-key': OTHER_KEY }), 'zed');
  });

  test('auth on a service applies to its routes, over defaults', async () => {
    assertRefused(await get('/by-service/x', { 'x-api-key': KEY }), [BASIC_CHALLENGE]);
    forwardedAs(await get('/by-service/x', { authorization: basic('zed', PW) }), 'zed');
  });

  test('a route\'s own auth wins over its service\'s', async () => {
    forwardedAs(await get('/own-wins/x', { 'x-api-key': KEY }), 'acme');
    up.received.length = 0;
    assertRefused(await get('/own-wins/x', { authorization: basic('zed', PW) }), [KEY_CHALLENGE]);
  });

  test('the challenge is the problem answer\'s only hint: no reason in the body', async () => {
    const r = await get('/either/x', { 'x-api-key': newApiKey() });
    assert.equal(r.json.detail, undefined);
    assert.ok(!/unknown|expired|malformed/i.test(r.body), r.body);
    assert.equal(header(r, 'cache-control'), 'no-store');
  });
});

describe('auth config errors', () => {
  function problems(yaml: string): string[] {
    try {
      const rt = compile(loadConfigText(yaml, '/etc/gatehouse/gatehouse.yaml', {}), silentLogger());
      void rt.retire(0);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      return err.message.split('\n');
    }
  }

  const HEAD = `services:
  a: { targets: [http://127.0.0.1:3001] }
auth:
  api-key: { apiKey: { header: x-api-key } }
  staff: { basic: { realm: staff } }
`;

  test('an unknown authenticator on a route: did-you-mean, key path and line', () => {
    assert.deepEqual(problems(`${HEAD}routes:
  - name: r1
    match: { path: /r1 }
    service: a
    auth: [staff, api-kye]
  - name: r2
    match: { path: /r2 }
    service: a
    auth: { methods: [apikey], anonymous: true }
`), [
      'routes[0].auth[1]: unknown authenticator "api-kye" (did you mean "api-key"?); define it under auth: (gatehouse.yaml:10)',
      'routes[1].auth.methods[0]: unknown authenticator "apikey" (did you mean "api-key"?); define it under auth: (gatehouse.yaml:14)',
    ]);
  });

  test('an unknown authenticator under defaults is reported once, at defaults', () => {
    const out = problems(`${HEAD}defaults:
  auth: [stuff]
routes:
  - { name: r1, match: { path: /r1 }, service: a }
  - { name: r2, match: { path: /r2 }, service: a }
`);
    assert.deepEqual(out, ['defaults.auth[0]: unknown authenticator "stuff" (did you mean "staff"?); define it under auth: (gatehouse.yaml:7)']);
  });

  test('one key hash in two consumers', () => {
    const h = hashApiKey(KEY);
    assert.deepEqual(problems(`${HEAD}consumers:
  one: { keys: [${h}] }
  two:
    keys:
      - ${hashApiKey(OTHER_KEY)}
      - { hash: ${h}, expires: 2030-01-01 }
routes: []
`), ['consumers.two.keys[1]: this key hash already belongs to consumer "one" (gatehouse.yaml:11)']);
  });

  test('a key hash that is not sha256:<hex>, and a plain password where a hash belongs', () => {
    const out = problems(`${HEAD}consumers:
  one: { keys: [${KEY}] }
routes: []
`);
    assert.deepEqual(out, ['consumers.one.keys[0]: must be sha256:<64 lower-case hex digits> (see `gatehouse keys hash`) (gatehouse.yaml:7)']);
  });

  test('apiKey options: a header the gateway owns, a header with _, an unknown format', () => {
    const entry = (e: string): string[] => problems(`services:\n  a: { targets: [http://127.0.0.1:3001] }\nauth:\n  k: ${e}\nroutes: []\n`);
    assert.deepEqual(entry('{ apiKey: { header: Authorization } }'), [
      'auth.k.apiKey.header: "Authorization" is handled by the gateway itself and cannot carry an API key; use e.g. x-api-key (gatehouse.yaml:4)',
    ]);
    assert.deepEqual(entry('{ apiKey: { header: X-Consumer-Key } }'), [
      'auth.k.apiKey.header: "X-Consumer-Key" is handled by the gateway itself and cannot carry an API key; use e.g. x-api-key (gatehouse.yaml:4)',
    ]);
    assert.deepEqual(entry('{ apiKey: { header: x_api_key } }'), [
      'auth.k.apiKey.header: must be a header name of letters, digits and - (names with _ are dropped by the gateway) (gatehouse.yaml:4)',
    ]);
    assert.deepEqual(entry('{ apiKey: { format: hex } }'), ['auth.k.apiKey.format: must be one of gatehouse, any (gatehouse.yaml:4)']);
    assert.deepEqual(entry('{ apiKey: { query: "api key" } }'), ['auth.k.apiKey.query: must be a query parameter name of letters, digits, _, . and - (gatehouse.yaml:4)']);
  });

  test('an auth entry names exactly one method', () => {
    const out = problems(`services:
  a: { targets: [http://127.0.0.1:3001] }
auth:
  none: {}
  two: { apiKey: {}, basic: {} }
routes: []
`);
    assert.equal(out.length, 2);
    assert.match(out[0]!, /^auth\.none: needs one method: apiKey, basic\b.* \(gatehouse\.yaml:4\)$/);
    assert.equal(out[1], 'auth.two: names 2 methods (apiKey, basic); give each its own entry (gatehouse.yaml:5)');
  });

  test('basic options: a realm with a quote', () => {
    const out = problems(`services:
  a: { targets: [http://127.0.0.1:3001] }
auth:
  b: { basic: { realm: 'say "hi"' } }
routes: []
`);
    assert.deepEqual(out, ['auth.b.basic.realm: must not contain quotes, backslashes or control characters (gatehouse.yaml:4)']);
  });
});
