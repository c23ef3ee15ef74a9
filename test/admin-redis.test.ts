/**
 * `admin.changes: redis`: three gateways on one Redis (and key prefix) share one versioned config. A change
 * through one instance's admin API is live on all three within a second; Redis's version wins over the file
 * at start; concurrent changes through two instances never lose one silently (compare-and-set); rollback
 * and the audit log are shared.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startUpstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { needRedis, uniquePrefix, dropPrefix, REDIS_URL } from './helpers/redis.js';

const TOKEN = 'redis-test-admin-token-0123';

const config = (up: string, prefix: string, route = 'first'): string => `
admin: { port: 0, token: ${TOKEN}, changes: redis }
store: { redis: { url: "${REDIS_URL}", keyPrefix: "${prefix}" } }
services:
  a: { targets: ["${up}"] }
routes:
  - { name: ${route}, match: { path: /${route}/* }, service: a }
`;

function api(gw: TestGateway, method: string, path: string, body?: unknown) {
  return request(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Polls until `path` answers `status` on every gateway; resolves with the ms it took each, or throws after 3 s. */
async function untilAll(gws: TestGateway[], path: string, status: number): Promise<number[]> {
  const start = performance.now();
  return Promise.all(gws.map(async (gw) => {
    for (;;) {
      if ((await request(`${gw.url}${path}`)).status === status) return performance.now() - start;
      if (performance.now() - start > 3000) throw new Error(`${path} did not answer ${status} on ${gw.url} within 3 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }));
}

async function three(t: TestContext, up: string, prefix: string): Promise<TestGateway[]> {
  const gws: TestGateway[] = [];
  t.after(async () => {
    for (const g of gws) await g.close();
    await dropPrefix(prefix);
  });
  // Started one after the other: the first stores its file as version 1, the others find it.
  for (let i = 0; i < 3; i++) gws.push(await startTestGateway(config(up, prefix, i === 0 ? 'first' : `file${i}`)));
  return gws;
}

test('a change through one of three instances is applied by all three within one second', async (t) => {
  if (!(await needRedis(t))) return;
  const up = await startUpstream('a');
  t.after(() => up.close());
  const prefix = uniquePrefix();
  const gws = await three(t, up.url, prefix);
  // Redis's version wins over the files of the second and third instances.
  for (const gw of gws) {
    assert.equal((await request(`${gw.url}/first/x`)).status, 200);
    assert.equal((await request(`${gw.url}/file1/x`)).status, 404);
    assert.equal((await api(gw, 'GET', '/api/overview')).json.source, 'redis');
  }
  assert.ok(gws[1]!.logs.some((l) => l.event === 'config_source' && l.version === 1));

  const r = await api(gws[0]!, 'PUT', '/api/routes/added', { match: { path: '/added/*' }, service: 'a' });
  assert.equal(r.status, 201, r.body);
  const took = await untilAll(gws, '/added/x', 200);
  assert.ok(Math.max(...took) < 1000, `applied after ${took.map((x) => x.toFixed(0)).join(', ')} ms`);
  for (const gw of gws) assert.equal((await api(gw, 'GET', '/api/overview')).json.version, r.json.version);

  // The audit log is shared; the files are not touched.
  const audit = (await api(gws[2]!, 'GET', '/api/audit')).json;
  assert.equal(audit[0].name, 'added');
  assert.equal(audit[0].actor, 'admin-token@127.0.0.1');
  assert.doesNotMatch(readFileSync(gws[0]!.file, 'utf8'), /added/);

  // Rollback through another instance, seen by all.
  const rb = await api(gws[1]!, 'POST', '/api/rollback');
  assert.equal(rb.status, 200, rb.body);
  const back = await untilAll(gws, '/added/x', 404);
  assert.ok(Math.max(...back) < 1000, `rolled back after ${back.map((x) => x.toFixed(0)).join(', ')} ms`);
  const versions = (await api(gws[2]!, 'GET', '/api/versions')).json;
  assert.deepEqual(versions.map((v: { version: number }) => v.version), [3, 2, 1]);
  assert.equal(versions[0].summary, 'rollback to version 1');
});

test('concurrent changes through two instances: none is lost silently, all instances converge', async (t) => {
  if (!(await needRedis(t))) return;
  const up = await startUpstream('a');
  t.after(() => up.close());
  const prefix = uniquePrefix();
  const gws = await three(t, up.url, prefix);
  const [x, y] = await Promise.all([
    api(gws[1]!, 'PUT', '/api/routes/from-b', { match: { path: '/from-b' }, service: 'a' }),
    api(gws[2]!, 'PUT', '/api/routes/from-c', { match: { path: '/from-c' }, service: 'a' }),
  ]);
  for (const r of [x, y]) assert.ok(r.status === 201 || (r.status === 409 && r.json.code === 'GH_CONFIG_CONFLICT'), `${r.status} ${r.body}`);
  assert.ok(x.status === 201 || y.status === 201);
  const ok = [x.status === 201 ? '/from-b' : null, y.status === 201 ? '/from-c' : null].filter((p) => p !== null);
  for (const p of ok) await untilAll(gws, p, 200);
  // A refused one changed nothing anywhere; a retry succeeds.
  if (x.status === 409) assert.equal((await api(gws[1]!, 'PUT', '/api/routes/from-b', { match: { path: '/from-b' }, service: 'a' })).status, 201);
  if (y.status === 409) assert.equal((await api(gws[2]!, 'PUT', '/api/routes/from-c', { match: { path: '/from-c' }, service: 'a' })).status, 201);
  await untilAll(gws, '/from-b', 200);
  await untilAll(gws, '/from-c', 200);
  const v = await Promise.all(gws.map(async (g) => (await api(g, 'GET', '/api/overview')).json.version));
  assert.equal(new Set(v).size, 1);
});

test('Redis losing the config (a restart without persistence, a FLUSHALL): the running config is stored again', async (t) => {
  if (!(await needRedis(t))) return;
  const up = await startUpstream('a');
  t.after(() => up.close());
  const prefix = uniquePrefix();
  const gws: TestGateway[] = [];
  t.after(async () => {
    for (const g of gws) await g.close();
    await dropPrefix(prefix);
  });
  for (let i = 0; i < 2; i++) gws.push(await startTestGateway(config(up.url, prefix)));
  const [a, b] = gws as [TestGateway, TestGateway];
  assert.equal((await api(a, 'PUT', '/api/routes/kept', { match: { path: '/kept/*' }, service: 'a' })).status, 201);
  await untilAll(gws, '/kept/x', 200);

  // Every key of the config goes, as if Redis had come back empty.
  await dropPrefix(prefix);

  // Within a few version checks the running config is stored again and changes are accepted once more.
  const start = performance.now();
  let status = 0;
  while (performance.now() - start < 5000) {
    status = (await api(b, 'PUT', '/api/routes/after', { match: { path: '/after/*' }, service: 'a' })).status;
    if (status === 201) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status, 201, 'a change is accepted again');
  // Both instances serve the route made before the loss and the one made after.
  await untilAll(gws, '/after/x', 200);
  await untilAll(gws, '/kept/x', 200);
  assert.ok(gws.some((g) => g.logs.some((l) => l.event === 'config_lost')), 'the loss is logged');
});
