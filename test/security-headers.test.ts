/**
 * SECURITY.md "Headers" and "Client identity": hop-by-hop and Connection-listed headers never reach the
 * upstream (the gateway's own survive), underscore twins are dropped, forwarding headers are believed only from
 * trusted proxies, the request id is taken only when well-formed and always echoed, and the backend's
 * `Server`, `X-Powered-By`, configured and hop-by-hop response headers never reach the client.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest, request } from './helpers/http.js';
import { assertProblem, exchange, header, parseRaw, type RawReply, LISTEN } from './helpers/raw.js';

const H = 'Host: gw.test\r\n';

function config(upUrl: string, extra = ''): string {
  return `${LISTEN}
${extra}
services:
  a: { targets: ['${upUrl}'], retries: 0, removeResponseHeaders: [X-Internal-Debug] }
routes:
  - { name: api, match: { path: /api/* }, service: a }
  - { name: hop, match: { path: /hop }, service: a }
`;
}

describe('request headers from an untrusted client', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  async function forwarded(extraHeaders: string, body = ''): Promise<{ reply: RawReply; headers: Record<string, unknown>; raw: string[] }> {
    const framing = body === '' ? '' : `Content-Length: ${body.length}\r\n`;
    // An interim `100 Continue` may come first: exchange returns final answers only.
    const [reply] = await exchange(gw.port, `POST /api/h HTTP/1.1\r\n${H}${extraHeaders}${framing}\r\n${body}`);
    assert.ok(reply !== undefined, 'an answer');
    assert.equal(reply.status, 200, reply.body);
    assert.equal(up.received.length, 1);
    return { reply, headers: up.received[0]!.headers, raw: up.received[0]!.rawHeaders };
  }

  test('hop-by-hop headers never reach the upstream', async () => {
    const { headers } = await forwarded('Connection: keep-alive\r\nKeep-Alive: timeout=99, max=7\r\nTE: trailers\r\nTrailer: X-T\r\n' +
      'Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\nX-Kept: yes\r\n');
    for (const name of ['keep-alive', 'te', 'trailer', 'proxy-connection', 'proxy-authorization', 'upgrade']) assert.equal(headers[name], undefined, name);
    assert.ok(headers.connection === undefined || headers.connection === 'keep-alive', `connection: ${String(headers.connection)}`);
    assert.equal(headers['x-kept'], 'yes');
  });

  test('Expect never reaches the upstream; the body still does', async () => {
    const { headers, reply } = await forwarded('Expect: 100-continue\r\n', 'hello');
    assert.equal(headers.expect, undefined);
    assert.equal(up.received[0]!.rawHeaders.filter((n) => /^expect$/i.test(n)).length, 0);
    assert.equal(up.received[0]!.bodyBytes, 5);
    assert.equal(reply.status, 200);
  });

  test('Upgrade never reaches the upstream', async () => {
    const { headers } = await forwarded('Connection: Upgrade\r\nUpgrade: h2c\r\n');
    assert.equal(headers.upgrade, undefined);
  });

  test('Forwarded and X-Real-IP from a client are dropped', async () => {
    const { headers } = await forwarded('Forwarded: for=6.6.6.6;proto=https\r\nX-Real-IP: 6.6.6.6\r\n');
    assert.equal(headers.forwarded, undefined);
    assert.equal(headers['x-real-ip'], undefined);
  });

  test('a header listed in Connection is removed', async () => {
    const { headers } = await forwarded('Connection: keep-alive, X-Secret\r\nX-Secret: s3cr3t\r\nX-Other: kept\r\n');
    assert.equal(headers['x-secret'], undefined);
    assert.equal(headers['x-other'], 'kept');
  });

  test('Connection: x-forwarded-for, x-request-id cannot delete the gateway\'s own headers', async () => {
    const { headers, reply } = await forwarded('Connection: x-forwarded-for, x-request-id, x-forwarded-proto, x-forwarded-host, host\r\n' +
      'X-Forwarded-For: 6.6.6.6\r\nX-Request-Id: client-chosen-1\r\n');
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], 'gw.test');
    assert.equal(headers['x-request-id'], 'client-chosen-1');
    assert.equal(header(reply, 'x-request-id'), 'client-chosen-1');
    assert.equal(headers.host, `127.0.0.1:${up.port}`);
  });

  test('Connection cannot remove the body framing', async () => {
    const { headers } = await forwarded('Connection: content-length, transfer-encoding\r\n', 'hello');
    assert.equal(headers['content-length'], '5');
    assert.equal(up.received[0]!.bodyBytes, 5);
  });

  test('headers whose name contains _ are dropped', async () => {
    const { raw } = await forwarded('X_Forwarded_For: 6.6.6.6\r\nX_Consumer_Id: admin\r\nX-Consumer_Id: admin\r\nFoo_Bar: 1\r\nX_Request_Id: abc\r\n');
    const names = raw.filter((_, i) => i % 2 === 0);
    assert.deepEqual(names.filter((n) => n.includes('_')), []);
    assert.equal(up.received[0]!.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('client-sent identity headers (X-Consumer-*) never reach the upstream', async () => {
    const { raw } = await forwarded('X-Consumer-Id: admin\r\nX-Consumer-Username: root\r\nx-consumer-groups: admins\r\nX-Consumers-Note: kept\r\n');
    const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.deepEqual(names.filter((n) => n.startsWith('x-consumer-')), []);
    assert.equal(up.received[0]!.headers['x-consumers-note'], 'kept');
  });

  test('X-Forwarded-For/-Proto/-Host from an untrusted peer are ignored', async () => {
    const { headers } = await forwarded('X-Forwarded-For: 6.6.6.6, 7.7.7.7\r\nX-Forwarded-For: 8.8.8.8\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n');
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], 'gw.test');
    // One of each, never the client's copy next to the gateway's.
    for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']) {
      assert.equal(up.received[0]!.rawHeaders.filter((n, i) => i % 2 === 0 && n.toLowerCase() === name).length, 1, name);
    }
  });

  test('a well-formed X-Request-Id is taken, forwarded and echoed', async () => {
    const id = 'req-2024.01:abc_DEF';
    const r = await request(`${gw.url}/api/id`, { headers: { 'x-request-id': id } });
    assert.equal(r.status, 200);
    assert.equal(header(r, 'x-request-id'), id);
    assert.equal(up.received[0]!.headers['x-request-id'], id);
  });

  for (const [what, bad] of [
    ['300 characters', 'a'.repeat(300)],
    ['spaces', 'has space'],
    ['a quote and angle brackets', '"><script>'],
    ['a semicolon list', 'a;b=c'],
    ['an empty value', ''],
  ] as const) {
    test(`a malformed X-Request-Id (${what}) is replaced, and the replacement echoed`, async () => {
      const reply = parseRaw(await rawRequest(gw.port, `GET /api/id HTTP/1.1\r\n${H}X-Request-Id: ${bad}\r\nConnection: close\r\n\r\n`));
      assert.equal(reply.status, 200);
      const sent = up.received[0]!.headers['x-request-id'] as string;
      assert.notEqual(sent, bad);
      assert.match(sent, /^[A-Za-z0-9._:-]{1,128}$/);
      assert.equal(header(reply, 'x-request-id'), sent);
    });
  }

  test('the request id is echoed on gateway errors too', async () => {
    const r = await request(`${gw.url}/nowhere`, { headers: { 'x-request-id': 'err-id-1' } });
    assertProblem(r, 404, 'GH_ROUTE_NOT_FOUND');
    assert.equal(header(r, 'x-request-id'), 'err-id-1');
    const bad = await request(`${gw.url}/nowhere`, { headers: { 'x-request-id': 'x'.repeat(300) } });
    assertProblem(bad, 404, 'GH_ROUTE_NOT_FOUND');
    assert.notEqual(header(bad, 'x-request-id'), 'x'.repeat(300));
  });
});

describe('request headers from a trusted proxy', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url, 'trustedProxies: [127.0.0.1]'));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('X-Forwarded-For is extended with the peer, -Proto and -Host are believed', async () => {
    const reply = parseRaw(await rawRequest(gw.port,
      `GET /api/t HTTP/1.1\r\n${H}X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\nConnection: close\r\n\r\n`));
    assert.equal(reply.status, 200);
    const h = up.received[0]!.headers;
    assert.equal(h['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'public.test');
  });

  test('without forwarding headers the peer is the client', async () => {
    const reply = parseRaw(await rawRequest(gw.port, `GET /api/t HTTP/1.1\r\n${H}Connection: close\r\n\r\n`));
    assert.equal(reply.status, 200);
    const h = up.received[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'gw.test');
  });

  test('even a trusted proxy cannot delete the gateway\'s own headers through Connection', async () => {
    const reply = parseRaw(await rawRequest(gw.port, `GET /api/t HTTP/1.1\r\n${H}Connection: close, x-forwarded-for, x-request-id\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`));
    assert.equal(reply.status, 200);
    assert.equal(up.received[0]!.headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
    assert.equal(up.received[0]!.headers['x-request-id'], header(reply, 'x-request-id'));
  });
});

describe('response headers from the backend', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a', (_req, res) => {
      res.writeHead(200, [
        'Content-Type', 'text/plain',
        'Server', 'Apache/2.4.1 (Unix) OpenSSL/1.0.1',
        'X-Powered-By', 'PHP/5.4.0',
        'X-Internal-Debug', 'db=10.0.0.5',
        'Connection', 'keep-alive, X-Hop-Secret',
        'X-Hop-Secret', 'hop-value',
        'Keep-Alive', 'timeout=99, max=7',
        'Upgrade', 'h2c',
        'Proxy-Connection', 'keep-alive',
        'Proxy-Authenticate', 'Basic realm="inner"',
        'Trailer', 'X-Checksum',
        'X-Request-Id', 'upstream-chosen',
        'X-Kept', 'kept',
      ]);
      res.addTrailers({ 'X-Checksum': 'abc' });
      res.end('body');
    });
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });

  test('Server, X-Powered-By, removeResponseHeaders and hop-by-hop response headers are removed', async () => {
    const reply = parseRaw(await rawRequest(gw.port, `GET /hop HTTP/1.1\r\n${H}X-Request-Id: mine-1\r\nConnection: close\r\n\r\n`));
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'body');
    const head = reply.head;
    for (const leak of [/^server:/im, /^x-powered-by:/im, /Apache/, /PHP/, /^x-internal-debug:/im, /10\.0\.0\.5/, /x-hop-secret/i, /hop-value/,
      /timeout=99/, /^upgrade:/im, /^proxy-connection:/im, /^proxy-authenticate:/im, /^trailer:/im, /upstream-chosen/]) {
      assert.doesNotMatch(head, leak);
    }
    assert.equal(header(reply, 'x-kept'), 'kept');
    assert.equal(header(reply, 'x-request-id'), 'mine-1');
  });
});
