/**
 * SECURITY.md "Resource exhaustion": each limit answers with its status and stable code, costs the gateway no
 * more than the bound, and lets nothing (or nothing past the bound) through to the upstream. Small limits keep
 * the tests fast; one describe checks the documented defaults.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, request } from './helpers/http.js';
import { assertProblem, header, parseAll, parseRaw, RawClient, sleep, LISTEN, startApiGateway } from './helpers/raw.js';

const H = 'Host: gw.test\r\n';

/** Records, for each request the upstream saw, whether it ended complete or was aborted. */
function trackAborts(up: Upstream): { aborted: number; completed: number } {
  const t = { aborted: 0, completed: 0 };
  up.server.on('request', (req: IncomingMessage) => {
    req.on('close', () => { if (req.complete) t.completed++; else t.aborted++; });
  });
  return t;
}

/**
 * Node checks headersTimeout and requestTimeout on a timer (connectionsCheckingInterval, 1 s in
 * src/core/gateway.ts), so those answers come up to a second after the limit. WAIT_MS bounds every wait
 * for an answer, a close or an upstream abort: generous, since a passing test returns as soon as the
 * awaited thing happens, and still below the 10 s requestTimeout configured below, so a wait that ends in
 * time shows the limit under test fired, not a later one.
 */
const WAIT_MS = 5000;

function headersOf(n: number, size: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += `X-H${String(i).padStart(3, '0')}: ${'v'.repeat(Math.max(0, size - 10))}\r\n`;
  return out;
}

describe('limits (small, configured)', () => {
  let up: Upstream;
  let gw: TestGateway;
  let aborts: { aborted: number; completed: number };
  before(async () => {
    up = await startUpstream('a');
    aborts = trackAborts(up);
    gw = await startTestGateway(`${LISTEN}
limits: { url: 256b, headers: 2kb, header: 512b, headerCount: 20, headersTimeout: 500ms, bodyIdleTimeout: 800ms, requestTimeout: 10s, body: 1kb }
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: api, match: { path: /api/* }, service: a }
  - { name: small, match: { path: /small/* }, service: a, body-limit: 100b }
`);
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('URL over the limit → 414, nothing upstream; at the limit → served', async () => {
    const long = '/api/' + 'a'.repeat(256 - 5 + 1);
    assertProblem(parseRaw(await rawRequest(gw.port, `GET ${long} HTTP/1.1\r\n${H}\r\n`)), 414, 'GH_URI_TOO_LONG');
    assert.equal(up.received.length, 0);
    const exact = '/api/' + 'a'.repeat(256 - 5);
    assert.equal(parseRaw(await rawRequest(gw.port, `GET ${exact} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)).status, 200);
    assert.equal(up.received.length, 1);
  });

  test('one header over the limit → 431, nothing upstream', async () => {
    const r = parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(600)}\r\n\r\n`));
    assertProblem(r, 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 0);
  });

  test('all headers over the limit (each under it) → 431, nothing upstream', async () => {
    const r = parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}${headersOf(5, 450)}\r\n`));
    assertProblem(r, 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 0);
  });

  test('more headers than headerCount → 431, nothing upstream; exactly headerCount → served', async () => {
    const over = parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}${headersOf(20, 12)}\r\n`));
    assertProblem(over, 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 0);
    const exact = parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}Connection: close\r\n${headersOf(18, 12)}\r\n`));
    assert.equal(exact.status, 200);
  });

  test('headers past Node\'s own parser limit → 431 problem from the clientError handler', async () => {
    const r = parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}X-Huge: ${'h'.repeat(70 * 1024)}\r\n\r\n`));
    assertProblem(r, 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 0);
  });

  test('Content-Length over the body limit → 413 at once, connection closed, nothing upstream', async () => {
    const r = parseRaw(await rawRequest(gw.port, `POST /api/x HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n${'x'.repeat(2000)}`, 1500));
    assertProblem(r, 413, 'GH_BODY_TOO_LARGE');
    assert.equal(header(r, 'connection').toLowerCase(), 'close');
    assert.equal(up.received.length, 0);
  });

  test('a huge declared body is refused without reading it', async () => {
    const c = new RawClient(gw.port);
    c.write(`POST /api/x HTTP/1.1\r\n${H}Content-Length: 10000000000\r\n\r\n${'x'.repeat(100)}`);
    const [r] = await c.responses(1, 1000);
    assertProblem(r!, 413, 'GH_BODY_TOO_LARGE');
    assert.ok(await c.until((x) => x.closed, 1000), 'connection closed after the 413');
    c.close();
    assert.equal(up.received.length, 0);
  });

  test('a route\'s own body-limit applies', async () => {
    const r = parseRaw(await rawRequest(gw.port, `POST /small/x HTTP/1.1\r\n${H}Content-Length: 200\r\n\r\n${'x'.repeat(200)}`, 1500));
    assertProblem(r, 413, 'GH_BODY_TOO_LARGE');
    assert.equal(up.received.length, 0);
    const ok = parseRaw(await rawRequest(gw.port, `POST /small/x HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`, 1500));
    assert.equal(ok.status, 200);
    assert.equal(up.received[0]!.bodyBytes, 100);
  });

  test('a body exactly at the limit is forwarded whole', async () => {
    const r = await request(`${gw.url}/api/x`, { method: 'POST', body: 'y'.repeat(1024) });
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.bodyBytes, 1024);
  });

  test('a chunked body growing past the limit → 413, upstream gets no more than the limit', async () => {
    const c = new RawClient(gw.port);
    const chunk = `258\r\n${'z'.repeat(600)}\r\n`;
    c.write(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk}`);
    await sleep(150);
    c.write(chunk);
    await sleep(50);
    c.write(chunk + '0\r\n\r\n');
    const [r] = await c.responses(1, 1500);
    c.close();
    assertProblem(r!, 413, 'GH_BODY_TOO_LARGE');
    for (const rec of up.received) assert.ok(rec.bodyBytes <= 1024, `upstream got ${rec.bodyBytes} bytes`);
  });

  test('slow headers → 408 problem and the connection closed, nothing upstream', async () => {
    const c = new RawClient(gw.port);
    const t0 = Date.now();
    c.write(`GET /api/slow HTTP/1.1\r\n${H}X-Partial: 1\r\n`);
    const closed = await c.until((x) => x.closed, WAIT_MS);
    c.close();
    assert.ok(closed, 'connection closed');
    assert.ok(Date.now() - t0 >= 400, 'not before headersTimeout');
    assertProblem(parseRaw(c.data), 408, 'GH_REQUEST_TIMEOUT');
    assert.equal(up.received.length, 0);
  });

  test('slow body → 408 problem with the gateway\'s request id, upstream request aborted', async () => {
    const before = { ...aborts };
    const c = new RawClient(gw.port);
    c.write(`POST /api/slow HTTP/1.1\r\n${H}X-Request-Id: has space\r\nContent-Length: 100\r\n\r\n0123456789`);
    const [r] = await c.responses(1, WAIT_MS);
    assertProblem(r!, 408, 'GH_REQUEST_TIMEOUT');
    assert.notEqual(header(r!, 'x-request-id'), 'has space');
    assert.ok(await c.until((x) => x.closed, WAIT_MS), 'connection closed after the 408');
    c.close();
    // The upstream saw the start of the request (streamed), and then the request was aborted, not left hanging.
    assert.equal(up.received.length, 1);
    assert.ok(up.received[0]!.bodyBytes <= 10);
    assert.equal(up.received[0]!.headers['x-request-id'], header(r!, 'x-request-id'));
    const deadline = Date.now() + WAIT_MS;
    while (aborts.aborted === before.aborted && Date.now() < deadline) await sleep(20);
    assert.equal(aborts.aborted, before.aborted + 1, 'upstream request aborted');
    assert.equal(aborts.completed, before.completed);
  });

  // src/backends/proxy.ts streams a chunked body through `req.pipe(new BodyLimiter(...))`; `pipe` does not
  // pass the request's destruction on, so proxy.ts fails the limiter when the request closes early
  // (onRequestClose), which aborts the upstream request.
  test('slow chunked body → 408 problem, upstream request aborted', async () => {
    const before = { ...aborts };
    const c = new RawClient(gw.port);
    try {
      c.write(`POST /api/slow-chunked HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n`);
      const [r] = await c.responses(1, WAIT_MS);
      assertProblem(r!, 408, 'GH_REQUEST_TIMEOUT');
      assert.ok(await c.until((x) => x.closed, WAIT_MS), 'connection closed after the 408');
      assert.ok(up.received.length <= 1);
      if (up.received.length === 1) {
        const deadline = Date.now() + WAIT_MS;
        while (aborts.aborted === before.aborted && Date.now() < deadline) await sleep(20);
        assert.equal(aborts.aborted, before.aborted + 1, 'upstream request aborted');
      }
    } finally {
      c.close();
      // Should the upstream request ever be left hanging again, free it so the gateway can shut down.
      up.server.closeAllConnections();
    }
  });

  test('a client refused by the parser cannot hold its connection open', async () => {
    // Find the gateway's side of this very connection, to see the gateway close it.
    let serverSide: Socket | null = null;
    const onConnection = (s: Socket): void => { if (s.remotePort === c.socket.localPort) serverSide = s; };
    gw.gateway.server.on('connection', onConnection);
    const c = new RawClient(gw.port);
    await c.connected();
    await sleep(20);
    gw.gateway.server.removeListener('connection', onConnection);
    assert.ok(serverSide !== null, 'found the server side of the connection');
    const side = serverSide as Socket;
    // The client never closes its side: the gateway must close the socket itself after the 400.
    c.write('NOT HTTP AT ALL\r\n\r\n');
    await c.responses(1, 1000);
    assert.equal(parseRaw(c.data).status, 400);
    const deadline = Date.now() + WAIT_MS;
    while (!side.destroyed && Date.now() < deadline) await sleep(20);
    c.close();
    assert.ok(side.destroyed, 'the gateway closed the connection');
  });
});

describe('limits on connections', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(`${LISTEN}
limits: { requestsPerConnection: 2, connectionsPerIp: 2, keepAliveTimeout: 2s, headersTimeout: 500ms, requestTimeout: 1s }
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: api, match: { path: /api/* }, service: a }
`);
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('requestsPerConnection: 2 → the second answer closes the connection, no third request goes up', async () => {
    const c = new RawClient(gw.port);
    c.write(`GET /api/1 HTTP/1.1\r\n${H}\r\n`);
    let replies = await c.responses(1, 1000);
    assert.equal(replies[0]!.status, 200);
    assert.notEqual(header(replies[0]!, 'connection').toLowerCase(), 'close');
    c.write(`GET /api/2 HTTP/1.1\r\n${H}\r\n`);
    replies = await c.responses(2, 1000);
    assert.equal(replies[1]!.status, 200);
    assert.equal(header(replies[1]!, 'connection').toLowerCase(), 'close');
    assert.ok(await c.until((x) => x.closed, 1000), 'closed after the second answer');
    c.write(`GET /api/3 HTTP/1.1\r\n${H}\r\n`);
    await sleep(100);
    c.close();
    assert.deepEqual(up.received.map((r) => r.url), ['/api/1', '/api/2']);
  });

  test('requestsPerConnection: 2 → a third pipelined request is not forwarded', async () => {
    const raw = await rawRequest(gw.port, `GET /api/1 HTTP/1.1\r\n${H}\r\nGET /api/2 HTTP/1.1\r\n${H}\r\nGET /api/3 HTTP/1.1\r\n${H}\r\n`, 1000);
    const replies = parseAll(raw);
    assert.equal(replies[0]!.status, 200);
    assert.equal(replies[1]!.status, 200);
    assert.ok(replies.length === 2 || replies[2]!.status >= 500, `third: ${replies[2]?.status}`);
    assert.deepEqual(up.received.map((r) => r.url), ['/api/1', '/api/2']);
  });

  test('a body drip-fed under the idle timeout is still cut at requestTimeout → 408, upstream aborted', async () => {
    let aborted = 0;
    const onRequest = (req: IncomingMessage): void => { req.on('close', () => { if (!req.complete) aborted++; }); };
    up.server.on('request', onRequest);
    const c = new RawClient(gw.port);
    c.write(`POST /api/drip HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n`);
    const drip = setInterval(() => c.write('x'), 150);
    const t0 = Date.now();
    // requestTimeout 1 s + the 1 s checking interval: nominally 1-2 s. Dripping 100 bytes takes 15 s.
    const [r] = await c.responses(1, WAIT_MS);
    clearInterval(drip);
    const elapsed = Date.now() - t0;
    c.close();
    assertProblem(r!, 408, 'GH_REQUEST_TIMEOUT');
    assert.ok(elapsed >= 900, `not before requestTimeout (${elapsed} ms)`);
    assert.equal(up.received.length, 1);
    assert.ok(up.received[0]!.bodyBytes < 100);
    // The 408 names the request it cut, as the upstream saw it.
    assert.equal(header(r!, 'x-request-id'), up.received[0]!.headers['x-request-id']);
    const deadline = Date.now() + WAIT_MS;
    while (aborted === 0 && Date.now() < deadline) await sleep(20);
    up.server.removeListener('request', onRequest);
    assert.equal(aborted, 1, 'upstream request aborted');
  });

  test('connectionsPerIp: 2 → a third concurrent connection is refused, the first two still work', async () => {
    const a = new RawClient(gw.port);
    const b = new RawClient(gw.port);
    await Promise.all([a.connected(), b.connected()]);
    await sleep(50); // let the gateway count both
    const c = new RawClient(gw.port);
    c.write(`GET /api/third HTTP/1.1\r\n${H}\r\n`);
    assert.ok(await c.until((x) => x.closed, 1000), 'third connection closed');
    assert.equal(c.data, '');
    c.close();
    a.write(`GET /api/a HTTP/1.1\r\n${H}\r\n`);
    b.write(`GET /api/b HTTP/1.1\r\n${H}\r\n`);
    const [ra] = await a.responses(1, 1000);
    const [rb] = await b.responses(1, 1000);
    assert.equal(ra!.status, 200);
    assert.equal(rb!.status, 200);
    assert.deepEqual(up.received.map((r) => r.url).sort(), ['/api/a', '/api/b']);
    // Once one closes, a new connection is accepted again.
    a.close();
    await sleep(100);
    const d = new RawClient(gw.port);
    d.write(`GET /api/d HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    const [rd] = await d.responses(1, 1000);
    assert.equal(rd?.status, 200);
    d.close();
    b.close();
  });
});

describe('limits (defaults)', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => { ({ up, gw } = await startApiGateway()); });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('URL: 8 KiB served, one byte more → 414', async () => {
    const at = '/api/' + 'u'.repeat(8192 - 5);
    assert.equal(parseRaw(await rawRequest(gw.port, `GET ${at} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)).status, 200);
    assertProblem(parseRaw(await rawRequest(gw.port, `GET ${at}u HTTP/1.1\r\n${H}\r\n`)), 414, 'GH_URI_TOO_LONG');
    assert.equal(up.received.length, 1);
  });

  test('header count: 100 served, 101 → 431', async () => {
    assert.equal(parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}Connection: close\r\n${headersOf(98, 12)}\r\n`)).status, 200);
    assertProblem(parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}${headersOf(100, 12)}\r\n`)), 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 1);
  });

  test('one header over 8 KiB → 431; all headers over 16 KiB → 431', async () => {
    assertProblem(parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(8 * 1024)}\r\n\r\n`)), 431, 'GH_HEADERS_TOO_LARGE');
    assertProblem(parseRaw(await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\n${H}${headersOf(3, 6 * 1024)}\r\n`)), 431, 'GH_HEADERS_TOO_LARGE');
    assert.equal(up.received.length, 0);
  });

  test('body over 1 MiB → 413, nothing upstream', async () => {
    const r = parseRaw(await rawRequest(gw.port, `POST /api/x HTTP/1.1\r\n${H}Content-Length: ${1024 * 1024 + 1}\r\n\r\nxx`, 1000));
    assertProblem(r, 413, 'GH_BODY_TOO_LARGE');
    assert.equal(up.received.length, 0);
  });
});
