/**
 * `validate` in pieces: the byte scan (depth, prototype keys), media-type matching, the query object, the
 * wording of failures, compilation once per config generation, the OpenAPI template matcher, and the hooks on
 * an in-memory exchange. The gateway side (bodies, forwarding, config errors) is in test/validate*.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import type { Exchange } from '../../core/exchange.js';
import type { ProblemExtras } from '../../core/errors.js';
import { ValidateFeature } from './feature.js';
import { charsetIsUtf8, MediaRanges, mediaTypeOf, scanJson, ScanResult, validMediaRange } from './json.js';
import { ParamCheck, queryObject, report } from './checks.js';
import { AJV } from './compiler.js';

// Ajv is loaded lazily in the gateway (src/config/preload.ts); unit tests load it as that step would.
await AJV.load();

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function compileRoutes(yaml: string): Runtime {
  const rt = compile(loadConfigText(yaml, '/tmp/gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  return rt;
}

function featureOf(rt: Runtime, i: number): ValidateFeature {
  return rt.routes.find((r) => r.index === i)!.features.find((f) => f.name === 'validate') as ValidateFeature;
}

const scan = (text: string, depth = 64): ScanResult => scanJson(Buffer.from(text), depth);

describe('scanJson', () => {
  test('depth counts objects and arrays, not brackets in strings', () => {
    assert.equal(scan('[[[1]]]', 3), ScanResult.Ok);
    assert.equal(scan('[[[[1]]]]', 3), ScanResult.TooDeep);
    assert.equal(scan('{"a":{"b":[{}]}}', 4), ScanResult.Ok);
    assert.equal(scan('{"a":{"b":[{"c":[]}]}}', 4), ScanResult.TooDeep);
    assert.equal(scan('["[[[[[[", "{{{{{{", "\\"[[[["]', 1), ScanResult.Ok);
    assert.equal(scan('[1],[2],[3]', 1), ScanResult.Ok);
  });

  test('a huge opening run stops at the limit', () => {
    const b = Buffer.alloc(1_000_000, 0x5b);
    const t0 = performance.now();
    assert.equal(scanJson(b, 64), ScanResult.TooDeep);
    assert.ok(performance.now() - t0 < 50);
  });

  test('forbidden keys: plain, spaced before the colon, escaped; never values or look-alikes', () => {
    for (const text of ['{"__proto__":1}', '{"a":{"constructor" :1}}', '[{"prototype"\n\t: {}}]', '{"\\u005f\\u005fproto\\u005f\\u005f":1}', '{"construct\\u006fr":1}']) {
      assert.equal(scan(text), ScanResult.ForbiddenKey, text);
    }
    for (const text of ['{"a":"__proto__"}', '["constructor", "prototype"]', '{"__proto":1, "prototypes":2, "xconstructor":3}', '{"a":"\\"__proto__\\":1"}', '{"k":"constructor"  }']) {
      assert.equal(scan(text), ScanResult.Ok, text);
    }
  });

  test('escaped quotes and backslashes end strings where JSON says', () => {
    assert.equal(scan('{"a\\\\":{"__proto__":1}}'), ScanResult.ForbiddenKey);
    assert.equal(scan('{"a\\"__proto__\\"":1}'), ScanResult.Ok);
    assert.equal(scan('{"unterminated'), ScanResult.Ok);
    assert.equal(scan(`{"long":"${'x\\"'.repeat(10_000)}","__proto__":1}`), ScanResult.ForbiddenKey);
  });
});

describe('media types', () => {
  test('mediaTypeOf and charsets', () => {
    assert.equal(mediaTypeOf(undefined), '');
    assert.equal(mediaTypeOf(' Application/JSON ; charset=utf-8'), 'application/json');
    assert.ok(charsetIsUtf8('application/json'));
    assert.ok(charsetIsUtf8('application/json; charset="UTF-8"'));
    assert.ok(charsetIsUtf8('application/json;charset=utf8'));
    assert.ok(!charsetIsUtf8('application/json; charset=iso-8859-1'));
    assert.ok(!charsetIsUtf8('application/json; q=1; charset = utf-16'));
  });

  test('the most specific range wins: exact, +suffix, type/*, */*', () => {
    const m = new MediaRanges(['*/*', 'application/*', 'application/*+json', 'application/json', '*/*+xml']);
    assert.equal(m.match('application/json'), 3);
    assert.equal(m.match('application/problem+json'), 2);
    assert.equal(m.match('application/xml'), 1);
    assert.equal(m.match('text/html'), 0);
    assert.equal(m.match('image/svg+xml'), 4);
    assert.equal(m.match(''), -1);
    const json = new MediaRanges(['application/json', 'application/*+json']);
    assert.equal(json.match('text/json'), -1);
    assert.equal(json.match('application/jsonx'), -1);
    assert.equal(json.match('text/x+json'), -1);
    assert.equal(json.match('applicationx/a+json'), -1);
  });

  test('validMediaRange', () => {
    for (const ok of ['application/json', 'application/*', '*/*', 'application/*+json', '*/*+json']) assert.ok(validMediaRange(ok), ok);
    for (const bad of ['*/json', 'application', 'a/b/c', 'application/', 'appl*/json', 'application/j*son']) assert.ok(!validMediaRange(bad), bad);
  });
});

describe('queryObject', () => {
  const check = new ParamCheck('query', (() => true) as unknown as ValidateFunction, new Set(['tag']), new Set(['ids']), null);
  test('array names collect every repeat; other repeats become arrays so the schema refuses them', () => {
    const q = queryObject('tag=a&tag=b&ids=1,2&ids=3&x=1&x=2&y=caf%C3%A9+x&z', check);
    assert.deepEqual({ ...q }, { tag: ['a', 'b'], ids: ['1', '2', '3'], x: ['1', '2'], y: 'café x', z: '' });
    assert.deepEqual({ ...queryObject('tag=one', check) }, { tag: ['one'] });
    assert.deepEqual({ ...queryObject('', check) }, {});
  });
  test('prototype names are plain keys of an object without prototype', () => {
    const q = queryObject('__proto__=x&constructor=y', check);
    assert.equal(Object.getPrototypeOf(q), null);
    assert.equal(q.__proto__, 'x');
    assert.equal(q.constructor, 'y');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

describe('report', () => {
  const err = (keyword: string, instancePath: string, params: Record<string, unknown>, message: string): ErrorObject => ({ keyword, instancePath, schemaPath: '#', params, message });
  test('names the field, rewords required and additional properties, hides keys a client chose', () => {
    assert.deepEqual(report('body', [err('required', '/a/0', { missingProperty: 'city' }, "must have required property 'city'")]), {
      detail: 'body.a[0].city: is required', errors: [{ in: 'body', field: '/a/0/city', message: 'is required' }],
    });
    assert.equal(report('body', [err('additionalProperties', '', { additionalProperty: '<img src=x>' }, 'must NOT have additional properties')]).detail, 'body.*: is not allowed');
    assert.equal(report('body', [err('type', '/<b>/x', { type: 'string' }, 'must be string')]).detail, 'body.*.x: must be string');
    assert.equal(report('query', [err('type', '/limit', { type: 'integer' }, 'must be integer')]).detail, 'query.limit: must be integer');
    assert.equal(report('body', []).detail, 'body: is not valid');
  });
  test('branch errors before anyOf summaries, and the null branch of a nullable type last', () => {
    const r = report('body', [
      err('type', '/n', { type: 'null' }, 'must be null'),
      err('format', '/n', { format: 'email' }, 'must match format "email"'),
      err('anyOf', '/n', {}, 'must match a schema in anyOf'),
    ]);
    assert.equal(r.detail, 'body.n: must match format "email"');
    assert.deepEqual(r.errors.map((e) => e.message), ['must match format "email"', 'must be null', 'must match a schema in anyOf']);
  });
});

describe('compiled once per generation', () => {
  test('a value under defaults is compiled once for every route; a file used by two routes too', () => {
    const schema = '{ type: object, properties: { a: { type: integer } } }';
    const rt = compileRoutes(`defaults:
  validate: { body: ${schema} }
services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - { name: a, match: { path: /a }, service: s }
  - { name: b, match: { path: /b }, service: s }
  - { name: c, match: { path: /c }, service: s, validate: { body: ${schema} } }
`);
    const [a, b, c] = [featureOf(rt, 0), featureOf(rt, 1), featureOf(rt, 2)];
    assert.ok(a !== b, 'one feature object per route');
    assert.equal(a.checks, b.checks, 'the same compiled checks');
    assert.notEqual(a.checks, c.checks, 'another value is compiled on its own');
    const again = compileRoutes(`defaults:\n  validate: { body: ${schema} }\nservices:\n  s: { targets: [http://127.0.0.1:9] }\nroutes:\n  - { name: a, match: { path: /a }, service: s }\n`);
    assert.notEqual(featureOf(again, 0).checks, a.checks, 'a new generation compiles afresh');
  });
});

describe('dialects', () => {
  test('draft-07 by default, 2020-12 when $schema says so', () => {
    const rt = compileRoutes(`services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - name: a
    match: { path: /a }
    service: s
    validate: { query: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: object, properties: { p: { type: array, prefixItems: [{ type: integer }], items: false } } } }
`);
    const f = featureOf(rt, 0);
    const ok = fakeExchange('GET', '/a', 'p=1', {});
    f.onRequest(ok);
    assert.equal(ok.failed, null);
    const two = fakeExchange('GET', '/a', 'p=1&p=2', {});
    f.onRequest(two);
    assert.equal(two.failed?.extras?.detail, 'query.p: must NOT have more than 1 items');
  });
});

/** A minimal exchange for the synchronous checks (query, headers, path, the 415). */
function fakeExchange(method: string, path: string, query: string, headers: Record<string, string>, bodyLength = 0): Exchange & { failed: { code: string; extras?: ProblemExtras } | null } {
  const ex = {
    req: { method, headers },
    path,
    query,
    bodyLength,
    requestId: 'r1',
    route: { name: 'r' },
    runtime: { log: silentLogger() },
    failed: null as { code: string; extras?: ProblemExtras } | null,
    fail(code: string, extras?: ProblemExtras) { ex.failed = { code, extras }; },
  };
  return ex as unknown as Exchange & { failed: { code: string; extras?: ProblemExtras } | null };
}

describe('hooks on an in-memory exchange', () => {
  const rt = compileRoutes(`services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - name: q
    match: { path: /q }
    service: s
    validate:
      query: { type: object, properties: { n: { type: integer }, t: { type: array, items: { type: boolean } } } }
      headers: { type: object, required: [x-k], properties: { x-k: { type: string, maxLength: 3 } } }
      body: { type: object }
`);
  const f = featureOf(rt, 0);

  test('query and headers are coerced and checked synchronously', () => {
    const ok = fakeExchange('GET', '/q', 'n=5&t=true&t=false', { 'x-k': 'abc' });
    assert.equal(f.onRequest(ok), undefined);
    assert.equal(ok.failed, null);
    const bad = fakeExchange('GET', '/q', 'n=5&t=yes', { 'x-k': 'abc' });
    f.onRequest(bad);
    assert.equal(bad.failed?.code, 'GH_VALIDATION_FAILED');
    assert.equal(bad.failed?.extras?.detail, 'query.t[0]: must be boolean');
    const hdr = fakeExchange('GET', '/q', '', { 'x-k': 'abcd' });
    f.onRequest(hdr);
    assert.deepEqual(hdr.failed?.extras?.errors, [{ in: 'header', field: '/x-k', message: 'must NOT have more than 3 characters' }]);
  });

  test('a body of the wrong type is refused before it is read; no body on GET passes', () => {
    const ex = fakeExchange('POST', '/q', '', { 'x-k': 'a', 'content-type': 'text/csv' }, 10);
    assert.equal(f.onRequest(ex), undefined);
    assert.equal(ex.failed?.code, 'GH_UNSUPPORTED_MEDIA_TYPE');
    const get = fakeExchange('GET', '/q', '', { 'x-k': 'a' });
    assert.equal(f.onRequest(get), undefined);
    assert.equal(get.failed, null);
    const post = fakeExchange('POST', '/q', '', { 'x-k': 'a' });
    f.onRequest(post);
    assert.equal(post.failed?.extras?.detail, 'body: is required');
  });
});

describe('OpenAPI templates', () => {
  const api = fileURLToPath(new URL('../../../../test/fixtures/validate/users-api.yaml', import.meta.url));
  test('concrete before templated, mixed segments, case-insensitive routing, the base path', () => {
    const rt = compileRoutes(`routing: { caseSensitive: false }
services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - { name: v1, match: { path: /v1/* }, service: s, validate: { openapi: '${api}' } }
`);
    const f = featureOf(rt, 0);
    const doc = f.api!;
    assert.equal(f.basePath, '/v1');
    assert.equal(doc.match('/users/me')!.template.text, '/users/me');
    assert.equal(doc.match('/USERS/ME')!.template.text, '/users/me');
    const m = doc.match('/Users/Ann')!;
    assert.equal(m.template.text, '/users/{id}');
    assert.deepEqual(m.values, ['Ann']);
    assert.deepEqual(doc.match('/files/a.b.JSON')!.values, ['a', 'b.JSON']);
    assert.equal(doc.match('/users')!.template.text, '/users');
    assert.equal(doc.match('/users//x'), null);
    assert.equal(doc.match('/nothing'), null);
    const outside = fakeExchange('GET', '/v2/users/me', '', {});
    f.onRequest(outside);
    assert.equal(outside.failed?.code, 'GH_ROUTE_NOT_FOUND');
    const base = fakeExchange('GET', '/V1/users/me', '', {});
    f.onRequest(base);
    assert.equal(base.failed, null);
  });
});
