/**
 * API keys through the real gateway and a recording upstream: a good key is accepted and the upstream gets
 * the consumer headers and never the key (header or query); every bad key is answered 401 with a challenge
 * and nothing reaches the upstream; rotation and expiry; query keys only where configured; spoofed identity
 * headers never pass; no key appears in a log line.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, exchange, header, LISTEN } from './helpers/raw.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const GOOD = newApiKey();
const SECOND = newApiKey(); // a second key of the same consumer: rotation
const EXPIRED = newApiKey();
const LATER = newApiKey(); // expires in 2099
const SOLO = newApiKey();
const STRANGER = newApiKey(); // well-formed, belongs to nobody
const ALL_KEYS = [GOOD, SECOND, EXPIRED, LATER, SOLO, STRANGER];

function config(upUrl: string): string {
  return `${LISTEN}
services:
  a: { targets: ['${upUrl}'], retries: 0 }
consumers:
  acme:
    groups: [partners, beta]
    keys:
      - ${hashApiKey(GOOD)}
      - ${hashApiKey(SECOND)}
      - { hash: ${hashApiKey(EXPIRED)}, expires: 2020-01-01 }
      - { hash: ${hashApiKey(LATER)}, expires: 2099-01-01T00:00:00Z }
  solo:
    keys: [${hashApiKey(SOLO)}]
auth:
  api-key:
    apiKey: { header: x-api-key }
  api-key-q:
    apiKey: { query: api_key }
routes:
  - { name: keyed, match: { path: /keyed/* }, service: a, auth: [api-key] }
  - { name: keyed-q, match: { path: /q/* }, service: a, auth: [api-key-q] }
  - { name: open, match: { path: /open/* }, service: a, auth: { methods: [api-key], anonymous: true } }
`;
}

describe('API keys', () => {
  let up: Upstream;
  let gw: TestGateway;
  let base: string;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url));
    base = `http://127.0.0.1:${gw.port}`;
  });
  after(async () => {
    // No key, in any form, in any log line the gateway wrote during the suite.
    const logs = JSON.stringify(gw.logs);
    for (const k of ALL_KEYS) assert.ok(!logs.includes(k), 'a key appeared in the logs');
    await gw.close();
    await up.close();
  });
  beforeEach(() => { up.received.length = 0; });

  const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => request(base + path, { headers });

  function assertRefused(r: Reply, challenge = 'ApiKey header="x-api-key"'): void {
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(header(r, 'www-authenticate'), challenge);
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
    for (const k of ALL_KEYS) assert.ok(!r.body.includes(k), 'the key is not echoed');
  }

  test('a good key: forwarded with X-Consumer-Id and X-Consumer-Groups, without the key', async () => {
    const r = await get('/keyed/orders?x=1', { 'x-api-key': GOOD });
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received.length, 1);
    const got = up.received[0]!;
    assert.equal(got.url, '/keyed/orders?x=1');
    assert.equal(got.headers['x-consumer-id'], 'acme');
    assert.equal(got.headers['x-consumer-groups'], 'partners,beta');
    assert.equal(got.headers['x-api-key'], undefined);
    assert.ok(!got.rawHeaders.some((v) => v.includes(GOOD)), 'the key is nowhere in the upstream request');
  });

  test('the header name is case-insensitive', async () => {
    const [r] = await exchange(gw.port, `GET /keyed/x HTTP/1.1\r\nHost: gw.test\r\nX-API-KEY: ${GOOD}\r\nConnection: close\r\n\r\n`);
    assert.equal(r!.status, 200);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
  });

  test('a consumer without groups: X-Consumer-Id only', async () => {
    const r = await get('/keyed/x', { 'x-api-key': SOLO });
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'solo');
    assert.equal(up.received[0]!.headers['x-consumer-groups'], undefined);
  });

  test('no key: 401 with the challenge, nothing upstream', async () => {
    assertRefused(await get('/keyed/x'));
  });

  test('a well-formed key that belongs to no consumer: 401', async () => {
    assertRefused(await get('/keyed/x', { 'x-api-key': STRANGER }));
  });

  test('an expired key: 401; a key whose expiry is ahead still works', async () => {
    assertRefused(await get('/keyed/x', { 'x-api-key': EXPIRED }));
    const r = await get('/keyed/x', { 'x-api-key': LATER });
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
  });

  test('malformed keys and look-alikes (bad checksum, another prefix): 401', async () => {
    const flipped = GOOD.slice(0, -1) + (GOOD.endsWith('A') ? 'B' : 'A'); // checksum no longer matches
    for (const bad of ['nope', flipped, GOOD.slice(0, -1), `${GOOD}x`, GOOD.replace('gh_live_', 'GH_LIVE_'), 'x'.repeat(4000), `sk_live_${'a'.repeat(49)}`]) {
      up.received.length = 0;
      assertRefused(await get('/keyed/x', { 'x-api-key': bad }));
    }
  });

  test('two key headers, even equal ones: 401', async () => {
    const [r] = await exchange(gw.port, `GET /keyed/x HTTP/1.1\r\nHost: gw.test\r\nX-Api-Key: ${GOOD}\r\nX-Api-Key: ${GOOD}\r\nConnection: close\r\n\r\n`);
    assertRefused(r!);
  });

  test('rotation: both keys of a consumer work side by side', async () => {
    for (const k of [GOOD, SECOND]) {
      up.received.length = 0;
      const r = await get('/keyed/x', { 'x-api-key': k });
      assert.equal(r.status, 200);
      assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
    }
  });

  test('rotation: replacing the old key by reload; the old one stops at once', async () => {
    const next = newApiKey();
    const text = config(up.url).replace(`      - ${hashApiKey(GOOD)}\n`, `      - ${hashApiKey(next)}\n`);
    gw.writeConfig(text);
    await gw.reload();
    try {
      assertRefused(await get('/keyed/x', { 'x-api-key': GOOD }));
      const r = await get('/keyed/x', { 'x-api-key': next });
      assert.equal(r.status, 200);
      assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
    } finally {
      gw.writeConfig(config(up.url));
      await gw.reload();
    }
    assert.equal((await get('/keyed/x', { 'x-api-key': GOOD })).status, 200);
  });

  test('a key in the query where configured: accepted and removed before forwarding', async () => {
    const r = await get(`/q/x?a=1&api_key=${GOOD}&b=2`);
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.url, '/q/x?a=1&b=2');
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'acme');
    up.received.length = 0;
    // The parameter name percent-encoded is the same parameter: read and removed too.
    const e = await get(`/q/x?api%5Fkey=${GOOD}`);
    assert.equal(e.status, 200);
    assert.equal(up.received[0]!.url, '/q/x');
    up.received.length = 0;
    // The header still works on that route.
    assert.equal((await get('/q/x', { 'x-api-key': SECOND })).status, 200);
  });

  test('query keys where configured: a bad one, two of them, or one plus a header: 401', async () => {
    const challenge = 'ApiKey header="x-api-key", query="api_key"';
    assertRefused(await get(`/q/x?api_key=${STRANGER}`), challenge);
    assertRefused(await get(`/q/x?api_key=${GOOD}&api_key=${GOOD}`), challenge);
    assertRefused(await get(`/q/x?api_key=${GOOD}`, { 'x-api-key': GOOD }), challenge);
    assertRefused(await get('/q/x?api_key='), challenge);
  });

  test('a key in the query of a header-only route is not a credential: 401', async () => {
    assertRefused(await get(`/keyed/x?api_key=${GOOD}`));
  });

  test('a key in the query of a header-only anonymous route is not read, and stays in the query', async () => {
    const r = await get(`/open/x?api_key=${GOOD}`);
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.url, `/open/x?api_key=${GOOD}`);
    assert.equal(up.received[0]!.headers['x-consumer-id'], undefined);
  });

  test('spoofed identity headers never reach the upstream, with a good key', async () => {
    const [r] = await exchange(gw.port, `GET /keyed/x HTTP/1.1\r\nHost: gw.test\r\nX-Consumer-Id: admin\r\nX-Consumer-Groups: admins\r\n` +
      `X_Consumer_Id: admin\r\nx-consumer-custom: 1\r\nX-Api-Key: ${SOLO}\r\nConnection: close\r\n\r\n`);
    assert.equal(r!.status, 200);
    const raw = up.received[0]!.rawHeaders;
    assert.deepEqual(raw.filter((_, i) => i % 2 === 0 && /consumer/i.test(raw[i]!)).map((n) => n.toLowerCase()), ['x-consumer-id']);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'solo');
    assert.ok(!raw.includes('admin') && !raw.includes('admins'));
  });

  test('spoofed identity headers never reach the upstream, without authentication', async () => {
    const [r] = await exchange(gw.port, 'GET /open/x HTTP/1.1\r\nHost: gw.test\r\nX-Consumer-Id: admin\r\nX-Consumer-Groups: admins\r\n' +
      'X_Consumer_Id: admin\r\nX_Consumer_Groups: admins\r\nConnection: close\r\n\r\n');
    assert.equal(r!.status, 200);
    assert.ok(!up.received[0]!.rawHeaders.some((v) => /consumer|admin/i.test(v)), up.received[0]!.rawHeaders.join(' '));
  });

  test('a spoofed X-Consumer-Id with no key on a protected route: 401, nothing upstream', async () => {
    assertRefused(await get('/keyed/x', { 'x-consumer-id': 'acme', 'x-consumer-groups': 'partners' }));
  });
});
