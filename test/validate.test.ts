/**
 * `validate` with JSON Schemas, through the real gateway and a recording upstream: a valid body reaches the
 * upstream byte for byte; every refusal (schema mismatch, content type, malformed, too deep, prototype keys,
 * invalid UTF-8, missing body, query and header rules) answers its status and code, names the field, never
 * echoes the value, and sends nothing upstream. Config errors name the key, the file and the line.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, rawRequest } from './helpers/http.js';
import { assertProblem, exchange, LISTEN } from './helpers/raw.js';
import { loadConfigFile } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { ConfigError, formatProblem } from '../src/config/errors.js';
import { silentLogger } from '../src/observability/log.js';

/** Compiled to dist/test/, so the fixtures are two folders up. */
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/validate/', import.meta.url));
const JSON_HEADERS = { 'content-type': 'application/json' };

function config(upUrl: string): string {
  return `${LISTEN}
services:
  up: { targets: ['${upUrl}'], retries: 0 }
routes:
  - name: users
    match: { path: /users/* }
    service: up
    validate: { body: '${FIXTURES}user.json' }
  - name: small
    match: { path: /small/* }
    service: up
    body-limit: 200b
    validate: { body: '${FIXTURES}user.json' }
  - name: search
    match: { path: /search }
    service: up
    validate: { query: '${FIXTURES}search-query.yaml', headers: '${FIXTURES}tenant-headers.json' }
  - name: loose
    match: { path: /loose/* }
    service: up
    validate:
      body: { type: array, items: { type: integer } }
      contentTypes: [application/json, text/plain]
      requireBody: false
      maxDepth: 3
`;
}

describe('validate: JSON Schema body', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up', undefined, { keepBody: true });
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const url = (p: string): string => `http://127.0.0.1:${gw.port}${p}`;

  test('a valid body is forwarded byte for byte, with its content-length', async () => {
    // Odd spacing, key order, escapes and non-ASCII: whatever the gateway parsed, it must send the bytes it read.
    const body = '{ "name" : "Zo\\u00eb",\n\t"email":"zoe@example.com" , "tags":["a","é"],"address":{"city":"Lyon","zip":"69001"}, "meta":{"k":[1,2,{"x":null}]} }';
    const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body });
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received.length, 1);
    const got = up.received[0]!;
    assert.equal(got.body, body);
    assert.equal(got.bodyBytes, Buffer.byteLength(body));
    assert.equal(got.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(got.headers['content-type'], 'application/json');
  });

  test('a chunked valid body is forwarded whole, with a content-length', async () => {
    const body = '{"name":"Ann","email":"ann@example.com"}';
    const [r] = await exchange(gw.port, `POST /users/x HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`);
    assert.equal(r!.status, 200, r!.body);
    assert.equal(up.received[0]!.body, body);
    assert.equal(up.received[0]!.headers['content-length'], String(body.length));
    assert.equal(up.received[0]!.headers['transfer-encoding'], undefined);
  });

  test('a body that does not match → 422 naming the field, never the value; nothing upstream', async () => {
    const secret = '<script>alert(1)</script>s3cr3t';
    const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'Ann', email: secret }) });
    assertProblem(r, 422, 'GH_UNPROCESSABLE');
    assert.equal(r.json.detail, 'body.email: must match format "email"');
    assert.deepEqual(r.json.errors, [{ in: 'body', field: '/email', message: 'must match format "email"' }]);
    assert.ok(!r.body.includes('s3cr3t') && !r.body.includes('script'), r.body);
    assert.equal(up.received.length, 0);
  });

  test('a missing property, a nested one, an array item, and an extra property are named', async () => {
    const cases: [unknown, string, string][] = [
      [{ name: 'Ann' }, '/email', 'is required'],
      [{ name: 'Ann', email: 'a@b.co', address: { zip: '69001' } }, '/address/city', 'is required'],
      [{ name: 'Ann', email: 'a@b.co', address: { city: 'Lyon', zip: 'x' } }, '/address/zip', 'must match pattern "^[0-9]{5}$"'],
      [{ name: 'Ann', email: 'a@b.co', tags: ['a', 7] }, '/tags/1', 'must be string'],
      [{ name: 'Ann', email: 'a@b.co', admin: true }, '/admin', 'is not allowed'],
      [{ name: 'Ann', email: 'a@b.co', '<b>x</b>': true }, '/*', 'is not allowed'],
      [[1, 2], '', 'must be object'],
    ];
    for (const [body, field, message] of cases) {
      const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
      assertProblem(r, 422, 'GH_UNPROCESSABLE');
      assert.deepEqual(r.json.errors[0], { in: 'body', field, message }, JSON.stringify(body));
      assert.ok(!r.body.includes('<b>'), r.body);
    }
    const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'Ann', email: 'a@b.co', tags: ['a', 7] }) });
    assert.equal(r.json.detail, 'body.tags[1]: must be string');
    assert.equal(up.received.length, 0);
  });

  test('a content type that is not JSON → 415; +json types and charset=utf-8 are accepted', async () => {
    const body = JSON.stringify({ name: 'Ann', email: 'a@b.co' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'application/json; charset=iso-8859-1']) {
      const r = await request(url('/users/new'), { method: 'POST', headers: { 'content-type': type }, body });
      assertProblem(r, 415, 'GH_UNSUPPORTED_MEDIA_TYPE');
    }
    const none = await request(url('/users/new'), { method: 'POST', body: Buffer.from(body) });
    assertProblem(none, 415, 'GH_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(none.json.detail, 'the body must be sent as application/json or application/*+json');
    assert.equal(up.received.length, 0);
    for (const type of ['application/vnd.acme.user+json', 'Application/JSON; charset="UTF-8"', 'application/json;charset=utf-8']) {
      const r = await request(url('/users/new'), { method: 'POST', headers: { 'content-type': type }, body });
      assert.equal(r.status, 200, `${type}: ${r.body}`);
    }
    assert.equal(up.received.length, 3);
  });

  test('malformed JSON → 400 without the parser\'s message', async () => {
    for (const body of ['{"name": "Ann",', '{name: 1}', 'nul', '{"a":1} x', '\ufeff{}', '   ']) {
      const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body });
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, 'body: is not valid JSON', body);
      assert.deepEqual(r.json.errors, [{ in: 'body', field: '', message: 'is not valid JSON' }]);
      assert.ok(!/Unexpected|position|token/i.test(r.body), r.body);
    }
    assert.equal(up.received.length, 0);
  });

  test('nesting deeper than 64 → 400 at once, even 10,000 levels; 64 levels are fine', async () => {
    for (const body of ['['.repeat(10_000), '['.repeat(10_000) + ']'.repeat(10_000), `{"meta":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`]) {
      const t0 = performance.now();
      const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body });
      assert.ok(performance.now() - t0 < 1000, 'answered quickly');
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, 'body: is nested deeper than 64 levels');
    }
    // 64 levels in all: the body's object and 63 nested under meta.
    const ok = `{"name":"Ann","email":"a@b.co","meta":${'{"a":'.repeat(63)}1${'}'.repeat(63)}}`;
    assert.equal((await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: ok })).status, 200);
    const over = `{"name":"Ann","email":"a@b.co","meta":${'{"a":'.repeat(64)}1${'}'.repeat(64)}}`;
    assertProblem(await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: over }), 400, 'GH_VALIDATION_FAILED');
    // Brackets inside strings are not nesting.
    const inString = JSON.stringify({ name: '['.repeat(100), email: 'a@b.co' });
    assert.equal((await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: inString })).status, 200);
    assert.equal(up.received.length, 2);
    // The gateway is still serving, and nothing was thrown out of the hot path.
    assert.equal((await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: '{"name":"A","email":"a@b.co"}' })).status, 200);
    assert.ok(!gw.logs.some((l) => l.event === 'handler_error'), 'no handler error');
  });

  test('maxDepth is configurable', async () => {
    assert.equal((await request(url('/loose/x'), { method: 'POST', headers: JSON_HEADERS, body: '[1,2]' })).status, 200);
    const r = await request(url('/loose/x'), { method: 'POST', headers: JSON_HEADERS, body: '[[[[1]]]]' });
    assertProblem(r, 400, 'GH_VALIDATION_FAILED');
    assert.equal(r.json.detail, 'body: is nested deeper than 3 levels');
  });

  test('__proto__, constructor and prototype keys → 400, escaped or not, at any depth; as values they are fine', async () => {
    for (const body of [
      '{"name":"Ann","email":"a@b.co","__proto__":{"admin":true}}',
      '{"name":"Ann","email":"a@b.co","meta":{"x":[{"constructor":{"prototype":{"admin":true}}}]}}',
      '{"name":"Ann","email":"a@b.co","meta":{"prototype" :1}}',
      '{"name":"Ann","email":"a@b.co","\\u005f_proto__":{"admin":true}}',
      '{"name":"Ann","email":"a@b.co","meta":{"__pro\\u0074o__":1}}',
    ]) {
      const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body });
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, 'body: has a key named __proto__, constructor or prototype', body);
    }
    assert.equal(up.received.length, 0);
    const values = '{"name":"__proto__","email":"a@b.co","tags":["constructor","prototype"],"meta":{"__proto": 1, "constructors": 2}}';
    assert.equal((await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body: values })).status, 200);
    assert.equal(up.received[0]!.body, values);
  });

  test('invalid UTF-8 → 400', async () => {
    const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","email":"a@b.co"}')]);
    const r = await request(url('/users/new'), { method: 'POST', headers: JSON_HEADERS, body });
    assertProblem(r, 400, 'GH_VALIDATION_FAILED');
    assert.equal(r.json.detail, 'body: is not valid UTF-8');
    assert.equal(up.received.length, 0);
  });

  test('POST, PUT and PATCH need a body; other methods are checked only when they carry one', async () => {
    for (const method of ['POST', 'PUT', 'PATCH']) {
      const r = await request(url('/users/1'), { method });
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, 'body: is required');
    }
    const empty = await request(url('/users/1'), { method: 'POST', headers: { ...JSON_HEADERS, 'content-length': '0' }, body: '' });
    assertProblem(empty, 400, 'GH_VALIDATION_FAILED');
    assert.equal(up.received.length, 0);
    assert.equal((await request(url('/users/1'))).status, 200);
    assert.equal((await request(url('/users/1'), { method: 'DELETE' })).status, 200);
    const del = await request(url('/users/1'), { method: 'DELETE', headers: JSON_HEADERS, body: '{}' });
    assertProblem(del, 422, 'GH_UNPROCESSABLE');
    // requireBody: false lets a bodiless POST through; contentTypes widens the accepted types.
    assert.equal((await request(url('/loose/x'), { method: 'POST' })).status, 200);
    assert.equal((await request(url('/loose/x'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '[1]' })).status, 200);
    assertProblem(await request(url('/loose/x'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '["x"]' }), 422, 'GH_UNPROCESSABLE');
  });

  test('a body over the route\'s limit → 413 before any parsing; nothing upstream', async () => {
    const body = JSON.stringify({ name: 'A'.repeat(300), email: 'a@b.co' });
    assertProblem(await request(url('/small/x'), { method: 'POST', headers: JSON_HEADERS, body }), 413, 'GH_BODY_TOO_LARGE');
    // Chunked: counted as it arrives.
    const raw = await rawRequest(gw.port, `POST /small/x HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(300).toString(16)}\r\n${'['.repeat(300)}\r\n0\r\n\r\n`, 800);
    assert.match(raw, /^HTTP\/1\.1 413 /);
    assert.equal(up.received.length, 0);
  });
});

describe('validate: query and headers', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up');
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const search = (q: string, headers: Record<string, string> = { 'x-tenant': 'acme' }) => request(`http://127.0.0.1:${gw.port}/search${q}`, { headers });

  test('valid query and headers pass; the query is forwarded as sent', async () => {
    const r = await search('?q=caf%C3%A9+au+lait&limit=10&tag=a&tag=b&exact=true', { 'x-tenant': 'acme', 'x-page-size': '20' });
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.url, '/search?q=caf%C3%A9+au+lait&limit=10&tag=a&tag=b&exact=true');
    assert.equal(up.received[0]!.headers['x-page-size'], '20');
    assert.equal((await search('?q=x&tag=only')).status, 200);
  });

  test('a query that does not match → 400 naming the parameter', async () => {
    const cases: [string, string, string][] = [
      ['?limit=5', 'query.q: is required', '/q'],
      ['?q=x&limit=abc', 'query.limit: must be integer', '/limit'],
      ['?q=x&limit=500', 'query.limit: must be <= 100', '/limit'],
      ['?q=x&exact=maybe', 'query.exact: must be boolean', '/exact'],
      ['?q=x&limit=1&limit=2', 'query.limit: must be integer', '/limit'],
      ['?q=one&q=two', 'query.q: must be string', '/q'],
      ['?q=x&tag=1&tag=2&tag=3&tag=4&tag=5&tag=6', 'query.tag: must NOT have more than 5 items', '/tag'],
      ['?q=x&debug=1', 'query.debug: is not allowed', '/debug'],
      ['?q=x&__proto__=1', 'query.__proto__: is not allowed', '/__proto__'],
    ];
    for (const [q, detail, field] of cases) {
      const r = await search(q);
      assertProblem(r, 400, 'GH_VALIDATION_FAILED');
      assert.equal(r.json.detail, detail, q);
      assert.equal(r.json.errors[0].in, 'query');
      assert.equal(r.json.errors[0].field, field);
    }
    assert.equal(up.received.length, 0);
  });

  test('headers that do not match → 400 naming the header, never its value', async () => {
    const missing = await search('?q=x', {});
    assertProblem(missing, 400, 'GH_VALIDATION_FAILED');
    assert.equal(missing.json.detail, 'header.x-tenant: is required');
    assert.deepEqual(missing.json.errors, [{ in: 'header', field: '/x-tenant', message: 'is required' }]);
    const bad = await search('?q=x', { 'x-tenant': 'Bearer-SECRET-token' });
    assertProblem(bad, 400, 'GH_VALIDATION_FAILED');
    assert.equal(bad.json.detail, 'header.x-tenant: must match pattern "^[a-z][a-z0-9-]{1,30}$"');
    assert.ok(!bad.body.includes('SECRET'));
    const size = await search('?q=x', { 'x-tenant': 'acme', 'x-page-size': 'lots' });
    assert.equal(size.json.detail, 'header.x-page-size: must be integer');
    assert.equal(up.received.length, 0);
  });

  test('failures are logged with the field, not the value', async () => {
    await search('?q=x', { 'x-tenant': 'SECRET' });
    const line = gw.logs.find((l) => l.event === 'validation_failed' && l.field === '/x-tenant');
    assert.ok(line !== undefined);
    assert.equal(line.in, 'header');
    assert.ok(!JSON.stringify(gw.logs).includes('SECRET'));
  });
});

describe('validate: where it stands and how it reloads', () => {
  test('under defaults and on a service, the route\'s own setting wins; a schema file change applies on reload', async () => {
    const up = await startUpstream('up');
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-validate-'));
    writeFileSync(join(dir, 'body.json'), '{"type":"object","required":["a"]}');
    const yaml = (extra = ''): string => `${LISTEN}
defaults:
  validate: { body: '${join(dir, 'body.json')}' }
services:
  up: { targets: ['${up.url}'], retries: 0 }
  strict: { targets: ['${up.url}'], retries: 0, validate: { body: { type: object, required: [s] } } }
routes:
  - { name: one, match: { path: /one }, service: up }
  - { name: two, match: { path: /two }, service: up }
  - { name: svc, match: { path: /svc }, service: strict }
  - { name: own, match: { path: /own }, service: strict, validate: { query: { type: object, required: [k] } } }
${extra}`;
    const gw = await startTestGateway(yaml());
    try {
      const post = (p: string, body: string) => request(`http://127.0.0.1:${gw.port}${p}`, { method: 'POST', headers: JSON_HEADERS, body });
      assert.equal((await post('/one', '{"a":1}')).status, 200);
      assertProblem(await post('/two', '{"b":1}'), 422, 'GH_UNPROCESSABLE');
      assertProblem(await post('/svc', '{"a":1}'), 422, 'GH_UNPROCESSABLE');
      assert.equal((await post('/svc', '{"s":1}')).status, 200);
      assert.equal((await post('/own?k=1', 'not even json')).status, 200);
      writeFileSync(join(dir, 'body.json'), '{"type":"object","required":["b"]}');
      await gw.reload();
      assert.equal((await post('/two', '{"b":1}')).status, 200);
      assertProblem(await post('/one', '{"a":1}'), 422, 'GH_UNPROCESSABLE');
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('validate: config errors', () => {
  /** Writes a config and its files into a fresh folder and returns the formatted problems. */
  function problemsOf(yaml: string, files: Record<string, string>): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-validate-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    writeFileSync(join(dir, 'gatehouse.yaml'), yaml);
    try {
      compile(loadConfigFile(join(dir, 'gatehouse.yaml')), silentLogger());
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems.map(formatProblem);
    }
  }
  const route = (validate: string): string => `services:
  up: { targets: ['http://127.0.0.1:9'] }
routes:
  - name: users
    match: { path: /users/* }
    service: up
    validate: ${validate}
`;

  test('a missing schema file', () => {
    assert.deepEqual(problemsOf(route('{ body: ./schemas/user.json }'), {}), [
      'routes[0].validate.body: schema file ./schemas/user.json: file not found (paths are relative to the config file) (gatehouse.yaml:7)',
    ]);
  });

  test('an invalid schema in a file: the file, its line and the pointer', () => {
    const schema = '{\n  "type": "object",\n  "properties": {\n    "age": { "type": "int" }\n  }\n}\n';
    assert.deepEqual(problemsOf(route('{ body: ./schemas/user.json }'), { 'schemas/user.json': schema }), [
      'routes[0].validate.body: schemas/user.json:4 /properties/age/type: invalid schema: must be one of array, boolean, integer, null, number, object, string (gatehouse.yaml:7)',
    ]);
  });

  test('a file that is not YAML or JSON, a directory, an unknown $schema', () => {
    const p = problemsOf(route('{ body: ./a.json, query: ./dir, headers: ./c.yaml }'), { 'a.json': '{"type": "object",, }', 'dir/x': '', 'c.yaml': '$schema: http://json-schema.org/draft-04/schema#\ntype: object\n' });
    assert.equal(p.length, 3);
    assert.match(p[0]!, /^routes\[0\]\.validate\.body: schema file \.\/a\.json: is not valid YAML or JSON: .* \(a\.json:1\) \(gatehouse\.yaml:7\)$/);
    assert.equal(p[1], 'routes[0].validate.query: schema file ./dir: is a directory, not a file (gatehouse.yaml:7)');
    assert.equal(p[2], 'routes[0].validate.headers: c.yaml:1 /: unsupported $schema "http://json-schema.org/draft-04/schema#": use draft-07 (http://json-schema.org/draft-07/schema#) or 2020-12 (https://json-schema.org/draft/2020-12/schema) (gatehouse.yaml:7)');
  });

  test('unknown formats, keywords and $refs, in files and inline', () => {
    const file = 'type: object\nproperties:\n  email: { type: string, format: emial }\n  home: { $ref: ./address.yaml }\n';
    assert.deepEqual(problemsOf(route('{ body: ./user.yaml }'), { 'user.yaml': file }), [
      'routes[0].validate.body: user.yaml:3 /properties/email/format: unknown format "emial" (did you mean "email"?); known formats: see docs/validation.md (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problemsOf(route('{ body: ./user.yaml }'), { 'user.yaml': file.replace('emial', 'email') }), [
      'routes[0].validate.body: user.yaml:4 /properties/home/$ref: $ref "./address.yaml": file not found (address.yaml) (gatehouse.yaml:7)',
    ]);
    // A problem in a file that the schema refers to is reported in that file.
    assert.deepEqual(problemsOf(route('{ body: ./user.yaml }'), { 'user.yaml': file.replace('emial', 'email'), 'address.yaml': 'type: object\nproperties:\n  zip: { type: string, maxLenght: 5 }\n' }), [
      'routes[0].validate.body: address.yaml:3 /properties/zip/maxLenght: unknown keyword "maxLenght" (did you mean "maxLength"?) (gatehouse.yaml:7)',
    ]);
    const inline = `
      body:
        type: object
        properties:
          tags: { type: array, itemz: { type: string } }
          other: { $ref: '#/definitions/missing' }
      query: { type: object, properties: { q: { type: string, format: nope } } }`;
    assert.deepEqual(problemsOf(route(inline), {}), [
      'routes[0].validate.body.properties.tags.itemz: unknown keyword "itemz" (did you mean "items"?) (gatehouse.yaml:11)',
      'routes[0].validate.query.properties.q.format: unknown format "nope"; known formats: see docs/validation.md (gatehouse.yaml:13)',
    ]);
    assert.deepEqual(problemsOf(route("{ body: { type: object, properties: { other: { $ref: '#/definitions/missing' } } } }"), {}), [
      'routes[0].validate.body.properties.other.$ref: unknown $ref "#/definitions/missing" (gatehouse.yaml:7)',
    ]);
  });

  test('options that do not go together', () => {
    assert.deepEqual(problemsOf(route('{ body: { type: object }, openapi: ./api.yaml }'), {}), ['routes[0].validate.openapi: use either openapi or body/query/headers, not both (gatehouse.yaml:7)']);
    assert.deepEqual(problemsOf(route('{ maxDepth: 3 }'), {}), ['routes[0].validate: needs body, query, headers or openapi (gatehouse.yaml:7)']);
    assert.deepEqual(problemsOf(route('{ query: { type: object }, contentTypes: [text/plain], basePath: /v1 }'), {}), [
      'routes[0].validate.basePath: applies only with openapi (gatehouse.yaml:7)',
      'routes[0].validate.contentTypes: applies only with body (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problemsOf(route('{ body: { type: object }, contentTypes: [application/json, "*/json"] }'), {}), [
      'routes[0].validate.contentTypes[1]: is not a media type or range (application/json, application/*+json, application/*, */*) (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problemsOf(route('{ headers: { type: object, required: [X-Tenant] } }'), {}), [
      'routes[0].validate.headers: header names in the schema must be lower case: write "x-tenant" for "X-Tenant" (gatehouse.yaml:7)',
    ]);
  });

  test('the schemas under examples/ compile', () => {
    assert.deepEqual(problemsOf(route(`{ body: '${join(FIXTURES, '../../../examples/schemas/user.json')}' }`), {}), []);
    assert.deepEqual(problemsOf(route(`{ openapi: '${join(FIXTURES, '../../../examples/schemas/users-api.yaml')}' }`), {}), []);
  });
});
