/**
 * `headers` and `security-headers` through the real gateway: request headers set and removed and named
 * cookies kept from the service (what the upstream received), response headers set and removed (what the
 * client got), security headers kept or overridden, and values with CR/LF refused when the config loads.
 *
 * Response-side edits need the proxy to honour the route's removal set and default headers
 * (CompiledRoute.removeResponseHeaders / defaultResponseHeaders); until it does, those tests are TODO.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { header, LISTEN } from './helpers/raw.js';
import { loadConfigText } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { silentLogger } from '../src/observability/log.js';

/** Whether the proxy applies per-route response header removal and defaults (see the file comment). */
const PROXY_READY = await (async () => {
  const rt = compile(loadConfigText('services:\n  s: { targets: [http://127.0.0.1:9] }\nroutes:\n  - { name: r, match: { path: /r }, service: s }\n', 'g.yaml', {}), silentLogger());
  const ready = 'removeResponseHeaders' in rt.routes[0]! && 'defaultResponseHeaders' in rt.routes[0]!;
  await rt.retire(0);
  return ready;
})();
const RESPONSE_TODO = PROXY_READY ? undefined : 'needs CompiledRoute.removeResponseHeaders / defaultResponseHeaders in the proxy';

function config(upUrl: string): string {
  return `${LISTEN}
defaults:
  security-headers: true
services:
  up: { targets: ['${upUrl}'], retries: 0 }
routes:
  - name: edits
    match: { path: /edits }
    service: up
    headers:
      request:
        set: { X-Env: prod, x-service-token: "s3rvice" }
        remove: [x-debug, X-Forwarded-For]
        removeCookies: [session, sid]
      response:
        set: { Cache-Control: no-store }
        remove: [x-internal, set-cookie]
  - name: keep
    match: { path: /keep }
    service: up
  - name: override
    match: { path: /override }
    service: up
    security-headers: { override: true, frameOptions: SAMEORIGIN, hsts: { maxAge: 365d, includeSubDomains: true }, contentSecurityPolicy: "default-src 'none'", crossOriginResourcePolicy: same-origin, crossOriginOpenerPolicy: same-origin }
  - name: off
    match: { path: /off }
    service: up
    security-headers: false
`;
}

describe('headers and security-headers through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up', (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-internal', 'db=10.0.0.7');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('cache-control', 'public, max-age=600');
      res.setHeader('x-frame-options', 'ALLOWALL');
      res.setHeader('x-kept', 'yes');
      res.end('{}');
    });
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('request headers are set, replaced and removed before forwarding', async () => {
    const r = await request(`${gw.url}/edits`, { headers: { 'x-env': 'client-chose', 'x-debug': '1', 'x-other': 'kept' } });
    assert.equal(r.status, 200);
    const h = up.received[0]!.headers;
    assert.equal(h['x-env'], 'prod');
    assert.equal(h['x-service-token'], 's3rvice');
    assert.equal(h['x-debug'], undefined);
    assert.equal(h['x-forwarded-for'], undefined, 'an operator may hide the client address');
    assert.equal(h['x-other'], 'kept');
    assert.equal(h['x-request-id'], header(r, 'x-request-id'), 'the gateway\'s own headers stay');
    const raw = up.received[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.equal(raw.filter((n) => n === 'x-env').length, 1, 'set replaces, never duplicates');
  });

  test('named cookies are not forwarded; the others are, as sent', async () => {
    await request(`${gw.url}/edits`, { headers: { cookie: 'theme=dark; session=s3cret; lang=fr; sid=abc' } });
    assert.equal(up.received[0]!.headers.cookie, 'theme=dark; lang=fr');
    await request(`${gw.url}/edits`, { headers: { cookie: 'session=s3cret; sid=abc' } });
    assert.equal(up.received[1]!.headers.cookie, undefined, 'a Cookie header left empty is dropped');
    await request(`${gw.url}/keep`, { headers: { cookie: 'session=s3cret' } });
    assert.equal(up.received[2]!.headers.cookie, 'session=s3cret', 'only routes with removeCookies filter');
  });

  test('response headers are set (replacing the service\'s) and removed', { todo: RESPONSE_TODO }, async () => {
    const r = await request(`${gw.url}/edits`);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['x-internal'], undefined);
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal(r.headers['x-kept'], 'yes');
  });

  test('security headers from defaults fill in what the service did not send, and keep what it did', { todo: RESPONSE_TODO }, async () => {
    const r = await request(`${gw.url}/keep`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-frame-options'], 'ALLOWALL', 'the service\'s own value is kept');
    assert.equal(r.headers['strict-transport-security'], undefined, 'HSTS only when configured');
  });

  test('override replaces the service\'s values with the gateway\'s', { todo: RESPONSE_TODO }, async () => {
    const r = await request(`${gw.url}/override`);
    assert.equal(r.headers['x-frame-options'], 'SAMEORIGIN');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    assert.equal(r.headers['content-security-policy'], "default-src 'none'");
    assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
    assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
  });

  test('security-headers: false on a route turns off the defaults', async () => {
    const r = await request(`${gw.url}/off`);
    assert.equal(r.headers['x-content-type-options'], undefined);
    assert.equal(r.headers['x-frame-options'], 'ALLOWALL');
  });
});

describe('headers config refused at load', () => {
  const base = `${LISTEN}\nservices:\n  up: { targets: ['http://127.0.0.1:9'] }\nroutes:\n  - name: r\n    match: { path: /r }\n    service: up\n`;
  test('a CR/LF in a configured value', async () => {
    await assert.rejects(startTestGateway(`${base}    headers: { request: { set: { x-a: "ok\\r\\nx-injected: 1" } } }\n`),
      /routes\[0\]\.headers\.request\.set\.x-a: must not contain CR or LF \(it would split the header\) \(gatehouse\.yaml:8\)/);
    await assert.rejects(startTestGateway(`${base}    headers: { response: { set: { x-a: "ok\\nx" } } }\n`),
      /routes\[0\]\.headers\.response\.set\.x-a: must not contain CR or LF/);
  });
  test('a header the gateway manages', async () => {
    await assert.rejects(startTestGateway(`${base}    headers: { request: { set: { x-consumer-id: admin } } }\n`),
      /"x-consumer-id" is managed by the gateway and cannot be set here/);
  });
});
