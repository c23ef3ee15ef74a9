/**
 * `validate: { openapi }` through the real gateway: operations found by method and path template below the
 * base path (from `servers` or `basePath`), path, query and header parameters coerced and checked, JSON bodies
 * checked against schemas with `$ref`s into the components (OpenAPI 3.0 `nullable` included), media types
 * from `requestBody.content`, requests the document does not describe refused (404/405) or passed, a 3.1
 * document, and config errors that point into the document.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { loadConfigFile } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { ConfigError, formatProblem } from '../src/config/errors.js';
import { silentLogger } from '../src/observability/log.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/validate/', import.meta.url));
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('validate: OpenAPI 3.0', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up', undefined, { keepBody: true });
    gw = await startTestGateway(`${LISTEN}
services:
  up: { targets: ['${up.url}'], retries: 0 }
routes:
  - name: v1
    match: { path: /v1/* }
    service: up
    strip-prefix: /v1
    validate: { openapi: '${FIXTURES}users-api.yaml' }
  - name: internal
    match: { path: /internal/* }
    service: up
    validate: { openapi: '${FIXTURES}users-api.yaml', basePath: /internal, unknownOperations: pass }
`);
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const url = (p: string): string => `http://127.0.0.1:${gw.port}${p}`;
  const tenant = { 'x-tenant': 'acme', authorization: 'Bearer t' };

  test('path parameters are coerced and checked; the base path comes from servers', async () => {
    assert.equal((await request(url('/v1/users/42'), { headers: tenant })).status, 200);
    assert.equal(up.received[0]!.url, '/users/42');
    for (const [path, detail] of [['/v1/users/abc', 'path.id: must be integer'], ['/v1/users/0', 'path.id: must be >= 1'], ['/v1/users/4.5', 'path.id: must be integer']]) {
      const r = await request(url(path!), { headers: tenant });
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, detail);
      assert.equal(r.json.errors[0].in, 'path');
      assert.equal(r.json.errors[0].field, '/id');
    }
    assert.equal(up.received.length, 1);
  });

  test('a concrete path wins over a template; a mixed segment template captures both parameters', async () => {
    assert.equal((await request(url('/v1/users/me'))).status, 200);
    assert.equal((await request(url('/v1/files/report.csv'))).status, 200);
    const ext = await request(url('/v1/files/report.pdf'));
    assertProblem(ext, 400, 'GH_VALIDATION_FAILED');
    assert.equal(ext.json.detail, 'path.ext: must be equal to one of the allowed values');
    const name = await request(url('/v1/files/far-too-long-name.json'));
    assert.equal(name.json.detail, 'path.name: must NOT have more than 8 characters');
    assert.equal(up.received.length, 2);
  });

  test('query parameters: coerced, repeated into arrays, comma lists with explode: false, $ref parameters', async () => {
    assert.equal((await request(url('/v1/users?limit=10&tag=a&tag=b&fields=id,email'))).status, 200);
    assert.equal(up.received[0]!.url, '/users?limit=10&tag=a&tag=b&fields=id,email');
    for (const [q, detail] of [
      ['?limit=500', 'query.limit: must be <= 100'],
      ['?limit=ten', 'query.limit: must be integer'],
      ['?fields=id,password', 'query.fields[1]: must be equal to one of the allowed values'],
      ['?limit=1&limit=2', 'query.limit: must be integer'],
    ]) {
      const r = await request(url(`/v1/users${q}`));
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, detail, q);
    }
    assert.equal(up.received.length, 1);
  });

  test('header parameters: names are case-insensitive; Authorization parameters are ignored as OpenAPI says', async () => {
    const missing = await request(url('/v1/users/42'));
    assertProblem(missing, 400, 'GH_VALIDATION_FAILED');
    assert.deepEqual(missing.json.errors, [{ in: 'header', field: '/x-tenant', message: 'is required' }]);
    const bad = await request(url('/v1/users/42'), { headers: { 'X-Tenant': 'ACME-secret' } });
    assert.equal(bad.json.detail, 'header.x-tenant: must match pattern "^[a-z]+$"');
    assert.ok(!bad.body.includes('secret'));
    assert.equal((await request(url('/v1/users/42'), { headers: { 'X-TENANT': 'acme' } })).status, 200);
  });

  test('a JSON body with $refs into the components: valid is forwarded byte for byte', async () => {
    const body = '{"email":"ann@example.com","name":"Ann","nickname":null,"address":{"city":"Lyon"},"phone":"anything","score":0.5}';
    const r = await request(url('/v1/users'), { method: 'POST', headers: JSON_HEADERS, body });
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.body, body);
    assert.equal(up.received[0]!.headers['content-length'], String(body.length));
  });

  test('a JSON body that does not match → 422 naming the field, through $refs and nullable', async () => {
    const cases: [unknown, string][] = [
      [{ email: 'ann@example.com', name: 'Ann', address: { city: 'Lyon', zip: '12345678901' } }, 'body.address.zip: must NOT have more than 10 characters'],
      [{ email: 'ann@example.com', name: 'Ann', address: {} }, 'body.address.city: is required'],
      [{ email: 'not-an-email', name: 'Ann' }, 'body.email: must match format "email"'],
      [{ email: 'ann@example.com', name: 'Ann', nickname: 7 }, 'body.nickname: must be string,null'],
      [{ email: 'ann@example.com', name: 'Ann', score: 0 }, 'body.score: must be > 0'],
      [{ email: 'ann@example.com', name: 'Ann', role: 'admin' }, 'body.role: is not allowed'],
    ];
    for (const [body, detail] of cases) {
      const r = await request(url('/v1/users'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
      assertProblem(r, 422, 'GH_UNPROCESSABLE');
      assert.equal(r.json.detail, detail, JSON.stringify(body));
    }
    assert.equal(up.received.length, 0);
  });

  test('requestBody.required, its media types, and nullable on a schema without type', async () => {
    const none = await request(url('/v1/users'), { method: 'POST' });
    assertProblem(none, 400, 'GH_VALIDATION_FAILED');
    assert.equal(none.json.detail, 'body: is required');
    assertProblem(await request(url('/v1/users'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 415, 'GH_UNSUPPORTED_MEDIA_TYPE');
    // PATCH: an optional body, two media types: merge-patch JSON is checked, text/plain passes unread.
    const headers = { 'content-type': 'application/merge-patch+json' };
    assert.equal((await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '{"address":null}' })).status, 200);
    assert.equal((await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '{"address":{"city":"Oslo"}}' })).status, 200);
    assertProblem(await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '{"address":{}}' }), 422, 'GH_UNPROCESSABLE');
    assertProblem(await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '{}' }), 422, 'GH_UNPROCESSABLE');
    assert.equal((await request(url('/v1/users/7'), { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: 'not json at all' })).status, 200);
    assertProblem(await request(url('/v1/users/7'), { method: 'PATCH', headers: JSON_HEADERS, body: '{"name":"x"}' }), 415, 'GH_UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await request(url('/v1/users/7'), { method: 'PATCH' })).status, 200);
    // Depth and prototype keys are refused before the schema, as with body:.
    assertProblem(await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '['.repeat(10_000) }), 400, 'GH_VALIDATION_FAILED');
    assertProblem(await request(url('/v1/users/7'), { method: 'PATCH', headers, body: '{"__proto__":{}}' }), 400, 'GH_VALIDATION_FAILED');
    assert.equal(up.received.length, 4);
  });

  test('an operation the document does not describe: 404 for an unknown path, 405 with Allow for a method', async () => {
    const path = await request(url('/v1/orders/1'));
    assertProblem(path, 404, 'GH_ROUTE_NOT_FOUND');
    assert.equal(path.json.detail, 'no operation of the API description matches this path');
    const method = await request(url('/v1/users/42'), { method: 'PUT', headers: JSON_HEADERS, body: '{}' });
    assertProblem(method, 405, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(header(method, 'allow'), 'GET, DELETE, PATCH, HEAD');
    // A trailing slash is another path; HEAD is served by the GET operation.
    assertProblem(await request(url('/v1/users/me/')), 404, 'GH_ROUTE_NOT_FOUND');
    assert.equal((await request(url('/v1/users/me'), { method: 'HEAD' })).status, 200);
    assert.equal(up.received.length, 1);
  });

  test('unknownOperations: pass forwards what the document does not describe; basePath replaces servers', async () => {
    assert.equal((await request(url('/internal/orders/1'))).status, 200);
    assert.equal((await request(url('/internal/users/42'), { method: 'PUT', body: 'x' })).status, 200);
    assertProblem(await request(url('/internal/users/abc'), { headers: tenant }), 400, 'GH_VALIDATION_FAILED');
    assert.equal(up.received.length, 2);
  });
});

describe('validate: OpenAPI 3.1', () => {
  test('type lists with null, prefixItems and uuid path parameters', async () => {
    const up = await startUpstream('up');
    const gw = await startTestGateway(`${LISTEN}
services:
  up: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: v2, match: { path: /v2/* }, service: up, validate: { openapi: '${FIXTURES}users-api-3.1.json', basePath: /v2/ } }
`);
    try {
      const put = (id: string, body: unknown) => request(`http://127.0.0.1:${gw.port}/v2/users/${id}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(body) });
      const id = '0b7d6c4e-8f6a-4c1e-9a55-3f2b1d0e9c11';
      assert.equal((await put(id, { email: 'a@b.co', nickname: null, point: [1, 2] })).status, 200);
      assert.equal((await put('nope', { email: 'a@b.co', nickname: null })).json.detail, 'path.id: must match format "uuid"');
      assert.equal((await put(id, { email: 'a@b.co', nickname: 3 })).json.detail, 'body.nickname: must be string,null');
      assert.equal((await put(id, { email: 'a@b.co', nickname: 'x', point: [1, 2, 3] })).json.detail, 'body.point: must NOT have more than 2 items');
      assert.equal(up.received.length, 1);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('validate: OpenAPI config errors', () => {
  function problemsOf(api: string, name = 'api.yaml', extra = ''): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
    writeFileSync(join(dir, name), api);
    writeFileSync(join(dir, 'gatehouse.yaml'), `services:
  up: { targets: ['http://127.0.0.1:9'] }
routes:
  - name: v1
    match: { path: /v1/* }
    service: up
    validate: { openapi: ./${name}${extra} }
`);
    try {
      compile(loadConfigFile(join(dir, 'gatehouse.yaml')), silentLogger());
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems.map(formatProblem);
    }
  }

  test('unknown $refs, invalid schemas and unknown keywords point into the document', () => {
    const api = `openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /users:
    post:
      requestBody:
        content:
          application/json:
            schema: { $ref: '#/components/schemas/Nope' }
      responses: { "200": { description: ok } }
  /users/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integr } }
      responses: { "200": { description: ok } }
components:
  schemas:
    User:
      type: object
      properties:
        name: { type: string, maxLenght: 3 }
`;
    assert.deepEqual(problemsOf(api), [
      'routes[0].validate.openapi: api.yaml:21 /components/schemas/User/properties/name/maxLenght: unknown keyword "maxLenght" (did you mean "maxLength"?) (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problemsOf(api.replace('maxLenght', 'maxLength')), [
      'routes[0].validate.openapi: api.yaml:9 /paths/~1users/post/requestBody/content/application~1json/schema/$ref: unknown $ref "#/components/schemas/Nope": no schema "Nope" under components.schemas (gatehouse.yaml:7)',
      'routes[0].validate.openapi: api.yaml:14 /paths/~1users~1{id}/get/parameters/0/schema/type: invalid schema: must be one of array, boolean, integer, null, number, object, string (gatehouse.yaml:7)',
    ]);
  });

  test('a missing document, Swagger 2.0, and options that do not apply', () => {
    assert.deepEqual(problemsOf('x', 'api.yaml', ', contentTypes: [application/json]'), [
      'routes[0].validate.contentTypes: does not apply with openapi: each operation\'s requestBody.content lists its media types (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problemsOf('swagger: "2.0"\ninfo: { title: t, version: "1" }\npaths: {}\n'), [
      'routes[0].validate.openapi: api.yaml:1 /openapi: only OpenAPI 3.0 and 3.1 documents are supported (found a Swagger 2.0 document) (gatehouse.yaml:7)',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
    writeFileSync(join(dir, 'gatehouse.yaml'), 'services:\n  up: { targets: [\'http://127.0.0.1:9\'] }\nroutes:\n  - { name: v1, match: { path: /v1/* }, service: up, validate: { openapi: ./missing.yaml } }\n');
    assert.throws(() => compile(loadConfigFile(join(dir, 'gatehouse.yaml')), silentLogger()), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems.map(formatProblem), ['routes[0].validate.openapi: OpenAPI document missing.yaml: file not found (paths are relative to the config file) (gatehouse.yaml:4)']);
      return true;
    });
  });

  test('a format the gateway does not know is ignored with a warning, as OpenAPI says', async () => {
    const up = await startUpstream('up');
    const gw = await startTestGateway(`${LISTEN}
services:
  up: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: v1, match: { path: /v1/* }, service: up, validate: { openapi: '${FIXTURES}users-api.yaml' } }
`);
    try {
      const w = gw.logs.find((l) => l.event === 'openapi_warning');
      assert.ok(w !== undefined, 'warning logged');
      assert.match(String(w.msg), /users-api\.yaml:\d+ \/components\/schemas\/NewUser\/properties\/phone\/format: unknown format "phone" ignored$/);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
