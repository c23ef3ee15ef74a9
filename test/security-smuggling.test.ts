/**
 * SECURITY.md "Request smuggling" and "The upgrade path": every framing trick is refused with 400 (by the
 * gateway's header scan, or by Node's parser and then the gateway's clientError handler), the connection is
 * closed, a request pipelined behind the refused one is never forwarded, and the upstream receives nothing.
 * Upgrades are refused on routes (no WebSocket backend yet) and `h2c` is served as plain HTTP/1.1.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest } from './helpers/http.js';
import { assertProblem, header, parseAll, parseRaw, LISTEN, startApiGateway } from './helpers/raw.js';

const H = 'Host: gw.test\r\n';
/** A well-formed request sent right behind the attack on the same connection: it must never be forwarded. */
const FOLLOW = `GET /api/follow HTTP/1.1\r\n${H}\r\n`;

describe('request smuggling', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a', undefined, { keepBody: true });
    gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: api, match: { path: /api/* }, service: a }
`);
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  /** Sends `attack` with FOLLOW pipelined behind it; expects exactly one 400 and a closed connection. */
  async function refused(attack: string, code: string): Promise<void> {
    const raw = await rawRequest(gw.port, attack + FOLLOW, 1500);
    const replies = parseAll(raw);
    assert.equal(replies.length, 1, `one answer only, got: ${raw.slice(0, 600)}`);
    assertProblem(replies[0]!, 400, code);
    assert.equal(header(replies[0]!, 'connection').toLowerCase(), 'close');
    assert.equal(up.received.length, 0, `upstream received ${JSON.stringify(up.received.map((r) => r.url))}`);
  }

  test('Content-Length together with Transfer-Encoding', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding before Content-Length', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding: gzip, chunked', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding: chunked twice', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding: chunked then identity', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding: xchunked', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding: ,chunked', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('Transfer-Encoding on HTTP/1.0', async () => {
    // HTTP/1.0 closes after one answer by itself; still one answer and nothing upstream.
    await refused(`POST /api/x HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_FRAMING');
  });
  test('duplicate Content-Length, same value', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, 'GH_BAD_FRAMING');
  });
  test('duplicate Content-Length, different values', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 'GH_BAD_FRAMING');
  });
  test('Content-Length as a list (3, 3)', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, 'GH_BAD_FRAMING');
  });
  test('signed Content-Length (+3)', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 'GH_BAD_FRAMING');
  });
  test('duplicate Host', async () => {
    await refused(`GET /api/x HTTP/1.1\r\n${H}Host: evil.test\r\n\r\n`, 'GH_DUPLICATE_HEADER');
  });
  test('missing Host on HTTP/1.1 is a problem document, not a bare 400', async () => {
    await refused(`GET /api/x HTTP/1.1\r\nAccept: */*\r\n\r\n`, 'GH_BAD_REQUEST');
  });
  test('duplicate Authorization', async () => {
    await refused(`GET /api/x HTTP/1.1\r\n${H}Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n`, 'GH_DUPLICATE_HEADER');
  });
  test('obs-fold (a header continued on the next line)', async () => {
    await refused(`GET /api/x HTTP/1.1\r\n${H}X-A: a\r\n Transfer-Encoding: chunked\r\n\r\n`, 'GH_BAD_REQUEST');
  });
  test('space before the colon (Transfer-Encoding : chunked)', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 'GH_BAD_REQUEST');
  });
  test('bare LF line endings', async () => {
    await refused(`GET /api/x HTTP/1.1\n${H}\n`, 'GH_BAD_REQUEST');
  });
  test('chunked body with a bad chunk size', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 'GH_BAD_REQUEST');
  });
  test('chunked body with an overflowing chunk size', async () => {
    await refused(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n`, 'GH_BAD_REQUEST');
  });

  test('control: a well-formed chunked body is forwarded whole, re-framed by the gateway', async () => {
    const raw = await rawRequest(gw.port, `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
    assert.equal(parseRaw(raw).status, 200);
    assert.equal(up.received.length, 1);
    assert.equal(up.received[0]!.body, 'hello world');
    // The client's framing header is never passed on as it came: the upstream request is framed by undici.
    assert.equal(up.received[0]!.rawHeaders.filter((h) => /^content-length$/i.test(h)).length + up.received[0]!.rawHeaders.filter((h) => /^transfer-encoding$/i.test(h)).length, 1);
  });
});

describe('the upgrade path', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => { ({ up, gw } = await startApiGateway()); });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const WS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
  /** A masked WebSocket text frame, as a client would send right after its handshake. */
  const FRAME = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]).toString('latin1');

  test('Connection: Upgrade + Upgrade: websocket on a plain route is refused, nothing tunnelled', async () => {
    const raw = await rawRequest(gw.port, `GET /api/ws HTTP/1.1\r\n${H}${WS}\r\n${FRAME}${FOLLOW}`, 1500);
    assert.doesNotMatch(raw, /^HTTP\/1\.1 101/m);
    const replies = parseAll(raw);
    assert.equal(replies.length, 1);
    assertProblem(replies[0]!, 400, 'GH_UPGRADE_NOT_ALLOWED');
    assert.equal(header(replies[0]!, 'connection').toLowerCase(), 'close');
    assert.equal(up.received.length, 0);
  });

  test('an upgrade on another method, with a body, is refused the same way', async () => {
    const raw = await rawRequest(gw.port, `POST /api/ws HTTP/1.1\r\n${H}${WS}Content-Length: 5\r\n\r\nhello`, 1500);
    assertProblem(parseRaw(raw), 400, 'GH_UPGRADE_NOT_ALLOWED');
    assert.equal(up.received.length, 0);
  });

  test('an upgrade to an unknown route is still not tunnelled', async () => {
    const raw = await rawRequest(gw.port, `GET /nowhere HTTP/1.1\r\n${H}${WS}\r\n`, 1500);
    assert.doesNotMatch(raw, /^HTTP\/1\.1 101/m);
    assert.equal(parseRaw(raw).status, 400);
    assert.equal(up.received.length, 0);
  });

  test('Upgrade: h2c is served as HTTP/1.1 and no Upgrade or Connection reaches the upstream', async () => {
    const raw = await rawRequest(gw.port,
      `GET /api/h2c HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, 1500);
    const r = parseRaw(raw);
    assert.equal(r.status, 200);
    assert.ok(r.json !== undefined);
    assert.equal(up.received.length, 1);
    const h = up.received[0]!.headers;
    assert.equal(h.upgrade, undefined);
    assert.equal(h['http2-settings'], undefined);
    assert.ok(h.connection === undefined || h.connection === 'keep-alive', `connection: ${h.connection}`);
    assert.equal(up.received[0]!.url, '/api/h2c');
  });

  test('CONNECT is refused with 405 (no tunnel, nothing upstream, the pipelined request is not served)', async () => {
    const raw = await rawRequest(gw.port, `CONNECT ${'127.0.0.1'}:${up.port} HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`, 1500);
    assertProblem(parseRaw(raw), 405, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(raw.match(/HTTP\/1\.1 /g)?.length, 1);
    assert.equal(up.received.length, 0);
  });

  test('CONNECT with an origin-form target is refused too', async () => {
    const raw = await rawRequest(gw.port, `CONNECT /api/x HTTP/1.1\r\n${H}\r\n`, 1000);
    assertProblem(parseRaw(raw), 405, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(up.received.length, 0);
  });
});
