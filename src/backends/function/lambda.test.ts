/**
 * The payload 2.0 mapping on its own: route keys, the event built from a request, and API Gateway's rules for
 * turning a handler's result into a response (including what is refused as no response).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildEvent, checkWire, requestTime, routeShape, toWireResponse, type EventSource, type Verdict, type WireResponse } from './lambda.js';
import type { Identity } from '../../identity/types.js';

function source(over: Partial<EventSource> = {}): EventSource {
  return {
    req: { method: 'GET', httpVersion: '1.1', headers: { host: 'api.example.com:8080' } },
    requestId: 'req-1',
    clientIp: '203.0.113.9',
    path: '/users/42',
    upstreamPath: '/users/42',
    query: '',
    params: { id: '42' },
    upstreamHeaders: ['user-agent', 'curl/8', 'accept', 'text/html', 'accept', 'application/json', 'x-forwarded-host', 'api.example.com:8080', 'x-request-id', 'req-1'],
    identity: null,
    ...over,
  };
}

const NOW = Date.UTC(2020, 2, 12, 19, 3, 58, 390);

function ok(v: Verdict): WireResponse {
  assert.ok(v.ok, v.ok ? '' : v.reason);
  return v.response;
}

function refused(v: Verdict): string {
  assert.ok(!v.ok, 'refused');
  return v.reason;
}

describe('routeShape', () => {
  test('parameters become {name}, a trailing /* the greedy {proxy+}', () => {
    assert.deepEqual(routeShape('/hello/:name', new Set(['GET', 'HEAD'])), { routeKey: 'GET /hello/{name}', restStart: -1 });
    assert.deepEqual(routeShape('/files/*', null), { routeKey: 'ANY /files/{proxy+}', restStart: 6 });
    assert.deepEqual(routeShape('/orders', new Set(['GET', 'POST', 'HEAD'])), { routeKey: 'ANY /orders', restStart: -1 });
    assert.deepEqual(routeShape('/orders', new Set(['HEAD'])), { routeKey: 'HEAD /orders', restStart: -1 });
  });
  test('/* for every method is the $default route', () => {
    assert.equal(routeShape('/*', null).routeKey, '$default');
    assert.equal(routeShape('/*', new Set(['POST'])).routeKey, 'POST /{proxy+}');
  });
});

describe('buildEvent', () => {
  test('the fields of payload 2.0', () => {
    const e = buildEvent(source({ query: 'a=1&a=2&b=x+y%21&c&bad=%zz' }), routeShape('/users/:id', new Set(['GET', 'HEAD'])), null, NOW);
    assert.equal(e.version, '2.0');
    assert.equal(e.routeKey, 'GET /users/{id}');
    assert.equal(e.rawPath, '/users/42');
    assert.equal(e.rawQueryString, 'a=1&a=2&b=x+y%21&c&bad=%zz');
    assert.deepEqual({ ...e.queryStringParameters }, { a: '1,2', b: 'x y!', c: '', bad: '%zz' });
    assert.deepEqual({ ...e.pathParameters }, { id: '42' });
    assert.equal(e.headers.accept, 'text/html,application/json', 'duplicates joined with commas');
    assert.equal(e.headers.host, 'api.example.com:8080');
    assert.equal(e.cookies, undefined);
    assert.equal(e.body, undefined);
    assert.equal(e.isBase64Encoded, false);
    const c = e.requestContext;
    assert.equal(c.domainName, 'api.example.com');
    assert.equal(c.domainPrefix, 'api');
    assert.deepEqual(c.http, { method: 'GET', path: '/users/42', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'curl/8' });
    assert.equal(c.requestId, 'req-1');
    assert.equal(c.routeKey, 'GET /users/{id}');
    assert.equal(c.stage, '$default');
    assert.equal(c.time, '12/Mar/2020:19:03:58 +0000');
    assert.equal(c.timeEpoch, NOW);
    assert.equal(c.authorizer, undefined);
    assert.equal((e as unknown as Record<string, unknown>).stageVariables, undefined);
  });

  test('cookies move from the header to `cookies`', () => {
    const e = buildEvent(source({ upstreamHeaders: ['cookie', 'a=1; b=2', 'cookie', 'c=3;', 'x-y', 'z'] }), routeShape('/x', null), null, NOW);
    assert.deepEqual(e.cookies, ['a=1', 'b=2', 'c=3']);
    assert.equal(e.headers.cookie, undefined);
  });

  test('names a client chooses never meet inherited members', () => {
    const e = buildEvent(source({ query: 'constructor=1&__proto__=2', upstreamHeaders: ['constructor', 'x'] }), routeShape('/x', null), null, NOW);
    assert.equal(e.queryStringParameters!.constructor, '1');
    assert.equal(Object.getOwnPropertyDescriptor(e.queryStringParameters, '__proto__')?.value, '2');
    assert.equal(e.headers.constructor, 'x');
  });

  test('the rest of a prefix route is `proxy`; parameters are decoded', () => {
    const shape = routeShape('/files/*', null);
    const e = buildEvent(source({ path: '/files/a/b%20c.txt', params: {} }), shape, null, NOW);
    assert.deepEqual({ ...e.pathParameters }, { proxy: 'a/b c.txt' });
    assert.equal(buildEvent(source({ path: '/files', params: null }), shape, null, NOW).pathParameters, undefined);
    const p = buildEvent(source({ params: { name: 'J%C3%B6rg', '*': 'rest' } }), routeShape('/hi/:name', null), null, NOW);
    assert.deepEqual({ ...p.pathParameters }, { name: 'Jörg' });
  });

  test('bodies: text when textual and UTF-8, base64 otherwise', () => {
    const shape = routeShape('/x', null);
    const json = buildEvent(source({ upstreamHeaders: ['content-type', 'application/json'] }), shape, Buffer.from('{"a":"é"}'), NOW);
    assert.deepEqual([json.body, json.isBase64Encoded], ['{"a":"é"}', false]);
    const bytes = Buffer.from([0xff, 0x00, 0x10]);
    const bin = buildEvent(source({ upstreamHeaders: ['content-type', 'text/plain'] }), shape, bytes, NOW);
    assert.deepEqual([bin.body, bin.isBase64Encoded], [bytes.toString('base64'), true]);
    const octets = buildEvent(source({ upstreamHeaders: ['content-type', 'application/octet-stream'] }), shape, Buffer.from('abc'), NOW);
    assert.deepEqual([octets.body, octets.isBase64Encoded], ['YWJj', true]);
    assert.equal(buildEvent(source(), shape, Buffer.alloc(0), NOW).body, undefined);
  });

  test('an authenticated caller appears as the authorizer', () => {
    const identity: Identity = {
      consumer: { id: 'acme', groups: ['partners'], plan: null, metadata: {} }, subject: 'acme', method: 'staff-jwt',
      claims: { sub: 'acme', scope: 'a b' }, scopes: new Set(['a', 'b']), expiresAt: null, upstreamHeaders: [],
    };
    const e = buildEvent(source({ identity }), routeShape('/x', null), null, NOW);
    assert.deepEqual(e.requestContext.authorizer, {
      lambda: { subject: 'acme', method: 'staff-jwt', consumer: 'acme', groups: ['partners'] },
      jwt: { claims: { sub: 'acme', scope: 'a b' }, scopes: ['a', 'b'] },
    });
    const key = buildEvent(source({ identity: { ...identity, claims: null, method: 'key' } }), routeShape('/x', null), null, NOW);
    assert.equal(key.requestContext.authorizer!.jwt, undefined);
  });

  test('requestTime', () => {
    assert.equal(requestTime(Date.UTC(2024, 0, 5, 3, 4, 5)), '05/Jan/2024:03:04:05 +0000');
    assert.equal(requestTime(Date.UTC(2024, 0, 5, 3, 4, 5, 999)), '05/Jan/2024:03:04:05 +0000');
  });
});

describe('toWireResponse', () => {
  const MAX = 1024;
  test('a response object: status, headers, cookies, body', () => {
    const r = ok(toWireResponse({ statusCode: 201, headers: { 'Content-Type': 'text/plain', 'X-N': 3, 'X-B': true }, cookies: ['a=1; Path=/', 'b=2'], body: 'hi', multiValueHeaders: { x: ['1'] } }, MAX));
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers, ['content-type', 'text/plain', 'x-n', '3', 'x-b', 'true', 'set-cookie', 'a=1; Path=/', 'set-cookie', 'b=2']);
    assert.equal(Buffer.from(r.body!).toString(), 'hi');
  });
  test('base64 bodies are decoded; no body is none', () => {
    assert.deepEqual([...ok(toWireResponse({ statusCode: 200, body: 'AAH//w==', isBase64Encoded: true }, MAX)).body!], [0, 1, 255, 255]);
    assert.equal(ok(toWireResponse({ statusCode: 204 }, MAX)).body, null);
    assert.equal(ok(toWireResponse({ statusCode: 200, body: null }, MAX)).body, null);
  });
  test('anything else JSON is a 200 application/json answer (API Gateway\'s inference)', () => {
    const cases: [unknown, string][] = [
      [{ message: 'hi' }, '{"message":"hi"}'], ['Hello from Lambda!', 'Hello from Lambda!'], [42, '42'], [[1, 2], '[1,2]'],
      [true, 'true'], [null, 'null'], [undefined, 'null'], [{ statusCode: undefined, a: 1 }, '{"a":1}'],
    ];
    for (const [result, body] of cases) {
      const r = ok(toWireResponse(result, MAX));
      assert.equal(r.status, 200);
      assert.deepEqual(r.headers, ['content-type', 'application/json']);
      assert.equal(Buffer.from(r.body!).toString(), body, JSON.stringify(result));
    }
  });
  test('what is no response is refused with a reason for the log', () => {
    assert.match(refused(toWireResponse({ statusCode: '200' }, MAX)), /statusCode must be an integer from 200 to 599, not the string "200"/);
    assert.match(refused(toWireResponse({ statusCode: 99 }, MAX)), /statusCode/);
    assert.match(refused(toWireResponse({ statusCode: 600 }, MAX)), /statusCode/);
    assert.match(refused(toWireResponse({ statusCode: 200.5 }, MAX)), /statusCode/);
    assert.match(refused(toWireResponse({ statusCode: null }, MAX)), /not null/);
    assert.match(refused(toWireResponse({ statusCode: 200, body: { a: 1 } }, MAX)), /body must be a string/);
    assert.match(refused(toWireResponse({ statusCode: 200, headers: ['a'] }, MAX)), /headers must be an object/);
    assert.match(refused(toWireResponse({ statusCode: 200, headers: { a: ['1', '2'] } }, MAX)), /header a must be a string, not an array/);
    assert.match(refused(toWireResponse({ statusCode: 200, headers: { a: null } }, MAX)), /header a/);
    assert.match(refused(toWireResponse({ statusCode: 200, headers: { 'bad name': 'x' } }, MAX)), /not a valid token/);
    assert.match(refused(toWireResponse({ statusCode: 200, headers: { a: 'x\r\nset-cookie: y' } }, MAX)), /not allowed/);
    assert.match(refused(toWireResponse({ statusCode: 200, cookies: 'a=1' }, MAX)), /cookies must be an array/);
    assert.match(refused(toWireResponse({ statusCode: 200, cookies: ['a=1\n'] }, MAX)), /not allowed/);
    const many: Record<string, string> = {};
    for (let i = 0; i < 201; i++) many[`h${i}`] = 'x';
    assert.match(refused(toWireResponse({ statusCode: 200, headers: many }, MAX)), /at most 200/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.match(refused(toWireResponse(cycle, MAX)), /cannot be serialized as JSON/);
    assert.match(refused(toWireResponse(() => 1, MAX)), /not a JSON value/);
    assert.match(refused(toWireResponse(10n, MAX)), /cannot be serialized/);
  });
  test('bodies past the limit are too large, measured in bytes', () => {
    const big = toWireResponse('x'.repeat(MAX + 1), MAX);
    assert.ok(!big.ok && big.tooLarge);
    assert.ok(ok(toWireResponse('x'.repeat(MAX), MAX)));
    const wide = toWireResponse({ statusCode: 200, body: 'é'.repeat(MAX / 2 + 1) }, MAX);
    assert.ok(!wide.ok && wide.tooLarge, 'UTF-8 bytes count, not characters');
    const b64 = toWireResponse({ statusCode: 200, body: Buffer.alloc(MAX + 1).toString('base64'), isBase64Encoded: true }, MAX);
    assert.ok(!b64.ok && b64.tooLarge);
  });
});

describe('checkWire', () => {
  test('accepts a response the worker built and refuses anything else', () => {
    const good = { status: 200, headers: ['content-type', 'text/plain'], body: new Uint8Array([104, 105]) };
    assert.equal(checkWire(good, 10), good);
    assert.ok(checkWire({ ...good, body: null }, 10));
    assert.equal(checkWire({ ...good, status: 700 }, 10), null);
    assert.equal(checkWire({ ...good, headers: ['a'] }, 10), null);
    assert.equal(checkWire({ ...good, headers: ['a', 1] }, 10), null);
    assert.equal(checkWire({ ...good, headers: ['Content-Length', '1'] }, 10), null, 'names are lower-case');
    assert.equal(checkWire({ ...good, body: 'hi' }, 10), null);
    assert.equal(checkWire({ ...good, body: new Uint8Array(11) }, 10), null);
  });
});
