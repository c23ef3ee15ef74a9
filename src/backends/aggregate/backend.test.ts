/**
 * The `aggregate:` block at config load: every problem a check finds, with its exact message and key path;
 * what a valid block compiles to (launch order, the values each call hands on, defaults); and the status and
 * header of failed parts. Requests through real services are in test/aggregate.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import { AggregateBackend, partialHeader, worstStatus, type AggregateCall, type PartFailure } from './backend.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

/** A config with services `users` and `orders` and one aggregated route on `path` with this block. */
function yaml(block: string, path = '/me/:id'): string {
  return `services:
  users: { targets: [http://127.0.0.1:9] }
  orders: { targets: [http://127.0.0.1:9] }
routes:
  - name: me
    match: { path: ${path} }
    aggregate:
${block.split('\n').map((l) => `      ${l}`).join('\n')}
`;
}

function build(block: string, path?: string): AggregateBackend {
  const rt = compile(loadConfigText(yaml(block, path), 'gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  const route = rt.router.ordered.find((r) => r.name === 'me')!;
  assert.ok(route.backend instanceof AggregateBackend);
  return route.backend;
}

function problems(block: string, path?: string): string[] {
  try { build(block, path); return []; } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const AT = 'routes[0].aggregate';

describe('config problems', () => {
  test('unknown service, with a hint', () => {
    assert.deepEqual(problems('backends:\n  profile: { service: userz, path: "/users/{id}" }'), [
      `${AT}.backends.profile.service: unknown service "userz" (did you mean "users"?)`,
    ]);
    assert.deepEqual(problems('backends:\n  profile: { service: billing, path: "/users/{id}" }'), [
      `${AT}.backends.profile.service: unknown service "billing"`,
    ]);
  });

  test('a cycle of steps, and a step on itself', () => {
    assert.deepEqual(problems(`backends:
  a: { service: users, path: "/a/{c.x}" }
  b: { service: users, path: "/b/{a.x}" }
  c: { service: users, path: "/c/{b.x}" }
  d: { service: users, path: "/d/{id}" }`), [`${AT}.backends: calls wait for each other in a cycle: a → c → b → a`]);
    assert.deepEqual(problems('backends:\n  a: { service: users, path: "/a/{a.next}" }'), [
      `${AT}.backends.a.path: has a placeholder {a.next} that takes a value from this backend's own answer`,
    ]);
  });

  test('unknown placeholder roots and parameters', () => {
    assert.deepEqual(problems(`backends:
  profile: { service: users, path: "/users/{id}" }
  orders: { service: orders, path: "/orders/{profil.lastOrderId}" }
  other: { service: orders, path: "/x/{session.id}" }
  param: { service: orders, path: "/x/{userId}" }
  rest: { service: orders, path: "/x/{*}" }`), [
      `${AT}.backends.orders.path: has a placeholder {profil.lastOrderId}, but there is no backend "profil" (did you mean "profile"?); sources are path parameters, query, header, consumer and claims`,
      `${AT}.backends.other.path: has a placeholder {session.id}, but there is no backend "session"; sources are path parameters, query, header, consumer and claims`,
      `${AT}.backends.param.path: has a placeholder {userId}, but the route's path has no parameter :userId`,
      `${AT}.backends.rest.path: uses {*}, which is not supported: the rest of a path may hold \`/\`; capture single segments with parameters (\`:id\`)`,
    ]);
  });

  test('reserved and malformed backend names', () => {
    assert.deepEqual(problems(`backends:
  query: { service: users, path: /a }
  header: { service: users, path: /a }
  consumer: { service: users, path: /a }
  claims: { service: users, path: /a }
  "2x": { service: users, path: /a }
  ok: { service: users, path: /a }`), [
      `${AT}.backends.query: "query" is reserved for placeholders ({query.name}); give the backend another name`,
      `${AT}.backends.header: "header" is reserved for placeholders ({header.name}); give the backend another name`,
      `${AT}.backends.consumer: "consumer" is reserved for placeholders ({consumer.id}); give the backend another name`,
      `${AT}.backends.claims: "claims" is reserved for placeholders ({claims.name}); give the backend another name`,
      `${AT}.backends.2x: must start with a letter and hold only letters, digits, "_" and "-"`,
    ]);
  });

  test('templates, field operations, timeouts and hidden calls', () => {
    assert.deepEqual(problems(`timeout: 2s
backends:
  a: { service: users, path: "//evil.example/{id}" }
  b: { service: users, path: /b, timeout: 5s, allow: [x], deny: [y] }
  c: { service: users, path: /c, hide: true, rename: { x: __proto__ } }
  d: { service: users, path: /d, method: HEAD }`), [
      `${AT}.backends.d.method: must be GET, POST, PUT, PATCH or DELETE`,
    ]);
    assert.deepEqual(problems(`timeout: 2s
backends:
  a: { service: users, path: "//evil.example/{id}" }
  b: { service: users, path: /b, timeout: 5s, allow: [x], deny: [y] }
  c: { service: users, path: /c, hide: true, rename: { x: __proto__ } }`), [
      `${AT}.backends.a.path: has "//" (an empty segment, or a host where a path should be)`,
      `${AT}.backends.b.timeout: is longer than the aggregate's timeout (2s), which bounds every call`,
      `${AT}.backends.b: gives both allow and deny; give one`,
      `${AT}.backends.c.rename.x: cannot rename to __proto__`,
      `${AT}.backends.c.hide: hides a backend whose answer no other path uses; remove the call`,
    ]);
    assert.deepEqual(problems('backends:\n  a: { service: users, path: "/a/{b.x}", hide: true }\n  b: { service: users, path: /b, hide: true }'), [
      `${AT}.backends.a.hide: hides a backend whose answer no other path uses; remove the call`,
      `${AT}.backends: every backend is hidden; the answer would be empty`,
    ]);
  });

  test('a route names one backend', () => {
    const text = yaml('backends:\n  a: { service: users, path: /a }').replace('    aggregate:', '    service: users\n    aggregate:');
    assert.throws(() => compile(loadConfigText(text, 'gatehouse.yaml', {}), silentLogger()), /names 2 backends \(service, aggregate\); a route has exactly one/);
  });
});

describe('what a block compiles to', () => {
  test('defaults, launch order and the values calls hand on', () => {
    const b = build(`backends:
  orders: { service: orders, path: "/orders/{profile.lastOrderId}?user={consumer.id}&first={items.0.id}" }
  profile: { service: users, path: "/users/{id}", maxSize: 64kb, timeout: 1s, method: POST }
  items: { service: orders, path: "/items?owner={profile.id}", hide: true }
  stats: { service: orders, path: /stats }`);
    assert.equal(b.flat, false);
    assert.equal(b.failWhole, false);
    assert.equal(b.timeoutMs, 10_000);
    assert.equal(b.slots, 5);
    assert.equal(b.readsQuery, false);
    const byName = (n: string): AggregateCall => b.calls.find((c) => c.name === n)!;
    assert.deepEqual(b.calls.map((c) => c.name), ['orders', 'profile', 'items', 'stats']);
    // Every call after those it waits for; independent calls first, as written.
    assert.deepEqual(b.order.map((i) => b.calls[i]!.name), ['profile', 'stats', 'items', 'orders']);
    const orders = byName('orders');
    assert.deepEqual([orders.method, orders.maxBytes, orders.timeoutMs, orders.hide], ['GET', 1024 * 1024, 10_000, false]);
    assert.deepEqual(orders.deps.map((i) => b.calls[i]!.name), ['profile', 'items']);
    const profile = byName('profile');
    assert.deepEqual([profile.method, profile.maxBytes, profile.timeoutMs, profile.base], ['POST', 64 * 1024, 1000, 3]);
    // orders' slots are 0..2: the profile hands its lastOrderId to slot 0 and its id to items' slot (4).
    assert.deepEqual(profile.exports, [{ slot: 0, path: ['lastOrderId'] }, { slot: 4, path: ['id'] }]);
    assert.deepEqual(byName('items').exports, [{ slot: 2, path: ['0', 'id'] }]);
    assert.equal(byName('items').hide, true);
    assert.equal(byName('stats').shaper, null);
  });

  test('merge, failure policy and the query flag', () => {
    const b = build('merge: flat\nonFailure: fail\ntimeout: 1500ms\nbackends:\n  a: { service: users, path: "/a?q={query.q}", timeout: 1s, allow: [x] }');
    assert.equal(b.flat, true);
    assert.equal(b.failWhole, true);
    assert.equal(b.timeoutMs, 1500);
    assert.equal(b.readsQuery, true);
    assert.notEqual(b.calls[0]!.shaper, null);
  });
});

describe('failed parts', () => {
  const f = (status: number, code: PartFailure['code']): PartFailure => ({ status, code });

  test('the worst status: 5xx over 4xx, the highest of a class, failed dependencies only repeat a cause', () => {
    assert.equal(worstStatus([null, f(502, 'GH_UPSTREAM_ERROR'), f(504, 'GH_UPSTREAM_TIMEOUT')]), 504);
    assert.equal(worstStatus([f(404, 'GH_UPSTREAM_ERROR'), f(500, 'GH_UPSTREAM_ERROR')]), 500);
    assert.equal(worstStatus([f(404, 'GH_UPSTREAM_ERROR'), f(424, 'GH_DEPENDENCY_FAILED')]), 404);
    assert.equal(worstStatus([f(424, 'GH_DEPENDENCY_FAILED')]), 502);
  });

  test('the Gatehouse-Partial header is an RFC 8941 list in config order', () => {
    const calls = [{ name: 'profile' }, { name: 'orders' }, { name: 'billing_v2' }] as unknown as AggregateCall[];
    assert.equal(partialHeader(calls, [null, f(504, 'GH_UPSTREAM_TIMEOUT'), f(502, 'GH_UPSTREAM_ERROR')]),
      'orders;status=504;code="GH_UPSTREAM_TIMEOUT", billing_v2;status=502;code="GH_UPSTREAM_ERROR"');
  });
});
