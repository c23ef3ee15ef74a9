/**
 * `headers` and its cookie filter on an in-memory exchange: request set/remove in one pass, cookies removed
 * with the others kept as sent, response set/remove handed to the proxy, and the load-time refusals (CR/LF,
 * bad names, headers the gateway manages).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import type { Exchange } from '../../core/exchange.js';
import { HeadersFeature } from './feature.js';
import { withoutCookies } from '../../core/cookies.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function compileHeaders(yaml: string): HeadersFeature {
  const text = `services:\n  s: { targets: [http://127.0.0.1:9] }\nroutes:\n  - name: r\n    match: { path: /r }\n    service: s\n    headers: ${yaml}\n`;
  const rt = compile(loadConfigText(text, 'gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  return rt.routes[0]!.features.find((f) => f.name === 'headers') as HeadersFeature;
}

function problems(yaml: string): string[] {
  try { compileHeaders(yaml); return []; } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

function fakeExchange(upstreamHeaders: string[]): Exchange & { responseHeaders: string[] | null } {
  const ex = {
    upstreamHeaders,
    responseHeaders: null as string[] | null,
    addResponseHeaders(h: readonly string[]) { ex.responseHeaders = [...(ex.responseHeaders ?? []), ...h]; },
  };
  return ex as unknown as Exchange & { responseHeaders: string[] | null };
}

describe('withoutCookies', () => {
  const names = new Set(['session', 'sid']);
  test('removes the named cookies and keeps the others in order', () => {
    assert.equal(withoutCookies('a=1; session=s3cret; b=2', names), 'a=1; b=2');
    assert.equal(withoutCookies('session=x;a=1;sid=y;b=two=2', names), 'a=1; b=two=2');
    assert.equal(withoutCookies('  sid = y ; a=1 ', names), 'a=1');
  });
  test('returns the header as sent when nothing is removed, and empty when nothing is left', () => {
    const h = 'a=1;b=2;  c';
    assert.equal(withoutCookies(h, names), h);
    assert.equal(withoutCookies('session=1; sid=2', names), '');
  });
  test('names are exact and case-sensitive; values are never matched', () => {
    assert.equal(withoutCookies('Session=1; sessionx=2; a=session', names), 'Session=1; sessionx=2; a=session');
  });
});

describe('headers on requests', () => {
  test('set replaces, remove drops, removeCookies filters, in one pass', () => {
    const f = compileHeaders('{ request: { set: { X-Env: prod, x-version: 2 }, remove: [X-Debug], removeCookies: [session] } }');
    assert.ok(f.onRequest !== undefined && f.onResponse === undefined);
    const ex = fakeExchange(['accept', '*/*', 'x-env', 'client-chose', 'x-debug', '1', 'cookie', 'theme=dark; session=abc', 'x-debug', '2', 'cookie', 'session=def']);
    f.onRequest!(ex);
    assert.deepEqual(ex.upstreamHeaders, ['accept', '*/*', 'cookie', 'theme=dark', 'x-env', 'prod', 'x-version', '2']);
  });

  test('names are lower-cased at load', () => {
    const f = compileHeaders('{ request: { set: { X-Env: prod }, remove: [X-DEBUG] }, response: { set: { X-Frame-Options: DENY }, remove: [Server] } }');
    assert.deepEqual(f.requestSet, ['x-env', 'prod']);
    assert.deepEqual([...f.requestDrop].sort(), ['x-debug', 'x-env']);
    assert.deepEqual(f.responseSet, ['x-frame-options', 'DENY']);
    assert.deepEqual([...f.removeResponseHeaders!].sort(), ['server', 'x-frame-options']);
  });

  test('a route without request edits has no request hook', () => {
    const f = compileHeaders('{ response: { remove: [server] } }');
    assert.equal(f.onRequest, undefined);
    assert.equal(f.onResponse, undefined, 'removal alone is done by the proxy');
    assert.deepEqual([...f.removeResponseHeaders!], ['server']);
  });
});

describe('headers on responses', () => {
  test('set values are queued for the response; their names are removed from the service\'s headers', () => {
    const f = compileHeaders('{ response: { set: { cache-control: no-store }, remove: [x-internal] } }');
    const ex = fakeExchange([]);
    f.onResponse!(ex);
    assert.deepEqual(ex.responseHeaders, ['cache-control', 'no-store']);
    assert.deepEqual([...f.removeResponseHeaders!].sort(), ['cache-control', 'x-internal']);
  });
});

describe('headers config', () => {
  test('CR, LF and control characters in a value are refused at load', () => {
    assert.deepEqual(problems('{ request: { set: { x-a: "a\\r\\nx-injected: 1" } } }'), ['routes[0].headers.request.set.x-a: must not contain CR or LF (it would split the header)']);
    assert.deepEqual(problems('{ response: { set: { x-a: "a\\nb" } } }'), ['routes[0].headers.response.set.x-a: must not contain CR or LF (it would split the header)']);
    assert.deepEqual(problems('{ response: { set: { x-a: "a\\u0000b" } } }'), ['routes[0].headers.response.set.x-a: must not contain control characters']);
  });

  test('bad names, managed headers and contradictions are refused at load', () => {
    assert.deepEqual(problems('{ request: { set: { "x a": v, Host: h, x-forwarded-for: 1.2.3.4, x-consumer-id: admin }, remove: [content-length, X-Request-Id] } }'), [
      'routes[0].headers.request.remove[0]: "content-length" is managed by the gateway and cannot be removed here',
      'routes[0].headers.request.remove[1]: "x-request-id" is managed by the gateway and cannot be removed here',
      'routes[0].headers.request.set.x a: "x a" is not a valid header name',
      'routes[0].headers.request.set.Host: "host" is managed by the gateway and cannot be set here',
      'routes[0].headers.request.set.x-forwarded-for: "x-forwarded-for" describes the client and cannot be set (it may be removed)',
      'routes[0].headers.request.set.x-consumer-id: "x-consumer-id" is managed by the gateway and cannot be set here',
    ]);
    assert.deepEqual(problems('{ response: { set: { Content-Length: 1, x-a: b }, remove: [transfer-encoding, X-A] } }'), [
      'routes[0].headers.response.remove[0]: "transfer-encoding" is managed by the gateway and cannot be removed here',
      'routes[0].headers.response.set.Content-Length: "content-length" is managed by the gateway and cannot be set here',
      'routes[0].headers.response.set.x-a: "x-a" is both set and removed',
    ]);
    assert.deepEqual(problems('{ request: { removeCookies: ["a b"] } }'), ['routes[0].headers.request.removeCookies[0]: must be a cookie name']);
    assert.deepEqual(problems('{ request: { remove: [x-forwarded-for, authorization], set: { authorization: "Basic c2VydmljZTpwdw==" } } }'), [
      'routes[0].headers.request.set.authorization: "authorization" is both set and removed',
    ]);
    assert.deepEqual(problems('{ request: { remove: [x-forwarded-for] }, response: { remove: [server, x-powered-by] } }'), []);
  });
});
