/**
 * `cors` built from YAML through the real loader and compiler, run on in-memory exchanges: origin lists and
 * wildcard patterns (and the look-alikes they must refuse), preflights answered or refused without ever
 * passing on, headers on actual requests, `strict`, and the config errors.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Exchange } from '../../core/exchange.js';
import type { Runtime } from '../../core/runtime.js';
import { RouteFixture } from '../testing.js';
import { stageIndex } from '../../core/stages.js';
import { OriginList, checkOrigin } from './origins.js';
import { cors } from './feature.js';
import { auth } from '../auth/feature.js';

const fixture = new RouteFixture();
after(() => fixture.close());
const compileRoute = (features: string): Runtime => fixture.compile(features);
const problems = (features: string): string[] => fixture.problems(features);

interface Outcome {
  /** 0 when the request was passed on to the backend. */
  status: number;
  /** Answer headers, or for a passed-on request the headers queued for the response. */
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}

function run(rt: Runtime, method: string, headers: Record<string, string>): Outcome {
  const out: Outcome = { status: 0, headers: {}, body: null };
  const res = {
    headersSent: false, shouldKeepAlive: true,
    writeHead(s: number, h: string[]) { out.status = s; for (let i = 0; i < h.length; i += 2) out.headers[h[i]!] = h[i + 1]!; },
    end(b?: string) { if (b) out.body = JSON.parse(b) as Record<string, unknown>; },
  };
  const req = { method, headers, complete: true };
  const ex = new Exchange(req as unknown as IncomingMessage, res as unknown as ServerResponse, rt, 'req-1', '127.0.0.1', 0);
  ex.route = rt.routes[0]!;
  for (const f of rt.routes[0]!.onRequest ?? []) {
    void f.onRequest!(ex);
    if (ex.replied) break;
  }
  if (out.status === 0 && ex.responseHeaders !== null) {
    for (let i = 0; i < ex.responseHeaders.length; i += 2) out.headers[ex.responseHeaders[i]!] = ex.responseHeaders[i + 1]!;
  }
  return out;
}

function preflight(rt: Runtime, origin: string, method = 'PUT', extra: Record<string, string> = {}): Outcome {
  return run(rt, 'OPTIONS', { origin, 'access-control-request-method': method, ...extra });
}

const CORS_NAMES = ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers',
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-expose-headers'];

function assertRejected(o: Outcome, detail: string): void {
  assert.equal(o.status, 403);
  assert.equal(o.body?.code, 'GH_CORS_REJECTED');
  assert.equal(o.body?.detail, detail);
  for (const n of CORS_NAMES) assert.equal(o.headers[n], undefined, n);
}

describe('origin lists', () => {
  const list = new OriginList(['https://app.example.com', 'http://localhost:3000', 'https://*.example.org', 'null']);
  test('exact origins and "null" match only themselves', () => {
    for (const o of ['https://app.example.com', 'http://localhost:3000', 'null']) assert.ok(list.matches(o), o);
    for (const o of ['https://app.example.com.evil.net', 'https://app.example.co', 'http://app.example.com', 'https://app.example.com:444',
      'http://localhost:3001', 'https://xapp.example.com', 'https://app.example.com/', 'NULL', '']) assert.ok(!list.matches(o), o);
  });
  test('a wildcard label matches subdomains only, never a look-alike', () => {
    for (const o of ['https://a.example.org', 'https://a.b.example.org', 'https://x-1.example.org']) assert.ok(list.matches(o), o);
    for (const o of ['https://example.org', 'https://.example.org', 'https://evil-example.org', 'https://a.example.org.evil.net',
      'https://a.example.org:8443', 'http://a.example.org', 'https://evil.com/.example.org', 'https://a@b.example.org',
      'https://a..example.org', 'https://a_b.example.org', 'https://a.example.org, https://evil.net']) assert.ok(!list.matches(o), o);
  });
  test('"*" matches every origin', () => {
    assert.ok(new OriginList('*').matches('https://anything.test'));
    assert.ok(new OriginList(['*']).any);
  });
  test('checkOrigin explains bad entries', () => {
    assert.equal(checkOrigin('https://app.example.com'), null);
    assert.equal(checkOrigin('HTTPS://App.Example.com'), null);
    assert.equal(checkOrigin('http://[::1]:8080'), null);
    assert.equal(checkOrigin('https://*.example.com:8443'), null);
    assert.equal(checkOrigin('null'), null);
    assert.equal(checkOrigin('https://app.example.com/'), 'must be an origin without a path or trailing "/" (https://app.example.com)');
    assert.equal(checkOrigin('https://app.example.com/v1'), 'must be an origin without a path or trailing "/" (https://app.example.com)');
    assert.equal(checkOrigin('app.example.com'), 'must be an origin (https://app.example.com), "null", or a pattern with a leading wildcard label (https://*.example.com)');
    assert.equal(checkOrigin('https://app.*.com'), 'may hold one wildcard only, as the first label of the host (https://*.example.com)');
    assert.equal(checkOrigin('https://*example.com'), 'may hold one wildcard only, as the first label of the host (https://*.example.com)');
    assert.equal(checkOrigin('*.example.com'), 'may hold one wildcard only, as the first label of the host (https://*.example.com)');
    assert.equal(checkOrigin('https://app.example.com:443'), 'names the default port, which browsers leave out of Origin: write https://app.example.com');
    assert.equal(checkOrigin('https://a.test:99999'), 'has a port out of range');
  });
});

describe('preflight', () => {
  const config = `cors:
  origins: [https://app.example.com, "https://*.example.org"]
  methods: [GET, PUT, DELETE]
  headers: [Content-Type, Authorization, X-Request-Id]
  exposeHeaders: [X-Total-Count]
  credentials: true
  maxAge: 10m`;

  test('an allowed preflight is answered 204 with the allow headers', () => {
    const o = preflight(compileRoute(config), 'https://app.example.com', 'PUT', { 'access-control-request-headers': 'content-type,authorization' });
    assert.equal(o.status, 204);
    assert.equal(o.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(o.headers['access-control-allow-methods'], 'GET, PUT, DELETE');
    assert.equal(o.headers['access-control-allow-headers'], 'content-type,authorization');
    assert.equal(o.headers['access-control-allow-credentials'], 'true');
    assert.equal(o.headers['access-control-max-age'], '600');
    assert.equal(o.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    assert.equal(o.headers['x-request-id'], 'req-1');
    assert.equal(o.headers['access-control-expose-headers'], undefined);
  });

  test('a pattern origin is echoed', () => {
    assert.equal(preflight(compileRoute(config), 'https://eu.example.org').headers['access-control-allow-origin'], 'https://eu.example.org');
  });

  test('a disallowed origin, method or header is refused with 403 and no CORS header', () => {
    const rt = compileRoute(config);
    assertRejected(preflight(rt, 'https://evil.example.net'), 'the origin is not allowed');
    assertRejected(preflight(rt, 'https://example.org'), 'the origin is not allowed');
    assertRejected(preflight(rt, 'https://app.example.com', 'PATCH'), 'the requested method is not allowed');
    assertRejected(preflight(rt, 'https://app.example.com', 'PUT', { 'access-control-request-headers': 'content-type, x-admin' }), 'a requested header is not allowed');
  });

  test('by default the requested method and headers are echoed once checked to be tokens', () => {
    const rt = compileRoute('cors: { origins: [https://app.example.com] }');
    const o = preflight(rt, 'https://app.example.com', 'PATCH', { 'access-control-request-headers': 'x-custom, content-type' });
    assert.equal(o.status, 204);
    assert.equal(o.headers['access-control-allow-methods'], 'PATCH');
    assert.equal(o.headers['access-control-allow-headers'], 'x-custom, content-type');
    assert.equal(o.headers['access-control-max-age'], '300');
    assert.equal(o.headers['access-control-allow-credentials'], undefined);
    assertRejected(preflight(rt, 'https://app.example.com', 'PUT\r\nx-injected: 1'), 'the requested method is not allowed');
    assertRejected(preflight(rt, 'https://app.example.com', 'PUT', { 'access-control-request-headers': 'x-a\u0000' }), 'a requested header is not allowed');
    assertRejected(preflight(rt, 'https://app.example.com', 'PUT', { 'access-control-request-headers': 'x,'.repeat(2000) }), 'a requested header is not allowed');
  });

  test('origins "*" without credentials answers "*"', () => {
    const o = preflight(compileRoute('cors: { origins: "*" }'), 'https://anyone.test');
    assert.equal(o.status, 204);
    assert.equal(o.headers['access-control-allow-origin'], '*');
  });

  test('OPTIONS without Access-Control-Request-Method is an ordinary request, passed on', () => {
    const o = run(compileRoute(config), 'OPTIONS', { origin: 'https://app.example.com' });
    assert.equal(o.status, 0);
    assert.equal(o.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  test('cors runs before authentication', () => {
    assert.ok(stageIndex(cors.stage) < stageIndex(auth.stage));
  });
});

describe('actual requests', () => {
  test('an allowed origin gets the origin echoed, Vary, credentials and exposed headers', () => {
    const rt = compileRoute('cors: { origins: [https://app.example.com], credentials: true, exposeHeaders: [X-Total-Count, ETag] }');
    const o = run(rt, 'GET', { origin: 'https://app.example.com' });
    assert.equal(o.status, 0);
    assert.deepEqual(o.headers, {
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'X-Total-Count, ETag',
    });
  });

  test('a disallowed origin passes on with only Vary; a request without Origin too', () => {
    const rt = compileRoute('cors: { origins: [https://app.example.com] }');
    assert.deepEqual(run(rt, 'GET', { origin: 'https://evil.test' }), { status: 0, headers: { vary: 'Origin' }, body: null });
    assert.deepEqual(run(rt, 'GET', {}), { status: 0, headers: { vary: 'Origin' }, body: null });
  });

  test('with strict, a disallowed origin is refused; no Origin still passes', () => {
    const rt = compileRoute('cors: { origins: [https://app.example.com], strict: true }');
    assertRejected(run(rt, 'POST', { origin: 'https://evil.test' }), 'the origin is not allowed');
    assert.equal(run(rt, 'POST', {}).status, 0);
    assert.equal(run(rt, 'POST', { origin: 'https://app.example.com' }).status, 0);
  });

  test('origins "*" without credentials: a literal "*", no Vary', () => {
    const rt = compileRoute('cors: { origins: "*", exposeHeaders: ["*"] }');
    assert.deepEqual(run(rt, 'GET', { origin: 'https://x.test' }).headers, { 'access-control-allow-origin': '*', 'access-control-expose-headers': '*' });
    assert.deepEqual(run(rt, 'GET', {}).headers, {});
  });
});

describe('cors config errors', () => {
  test('credentials with "*" is refused with key path and line', () => {
    assert.deepEqual(problems('cors:\n  origins: "*"\n  credentials: true'), [
      'routes[0].cors.credentials: cannot be true with origins "*": browsers refuse credentials from a wildcard origin; list the allowed origins instead (gatehouse.yaml:9)',
    ]);
    assert.deepEqual(problems('cors: { origins: ["*"], credentials: true }'), [
      'routes[0].cors.credentials: cannot be true with origins "*": browsers refuse credentials from a wildcard origin; list the allowed origins instead (gatehouse.yaml:7)',
    ]);
  });

  test('bad origins, "*" in a list, exposeHeaders "*" with credentials, a bad maxAge', () => {
    assert.deepEqual(problems('cors:\n  origins:\n    - https://app.example.com/\n    - "*"\n    - https://ok.example.com\n  credentials: true\n  exposeHeaders: ["*"]\n  maxAge: 10min'), [
      'routes[0].cors.maxAge: must be a duration with a unit: ms, s, m, h or d (e.g. 250ms, 5s, 1m) (gatehouse.yaml:14)',
    ]);
    assert.deepEqual(problems('cors:\n  origins:\n    - https://app.example.com/\n    - "*"\n    - https://ok.example.com\n  credentials: true\n  exposeHeaders: ["*"]'), [
      'routes[0].cors.origins[0]: must be an origin without a path or trailing "/" (https://app.example.com) (gatehouse.yaml:9)',
      'routes[0].cors.origins[1]: use "*" alone (origins: "*"), not inside a list (gatehouse.yaml:10)',
      'routes[0].cors.exposeHeaders: cannot hold "*" with credentials: browsers read it as a header named "*"; list the headers (gatehouse.yaml:13)',
    ]);
    assert.deepEqual(problems('cors: { methods: [GET] }'), ['routes[0].cors.origins: is required (gatehouse.yaml:7)']);
  });
});
