/**
 * CORS at the gateway, through the real gateway and a recording upstream: a preflight is answered 204 here
 * and never reaches the upstream, even on a route that requires an API key; a refused preflight is a 403
 * problem without CORS headers; actual requests carry the CORS headers on every answer (the upstream's 200
 * and the gateway's own 401 alike); `strict` refuses other origins; the upstream's own CORS headers can be
 * removed; a config with credentials and `*` is refused at load and on reload.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const KEY = newApiKey();
const APP = 'https://app.example.com';
const CORS = `{ origins: [${APP}, "https://*.example.org"], credentials: true, exposeHeaders: [X-Total-Count], maxAge: 1h }`;

function config(upUrl: string, cors = CORS): string {
  return `${LISTEN}
services:
  a: { targets: ['${upUrl}'], retries: 0 }
  own-cors:
    targets: ['${upUrl}']
    retries: 0
    removeResponseHeaders: [Access-Control-Allow-Origin, Access-Control-Allow-Credentials]
consumers:
  acme: { keys: [${hashApiKey(KEY)}] }
auth:
  api-key:
    apiKey: { header: x-api-key }
routes:
  - name: open
    match: { path: /open/* }
    service: a
    cors: ${cors}
  - name: private
    match: { path: /private/* }
    service: a
    auth: [api-key]
    cors: ${cors}
  - name: get-only
    match: { path: /get-only/*, methods: [GET] }
    service: a
    auth: [api-key]
    cors: ${cors}
  - name: strict
    match: { path: /strict/* }
    service: a
    cors: { origins: [${APP}], strict: true }
  - name: own-cors
    match: { path: /own-cors/* }
    service: own-cors
    cors: { origins: [${APP}] }
  - name: plain
    match: { path: /plain/* }
    service: a
  - name: screened
    match: { path: /screened/* }
    service: a
    request-rules: { methods: [GET, POST], requireHeaders: [x-tenant] }
    cors: { origins: [${APP}] }
  - name: ip-denied
    match: { path: /ip-denied/* }
    service: a
    ip: { deny: [127.0.0.0/8] }
    cors: { origins: [${APP}] }
`;
}

const CORS_NAMES = ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers',
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-expose-headers'];

function assertNoCors(r: Reply): void {
  for (const n of CORS_NAMES) assert.equal(r.headers[n], undefined, n);
}

describe('CORS', () => {
  let up: Upstream;
  let gw: TestGateway;
  let base: string;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url));
    base = gw.url;
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; up.handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json', 'x-total-count': '3' }); res.end('{"ok":true}'); }; });

  function preflight(path: string, origin: string, method = 'PUT', headers: Record<string, string> = {}): Promise<Reply> {
    return request(`${base}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...headers } });
  }

  test('a preflight is answered 204 by the gateway and never forwarded', async () => {
    const r = await preflight('/open/items', APP, 'PUT', { 'access-control-request-headers': 'content-type,x-api-key' });
    assert.equal(r.status, 204);
    assert.equal(header(r, 'access-control-allow-origin'), APP);
    assert.equal(header(r, 'access-control-allow-methods'), 'PUT');
    assert.equal(header(r, 'access-control-allow-headers'), 'content-type,x-api-key');
    assert.equal(header(r, 'access-control-allow-credentials'), 'true');
    assert.equal(header(r, 'access-control-max-age'), '3600');
    assert.match(header(r, 'vary'), /Origin/);
    assert.ok(header(r, 'x-request-id') !== '');
    assert.equal(r.body, '');
    assert.equal(up.received.length, 0);
  });

  test('a preflight on a route that requires an API key is answered without one, before authentication', async () => {
    const r = await preflight('/private/items', 'https://eu.example.org', 'DELETE', { 'access-control-request-headers': 'x-api-key' });
    assert.equal(r.status, 204);
    assert.equal(header(r, 'access-control-allow-origin'), 'https://eu.example.org');
    assert.equal(header(r, 'www-authenticate'), '');
    assert.equal(up.received.length, 0);
  });

  // The gateway routes a preflight by the method it announces when the route found that way has cors
  // (src/core/gateway.ts), so a GET-only route answers it rather than the router's 405.
  test('a preflight on a route whose match.methods does not list OPTIONS is still answered, not 405', async () => {
    const r = await preflight('/get-only/items', APP, 'GET', { 'access-control-request-headers': 'x-api-key' });
    assert.equal(r.status, 204, r.body);
    assert.equal(header(r, 'access-control-allow-origin'), APP);
    assert.equal(header(r, 'access-control-allow-methods'), 'GET');
    assert.equal(up.received.length, 0);
  });

  test('a preflight announcing a method the route does not take is refused by routing (405), not forwarded', async () => {
    const r = await preflight('/get-only/items', APP, 'DELETE');
    assertProblem(r, 405, 'GH_METHOD_NOT_ALLOWED');
    assertNoCors(r);
    assert.equal(up.received.length, 0);
  });

  test('a preflight from a disallowed origin is a 403 problem without CORS headers, not forwarded', async () => {
    for (const origin of ['https://evil.example.net', 'https://app.example.com.evil.net', 'https://example.org', 'null']) {
      const r = await preflight('/private/items', origin);
      assertProblem(r, 403, 'GH_CORS_REJECTED');
      assert.equal(r.json.detail, 'the origin is not allowed');
      assertNoCors(r);
    }
    assert.equal(up.received.length, 0);
  });

  test('an actual request from an allowed origin gets the CORS headers; the upstream gets the request', async () => {
    const r = await request(`${base}/private/items`, { headers: { origin: APP, 'x-api-key': KEY } });
    assert.equal(r.status, 200);
    assert.equal(header(r, 'access-control-allow-origin'), APP);
    assert.equal(header(r, 'access-control-allow-credentials'), 'true');
    assert.equal(header(r, 'access-control-expose-headers'), 'X-Total-Count');
    assert.match(header(r, 'vary'), /Origin/);
    assert.equal(up.received.length, 1);
    assert.equal(up.received[0]!.headers.origin, APP);
    assert.equal(up.received[0]!.headers['x-api-key'], undefined);
  });

  test('the gateway\'s own 401 carries the CORS headers too, so the page can read it', async () => {
    const r = await request(`${base}/private/items`, { headers: { origin: APP } });
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(header(r, 'access-control-allow-origin'), APP);
    assert.equal(header(r, 'access-control-allow-credentials'), 'true');
    assert.equal(up.received.length, 0);
  });

  test('an actual request from another origin is forwarded without CORS headers (the browser enforces)', async () => {
    const r = await request(`${base}/open/items`, { headers: { origin: 'https://evil.test' } });
    assert.equal(r.status, 200);
    assertNoCors(r);
    assert.match(header(r, 'vary'), /Origin/);
    assert.equal(up.received.length, 1);
  });

  test('a request without Origin passes untouched but for Vary', async () => {
    const r = await request(`${base}/open/items`);
    assert.equal(r.status, 200);
    assertNoCors(r);
    assert.match(header(r, 'vary'), /Origin/);
  });

  test('with strict, another origin is refused with 403 and not forwarded', async () => {
    const r = await request(`${base}/strict/x`, { method: 'POST', headers: { origin: 'https://evil.test', 'content-type': 'text/plain' }, body: 'x' });
    assertProblem(r, 403, 'GH_CORS_REJECTED');
    assertNoCors(r);
    assert.equal(up.received.length, 0);
    const ok = await request(`${base}/strict/x`, { headers: { origin: APP } });
    assert.equal(ok.status, 200);
    assert.equal(header(ok, 'access-control-allow-origin'), APP);
    const none = await request(`${base}/strict/x`);
    assert.equal(none.status, 200);
    assert.equal(up.received.length, 2);
  });

  test('an upstream that answers CORS itself: its headers removed, the gateway\'s alone reach the client', async () => {
    up.handler = (_req, res) => { res.writeHead(200, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' }); res.end('ok'); };
    const r = await request(`${base}/own-cors/x`, { headers: { origin: APP } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], APP);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  });

  test('cors runs before request-rules: their method list and required headers do not refuse a preflight', async () => {
    const r = await preflight('/screened/x', APP, 'POST', { 'access-control-request-headers': 'x-tenant' });
    assert.equal(r.status, 204);
    assert.equal(header(r, 'access-control-allow-headers'), 'x-tenant');
    const refused = await request(`${base}/screened/x`, { headers: { origin: APP } });
    assertProblem(refused, 403, 'GH_REQUEST_BLOCKED');
    assert.equal(header(refused, 'access-control-allow-origin'), APP, 'the refusal is readable by the page');
    assert.equal(up.received.length, 0);
  });

  test('ip runs before cors: a refused client gets no preflight answer', async () => {
    const r = await preflight('/ip-denied/x', APP);
    assertProblem(r, 403, 'GH_IP_DENIED');
    assertNoCors(r);
    assert.equal(up.received.length, 0);
  });

  test('without cors on the route, a preflight is an ordinary OPTIONS request for the upstream', async () => {
    const r = await preflight('/plain/x', APP);
    assert.equal(r.status, 200);
    assert.equal(up.received.length, 1);
    assert.equal(up.received[0]!.method, 'OPTIONS');
  });
});

describe('CORS config refused', () => {
  test('credentials with origins "*" is refused at reload with key path and line; the old config keeps serving', async () => {
    const up = await startUpstream('a');
    const gw = await startTestGateway(config(up.url));
    try {
      gw.writeConfig(config(up.url, '{ origins: "*", credentials: true }'));
      assert.equal(await gw.reload(), false);
      const refused = gw.logs.find((l) => l.event === 'reload_refused') as { problems: string[] } | undefined;
      const problems = refused?.problems ?? [];
      assert.ok(problems.includes('routes[0].cors.credentials: cannot be true with origins "*": browsers refuse credentials from a wildcard origin; list the allowed origins instead (gatehouse.yaml:17)'), problems.join('\n'));
      const r = await request(`${gw.url}/open/x`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
      assert.equal(r.status, 204);
      assert.equal(header(r, 'access-control-allow-origin'), APP);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('CORS next to a catch-all route', () => {
  test('a preflight goes to the route of the announced method, not to a less specific route that takes OPTIONS', async () => {
    const up = await startUpstream('a');
    const gw = await startTestGateway(`
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - name: get-only
    match: { path: /get-only/*, methods: [GET] }
    service: a
    cors: { origins: [${APP}] }
  - name: catch-all
    match: { path: /* }
    service: a
`);
    try {
      const r = await request(`${gw.url}/get-only/items`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
      assert.equal(r.status, 204, r.body);
      assert.equal(r.headers['access-control-allow-origin'], APP);
      assert.equal(up.received.length, 0);
      // A plain OPTIONS (no preflight) still goes where routing sends it.
      assert.equal((await request(`${gw.url}/get-only/items`, { method: 'OPTIONS' })).status, 200);
      assert.equal(up.received.length, 1);
    } finally { await gw.close(); await up.close(); }
  });
});
