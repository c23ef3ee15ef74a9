/**
 * The router: every match rule, the documented priority order, 405 collection, and unreachable-route
 * detection. Routes are built from `match:` snippets as a user writes them.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { Router, RouteMatcher, shadowedBy, type Routable } from './router.js';
import type { MatchConfig } from '../config/schema.js';

type R = Routable;
function routes(defs: [string, Partial<MatchConfig> & { priority?: number }][], caseSensitive = true): Router<R> {
  return new Router(defs.map(([name, m], index) => {
    const { priority, ...match } = m;
    return { name, index, priority: priority ?? 0, matcher: new RouteMatcher({ path: '/*', ...match } as MatchConfig, caseSensitive) };
  }), caseSensitive);
}
function find(r: Router<R>, path: string, opts: { method?: string; host?: string; headers?: IncomingHttpHeaders; query?: string } = {}): string | string[] | null {
  const m = r.find(opts.method ?? 'GET', opts.host ?? 'api.example.com', path, opts.headers ?? {}, opts.query ?? '');
  if (m === null || Array.isArray(m)) return m;
  return m.params && Object.keys(m.params).length ? `${m.route.name} ${JSON.stringify(m.params)}` : m.route.name;
}

describe('router: match rules', () => {
  test('exact, parameter and prefix paths', () => {
    const r = routes([['exact', { path: '/health' }], ['params', { path: '/users/:id/orders/:oid' }], ['prefix', { path: '/static/*' }]]);
    assert.equal(find(r, '/health'), 'exact');
    assert.equal(find(r, '/health/x'), null);
    assert.equal(find(r, '/users/42/orders/7'), 'params {"id":"42","oid":"7"}');
    assert.equal(find(r, '/users/42/orders'), null);
    assert.equal(find(r, '/users/42/orders/7/x'), null);
    assert.equal(find(r, '/users//orders/7'), null);
    assert.equal(find(r, '/static'), 'prefix');
    assert.equal(find(r, '/static/a/b.css'), 'prefix');
    assert.equal(find(r, '/staticx'), null, 'a prefix matches at segment boundaries only');
  });

  test('hosts: exact, wildcard (not the bare domain), case-insensitive', () => {
    const r = routes([['exact', { host: 'api.example.com', path: '/x' }], ['wild', { host: '*.example.com', path: '/x' }], ['any', { path: '/x' }]]);
    assert.equal(find(r, '/x', { host: 'api.example.com' }), 'exact');
    assert.equal(find(r, '/x', { host: 'eu.example.com' }), 'wild');
    assert.equal(find(r, '/x', { host: 'a.b.example.com' }), 'wild');
    assert.equal(find(r, '/x', { host: 'example.com' }), 'any');
    assert.equal(find(r, '/x', { host: 'evilexample.com' }), 'any');
  });

  test('methods, with HEAD allowed wherever GET is, and 405 lists what is allowed', () => {
    const r = routes([['read', { path: '/items', methods: ['GET'] }], ['write', { path: '/items', methods: ['POST', 'PUT'] }]]);
    assert.equal(find(r, '/items', { method: 'HEAD' }), 'read');
    assert.equal(find(r, '/items', { method: 'PUT' }), 'write');
    assert.deepEqual(find(r, '/items', { method: 'DELETE' }), ['GET', 'HEAD', 'POST', 'PUT']);
    assert.equal(find(r, '/other', { method: 'DELETE' }), null);
  });

  test('headers and query conditions, `*` meaning present', () => {
    const r = routes([
      ['beta', { path: '/x', headers: { 'x-beta': '1' } }],
      ['traced', { path: '/x', headers: { 'x-trace': '*' } }],
      ['debug', { path: '/x', query: { debug: 'true' } }],
      ['plain', { path: '/x' }],
    ]);
    assert.equal(find(r, '/x', { headers: { 'x-beta': '1' } }), 'beta');
    assert.equal(find(r, '/x', { headers: { 'x-beta': '2' } }), 'plain');
    assert.equal(find(r, '/x', { headers: { 'x-trace': 'abc' } }), 'traced');
    assert.equal(find(r, '/x', { query: 'a=1&debug=true' }), 'debug');
    assert.equal(find(r, '/x', { query: 'debug=false' }), 'plain');
  });

  test('versions by header and by media type in Accept', () => {
    const r = routes([
      ['v2-header', { path: '/users/*', version: { header: 'api-version', value: '2' } }],
      ['v3-media', { path: '/users/*', version: { mediaType: 'application/vnd.acme.v3+json' } }],
      ['v1', { path: '/users/*' }],
    ]);
    assert.equal(find(r, '/users/1', { headers: { 'api-version': '2' } }), 'v2-header');
    assert.equal(find(r, '/users/1', { headers: { accept: 'text/html, application/vnd.acme.v3+json;q=0.9' } }), 'v3-media');
    assert.equal(find(r, '/users/1', { headers: { accept: 'application/vnd.acme.v3+jsonx' } }), 'v1');
    assert.equal(find(r, '/users/1'), 'v1');
  });

  test('case-insensitive matching keeps the parameter as sent', () => {
    const r = routes([['admin', { path: '/admin/*' }], ['user', { path: '/Users/:Name' }]], false);
    assert.equal(find(r, '/ADMIN/panel'), 'admin');
    assert.equal(find(r, '/users/JoE'), 'user {"Name":"JoE"}');
  });
});

describe('router: priority', () => {
  test('most specific wins regardless of config order', () => {
    const r = routes([
      ['catch-all', { path: '/*' }],
      ['prefix', { path: '/users/*' }],
      ['params', { path: '/users/:id' }],
      ['literal-params', { path: '/users/me' }],
      ['host', { host: 'api.example.com', path: '/*' }],
    ]);
    // A route naming the host beats every route that does not.
    assert.equal(find(r, '/users/me'), 'host');
    assert.equal(find(r, '/users/me', { host: 'other.test' }), 'literal-params');
    assert.equal(find(r, '/users/42', { host: 'other.test' }), 'params {"id":"42"}');
    assert.equal(find(r, '/users/42/orders', { host: 'other.test' }), 'prefix');
    assert.equal(find(r, '/orders', { host: 'other.test' }), 'catch-all');
  });

  test('longer prefixes win; more conditions win; config order breaks the last tie', () => {
    const r = routes([
      ['short', { path: '/api/*' }],
      ['long', { path: '/api/v1/*' }],
      ['first', { path: '/api/v1/items' }],
      ['second', { path: '/api/v1/items' }],
      ['get-only', { path: '/api/v1/items', methods: ['GET'] }],
    ]);
    assert.equal(find(r, '/api/v2/x'), 'short');
    assert.equal(find(r, '/api/v1/x'), 'long');
    assert.equal(find(r, '/api/v1/items'), 'get-only');
    assert.equal(find(r, '/api/v1/items', { method: 'POST' }), 'first');
  });

  test('an explicit priority overrides specificity', () => {
    const r = routes([['maintenance', { path: '/*', priority: 100 }], ['users', { path: '/users/:id' }]]);
    assert.equal(find(r, '/users/1'), 'maintenance');
  });

  test('order is deterministic: the same routes in any config order give the same table', () => {
    const defs: [string, Partial<MatchConfig>][] = [['a', { path: '/a/*' }], ['b', { path: '/a/:x' }], ['c', { path: '/a/b' }], ['d', { host: '*.x.com', path: '/*' }], ['e', { path: '/*', methods: ['GET'] }]];
    const one = routes(defs).ordered.map((x) => x.name);
    const two = routes([...defs].reverse()).ordered.map((x) => x.name);
    assert.deepEqual(one, ['d', 'c', 'b', 'a', 'e']);
    assert.deepEqual(two, one);
  });
});

describe('router: unreachable routes', () => {
  test('a route covered by an earlier one is reported', () => {
    const r = routes([
      ['all', { path: '/api/*', priority: 10 }],
      ['users', { path: '/api/users/:id' }],
      ['other-host', { host: 'admin.example.com', path: '/x' }],
    ]);
    const byName = new Map(r.ordered.map((x) => [x.name, x]));
    assert.equal(shadowedBy(r.ordered, byName.get('users')!)?.name, 'all');
    assert.equal(shadowedBy(r.ordered, byName.get('other-host')!), null);
  });

  test('conditions and methods on the earlier route mean it does not shadow', () => {
    const r = routes([
      ['get', { path: '/x/*', methods: ['GET'], priority: 5 }],
      ['beta', { path: '/x/*', headers: { 'x-beta': '1' }, priority: 5 }],
      ['later', { path: '/x/y' }],
    ]);
    assert.equal(shadowedBy(r.ordered, r.ordered.find((x) => x.name === 'later')!), null);
  });
});
