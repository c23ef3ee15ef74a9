/**
 * WebSocket proxying through the real gateway, real `ws` clients and a real `ws` service on port 0: echo of
 * text and binary; subprotocols passed through (and an allow-list); unauthenticated, unauthorized,
 * rate-limited, cross-origin and malformed upgrades refused before the service sees anything; an upgrade to a
 * route without `websocket:` refused and nothing tunnelled; a service answering 200 (or not at all) never
 * gets a tunnel; per connection: oversized message (1009), message rate (1008), idle (ping/pong), lifetime,
 * credential expiry (1008); connections per consumer capped; close codes both ways; a browser's query token
 * removed before forwarding (an API key or a JWT); wss:// services with the service's `tls`; shutdown closes
 * with 1001.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/upstream.js';
import { rawRequest } from './helpers/http.js';
import { assertProblem, parseRaw, LISTEN } from './helpers/raw.js';
import { sign } from './helpers/idp.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const KEY = newApiKey(); // consumer acme, in group partners
const OUTSIDER = newApiKey(); // consumer other, in no group
const SECRET = 'websocket-test-secret-0123456789abcdef';
const ISSUER = 'https://id.ws.test/';

/** Closed is how one end saw its connection close. */
interface Closed { code: number; reason: string }

/** One connection as the service saw it. */
interface UpConn { url: string; headers: IncomingMessage['headers']; ws: WebSocket; closed: Promise<Closed> }

/**
 * A WebSocket service: echoes messages with their text/binary flag, chooses `chat.v1` or `chat.v2` when
 * offered, closes with 4002 when asked, and answers a handshake with a plain 200 on paths holding `status200`.
 */
class WsUpstream {
  readonly conns: UpConn[] = [];
  /** Every HTTP request that reached the service, upgrade or not. */
  requests = 0;
  /** Sockets of handshakes the service never answers (paths holding `hang`). */
  readonly hanging: import('node:stream').Duplex[] = [];
  /** Settle when the gateway gave up on a handshake the service never answered. */
  readonly hangEnded: Promise<void>[] = [];
  server!: Server;
  url = '';
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => ['chat.v1', 'chat.v2'].find((p) => offered.has(p)) ?? false,
  });

  async start(tls?: { cert: Buffer; key: Buffer }): Promise<this> {
    const plain = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => { this.requests++; res.end('plain http'); };
    this.server = tls === undefined ? createServer(plain) : createHttpsServer(tls, plain);
    this.server.on('upgrade', (req: IncomingMessage, socket, head) => {
      this.requests++;
      if (req.url!.includes('status200')) {
        socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-secret-upstream: yes\r\ncontent-length: 12\r\n\r\nupstream-200');
        return;
      }
      if (req.url!.includes('hang')) {
        // Never answered; the server's sockets are half-open, so the gateway's end is seen as 'end'.
        this.hanging.push(socket);
        this.hangEnded.push(new Promise<void>((resolve) => socket.once('end', () => { socket.destroy(); resolve(); })));
        socket.resume();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const closed = new Promise<Closed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
        this.conns.push({ url: req.url!, headers: req.headers, ws, closed });
        ws.on('message', (data: Buffer, isBinary) => {
          const text = isBinary ? '' : data.toString();
          if (text === 'close-4002') ws.close(4002, 'from upstream');
          else if (text === 'drop') ws.terminate();
          else if (text === 'send-big') ws.send(Buffer.alloc(4096, 2));
          else ws.send(data, { binary: isBinary });
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  last(): UpConn { return this.conns[this.conns.length - 1]!; }

  async stop(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    for (const s of this.hanging) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What a client got for its upgrade: 101 and an open socket, or an HTTP answer. */
interface Attempt { status: number; ws: WebSocket | null; headers: IncomingMessage['headers']; body: string }

function attempt(url: string, opts: { headers?: Record<string, string>; protocols?: string[]; autoPong?: boolean } = {}): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {}, autoPong: opts.autoPong ?? true });
    ws.once('upgrade', (res) => { ws.once('open', () => resolve({ status: 101, ws, headers: res.headers, body: '' })); });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { resolve({ status: res.statusCode!, ws: null, headers: res.headers, body }); ws.terminate(); });
    });
    ws.on('error', (err) => { if (ws.readyState !== WebSocket.CLOSED || err.message.includes('closed before')) return; reject(err); });
  });
}

async function open(url: string, opts: Parameters<typeof attempt>[1] = {}): Promise<WebSocket> {
  const a = await attempt(url, opts);
  assert.equal(a.status, 101, `expected 101, got ${a.status} ${a.body}`);
  return a.ws!;
}

function closed(ws: WebSocket): Promise<Closed> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

function message(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary) => resolve({ data, binary })));
}

function problemCode(a: Attempt): string {
  return (JSON.parse(a.body) as { code: string }).code;
}

const HANDSHAKE = 'Connection: Upgrade\r\nUpgrade: websocket\r\n';

describe('WebSocket proxying', () => {
  let up: WsUpstream;
  let gw: TestGateway;
  let ws: string;

  before(async () => {
    up = await new WsUpstream().start();
    const dead = await freePort();
    gw = await startTestGateway(`${LISTEN}
limits: { requestTimeout: 1s, headersTimeout: 1s }
services:
  chat: { targets: ['${up.url}'], retries: 0 }
  gone: { targets: ['http://127.0.0.1:${dead}'], retries: 0 }
consumers:
  acme: { groups: [partners], keys: [${hashApiKey(KEY)}] }
  other: { keys: [${hashApiKey(OUTSIDER)}] }
  jwt-user: { jwt: { subject: ws-user } }
auth:
  api-key: { apiKey: { header: x-api-key, query: access_token } }
  hs-jwt: { jwt: { issuer: '${ISSUER}', audience: ws, algorithms: [HS256], secret: '${SECRET}', query: access_token } }
routes:
  - { name: echo, match: { path: /ws/* }, service: chat, websocket: { maxMessage: 1kb } }
  - { name: keyed, match: { path: /keyed/* }, service: chat, auth: [api-key], allow: { groups: [partners] }, websocket: { maxConnectionsPerConsumer: 2 } }
  - { name: limited, match: { path: /limited/* }, service: chat, rate-limit: { limit: 1, per: 1h, by: ip }, websocket: {} }
  - { name: plain, match: { path: /plain/* }, service: chat }
  - { name: idle, match: { path: /idle/* }, service: chat, websocket: { idle: 400ms } }
  - { name: life, match: { path: /life/* }, service: chat, websocket: { maxLifetime: 500ms } }
  - { name: jwt, match: { path: /jwt/* }, service: chat, auth: [hs-jwt], websocket: {} }
  - { name: proto, match: { path: /proto/* }, service: chat, websocket: { subprotocols: [chat.v2, chat.v1] } }
  - { name: origin, match: { path: /origin/* }, service: chat, websocket: { origins: ['https://app.example.com'] } }
  - { name: rate, match: { path: /rate/* }, service: chat, websocket: { messagesPerSecond: 5 } }
  - { name: gone, match: { path: /gone/* }, service: gone, websocket: {} }
  - { name: slow, match: { path: /slow/* }, service: chat, websocket: { handshakeTimeout: 300ms } }
`);
    ws = `ws://127.0.0.1:${gw.port}`;
  });
  after(async () => { await gw.close(); await up.stop(); });

  test('echo of text and binary messages through the gateway; the service gets forwarded headers, not the client\'s handshake', async () => {
    const before = up.conns.length;
    const a = await attempt(`${ws}/ws/room?x=1`, { headers: { 'x-trace-me': 'yes' } });
    assert.equal(a.status, 101);
    assert.match(String(a.headers['x-request-id']), /^[0-9a-f-]{16,}$/i);
    const c = a.ws!;
    c.send('hello');
    const m1 = await message(c);
    assert.equal(m1.data.toString(), 'hello');
    assert.equal(m1.binary, false);
    c.send(Buffer.from([0, 1, 2, 255]));
    const m2 = await message(c);
    assert.deepEqual([...m2.data], [0, 1, 2, 255]);
    assert.equal(m2.binary, true);
    assert.equal(up.conns.length, before + 1);
    const u = up.last();
    assert.equal(u.url, '/ws/room?x=1');
    assert.equal(u.headers['x-trace-me'], 'yes');
    assert.equal(u.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(u.headers['x-request-id'], a.headers['x-request-id']);
    // The service's handshake is the gateway's own: no compression offered, its own key.
    assert.equal(u.headers['sec-websocket-extensions'], undefined);
    c.close(1000);
    assert.deepEqual(await u.closed, { code: 1000, reason: '' });
    // The access log reports the tunnel as a 101 once it closed.
    const line = gw.access.find((l) => l.requestId === a.headers['x-request-id']);
    assert.equal(line?.status, 101);
    assert.equal(line?.route, 'echo');
  });

  test('subprotocols: offered ones pass to the service, its choice is answered; an allow-list filters them', async () => {
    const c = await open(`${ws}/ws/p`, { protocols: ['chat.v3', 'chat.v1'] });
    assert.equal(c.protocol, 'chat.v1');
    assert.equal(up.last().headers['sec-websocket-protocol'], 'chat.v3,chat.v1');
    c.close();
    // ws, like browsers, fails a handshake whose answer picks none of the offered subprotocols: a 502.
    const none = await attempt(`${ws}/ws/p`, { protocols: ['other'] });
    assert.equal(none.status, 502);
    assert.equal(problemCode(none), 'GH_UPSTREAM_ERROR');
    const before = up.requests;
    const refused = await attempt(`${ws}/proto/p`, { protocols: ['evil'] });
    assert.equal(refused.status, 400);
    assert.equal(problemCode(refused), 'GH_BAD_REQUEST');
    assert.equal(up.requests, before);
    const filtered = await open(`${ws}/proto/p`, { protocols: ['evil', 'chat.v2'] });
    assert.equal(filtered.protocol, 'chat.v2');
    assert.equal(up.last().headers['sec-websocket-protocol'], 'chat.v2');
    filtered.close();
  });

  test('unauthenticated, unauthorized and rate-limited upgrades are refused and the service sees nothing', async () => {
    const before = up.requests;
    const anon = await attempt(`${ws}/keyed/x`);
    assert.equal(anon.status, 401);
    assert.equal(problemCode(anon), 'GH_UNAUTHORIZED');
    const outsider = await attempt(`${ws}/keyed/x`, { headers: { 'x-api-key': OUTSIDER } });
    assert.equal(outsider.status, 403);
    assert.equal(problemCode(outsider), 'GH_FORBIDDEN');
    assert.equal(up.requests, before);
    const first = await open(`${ws}/limited/x`);
    const second = await attempt(`${ws}/limited/x`);
    assert.equal(second.status, 429);
    assert.equal(problemCode(second), 'GH_RATE_LIMITED');
    assert.equal(up.requests, before + 1);
    first.close();
  });

  test('an upgrade to a route without websocket is refused and nothing is tunnelled', async () => {
    const before = up.requests;
    const a = await attempt(`${ws}/plain/x`);
    assert.equal(a.status, 400);
    assert.equal(problemCode(a), 'GH_UPGRADE_NOT_ALLOWED');
    assert.equal(up.requests, before);
  });

  test('a service that answers the handshake with 200 gets no tunnel; the client gets 502 and none of its answer', async () => {
    const a = await attempt(`${ws}/ws/status200`);
    assert.equal(a.status, 502);
    assert.equal(problemCode(a), 'GH_UPSTREAM_ERROR');
    assert.ok(!a.body.includes('upstream-200'));
    assert.equal(a.headers['x-secret-upstream'], undefined);
    const gone = await attempt(`${ws}/gone/x`);
    assert.equal(gone.status, 502);
    assert.equal(problemCode(gone), 'GH_UPSTREAM_UNAVAILABLE');
  });

  test('a service that never answers the handshake: 504 after handshakeTimeout, and its socket is released', async () => {
    const started = performance.now();
    const a = await attempt(`${ws}/slow/hang`);
    assert.equal(a.status, 504);
    assert.equal(problemCode(a), 'GH_UPSTREAM_TIMEOUT');
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 1500, `answered after ${elapsed} ms`);
    await up.hangEnded[up.hangEnded.length - 1];
  });

  test('malformed handshakes and foreign origins are refused as problem documents before the service is dialled', async () => {
    const before = up.requests;
    const badKey = parseRaw(await rawRequest(gw.port, `GET /ws/x HTTP/1.1\r\nHost: a\r\n${HANDSHAKE}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    assertProblem(badKey, 400, 'GH_BAD_REQUEST');
    const badVersion = parseRaw(await rawRequest(gw.port, `GET /ws/x HTTP/1.1\r\nHost: a\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n`));
    assertProblem(badVersion, 400, 'GH_BAD_REQUEST');
    assert.equal(badVersion.headers['sec-websocket-version'], '13');
    const badProtocols = parseRaw(await rawRequest(gw.port, `GET /ws/x HTTP/1.1\r\nHost: a\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, a\r\n\r\n`));
    assertProblem(badProtocols, 400, 'GH_BAD_REQUEST');
    const evil = await attempt(`${ws}/origin/x`, { headers: { origin: 'https://evil.example.net' } });
    assert.equal(evil.status, 403);
    assert.equal(problemCode(evil), 'GH_CORS_REJECTED');
    assert.equal(up.requests, before);
    const good = await open(`${ws}/origin/x`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(up.last().headers.origin, 'https://app.example.com');
    good.close();
  });

  test('an oversized message closes the client with 1009 and the service with 1001', async () => {
    const c = await open(`${ws}/ws/big`);
    const u = up.last();
    const done = closed(c);
    c.send(Buffer.alloc(2048, 1));
    assert.equal((await done).code, 1009);
    assert.equal((await u.closed).code, 1001);
  });

  test('a service that breaks the rules: an oversized message or a dropped connection closes the client with 1014', async () => {
    const c = await open(`${ws}/ws/upbig`);
    const u = up.last();
    const done = closed(c);
    c.send('send-big');
    assert.deepEqual(await done, { code: 1014, reason: 'upstream error' });
    assert.equal((await u.closed).code, 1009);
    const d = await open(`${ws}/ws/drop`);
    const dropped = closed(d);
    d.send('drop');
    assert.deepEqual(await dropped, { code: 1014, reason: 'upstream went away' });
  });

  test('more messages than messagesPerSecond close the client with 1008', async () => {
    const c = await open(`${ws}/rate/x`);
    const done = closed(c);
    for (let i = 0; i < 10; i++) c.send(`m${i}`);
    assert.deepEqual(await done, { code: 1008, reason: 'message rate exceeded' });
    assert.equal((await up.last().closed).code, 1001);
  });

  test('idle: a client that answers no ping is closed with 1001; one that answers stays open', async () => {
    const started = performance.now();
    const silent = await open(`${ws}/idle/x`, { autoPong: false });
    const alive = await open(`${ws}/idle/y`);
    const aliveUp = up.last();
    assert.deepEqual(await closed(silent), { code: 1001, reason: 'idle timeout' });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 1500, `closed after ${elapsed} ms`);
    // Past twice the idle time, the answering client (and service) still relay.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(alive.readyState, WebSocket.OPEN);
    alive.send('still here');
    assert.equal((await message(alive)).data.toString(), 'still here');
    alive.close();
    await aliveUp.closed;
  });

  test('a connection is closed with 1001 at its maximum lifetime, however busy', async () => {
    const c = await open(`${ws}/life/x`);
    const done = closed(c);
    const chatter = setInterval(() => c.send('tick'), 50);
    try {
      assert.deepEqual(await done, { code: 1001, reason: 'connection lifetime reached' });
    } finally {
      clearInterval(chatter);
    }
  });

  test('a JWT expiring mid-connection closes it with 1008 (and the connection outlives requestTimeout)', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3;
    const token = await sign({ alg: 'HS256', secret: new TextEncoder().encode(SECRET) }, { iss: ISSUER, aud: 'ws', sub: 'ws-user', exp });
    const c = await open(`${ws}/jwt/x`, { headers: { authorization: `Bearer ${token}` } });
    const u = up.last();
    assert.equal(u.headers.authorization, undefined);
    assert.equal(u.headers['x-consumer-id'], 'jwt-user');
    const done = closed(c);
    // Past the listener's 1 s requestTimeout: an upgraded connection is no longer a request.
    await new Promise((r) => setTimeout(r, 1300));
    c.send('before expiry');
    assert.equal((await message(c)).data.toString(), 'before expiry');
    assert.deepEqual(await done, { code: 1008, reason: 'credential expired' });
    assert.ok(Date.now() >= exp * 1000, 'closed at expiry, not before');
    assert.equal((await u.closed).code, 1008);
  });

  test('connections per consumer are capped; a closed one frees its place', async () => {
    const headers = { 'x-api-key': KEY };
    const a = await open(`${ws}/keyed/1`, { headers });
    const b = await open(`${ws}/keyed/2`, { headers });
    assert.equal(up.last().headers['x-api-key'], undefined);
    assert.equal(up.last().headers['x-consumer-id'], 'acme');
    const before = up.requests;
    const third = await attempt(`${ws}/keyed/3`, { headers });
    assert.equal(third.status, 429);
    assert.equal(problemCode(third), 'GH_TOO_MANY_CONNECTIONS');
    assert.equal(third.headers['retry-after'], '1');
    assert.equal(up.requests, before);
    const bUp = up.conns.find((c) => c.url === '/keyed/2')!;
    b.close();
    await bUp.closed;
    // The gateway releases the place once both of its sides closed, a moment after the service saw the close.
    let again: Attempt | null = null;
    for (let i = 0; i < 50; i++) {
      again = await attempt(`${ws}/keyed/4`, { headers });
      if (again.status === 101) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(again!.status, 101);
    again!.ws!.close();
    a.close();
  });

  test('close codes and reasons pass both ways', async () => {
    const c = await open(`${ws}/ws/codes`);
    const u = up.last();
    c.close(4001, 'bye');
    assert.deepEqual(await u.closed, { code: 4001, reason: 'bye' });
    const d = await open(`${ws}/ws/codes2`);
    const done = closed(d);
    d.send('close-4002');
    assert.deepEqual(await done, { code: 4002, reason: 'from upstream' });
  });

  test('a browser\'s JWT in the query authenticates and is removed before forwarding and logging', async () => {
    const token = await sign({ alg: 'HS256', secret: new TextEncoder().encode(SECRET) }, { iss: ISSUER, aud: 'ws', sub: 'ws-user' });
    const c = await open(`${ws}/jwt/q?access_token=${token}&room=3`);
    const u = up.last();
    assert.equal(u.url, '/jwt/q?room=3');
    assert.equal(u.headers['x-consumer-id'], 'jwt-user');
    c.close();
    await u.closed;
    assert.ok(!JSON.stringify(gw.access).includes(token));
    const twice = await attempt(`${ws}/jwt/q?access_token=${token}&access_token=${token}`);
    assert.equal(twice.status, 401);
  });

  test('a browser\'s token in the query authenticates and is removed before forwarding', async () => {
    const c = await open(`${ws}/keyed/q?room=7&access_token=${encodeURIComponent(KEY)}`);
    const u = up.last();
    assert.equal(u.url, '/keyed/q?room=7');
    assert.equal(u.headers['x-consumer-id'], 'acme');
    assert.ok(!JSON.stringify(gw.access).includes(KEY));
    c.close();
    await u.closed;
  });
});

describe('WebSocket, reload and shutdown', () => {
  test('the websocket_connections gauge counts open connections', async () => {
    const up = await new WsUpstream().start();
    const gw = await startTestGateway(`admin: { host: 127.0.0.1, port: 0 }
${LISTEN}
services:
  chat: { targets: ['${up.url}'] }
routes:
  - { name: echo, match: { path: /ws/* }, service: chat, websocket: {} }
`);
    const gauge = async (): Promise<number> => {
      const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      return Number(/^gatehouse_websocket_connections (\d+)$/m.exec(text)?.[1]);
    };
    try {
      const c = await open(`ws://127.0.0.1:${gw.port}/ws/x`);
      assert.equal(await gauge(), 1);
      const u = up.last();
      c.close();
      await u.closed;
      for (let i = 0; i < 50 && (await gauge()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await gauge(), 0);
    } finally {
      await gw.close();
      await up.stop();
    }
  });

  test('a connection outlives a config reload on the config it started with', async () => {
    const up = await new WsUpstream().start();
    const config = (maxMessage: string) => `${LISTEN}
services:
  chat: { targets: ['${up.url}'] }
routes:
  - { name: echo, match: { path: /ws/* }, service: chat, websocket: { maxMessage: ${maxMessage} } }
`;
    const gw = await startTestGateway(config('1kb'));
    try {
      const c = await open(`ws://127.0.0.1:${gw.port}/ws/old`);
      gw.writeConfig(config('4kb'));
      assert.equal(await gw.reload(), true);
      // The old connection keeps its 1kb limit; a new one gets 4kb.
      const fresh = await open(`ws://127.0.0.1:${gw.port}/ws/new`);
      fresh.send(Buffer.alloc(2048));
      assert.equal((await message(fresh)).data.length, 2048);
      c.send('still relayed');
      assert.equal((await message(c)).data.toString(), 'still relayed');
      const done = closed(c);
      c.send(Buffer.alloc(2048));
      assert.equal((await done).code, 1009);
      fresh.close();
    } finally {
      await gw.close();
      await up.stop();
    }
  });

  test('closing the gateway closes open connections with 1001 on both sides', async () => {
    const up = await new WsUpstream().start();
    const gw = await startTestGateway(`${LISTEN}
services:
  chat: { targets: ['${up.url}'] }
routes:
  - { name: echo, match: { path: /ws/* }, service: chat, websocket: {} }
`);
    try {
      const c = await open(`ws://127.0.0.1:${gw.port}/ws/x`);
      const u = up.last();
      const done = closed(c);
      await gw.close();
      assert.deepEqual(await done, { code: 1001, reason: 'gateway shutting down' });
      assert.equal((await u.closed).code, 1001);
    } finally {
      await gw.close();
      await up.stop();
    }
  });
});

describe('WebSocket upgrades and client resets', () => {
  test('a client that resets its connection while an asynchronous hook runs does not bring the gateway down', async () => {
    // An introspection endpoint that answers after 300 ms: the upgrade waits in the auth hook meanwhile.
    let asked!: () => void;
    const askedP = new Promise<void>((r) => { asked = r; });
    let answered!: () => void;
    const answeredP = new Promise<void>((r) => { answered = r; });
    const idp = createServer((_req, res) => {
      asked();
      setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end('{"active":false}', answered); }, 300);
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const up = await new WsUpstream().start();
    const gw = await startTestGateway(`${LISTEN}
services:
  chat: { targets: ['${up.url}'] }
auth:
  intro: { introspection: { url: 'http://127.0.0.1:${(idp.address() as AddressInfo).port}/introspect' } }
routes:
  - { name: guarded, match: { path: /guarded/* }, service: chat, auth: [intro], websocket: {} }
  - { name: echo, match: { path: /ws/* }, service: chat, websocket: {} }
`);
    try {
      const { connect } = await import('node:net');
      const sock = connect(gw.port, '127.0.0.1');
      sock.on('error', () => { /* reset by us */ });
      sock.write(`GET /guarded/x HTTP/1.1\r\nHost: a\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer opaque-token-0123456789\r\n\r\n`);
      await askedP;
      sock.resetAndDestroy();
      await answeredP;
      // Still serving: a connection after the reset is tunnelled as usual.
      const c = await open(`ws://127.0.0.1:${gw.port}/ws/after`);
      c.send('alive');
      assert.equal((await message(c)).data.toString(), 'alive');
      c.close();
      assert.equal(up.conns.length, 1);
    } finally {
      await gw.close();
      await up.stop();
      await new Promise<void>((r) => idp.close(() => r()));
    }
  });
});

describe('WebSocket to a wss:// service', () => {
  test('the service\'s tls settings are used: verified with tls.ca, refused without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wss-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=ip', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'ip.key'), '-out', join(dir, 'ip.pem')], { stdio: 'ignore', timeout: 10_000 });
    const up = await new WsUpstream().start({ cert: readFileSync(join(dir, 'ip.pem')), key: readFileSync(join(dir, 'ip.key')) });
    const gw = await startTestGateway(`${LISTEN}
services:
  trusted: { targets: ['${up.url}'], tls: { ca: '${join(dir, 'ip.pem')}' } }
  untrusted: { targets: ['${up.url}'] }
routes:
  - { name: trusted, match: { path: /trusted/* }, service: trusted, websocket: {} }
  - { name: untrusted, match: { path: /untrusted/* }, service: untrusted, websocket: {} }
`);
    try {
      const c = await open(`ws://127.0.0.1:${gw.port}/trusted/x`);
      c.send('over tls');
      assert.equal((await message(c)).data.toString(), 'over tls');
      c.close();
      const refused = await attempt(`ws://127.0.0.1:${gw.port}/untrusted/x`);
      assert.equal(refused.status, 502);
      assert.equal(up.conns.length, 1);
    } finally {
      await gw.close();
      await up.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
