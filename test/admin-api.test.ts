/**
 * The admin API through a real gateway: every endpoint with good and bad input, secrets never shown, changes
 * live at once and written back to the file with its comments, read-only configs refused, optimistic
 * concurrency, the audit log, versions and rollback, a hand edit seen as a version (and a bad one shown as
 * refused), and the OpenAPI document kept true (every documented operation served, every route documented,
 * answers valid against its schemas).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';
import { API_ROUTES } from '../src/admin/api.js';
import { OPENAPI } from '../src/admin/openapi.js';

const TOKEN = 'test-admin-token-0123456789';
const KEY = newApiKey('gh_test_');
const KEY_HASH = hashApiKey(KEY);
const PASSWORD_HASH = '$2b$10$abcdefghijklmnopqrstuu9Qh0Fj7bLQ5H6kO1bJXgmYWmQXgkKoy';

const config = (up: string, admin = `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`): string => `# Gatehouse test config
${admin}
services:
  a:            # the echo upstream
    targets: ["${up}"]
consumers:
  acme:
    plan: gold
    keys: [${KEY_HASH}]
    basic: { username: acme, password: "${PASSWORD_HASH}" }
  solo: {}
auth:
  api-key:
    apiKey: { header: x-api-key }
plans:
  gold:
    quota: { limit: 1000, per: month }
    pricing: { currency: USD, perCall: 0.001 }
routes:
  # the main route
  - name: main
    match: { path: /main/* }   # keep this comment
    service: a
  - name: keyed
    match: { path: /keyed/* }
    service: a
    auth: [api-key]
`;

interface Api { (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply> }

function client(gw: TestGateway, token: string | null = TOKEN): Api {
  return (method, path, body, headers = {}) => request(`${gw.adminUrl}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

describe('admin API', () => {
  let up: Upstream;
  let gw: TestGateway;
  let api: Api;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url));
    api = client(gw);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  test('a token is required on /api/; probes, /openapi.json and the dashboard shell are open', async () => {
    assert.equal((await client(gw, null)('GET', '/api/overview')).status, 401);
    assert.equal((await client(gw, 'wrong-token-wrong-token')('GET', '/api/overview')).status, 401);
    assert.equal((await client(gw, null)('GET', '/healthz')).status, 200);
    assert.equal((await client(gw, null)('GET', '/readyz')).status, 200);
    const doc = await client(gw, null)('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.json.openapi, '3.1.0');
    assert.equal((await client(gw, null)('GET', '/metrics')).status, 401);
    assert.equal((await api('GET', '/metrics')).status, 200);
  });

  test('reads: overview, config, routes, services, consumers, plans; 404 and 405', async () => {
    const o = await api('GET', '/api/overview');
    assert.equal(o.status, 200);
    assert.equal(o.headers.etag, `"${o.json.version}"`);
    assert.deepEqual({ ...o.json, version: 0, generation: 0, startedAt: '' }, { version: 0, generation: 0, source: 'file', writable: true, routes: 2, services: 1, consumers: 2, plans: 1, startedAt: '', refused: null });
    const routes = await api('GET', '/api/routes');
    assert.deepEqual(routes.json.map((r: { name: string }) => r.name), ['main', 'keyed']);
    assert.deepEqual(routes.json[1], { name: 'keyed', match: { path: '/keyed/*' }, backend: { kind: 'service', service: 'a' }, features: ['auth'], websocket: false, status: 'active' });
    const main = await api('GET', '/api/routes/main');
    assert.deepEqual(main.json.config, { name: 'main', match: { path: '/main/*' }, service: 'a' });
    const services = await api('GET', '/api/services');
    assert.equal(services.json[0].name, 'a');
    assert.deepEqual(services.json[0].routes, ['main', 'keyed']);
    assert.deepEqual(services.json[0].targets, [{ url: up.url, weight: 1, healthy: true, ejected: false, available: true, active: 0 }]);
    assert.equal(services.json[0].circuit, null);
    assert.equal((await api('GET', '/api/services/a')).json.config.targets[0], up.url);
    const consumers = await api('GET', '/api/consumers');
    const acme = consumers.json.find((c: { id: string }) => c.id === 'acme');
    assert.deepEqual(acme.credentials, { keys: [{ id: `${KEY_HASH.slice(0, 19)}…`, expires: null }], jwt: null, basic: { username: 'acme' }, certificates: 0 });
    assert.equal(acme.plan, 'gold');
    const plans = await api('GET', '/api/plans');
    assert.deepEqual(plans.json, [{ name: 'gold', status: 'active', consumers: ['acme'], timeZone: 'UTC', rateLimit: false, quota: { limit: 1000, per: 'month' }, pricing: true }]);
    assert.equal((await api('GET', '/api/plans/gold')).json.config.pricing.currency, 'USD');
    for (const p of ['/api/routes/nope', '/api/services/nope', '/api/consumers/nope', '/api/plans/nope']) {
      const r = await api('GET', p);
      assert.equal(r.status, 404, p);
      assert.equal(r.json.code, 'GH_CONFIG_NOT_FOUND');
      assert.equal(r.headers['content-type'], 'application/problem+json');
    }
    const unknown = await api('GET', '/api/nothing');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'GH_ROUTE_NOT_FOUND');
    const wrong = await api('PATCH', '/api/routes/main');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, HEAD, PUT, DELETE');
    assert.equal((await api('GET', '/api/routes/%zz')).status, 400);
  });

  test('no secret is ever shown: key hashes as 12 hex digits, the rest redacted', async () => {
    const bodies = await Promise.all(['/api/config', '/api/consumers', '/api/consumers/acme', '/api/overview'].map((p) => api('GET', p)));
    for (const b of bodies) {
      assert.doesNotMatch(b.body, new RegExp(KEY_HASH.slice(20)));
      assert.doesNotMatch(b.body, /\$2b\$10\$/);
      assert.doesNotMatch(b.body, new RegExp(TOKEN));
    }
    const cfg = bodies[0]!.json.config;
    assert.equal(cfg.admin.token, '[REDACTED]');
    assert.equal(cfg.consumers.acme.basic.password, '[REDACTED]');
    assert.deepEqual(cfg.consumers.acme.keys, [`${KEY_HASH.slice(0, 19)}…`]);
  });

  test('routes: create, update, refuse bad input with the file\'s messages, delete; the file keeps its comments', async () => {
    assert.equal((await request(`${gw.url}/orders/1`)).status, 404);
    const created = await api('PUT', '/api/routes/orders', { match: { path: '/orders/*' }, service: 'a' });
    assert.equal(created.status, 201, created.body);
    assert.equal(created.json.name, 'orders');
    assert.equal((await request(`${gw.url}/orders/1`)).status, 200);
    const updated = await api('PUT', '/api/routes/orders', { name: 'orders', match: { path: '/orders/*', methods: ['GET'] }, service: 'a' });
    assert.equal(updated.status, 200);
    assert.equal(updated.json.version, created.json.version + 1);
    assert.equal((await request(`${gw.url}/orders/1`, { method: 'POST', body: 'x' })).status, 405);
    const text = readFileSync(gw.file, 'utf8');
    assert.match(text, /^# Gatehouse test config$/m);
    assert.match(text, /# the echo upstream/);
    assert.match(text, /# the main route/);
    assert.match(text, /match: \{ path: \/main\/\* \} # keep this comment/);
    assert.match(text, /- name: orders\n {4}match:\n {6}path: \/orders\/\*\n {6}methods:\n {8}- GET\n {4}service: a\n/);

    const exists = await api('POST', '/api/routes', { name: 'orders', match: { path: '/x' }, service: 'a' });
    assert.equal(exists.status, 409);
    assert.equal(exists.json.code, 'GH_CONFIG_CONFLICT');
    const noName = await api('POST', '/api/routes', { match: { path: '/x' }, service: 'a' });
    assert.equal(noName.status, 422);
    assert.deepEqual(noName.json.errors, [{ in: 'body', field: '/name', message: 'is required' }]);
    const badPath = await api('PUT', '/api/routes/bad', { match: { path: 'no-slash' }, service: 'a' });
    assert.equal(badPath.status, 422);
    assert.equal(badPath.json.code, 'GH_CONFIG_INVALID');
    assert.equal(badPath.json.title, 'The configuration change is not valid');
    assert.equal(badPath.json.detail, 'must start with /');
    assert.deepEqual(badPath.json.errors, [{ in: 'body', field: '/match/path', message: 'must start with /' }]);
    const badService = await api('PUT', '/api/routes/bad', { match: { path: '/bad' }, service: 'nope' });
    assert.equal(badService.status, 422);
    assert.deepEqual(badService.json.errors, [{ in: 'body', field: '/service', message: 'unknown service "nope"' }]);
    const unknownKey = await api('PUT', '/api/routes/bad', { match: { path: '/bad' }, service: 'a', retires: 1 });
    assert.equal(unknownKey.json.errors[0].field, '');
    assert.match(unknownKey.json.errors[0].message, /unknown key "retires"/);
    const mismatch = await api('PUT', '/api/routes/bad', { name: 'other', match: { path: '/bad' }, service: 'a' });
    assert.deepEqual(mismatch.json.errors, [{ in: 'body', field: '/name', message: 'must be "bad", the name in the URL (or left out)' }]);
    assert.equal((await api('PUT', '/api/routes/bad', '{nope')).status, 400);
    assert.equal((await api('PUT', '/api/routes/bad', '[1]')).status, 422);
    assert.equal((await api('PUT', '/api/routes/bad', 'x: 1', { 'content-type': 'text/yaml' })).status, 415);
    assert.equal((await api('PUT', '/api/routes/b%20ad', { match: { path: '/bad' }, service: 'a' })).status, 422);
    assert.equal((await api('GET', '/api/routes/bad')).status, 404, 'nothing refused was applied');

    const del = await api('DELETE', '/api/routes/orders');
    assert.equal(del.status, 200);
    assert.equal((await request(`${gw.url}/orders/1`)).status, 404);
    assert.equal((await api('DELETE', '/api/routes/orders')).status, 404);
  });

  test('services, consumers and plans: create, update, delete; references are checked', async () => {
    assert.equal((await api('POST', '/api/services', { name: 'b', targets: [up.url] })).status, 201);
    assert.equal((await api('POST', '/api/services', { name: 'b', targets: [up.url] })).status, 409);
    assert.equal((await api('PUT', '/api/services/b', { targets: [up.url], retries: 1 })).status, 200);
    const badTarget = await api('PUT', '/api/services/b', { targets: [] });
    assert.equal(badTarget.status, 422);
    assert.equal(badTarget.json.errors[0].field, '/targets');
    assert.equal((await api('PUT', '/api/routes/via-b', { match: { path: '/via-b' }, service: 'b' })).status, 201);
    const inUse = await api('DELETE', '/api/services/b');
    assert.equal(inUse.status, 422);
    assert.equal(inUse.json.errors[0].field, '');
    assert.match(inUse.json.errors[0].message, /^routes\[\d\]\.service: unknown service "b"/);
    assert.equal((await api('DELETE', '/api/routes/via-b')).status, 200);
    assert.equal((await api('DELETE', '/api/services/b')).status, 200);
    assert.equal((await api('DELETE', '/api/services/b')).status, 404);

    assert.equal((await api('POST', '/api/plans', { name: 'silver', quota: { limit: 10, per: 'day' } })).status, 201);
    const badPlan = await api('PUT', '/api/plans/silver', { quota: { limit: 0, per: 'day' } });
    assert.deepEqual(badPlan.json.errors, [{ in: 'body', field: '/quota/limit', message: 'must be >= 1' }]);
    assert.equal((await api('POST', '/api/consumers', { id: 'beta', plan: 'silver', groups: ['x'] })).status, 201);
    assert.equal((await api('GET', '/api/consumers/beta')).json.plan, 'silver');
    const planInUse = await api('DELETE', '/api/plans/silver');
    assert.equal(planInUse.status, 422);
    assert.match(planInUse.json.detail, /consumers\.beta\.plan/);
    const badConsumer = await api('PUT', '/api/consumers/beta', { plan: 'nope' });
    assert.equal(badConsumer.status, 422);
    assert.equal(badConsumer.json.errors[0].field, '/plan');
    assert.equal((await api('DELETE', '/api/consumers/beta')).status, 200);
    assert.equal((await api('DELETE', '/api/plans/silver')).status, 200);
  });

  test('API keys: a new key works at once and is shown once; masked secrets sent back are kept; a deleted key stops working', async () => {
    const before = await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': KEY } });
    assert.equal(before.status, 200);
    const made = await api('POST', '/api/consumers/solo/keys', { prefix: 'gh_solo_', expires: '2099-01-01' });
    assert.equal(made.status, 201, made.body);
    assert.match(made.json.key, /^gh_solo_/);
    assert.equal(made.json.id, `${hashApiKey(made.json.key).slice(0, 19)}…`);
    assert.equal((await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': made.json.key } })).status, 200);
    assert.doesNotMatch(readFileSync(gw.file, 'utf8'), new RegExp(made.json.key), 'only the hash is stored');
    assert.equal((await api('POST', '/api/consumers/solo/keys', { prefix: 'BAD' })).json.errors[0].field, '/prefix');
    assert.equal((await api('POST', '/api/consumers/solo/keys', { expires: 'soon' })).json.errors[0].field, '/expires');
    assert.equal((await api('POST', '/api/consumers/solo/keys', { color: 1 })).status, 422);
    assert.equal((await api('POST', '/api/consumers/nope/keys', {})).status, 404);

    // Read acme (masked), change its groups, write it back: its key and password hash survive.
    const acme = (await api('GET', '/api/consumers/acme')).json.config;
    const put = await api('PUT', '/api/consumers/acme', { ...acme, groups: ['partners'] });
    assert.equal(put.status, 200, put.body);
    assert.equal((await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': KEY } })).status, 200);
    assert.match(readFileSync(gw.file, 'utf8'), new RegExp(KEY_HASH));
    assert.match(readFileSync(gw.file, 'utf8'), /\$2b\$10\$abcdefghijklmnopqrstuu9Qh0Fj7bLQ5H6kO1bJXgmYWmQXgkKoy/);

    assert.equal((await api('DELETE', '/api/consumers/solo/keys/zz')).status, 400);
    assert.equal((await api('DELETE', '/api/consumers/solo/keys/sha256:000000000000')).status, 404);
    const del = await api('DELETE', `/api/consumers/solo/keys/${encodeURIComponent(made.json.id)}`);
    assert.equal(del.status, 200, del.body);
    assert.equal((await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': made.json.key } })).status, 401);
  });

  test('If-Match: a stale version is refused with 412, the current one accepted', async () => {
    const v = (await api('GET', '/api/overview')).json.version as number;
    const stale = await api('PUT', '/api/routes/im', { match: { path: '/im' }, service: 'a' }, { 'if-match': `"${v - 1}"` });
    assert.equal(stale.status, 412);
    assert.equal(stale.json.code, 'GH_CONFIG_VERSION_MISMATCH');
    assert.equal((await api('PUT', '/api/routes/im', { match: { path: '/im' }, service: 'a' }, { 'if-match': `"${v}"` })).status, 201);
    assert.equal((await api('DELETE', '/api/routes/im', undefined, { 'if-match': 'garbage' })).status, 412);
    assert.equal((await api('DELETE', '/api/routes/im')).status, 200);
  });

  test('a browser page of another site cannot change anything', async () => {
    const foreign = await api('PUT', '/api/routes/x', { match: { path: '/x' }, service: 'a' }, { origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    const own = new URL(gw.adminUrl!).host;
    const same = await api('PUT', '/api/routes/same-origin', { match: { path: '/same-origin' }, service: 'a' }, { origin: `http://${own}` });
    assert.equal(same.status, 201);
    assert.equal((await api('DELETE', '/api/routes/same-origin')).status, 200);
    assert.equal((await api('POST', '/cache/purge?route=main', undefined, { origin: `http://${own}` })).status, 403);
  });

  test('the audit log names who, when and what, newest first; versions list every change', async () => {
    const r = await api('PUT', '/api/routes/audited', { match: { path: '/audited' }, service: 'a' }, { 'x-gatehouse-actor': 'alice <script>' });
    assert.equal(r.status, 201);
    const audit = await api('GET', '/api/audit?limit=2');
    assert.equal(audit.json.length, 2);
    const e = audit.json[0];
    assert.deepEqual({ ...e, at: '' }, { version: r.json.version, at: '', actor: 'alice script (admin-token@127.0.0.1)', action: 'create', kind: 'route', name: 'audited', summary: 'create route audited' });
    assert.ok(Date.now() - Date.parse(e.at) < 10_000);
    assert.ok(audit.json[1].version < e.version);
    const kinds = new Set((await api('GET', '/api/audit?limit=1000')).json.map((x: { kind: string; action: string }) => `${x.action} ${x.kind}`));
    for (const k of ['create route', 'update route', 'delete route', 'create service', 'delete service', 'create credential', 'delete credential', 'update consumer', 'create plan']) assert.ok(kinds.has(k), k);
    const versions = await api('GET', '/api/versions?limit=3');
    assert.equal(versions.json[0].version, r.json.version);
    assert.equal(versions.json[0].summary, 'create route audited');
    assert.ok(gw.logs.some((l) => l.event === 'config_changed' && l.name === 'audited' && l.actor === 'alice script (admin-token@127.0.0.1)'));
  });

  test('rollback: to the previous version by default, or to a given one; audited', async () => {
    const start = (await api('GET', '/api/overview')).json.version as number;
    await api('PUT', '/api/routes/rb', { match: { path: '/rb' }, service: 'a' });
    assert.equal((await request(`${gw.url}/rb`)).status, 200);
    const rb = await api('POST', '/api/rollback');
    assert.equal(rb.status, 200);
    assert.equal(rb.json.version, start + 2);
    assert.equal((await request(`${gw.url}/rb`)).status, 404);
    assert.doesNotMatch(readFileSync(gw.file, 'utf8'), /name: rb/);
    const again = await api('POST', '/api/rollback', { version: start + 1 });
    assert.equal(again.status, 200);
    assert.equal((await request(`${gw.url}/rb`)).status, 200);
    assert.equal((await api('POST', '/api/rollback', { version: 99999 })).status, 404);
    assert.equal((await api('POST', '/api/rollback', { version: 'x' })).status, 422);
    assert.equal((await api('POST', '/api/rollback', { version: again.json.version })).status, 409);
    const a = (await api('GET', '/api/audit?limit=1')).json[0];
    assert.equal(a.action, 'rollback');
    assert.equal(a.summary, `rollback to version ${start + 1}`);
    assert.equal((await api('DELETE', '/api/routes/rb')).status, 200);
  });

  test('a hand edit of the file is a new version; a bad one is shown as refused and the live config keeps serving', async () => {
    const text = readFileSync(gw.file, 'utf8');
    writeFileSync(gw.file, text.replace('match: { path: /main/* }', 'match: { path: /main2/* }'));
    assert.equal(await gw.reload(), true);
    assert.equal((await request(`${gw.url}/main2/x`)).status, 200);
    const a = (await api('GET', '/api/audit?limit=1')).json[0];
    assert.deepEqual([a.action, a.kind, a.actor], ['reload', 'config', 'file']);
    writeFileSync(gw.file, text.replace('match: { path: /main/* }', 'match: { path: main3 }'));
    assert.equal(await gw.reload(), false);
    assert.equal((await request(`${gw.url}/main2/x`)).status, 200);
    const o = (await api('GET', '/api/overview')).json;
    assert.match(o.refused.problems[0], /^routes\[0\]\.match\.path: must start with \//);
    const main = (await api('GET', '/api/routes/main')).json;
    assert.equal(main.status, 'refused');
    assert.match(main.problems[0], /must start with/);
    // A change on top of a broken hand edit is refused; a rollback repairs it.
    const blocked = await api('PUT', '/api/routes/blocked', { match: { path: '/blocked' }, service: 'a' });
    assert.equal(blocked.status, 409);
    assert.match(blocked.json.detail, /cannot be applied/);
    assert.equal((await api('POST', '/api/rollback')).status, 200);
    assert.equal((await api('GET', '/api/overview')).json.refused, null);
    assert.match(readFileSync(gw.file, 'utf8'), /path: \/main2\/\*/);
    writeFileSync(gw.file, text);
    assert.equal(await gw.reload(), true);
  });

  test('usage, statement, stats and cache purge', async () => {
    await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': KEY } });
    const usage = await api('GET', `/api/consumers/acme/usage?from=${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}`);
    assert.equal(usage.status, 200);
    assert.ok(Array.isArray(usage.json));
    assert.equal((await api('GET', '/api/consumers/acme/usage?from=yesterday')).status, 400);
    assert.equal((await api('GET', '/api/consumers/acme/usage?from=2001-01-01')).status, 400, 'more than two years at once');
    assert.equal((await api('GET', '/api/consumers/acme/usage?from=2026-01-02&to=2026-01-01')).status, 400);
    assert.equal((await api('GET', '/api/consumers/nope/usage')).status, 404);
    const st = await api('GET', '/api/consumers/acme/statement?period=2026-11');
    assert.equal(st.status, 200, st.body);
    assert.equal(st.json.consumer, 'acme');
    assert.equal(st.json.currency, 'USD');
    assert.equal(st.json.period.id, '2026-11');
    assert.equal((await api('GET', '/api/consumers/acme/statement?period=nov')).status, 400);
    assert.equal((await api('GET', '/api/consumers/solo/statement')).status, 400);
    const stats = await api('GET', '/api/stats');
    assert.equal(stats.status, 200);
    assert.ok(Array.isArray(stats.json.routes));
    const purge = await api('POST', '/api/cache/purge?route=main');
    assert.equal(purge.status, 400);
    assert.equal(purge.json.detail, 'This route has no cache');
    assert.equal((await api('POST', '/api/cache/purge?route=nope')).status, 404);
    assert.equal((await api('POST', '/api/cache/purge')).status, 400);
    assert.equal((await api('POST', '/cache/purge?route=main')).status, 400, 'the old path still answers');
  });

  test('the file is written back only when writable: a read-only file is refused with 409', async () => {
    chmodSync(gw.file, 0o444);
    try {
      const o = (await api('GET', '/api/overview')).json;
      assert.equal(o.writable, false);
      assert.equal(o.readonlyReason, 'the config file is read-only');
      const r = await api('PUT', '/api/routes/ro', { match: { path: '/ro' }, service: 'a' });
      assert.equal(r.status, 409);
      assert.equal(r.json.code, 'GH_CONFIG_READONLY');
      assert.equal(r.json.title, 'The configuration cannot be changed through the admin API');
      assert.equal(r.json.detail, 'the config file is read-only');
      assert.equal((await request(`${gw.url}/ro`)).status, 404);
    } finally {
      chmodSync(gw.file, 0o644);
    }
  });

  test('OpenAPI: every documented operation is served, every served route documented, answers match the schemas', async () => {
    const doc = OPENAPI as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object; example?: unknown }> }> }>> };
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const served = new Set(API_ROUTES.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
    assert.deepEqual([...served].filter((x) => !documented.has(x)), [], 'served but not documented');
    assert.deepEqual([...documented].filter((x) => !served.has(x)), [], 'documented but not served');
    // Each documented operation reaches its handler (a harmless request: unknown names, a body that is no element).
    for (const op of documented) {
      const [method, path] = op.split(' ') as [string, string];
      const url = path.replace(/\{\w+\}/g, 'zz-none');
      const r = await api(method, url, method === 'GET' || method === 'DELETE' ? undefined : '[]');
      assert.notEqual(r.status, 405, op);
      assert.ok(!(r.status === 404 && r.json?.detail === 'No admin API endpoint has this path'), op);
      assert.ok(r.status < 500, `${op}: ${r.status} ${r.body}`);
    }
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const schemaOf = (path: string, method: string, status: string) => doc.paths[path]![method]!.responses[status]!.content!['application/json']!;
    // Examples in the document validate against their schemas.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(ops)) {
        for (const [status, resp] of Object.entries(o.responses)) {
          const media = resp.content?.['application/json'];
          if (media?.example !== undefined) assert.ok(ajv.validate(media.schema, media.example), `${method} ${path} ${status} example: ${ajv.errorsText()}`);
        }
      }
    }
    // Live answers validate against their schemas.
    const live: [string, string, string][] = [
      ['/api/overview', '/api/overview', '200'], ['/api/config', '/api/config', '200'], ['/api/routes', '/api/routes', '200'],
      ['/api/routes/{name}', '/api/routes/main', '200'], ['/api/services', '/api/services', '200'], ['/api/services/{name}', '/api/services/a', '200'],
      ['/api/consumers', '/api/consumers', '200'], ['/api/consumers/{id}', '/api/consumers/acme', '200'], ['/api/plans', '/api/plans', '200'],
      ['/api/plans/{name}', '/api/plans/gold', '200'], ['/api/audit', '/api/audit', '200'], ['/api/versions', '/api/versions', '200'],
      ['/api/stats', '/api/stats', '200'], ['/api/consumers/{id}/usage', '/api/consumers/acme/usage', '200'], ['/api/consumers/{id}/statement', '/api/consumers/acme/statement', '200'],
    ];
    for (const [path, url, status] of live) {
      const r = await api('GET', url);
      assert.equal(String(r.status), status, url);
      assert.ok(ajv.validate(schemaOf(path, 'get', status).schema, r.json), `${url}: ${ajv.errorsText()}`);
    }
    const made = await api('PUT', '/api/routes/oa', { match: { path: '/oa' }, service: 'a' });
    assert.ok(ajv.validate(schemaOf('/api/routes/{name}', 'put', '201').schema, made.json), ajv.errorsText());
    const bad = await api('PUT', '/api/routes/oa', { match: { path: 'x' }, service: 'a' });
    const problemSchema = doc.paths['/api/routes/{name}']!.put!.responses['422']!.content!['application/problem+json']!.schema;
    assert.ok(ajv.validate(problemSchema, bad.json), ajv.errorsText());
    const del = await api('DELETE', '/api/routes/oa');
    assert.ok(ajv.validate(schemaOf('/api/routes/{name}', 'delete', '200').schema, del.json), ajv.errorsText());
  });
});

describe('admin API settings', () => {
  test('admin.changes: readonly refuses every change with 409 and says why', async () => {
    const up = await startUpstream('a');
    const gw = await startTestGateway(config(up.url, 'admin: { port: 0, changes: readonly }'));
    try {
      const api = client(gw, null);
      const o = (await api('GET', '/api/overview')).json;
      assert.equal(o.writable, false);
      const r = await api('PUT', '/api/routes/x', { match: { path: '/x' }, service: 'a' });
      assert.equal(r.status, 409);
      assert.equal(r.json.code, 'GH_CONFIG_READONLY');
      assert.match(r.json.detail, /admin\.changes is readonly/);
      assert.equal((await api('POST', '/api/rollback')).status, 409);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('without a token (loopback only): the actor is anonymous, and a foreign Host (DNS rebinding) is refused', async () => {
    const up = await startUpstream('a');
    const gw = await startTestGateway(config(up.url, 'admin: { port: 0 }'));
    try {
      const api = client(gw, null);
      assert.equal((await api('GET', '/api/overview', undefined, { host: 'evil.example' })).status, 403);
      assert.equal((await api('GET', '/api/overview', undefined, { host: `localhost:${new URL(gw.adminUrl!).port}` })).status, 200);
      assert.equal((await api('PUT', '/api/routes/anon', { match: { path: '/anon' }, service: 'a' })).status, 201);
      assert.equal((await api('GET', '/api/audit')).json[0].actor, 'anonymous@127.0.0.1');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('with the file watched: our own write is not applied twice, a hand edit is applied by itself', async () => {
    const up = await startUpstream('a');
    const gw = await startTestGateway(config(up.url, 'admin: { port: 0 }'), { watch: true });
    try {
      const api = client(gw, null);
      const reloads = (): number => gw.logs.filter((l) => l.event === 'config_reloaded').length;
      assert.equal((await api('PUT', '/api/routes/watched', { match: { path: '/watched' }, service: 'a' })).status, 201);
      assert.equal(reloads(), 1);
      // The watcher reacts within 150 ms of the write; give it ample time to (wrongly) apply it again.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(reloads(), 1, 'the file watcher saw our own write and left it alone');
      writeFileSync(gw.file, readFileSync(gw.file, 'utf8').replace('path: /watched', 'path: /watched2'));
      const start = Date.now();
      while (reloads() < 2 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await request(`${gw.url}/watched2`)).status, 200);
      const a = (await api('GET', '/api/audit?limit=1')).json[0];
      assert.deepEqual([a.action, a.actor], ['reload', 'file']);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('an admin listener on a public address without a token does not start', async () => {
    await assert.rejects(startTestGateway('admin: { host: 0.0.0.0, port: 0 }\n'), /admin\.token: is required when admin\.host is not a loopback address/);
  });

  test('admin.changes: redis needs a Redis store', async () => {
    await assert.rejects(startTestGateway('admin: { port: 0, changes: redis }\n'), /admin\.changes: redis needs `store: \{ redis: \{ url \} \}`/);
  });

  test('an unknown admin.changes value is a config error', async () => {
    await assert.rejects(startTestGateway('admin: { port: 0, changes: git }\n'), /admin\.changes: must be file, readonly or redis/);
  });
});
