/**
 * HTTP/2 for clients over TLS, through the real gateway: ALPN picks h2 with HTTP/1.1 as the fallback, and
 * both take the same pipeline (auth, routing, errors as problem documents); pseudo-headers never reach the
 * upstream; refusals that close an HTTP/1.1 connection only end their stream on HTTP/2; many concurrent
 * streams on one session; the request budget and the idle timeout end a session with GOAWAY; and a rapid
 * reset flood (HEADERS then RST_STREAM, over and over) gets its own session closed while another client's
 * requests keep succeeding.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { CertMaker, hasOpenssl, type CertFiles } from './helpers/certs.js';
import { waitFor } from './upstreams-support.js';

const SKIP = hasOpenssl() ? false : 'the openssl CLI is not installed (it makes the test certificates)';
const KEY = 'gh_test_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghi';

/** H2Reply is one HTTP/2 response read whole. */
interface H2Reply { status: number; headers: Record<string, unknown>; body: string }

/** h2req makes one request on a session; `body` is written without a content-length. */
function h2req(session: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path, ...(body !== undefined ? { ':method': 'POST' } : {}), ...headers });
    let status = 0;
    let h: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    s.on('response', (r) => { status = Number(r[':status']); h = r; });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve({ status, headers: h, body: Buffer.concat(chunks).toString() }));
    s.on('error', reject);
    if (body !== undefined) s.end(body); else s.end();
  });
}

describe('HTTP/2 for clients', { skip: SKIP }, () => {
  let certs: CertMaker;
  let server: CertFiles;
  let up: Upstream;
  let gw: TestGateway;
  let ca: string;
  /** Requests held by the upstream until `release` is called with their count (the concurrency test). */
  const held: { count: number; waiting: (() => void)[] } = { count: 0, waiting: [] };

  const open = (): ClientHttp2Session => h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });

  before(async () => {
    certs = new CertMaker();
    server = certs.leaf('api.test', { dns: ['api.test'] });
    ca = certs.ca.certPem;
    up = await startUpstream('up', async (req, res, r) => {
      if (req.url === '/held') {
        held.count++;
        await new Promise<void>((resolve) => held.waiting.push(resolve));
      } else if (req.url === '/slow') {
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=5' });
      res.end(JSON.stringify({ url: r.url, headers: r.headers, rawHeaders: r.rawHeaders, bodyBytes: r.bodyBytes, body: r.body }));
    }, { keepBody: true });
    gw = await startTestGateway(`
listen:
  host: 127.0.0.1
  port: 0
  tls: { cert: "${server.cert}", key: "${server.key}" }
  h2: { maxConcurrentStreams: 64, resets: { limit: 40, per: 10s } }
limits: { requestsPerConnection: 0 }
consumers:
  acme: { keys: ["sha256:${(await import('node:crypto')).createHash('sha256').update(KEY).digest('hex')}"] }
auth: { key: { apiKey: {} } }
services: { up: { targets: ["${up.url}"], pool: { connections: 128 } } }
routes:
  - { name: secure, match: { path: /secure }, service: up, auth: [key] }
  - { name: small, match: { path: /small }, service: up, body-limit: 1kb }
  - { name: all, match: { path: /* }, service: up }
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  test('ALPN: h2 for clients that offer it, HTTP/1.1 for the others, one pipeline for both', { timeout: 15_000 }, async () => {
    const alpn = (protocols: string[]): Promise<string | false> => new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'api.test', ALPNProtocols: protocols }, () => { resolve(s.alpnProtocol ?? false); s.end(); });
      s.on('error', reject);
    });
    assert.equal(await alpn(['h2', 'http/1.1']), 'h2');
    assert.equal(await alpn(['http/1.1']), 'http/1.1');

    const h1 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: gw.port, path: '/secure', ca, servername: 'api.test', headers: { host: 'api.test', 'x-api-key': KEY } }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(h1.status, 200);
    assert.equal(JSON.parse(h1.body).headers['x-consumer-id'], 'acme');

    const session = open();
    try {
      const denied = await h2req(session, '/secure');
      assert.equal(denied.status, 401);
      assert.equal(denied.headers['content-type'], 'application/problem+json');
      assert.equal(JSON.parse(denied.body).code, 'GH_UNAUTHORIZED');
      const ok = await h2req(session, '/secure', { 'x-api-key': KEY });
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.body).headers['x-consumer-id'], 'acme');
      assert.equal(ok.headers['connection'], undefined);
      assert.equal(ok.headers['keep-alive'], undefined, 'hop-by-hop headers of the upstream are dropped');
      const missing = await h2req(session, '/secure', { 'x-api-key': KEY, ':method': 'DELETE' });
      assert.equal(missing.status, 200);
    } finally {
      session.close();
    }
  });

  test('pseudo-headers never reach the upstream; :authority is the host; cookie crumbs are joined', { timeout: 10_000 }, async () => {
    const session = open();
    try {
      const r = await h2req(session, '/echo?a=1', { ':authority': 'api.test', cookie: ['a=1', 'b=2'], 'x-custom': 'yes' });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string>; rawHeaders: string[] };
      assert.equal(seen.url, '/echo?a=1');
      assert.equal(seen.rawHeaders.filter((h, i) => i % 2 === 0 && h.startsWith(':')).length, 0);
      assert.equal(seen.headers['x-forwarded-host'], 'api.test');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-custom'], 'yes');
      assert.equal(seen.headers.cookie, 'a=1; b=2');
      assert.equal(seen.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'cookie').length, 1);
      // CONNECT is refused on its stream (405); the session goes on.
      const connect = await h2req(session, '', { ':method': 'CONNECT', ':authority': 'example.com:443', ':path': undefined as unknown as string });
      assert.equal(connect.status, 405);
      assert.equal(JSON.parse(connect.body).code, 'GH_METHOD_NOT_ALLOWED');
      assert.equal((await h2req(session, '/still-here')).status, 200);
    } finally {
      session.close();
    }
  });

  test('bodies without content-length are streamed upstream and counted against the body limit', { timeout: 10_000 }, async () => {
    const session = open();
    try {
      const body = 'x'.repeat(5000);
      const r = await h2req(session, '/upload', { 'content-type': 'text/plain' }, body);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).bodyBytes, 5000);
      assert.equal(JSON.parse(r.body).body, body);
      const tooBig = await h2req(session, '/small', {}, 'y'.repeat(4000));
      assert.equal(tooBig.status, 413);
      const declared = await h2req(session, '/small', { 'content-length': '4000' }, 'y'.repeat(4000));
      assert.equal(declared.status, 413);
      // Refusals end their stream only: the session serves the next request.
      const bad = await h2req(session, '/a/%2F/b');
      assert.equal(bad.status, 400);
      assert.equal(JSON.parse(bad.body).code, 'GH_BAD_PATH_ENCODING');
      const next = await h2req(session, '/after');
      assert.equal(next.status, 200);
      assert.equal(session.closed || session.destroyed, false);
    } finally {
      session.close();
    }
  });

  test('many concurrent streams on one session are all served at once', { timeout: 15_000 }, async () => {
    const session = open();
    try {
      await once(session, 'remoteSettings');
      assert.equal(session.remoteSettings.maxConcurrentStreams, 64);
      const n = 60;
      held.count = 0;
      const replies = Array.from({ length: n }, () => h2req(session, '/held'));
      // Every request reaches the upstream before any is answered: they are in flight together.
      await waitFor(() => held.count === n, 5000, `${n} requests held by the upstream`);
      for (const release of held.waiting.splice(0)) release();
      const done = await Promise.all(replies);
      assert.deepEqual(done.map((r) => r.status), Array.from({ length: n }, () => 200));
    } finally {
      session.close();
    }
  });

  test('a rapid reset flood closes the flooding session (ENHANCE_YOUR_CALM); another client is served throughout', { timeout: 20_000 }, async () => {
    const victim = open();
    const attacker = open();
    let goaway: number | null = null;
    attacker.on('goaway', (code: number) => { goaway = code; });
    attacker.on('error', () => { /* the gateway cuts it */ });
    try {
      await Promise.all([once(victim, 'connect'), once(attacker, 'connect')]);
      const before = up.received.length;
      let victimOk = 0;
      let stop = false;
      const victimLoop = (async () => {
        while (!stop) {
          const r = await h2req(victim, '/fast');
          assert.equal(r.status, 200);
          victimOk++;
        }
      })();
      let sent = 0;
      for (let round = 0; round < 50 && !attacker.closed && !attacker.destroyed; round++) {
        for (let i = 0; i < 20 && !attacker.closed && !attacker.destroyed; i++) {
          let s;
          try { s = attacker.request({ ':path': '/slow' }); } catch { break; }
          s.on('error', () => { /* reset */ });
          s.close(constants.NGHTTP2_CANCEL);
          sent++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor(() => attacker.destroyed || attacker.closed || goaway !== null, 5000, 'the attacker session to be closed');
      assert.equal(goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.ok(gw.logs.some((l) => l.event === 'h2_reset_flood'));
      // The victim goes on being served after the flood.
      const target = victimOk + 10;
      await waitFor(() => victimOk >= target, 5000, 'ten more victim requests');
      stop = true;
      await victimLoop;
      assert.ok(sent > 40, `the attacker sent ${sent} resets`);
      // The upstream saw a bounded number of the flood's requests (each cancelled one is aborted upstream).
      const slow = up.received.slice(before).filter((r) => r.url === '/slow').length;
      assert.ok(slow <= 41 + 64, `upstream saw ${slow} flood requests`);
      // Every cancelled request is finished on the gateway's side too: nothing waits for a client that left.
      await waitFor(() => gw.gateway.runtime.inflight === 0, 3000, 'no request left in flight');
    } finally {
      victim.close();
      attacker.destroy();
    }
  });
});

describe('HTTP/2 session limits', { skip: SKIP }, () => {
  let certs: CertMaker;
  let up: Upstream;
  before(async () => {
    certs = new CertMaker();
    up = await startUpstream('up', async (req, res) => {
      if (req.url === '/slow') await new Promise((resolve) => setTimeout(resolve, 300));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  after(async () => { await up.close(); });

  test('requestsPerConnection ends a session with GOAWAY after its last request; an idle session is closed', { timeout: 15_000 }, async () => {
    const server = certs.leaf('api.test', { dns: ['api.test'] });
    const gw = await startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${server.cert}", key: "${server.key}" } }
limits: { requestsPerConnection: 3, keepAliveTimeout: 500ms }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`);
    const ca = certs.ca.certPem;
    try {
      const s1 = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });
      let away = false;
      s1.on('goaway', () => { away = true; });
      const replies = await Promise.all([h2req(s1, '/1'), h2req(s1, '/2'), h2req(s1, '/3')]);
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
      await waitFor(() => away || s1.closed, 3000, 'GOAWAY after the third request');
      s1.destroy();

      const s2 = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });
      let closed = false;
      s2.on('close', () => { closed = true; });
      assert.equal((await h2req(s2, '/one')).status, 200);
      const t0 = Date.now();
      await waitFor(() => closed, 5000, 'the idle session to be closed');
      assert.ok(Date.now() - t0 >= 300, 'not before the idle timeout');
    } finally {
      await gw.close();
    }
  });

  test('a slow request keeps its session past the idle timeout; shutdown lets it finish', { timeout: 15_000 }, async () => {
    const server = certs.leaf('api.test', { dns: ['api.test'] });
    const gw = await startTestGateway(`
listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 5s, tls: { cert: "${server.cert}", key: "${server.key}" } }
limits: { keepAliveTimeout: 100ms }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`);
    const ca = certs.ca.certPem;
    const s = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });
    try {
      assert.equal((await h2req(s, '/slow')).status, 200, 'a 300 ms answer outlives a 100 ms idle timeout');
      const s2 = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });
      await once(s2, 'connect');
      const pending = h2req(s2, '/slow');
      await waitFor(() => up.received.filter((r) => r.url === '/slow').length >= 2, 3000, 'the second slow request upstream');
      const closing = gw.close();
      const r = await pending;
      assert.equal(r.status, 200, 'the request in flight finished during shutdown');
      await closing;
      s2.destroy();
    } finally {
      s.destroy();
      await gw.close();
    }
  });
});
