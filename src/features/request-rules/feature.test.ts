/**
 * `request-rules` built from YAML through the real loader and compiler, run on in-memory exchanges: the
 * method allow-list (405 with Allow), required and forbidden headers, the user-agent list, the signature
 * families switched on one by one, inspected headers, the length bound, refusals that never echo the
 * request, and the config errors.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Exchange } from '../../core/exchange.js';
import type { Runtime } from '../../core/runtime.js';
import { RouteFixture } from '../testing.js';

const fixture = new RouteFixture();
after(() => fixture.close());
const compileRoute = (features: string): Runtime => fixture.compile(features);
const problems = (features: string): string[] => fixture.problems(features);

interface Outcome { status: number; headers: Record<string, string>; body: Record<string, unknown> | null }

/** Runs the route's request hooks on a request; status 0 means it was passed on to the backend. */
function run(rt: Runtime, opts: { method?: string; path?: string; query?: string; headers?: [string, string][] } = {}): Outcome {
  const out: Outcome = { status: 0, headers: {}, body: null };
  const res = {
    headersSent: false, shouldKeepAlive: true,
    writeHead(s: number, h: string[]) { out.status = s; for (let i = 0; i < h.length; i += 2) out.headers[h[i]!] = h[i + 1]!; },
    end(b?: string) { if (b) out.body = JSON.parse(b) as Record<string, unknown>; },
  };
  const list = opts.headers ?? [['user-agent', 'Mozilla/5.0']];
  const headers: Record<string, string> = {};
  for (const [k, v] of list) if (headers[k] === undefined) headers[k] = v;
  const req = { method: opts.method ?? 'GET', headers, complete: true };
  const ex = new Exchange(req as unknown as IncomingMessage, res as unknown as ServerResponse, rt, 'req-1', '127.0.0.1', 0);
  ex.route = rt.routes[0]!;
  ex.path = opts.path ?? '/';
  ex.query = opts.query ?? '';
  ex.upstreamHeaders = list.flat();
  for (const f of rt.routes[0]!.onRequest ?? []) {
    void f.onRequest!(ex);
    if (ex.replied) break;
  }
  return out;
}

function assertBlocked(o: Outcome, detail: string): void {
  assert.equal(o.status, 403);
  assert.equal(o.headers['content-type'], 'application/problem+json');
  assert.equal(o.body?.code, 'GH_REQUEST_BLOCKED');
  assert.equal(o.body?.detail, detail);
}

describe('methods', () => {
  const rt = (): Runtime => compileRoute('request-rules: { methods: [GET, POST] }');
  test('listed methods pass, HEAD with GET', () => {
    const r = rt();
    for (const m of ['GET', 'HEAD', 'POST']) assert.equal(run(r, { method: m }).status, 0, m);
  });
  test('others get 405 with Allow', () => {
    const r = rt();
    for (const m of ['PUT', 'DELETE', 'TRACE', 'OPTIONS', 'PATCH']) {
      const o = run(r, { method: m });
      assert.equal(o.status, 405, m);
      assert.equal(o.body?.code, 'GH_METHOD_NOT_ALLOWED');
      assert.equal(o.headers.allow, 'GET, HEAD, POST');
    }
  });
});

describe('headers', () => {
  test('a required header must be present', () => {
    const rt = compileRoute('request-rules: { requireHeaders: [X-Tenant, x-region] }');
    assert.equal(run(rt, { headers: [['x-tenant', 'acme'], ['x-region', 'eu']] }).status, 0);
    assertBlocked(run(rt, { headers: [['x-region', 'eu']] }), 'the header x-tenant is required');
    assertBlocked(run(rt, { headers: [['x-tenant', 'acme']] }), 'the header x-region is required');
  });

  test('a denied header refuses when present ("*") or when its value matches', () => {
    const rt = compileRoute('request-rules:\n  denyHeaders: { X-Debug: "*", x-env: Staging }');
    assert.equal(run(rt, { headers: [['x-env', 'production']] }).status, 0);
    assertBlocked(run(rt, { headers: [['x-debug', '']] }), 'the header x-debug is not allowed');
    assertBlocked(run(rt, { headers: [['x-env', ' staging ']] }), 'the header x-env is not allowed with this value');
  });

  test('every occurrence of a repeated header is checked, not only the first', () => {
    const rt = compileRoute('request-rules:\n  denyHeaders: { x-env: staging }');
    assertBlocked(run(rt, { headers: [['x-env', 'production'], ['x-env', 'staging']] }), 'the header x-env is not allowed with this value');
  });
});

describe('user agents', () => {
  const rt = (): Runtime => compileRoute('request-rules: { denyUserAgents: [sqlmap, Nikto, python-requests] }');
  test('a listed substring refuses, whatever the case; the agent is never echoed', () => {
    const r = rt();
    for (const ua of ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'Mozilla/5.00 (Nikto/2.1.6)', 'python-requests/2.31.0', 'SQLMAP']) {
      const o = run(r, { headers: [['user-agent', ua]] });
      assertBlocked(o, 'the user agent is not allowed');
      assert.ok(!JSON.stringify(o.body).includes(ua));
    }
  });
  test('other agents and no agent pass', () => {
    const r = rt();
    for (const ua of ['Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0', 'curl/8.5.0', 'python-httpx/0.27', 'Go-http-client/1.1', 'axios/1.7.2']) {
      assert.equal(run(r, { headers: [['user-agent', ua]] }).status, 0, ua);
    }
    assert.equal(run(r, { headers: [] }).status, 0);
  });
});

describe('hostile signatures', () => {
  test('off unless switched on', () => {
    const rt = compileRoute('request-rules: { methods: [GET] }');
    assert.equal(run(rt, { query: "id=1'%20or%201=1--" }).status, 0);
  });

  test('each family refuses only when listed, naming the family and where, never the input', () => {
    const sql = compileRoute('request-rules: { block: [sql-injection] }');
    const o = run(sql, { path: '/users', query: "id=1'%20or%20'1'='1" });
    assertBlocked(o, 'sql-injection signature in the query');
    assert.ok(!o.body!.detail!.toString().includes("'"));
    assert.equal(run(sql, { query: 'f=../../etc/passwd' }).status, 0);
    assert.equal(run(sql, { query: 'q=<script>' }).status, 0);

    const traversal = compileRoute('request-rules: { block: [path-traversal] }');
    assertBlocked(run(traversal, { query: 'f=..%2f..%2fetc%2fpasswd' }), 'path-traversal signature in the query');
    assertBlocked(run(traversal, { path: '/static/..;/admin' }), 'path-traversal signature in the path');

    const script = compileRoute('request-rules: { block: [script-injection] }');
    assertBlocked(run(script, { query: 'q=%3Cscript%3Ealert(1)%3C/script%3E' }), 'script-injection signature in the query');
  });

  test('headers are inspected only when named', () => {
    const plain = compileRoute('request-rules: { block: [script-injection] }');
    assert.equal(run(plain, { headers: [['referer', 'https://x.test/<script>']] }).status, 0);
    const inspecting = compileRoute('request-rules: { block: [script-injection], inspectHeaders: [Referer] }');
    assertBlocked(run(inspecting, { headers: [['referer', 'https://x.test/<script>']] }), 'script-injection signature in the header referer');
  });

  test('a value too long to inspect is refused', () => {
    const rt = compileRoute('request-rules: { block: [sql-injection] }');
    assertBlocked(run(rt, { query: `q=${'a'.repeat(40 * 1024)}` }), 'the query is too long to inspect');
    assert.equal(run(rt, { query: `q=${'a'.repeat(8 * 1024)}` }).status, 0);
  });
});

describe('request-rules config errors', () => {
  test('unknown families, short agents, inspectHeaders without block, an empty rule', () => {
    assert.deepEqual(problems('request-rules: { block: [sqli] }'), [
      'routes[0].request-rules.block[0]: must be one of: path-traversal, sql-injection, script-injection (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problems('request-rules:\n  denyUserAgents: [curl, "go"]\n  inspectHeaders: [referer]'), [
      'routes[0].request-rules.denyUserAgents[1]: is too short: a substring under 3 characters matches far more user agents than intended (gatehouse.yaml:8)',
      'routes[0].request-rules.inspectHeaders: has no effect without `block` (gatehouse.yaml:9)',
    ]);
    assert.deepEqual(problems('request-rules: {}'), [
      'routes[0].request-rules: needs at least one rule: methods, requireHeaders, denyHeaders, denyUserAgents or block (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problems('request-rules: { methods: [get] }'), [
      'routes[0].request-rules.methods[0]: must be an upper-case method name (gatehouse.yaml:7)',
    ]);
  });
});
