/**
 * `aggregate` through the real gateway against real upstreams: fan-out to several services with one slow and
 * one failing under both failure policies, sequential steps that take values from an earlier answer, hostile
 * values in path templates (refused, and nothing reaches any service, let alone an unconfigured address),
 * field operations on nested arrays, redaction and authentication on an aggregated route, bounds on answers,
 * and calls abandoned when the client leaves.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { request as undiciRequest } from 'undici';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const KEY = newApiKey();
/** The key of a consumer without the metadata the `me` route's paths need. */
const BARE_KEY = newApiKey();

const PROFILE = {
  id: '42', name: 'Ann', ssn: '123-45-6789', lastOrderId: 'o-7', secret: 'token-x',
  addresses: [{ city: 'Oslo', zip: '0150', street: 'Karl Johans gate 1' }, { city: 'Rome', zip: '00100' }],
};
const ORDER = {
  data: {
    id: 'o-7',
    items: [{ sku: 'a', price: 1, internal: 'cost 0.2' }, { sku: 'b', price: 2, internal: 'cost 0.9' }],
    lines: [{ items: [1, 2] }, { items: [3] }, { items: [] }],
  },
  meta: { page: 1 },
};

/** Hostile values a service might put where a later path takes a value, by user id. */
const STEP_VALUES: Record<string, unknown> = {
  dots: '..', slash: 'a/b', at: '@127.0.0.1', back: 'a\\b', empty: '', obj: { x: 1 }, nul: null, ctl: 'a\nb',
};

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function config(users: Upstream, orders: Upstream, slow: Upstream, failing: Upstream): string {
  return `${LISTEN}
services:
  users: { targets: ['${users.url}'], retries: 0 }
  orders: { targets: ['${orders.url}'], retries: 0 }
  slow: { targets: ['${slow.url}'], retries: 0 }
  failing: { targets: ['${failing.url}'], retries: 0 }
consumers:
  acme:
    keys: [${hashApiKey(KEY)}]
    metadata: { tenant: t-1 }
  bare:
    keys: [${hashApiKey(BARE_KEY)}]
auth:
  key:
    apiKey: { header: x-api-key }
routes:
  - name: me
    match: { path: /me/:id, methods: [GET] }
    auth: [key]
    redact: [ $.orders.meta ]
    aggregate:
      backends: &parts
        profile: { service: users, path: "/users/{id}", allow: [name, lastOrderId, addresses.city], rename: { name: fullName } }
        orders: { service: orders, path: "/orders/{profile.lastOrderId}?user={consumer.id}&tenant={consumer.metadata.tenant}", deny: [data.items.internal] }
        billing: { service: failing, path: "/billing/{consumer.id}" }
        recs: { service: slow, path: "/recs/{id}", timeout: 300ms }
  - name: me-fail
    match: { path: /me-fail/:id, methods: [GET] }
    auth: [key]
    aggregate:
      onFailure: fail
      backends: *parts
  - name: both-ok
    match: { path: /ok/:id }
    aggregate:
      backends:
        profile: { service: users, path: "/users/{id}", deny: [ssn, secret, addresses.street] }
        order: { service: orders, path: "/orders/{profile.lastOrderId}", extract: data, allow: [id, items.sku] }
  - name: redacted
    match: { path: /redacted/:id }
    redact: [ $.profile.ssn, { path: $.profile.secret, keep: 2 } ]
    aggregate:
      backends:
        profile: { service: users, path: "/users/{id}" }
  - name: flat
    match: { path: /flat/:id }
    aggregate:
      merge: flat
      backends:
        profile: { service: users, path: "/users/{id}", allow: [id, name] }
        lines: { service: orders, path: "/orders/o-7", flatten: data.lines.items }
        odd: { service: orders, path: "/odd" }
  - name: steps
    match: { path: /steps/:id }
    aggregate:
      backends:
        profile: { service: users, path: "/users/{id}", hide: true }
        orders: { service: orders, path: "/orders/{profile.lastOrderId}", extract: data.id }
  - name: hostile
    match: { path: /h/:id }
    aggregate:
      backends:
        profile: { service: users, path: "/users/{id}?q={query.q}&t={header.x-tenant}" }
  - name: all-fail
    match: { path: /all-fail }
    aggregate:
      timeout: 300ms
      backends:
        billing: { service: failing, path: /billing/x }
        recs: { service: slow, path: /recs/x }
  - name: slow-only
    match: { path: /slow-only }
    aggregate:
      timeout: 30s
      backends:
        recs: { service: slow, path: /recs/abandoned }
  - name: bounds
    match: { path: /bounds/:what }
    aggregate:
      backends:
        one: { service: orders, path: "/{what}", maxSize: 200b }
        ok: { service: users, path: /users/42, allow: [id] }
`;
}

describe('aggregate', () => {
  let users: Upstream;
  let orders: Upstream;
  let slow: Upstream;
  let failing: Upstream;
  let canary: Upstream;
  let gw: TestGateway;
  /** Responses the slow service holds open; ended in `after`. */
  const held: ServerResponse[] = [];
  /** Resolves when the slow service sees the request of the abandonment test closed before its answer. */
  let slowClosed: (() => void) | null = null;
  const key = { 'x-api-key': KEY };

  before(async () => {
    users = await startUpstream('users', (req, res) => {
      const id = decodeURIComponent(req.url!.split('?')[0]!.slice('/users/'.length));
      if (id === '42') return json(res, 200, PROFILE);
      if (id === 'gone') return json(res, 404, { error: 'no such user in table users_v2' });
      if (id in STEP_VALUES) return json(res, 200, { id, lastOrderId: STEP_VALUES[id] });
      if (id === 'none') return json(res, 200, { id });
      return json(res, 200, { id, name: `user ${id}` });
    });
    orders = await startUpstream('orders', (req, res) => {
      const path = req.url!.split('?')[0]!;
      switch (path) {
        case '/orders/o-7': return json(res, 200, ORDER);
        case '/odd': return json(res, 200, '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "$errors": "spoof", "extra": 1}');
        case '/big': return json(res, 200, { pad: 'x'.repeat(1000) });
        case '/text': return json(res, 200, 'plain words', 'text/plain');
        case '/broken': return json(res, 200, '{"a": ');
        case '/deep': return json(res, 200, '['.repeat(80) + ']'.repeat(80));
        case '/redirect': res.writeHead(302, { location: 'http://127.0.0.1:1/' }); res.end(); return;
        case '/gzip': res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }); res.end('xx'); return;
        default: return json(res, 404, { error: 'not found' });
      }
    });
    slow = await startUpstream('slow', (req, res) => {
      held.push(res);
      res.on('close', () => { if (!res.writableFinished && req.url === '/recs/abandoned') slowClosed?.(); });
    });
    failing = await startUpstream('failing', (_req, res) => json(res, 500, { error: 'db at 10.9.8.7:5432 refused', stack: 'at Pool.connect' }));
    canary = await startUpstream('canary');
    gw = await startTestGateway(config(users, orders, slow, failing));
  });
  after(async () => {
    for (const res of held) res.destroy();
    await gw.close();
    await Promise.all([users.close(), orders.close(), slow.close(), failing.close(), canary.close()]);
  });
  beforeEach(() => {
    for (const u of [users, orders, slow, failing, canary]) u.received.length = 0;
  });

  test('partial: what arrived, with the failed parts in $errors and Gatehouse-Partial', async () => {
    const t0 = performance.now();
    const r = await request(`${gw.url}/me/42`, { headers: key });
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 200, r.body);
    assert.equal(header(r, 'content-type'), 'application/json');
    assert.deepEqual(r.json, {
      profile: { fullName: 'Ann', lastOrderId: 'o-7', addresses: [{ city: 'Oslo' }, { city: 'Rome' }] },
      orders: { data: { id: 'o-7', items: [{ sku: 'a', price: 1 }, { sku: 'b', price: 2 }], lines: ORDER.data.lines } },
      $errors: {
        billing: { status: 500, code: 'GH_UPSTREAM_ERROR', title: 'The upstream service failed to answer' },
        recs: { status: 504, code: 'GH_UPSTREAM_TIMEOUT', title: 'The upstream service did not answer in time' },
      },
    });
    assert.equal(header(r, 'gatehouse-partial'), 'billing;status=500;code="GH_UPSTREAM_ERROR", recs;status=504;code="GH_UPSTREAM_TIMEOUT"');
    assert.equal(header(r, 'cache-control'), 'no-store');
    assert.ok(elapsed < 2000, `the slow part is given up after its own timeout (${Math.round(elapsed)} ms)`);
    // The failing service's words never reach the client.
    assert.ok(!r.body.includes('10.9.8.7') && !r.body.includes('Pool.connect'));
    // The sequential step got its value from the profile, the consumer from the API key; nothing else was sent.
    assert.deepEqual(orders.received.map((x) => x.url), ['/orders/o-7?user=acme&tenant=t-1']);
    assert.deepEqual(users.received.map((x) => x.url), ['/users/42']);
    assert.deepEqual(failing.received.map((x) => x.url), ['/billing/acme']);
    assert.deepEqual(slow.received.map((x) => x.url), ['/recs/42']);
    // Calls carry the gateway's headers, never the credential, and ask for uncompressed JSON.
    const h = users.received[0]!.headers;
    assert.equal(h['x-api-key'], undefined);
    assert.equal(h['x-consumer-id'], 'acme');
    assert.equal(h['x-request-id'], header(r, 'x-request-id'));
    assert.equal(h.accept, 'application/json');
    assert.equal(h['accept-encoding'], 'identity');
    const line = await accessLine(gw, header(r, 'x-request-id'));
    assert.equal(line.attempts, 4);
    assert.equal(line.status, 200);
  });

  test('fail: the worst status of the failed parts, as a problem naming each part', async () => {
    const r = await request(`${gw.url}/me-fail/42`, { headers: key });
    assertProblem(r, 504, 'GH_AGGREGATE_FAILED');
    assert.equal(header(r, 'cache-control'), 'no-store');
    assert.deepEqual(r.json.failed, {
      billing: { status: 500, code: 'GH_UPSTREAM_ERROR', title: 'The upstream service failed to answer' },
      recs: { status: 504, code: 'GH_UPSTREAM_TIMEOUT', title: 'The upstream service did not answer in time' },
    });
    assert.ok(!r.body.includes('10.9.8.7') && !r.body.includes('Ann'));
  });

  test('every part failed: a whole failure under partial too', async () => {
    const r = await request(`${gw.url}/all-fail`);
    assertProblem(r, 504, 'GH_AGGREGATE_FAILED');
    assert.deepEqual(Object.keys(r.json.failed), ['billing', 'recs']);
  });

  test('an aggregated route needs its authentication like any other', async () => {
    const r = await request(`${gw.url}/me/42`);
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(users.received.length + orders.received.length + failing.received.length + slow.received.length, 0);
  });

  test('a caller whose identity cannot fill a path is refused with 403 before any call', async () => {
    const r = await request(`${gw.url}/me/42`, { headers: { 'x-api-key': BARE_KEY } });
    assertProblem(r, 403, 'GH_FORBIDDEN');
    assert.equal(r.json.detail, '{consumer.metadata.tenant} is missing for this caller');
    assert.equal(users.received.length + orders.received.length + failing.received.length + slow.received.length, 0);
  });

  test('all parts answer: a plain answer with no envelope; deny, extract and allow on nested arrays', async () => {
    const r = await request(`${gw.url}/ok/42`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      profile: { id: '42', name: 'Ann', lastOrderId: 'o-7', addresses: [{ city: 'Oslo', zip: '0150' }, { city: 'Rome', zip: '00100' }] },
      order: { id: 'o-7', items: [{ sku: 'a' }, { sku: 'b' }] },
    });
    assert.equal(header(r, 'gatehouse-partial'), '');
    assert.equal(header(r, 'cache-control'), '');
  });

  test('redact runs on the merged answer', async () => {
    const r = await request(`${gw.url}/redacted/42`);
    assert.equal(r.status, 200);
    assert.equal(r.json.profile.ssn, undefined);
    assert.equal(r.json.profile.secret, '*****-x');
    assert.equal(r.json.profile.name, 'Ann');
    assert.ok(!r.body.includes('123-45-6789'));
    // redact on `me` removes orders.meta (not asked for by the shaping there, so present before redaction).
    const me = await request(`${gw.url}/me/42`, { headers: key });
    assert.equal(me.json.orders.meta, undefined);
  });

  test('flat merge, flatten across nested arrays, and no prototype keys merged', async () => {
    const r = await request(`${gw.url}/flat/42`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { id: '42', name: 'Ann', lines: [1, 2, 3], extra: 1 });
    assert.ok(!Object.hasOwn(r.json, '__proto__') && !Object.hasOwn(r.json, 'constructor'));
    assert.ok(!r.body.includes('spoof'), 'a service cannot forge the $errors member');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('sequential steps: a hidden step feeds the next path', async () => {
    const r = await request(`${gw.url}/steps/42`);
    assert.deepEqual(r.json, { orders: 'o-7' });
    assert.deepEqual(orders.received.map((x) => x.url), ['/orders/o-7']);
  });

  test('a step whose source failed is not called (424), and says so', async () => {
    const r = await request(`${gw.url}/steps/gone`);
    assertProblem(r, 404, 'GH_AGGREGATE_FAILED');
    assert.deepEqual(r.json.failed, {
      profile: { status: 404, code: 'GH_UPSTREAM_ERROR', title: 'The upstream service failed to answer' },
      orders: { status: 424, code: 'GH_DEPENDENCY_FAILED', title: 'Not called: a backend whose answer it needs failed' },
    });
    assert.ok(!r.body.includes('users_v2'));
    assert.equal(orders.received.length, 0);
  });

  test('hostile or missing values from an earlier answer fail the step; nothing is sent', async () => {
    for (const id of [...Object.keys(STEP_VALUES), 'none']) {
      const r = await request(`${gw.url}/steps/${id}`);
      assertProblem(r, 502, 'GH_AGGREGATE_FAILED');
      assert.deepEqual(r.json.failed, { orders: { status: 502, code: 'GH_UPSTREAM_ERROR', title: 'The upstream service failed to answer' } }, id);
    }
    assert.equal(orders.received.length, 0);
    assert.equal(canary.received.length, 0);
  });

  test('values are encoded as one segment or query value', async () => {
    const r = await request(`${gw.url}/h/a%20b%3Fc%23d?q=x%26y%3Dz%3F%25&other=1`, { headers: { 'x-tenant': 'é ü' } });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(users.received.map((x) => x.url), ['/users/a%20b%3Fc%23d?q=x%26y%3Dz%3F%25&t=%C3%A9%20%C3%BC']);
    const plus = await request(`${gw.url}/h/%C3%A9?q=1+2&x=2`, { headers: { 'x-tenant': 't' } });
    assert.equal(plus.status, 200);
    assert.equal(users.received[1]!.url, '/users/%C3%A9?q=1%202&t=t');
  });

  test('hostile client values are refused with 400 naming the placeholder; nothing reaches any service', async () => {
    const c = `127.0.0.1:${canary.port}`;
    const cases: [string, Record<string, string>, string, string][] = [
      [`/h/%40${c}?q=1`, { 'x-tenant': 't' }, 'path', 'id'],
      [`/h/ok?q=..`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=.`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=%2F`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=//${c}/x`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=@${c}`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=%2E%2E%2Fadmin`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=a%00b`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok`, { 'x-tenant': 't' }, 'query', 'q'],
      [`/h/ok?q=1`, { 'x-tenant': '../admin' }, 'header', 'x-tenant'],
      [`/h/ok?q=1`, { 'x-tenant': `http:\\\\${c}` }, 'header', 'x-tenant'],
      [`/h/ok?q=1`, {}, 'header', 'x-tenant'],
    ];
    for (const [path, headers, where, field] of cases) {
      const r = await request(`${gw.url}${path}`, { headers });
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.errors[0].in, where, path);
      assert.equal(r.json.errors[0].field, `/${field}`, path);
      assert.equal(r.json.detail, `${where}.${field}: ${r.json.errors[0].message}`);
      assert.ok(!r.body.includes(c) && !r.body.includes('admin'), `the value is never echoed: ${r.body}`);
    }
    const missing = await request(`${gw.url}/h/ok`, { headers: { 'x-tenant': 't' } });
    assert.deepEqual(missing.json.errors, [{ in: 'query', field: '/q', message: 'is required' }]);
    const hostile = await request(`${gw.url}/h/ok?q=..`, { headers: { 'x-tenant': 't' } });
    assert.deepEqual(hostile.json.errors, [{ in: 'query', field: '/q', message: 'cannot be used in a backend path' }]);
    // What the gateway itself refuses before routing stays refused: an encoded slash, a dot segment.
    assertProblem(await request(`${gw.url}/h/a%2Fb?q=1`, { headers: { 'x-tenant': 't' } }), 400, 'GH_BAD_PATH_ENCODING');
    const dots = await request(`${gw.url}/h/%2e%2e?q=1`, { headers: { 'x-tenant': 't' } });
    assertProblem(dots, 404, 'GH_ROUTE_NOT_FOUND');
    assert.equal(users.received.length, 0);
    assert.equal(canary.received.length, 0);
  });

  test('answers that cannot be merged fail their part: too large, not JSON, broken, too deep, redirect, encoded', async () => {
    const expect: Record<string, [number, string]> = {
      big: [502, 'GH_RESPONSE_TOO_LARGE'], text: [502, 'GH_UPSTREAM_ERROR'], broken: [502, 'GH_UPSTREAM_ERROR'],
      deep: [502, 'GH_UPSTREAM_ERROR'], redirect: [502, 'GH_UPSTREAM_ERROR'], gzip: [502, 'GH_UPSTREAM_ERROR'], missing: [404, 'GH_UPSTREAM_ERROR'],
    };
    for (const [what, [status, code]] of Object.entries(expect)) {
      const r = await request(`${gw.url}/bounds/${what}`);
      assert.equal(r.status, 200, what);
      assert.deepEqual(r.json.ok, { id: '42' });
      assert.equal(r.json.$errors.one.status, status, what);
      assert.equal(r.json.$errors.one.code, code, what);
    }
    // The redirect was not followed.
    assert.equal(canary.received.length, 0);
  });

  test('the calls still out are abandoned when the client leaves', async () => {
    const closed = new Promise<void>((resolve) => { slowClosed = resolve; });
    const ac = new AbortController();
    const got = undiciRequest(`${gw.url}/slow-only`, { signal: ac.signal }).catch(() => null);
    while (slow.received.length === 0) await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    ac.abort();
    await got;
    await closed;
    slowClosed = null;
    assert.ok(performance.now() - t0 < 5000, 'the call was cut when the client left, not at its 30 s timeout');
  });
});

async function accessLine(gw: TestGateway, id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const line = gw.access.find((l) => l.requestId === id);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access line for ${id}`);
}

export type { Reply };
