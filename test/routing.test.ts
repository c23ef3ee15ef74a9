/**
 * Routing through the real gateway: what the upstream receives for strip-prefix, rewrite, versions and
 * query strings; deprecation headers; 404/405 problems. Two real upstreams tell the routes apart.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';

describe('routing through the gateway', () => {
  let v1: Upstream, v2: Upstream, gw: TestGateway;
  before(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    gw = await startTestGateway(`
services:
  v1: { targets: ["${v1.url}"] }
  v2: { targets: ["${v2.url}"] }
routes:
  - name: users-v1
    match: { path: /api/users/*, methods: [GET, POST] }
    service: v1
    strip-prefix: /api
    deprecation: { since: 2026-01-01, sunset: 2027-06-30, link: "https://docs.example.com/v2" }
  - name: users-v2-header
    match: { path: /api/users/:id, version: { header: api-version, value: "2" } }
    service: v2
    rewrite: /v2/accounts/:id
  - name: users-v2-media
    match: { path: /api/users/:id, version: { mediaType: application/vnd.acme.v2+json } }
    service: v2
    rewrite: /v2/accounts/:id
  - name: files
    match: { path: /files/:bucket/* }
    service: v2
    rewrite: /storage/:bucket/objects/*
  - name: admin-host
    match: { host: admin.example.com, path: /* }
    service: v2
  - name: post-only
    match: { path: /submit, methods: [POST] }
    service: v1
`);
  });
  after(async () => { await gw.close(); await v1.close(); await v2.close(); });

  test('strip-prefix forwards the rest of the path and keeps the query string byte for byte', async () => {
    const r = await request(`${gw.url}/api/users/42?expand=orders&q=a%20b`);
    assert.equal(r.status, 200);
    assert.equal(r.json.upstream, 'v1');
    assert.equal(r.json.url, '/users/42?expand=orders&q=a%20b');
  });

  test('deprecation headers on a retiring version', async () => {
    const r = await request(`${gw.url}/api/users/1`);
    assert.equal(r.headers.deprecation, `@${Date.parse('2026-01-01') / 1000}`);
    assert.equal(r.headers.sunset, 'Wed, 30 Jun 2027 00:00:00 GMT');
    assert.equal(r.headers.link, '<https://docs.example.com/v2>; rel="deprecation"; type="text/html"');
  });

  test('version by header and by media type, with rewrite from parameters', async () => {
    const h = await request(`${gw.url}/api/users/42?x=1`, { headers: { 'api-version': '2' } });
    assert.equal(h.json.upstream, 'v2');
    assert.equal(h.json.url, '/v2/accounts/42?x=1');
    assert.equal(h.headers.deprecation, undefined);
    const m = await request(`${gw.url}/api/users/7`, { headers: { accept: 'application/vnd.acme.v2+json' } });
    assert.equal(m.json.url, '/v2/accounts/7');
  });

  test('rewrite with a rest parameter', async () => {
    const r = await request(`${gw.url}/files/photos/2026/cat.jpg`);
    assert.equal(r.json.url, '/storage/photos/objects/2026/cat.jpg');
    const empty = await request(`${gw.url}/files/photos`);
    assert.equal(empty.json.url, '/storage/photos/objects');
  });

  test('host routing ignores the port and case', async () => {
    const r = await request(`${gw.url}/anything`, { headers: { host: 'ADMIN.example.com:8443' } });
    assert.equal(r.json.upstream, 'v2');
    assert.equal(r.json.url, '/anything');
  });

  test('the upstream receives the normalized path', async () => {
    const r = await request(`${gw.url}/api/./users/%34%32/../43`);
    assert.equal(r.json.url, '/users/43');
  });

  test('404 and 405 are problem documents; 405 carries Allow; nothing is forwarded', async () => {
    const before1 = v1.received.length, before2 = v2.received.length;
    const nf = await request(`${gw.url}/nowhere`);
    assert.equal(nf.status, 404);
    assert.equal(nf.headers['content-type'], 'application/problem+json');
    assert.equal(nf.json.code, 'GH_ROUTE_NOT_FOUND');
    assert.equal(nf.json.requestId, nf.headers['x-request-id']);
    const na = await request(`${gw.url}/submit`);
    assert.equal(na.status, 405);
    assert.equal(na.headers.allow, 'POST');
    assert.equal(na.json.code, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(v1.received.length, before1);
    assert.equal(v2.received.length, before2);
  });

  test('the client request id is passed up and echoed back', async () => {
    const r = await request(`${gw.url}/api/users/1`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(r.headers['x-request-id'], 'abc-123');
    assert.equal(r.json.headers['x-request-id'], 'abc-123');
  });
});
