/**
 * TLS termination through the real gateway, with certificates made by `openssl` at test time: several
 * certificates chosen by SNI, a certificate swapped by a reload while connections (HTTP/1.1 keep-alive and
 * HTTP/2) stay open, a broken certificate refused by a reload, the plain-HTTP redirect listener, HSTS,
 * client certificates mapped to consumers (`mtls`), and mutual TLS to an https:// upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { Agent as HttpsAgent, request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { CertMaker, hasOpenssl, type CertFiles } from './helpers/certs.js';
import { WebSocket, WebSocketServer } from 'ws';

const SKIP = hasOpenssl() ? false : 'the openssl CLI is not installed (it makes the test certificates)';

/** Reply is one response read whole. */
interface Reply { status: number; headers: IncomingHttpHeaders; body: string; reused: boolean; peer: PeerCertificate | null }

/** TlsClientOptions choose the name, trust and client certificate of a connection. */
interface TlsClientOptions { servername?: string; ca: string; cert?: CertFiles; agent?: HttpsAgent | false; headers?: Record<string, string>; method?: string }

/** get makes one HTTPS/1.1 request to the gateway (port) and reads the answer and the server's certificate. */
function get(port: number, path: string, o: TlsClientOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, path, method: o.method ?? 'GET', servername: o.servername ?? 'api.test', ca: o.ca,
      ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
      agent: o.agent ?? false, headers: { host: o.servername ?? 'api.test', ...o.headers },
    }, (res) => {
      let body = '';
      // Read now: a keep-alive agent takes the socket back once the body ends.
      const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reused: req.reusedSocket, peer }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** h2get makes one request on an HTTP/2 session and reads it whole. */
function h2get(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path, ...headers });
    let status = 0;
    let h: Record<string, unknown> = {};
    let body = '';
    s.setEncoding('utf8');
    s.on('response', (r) => { status = Number(r[':status']); h = r; });
    s.on('data', (c: string) => { body += c; });
    s.on('end', () => resolve({ status, headers: h, body }));
    s.on('error', reject);
    s.end();
  });
}

/** peerOf opens a bare TLS connection asking for `servername` and returns the certificate the server chose. */
function peerOf(port: number, servername: string | undefined, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}), rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on('error', reject);
  });
}

function fp(cert: PeerCertificate | null): string {
  return (cert?.fingerprint256 ?? '').replaceAll(':', '').toLowerCase();
}

describe('TLS termination', { skip: SKIP }, () => {
  let certs: CertMaker;
  let up: Upstream;
  before(async () => {
    certs = new CertMaker();
    up = await startUpstream('up');
  });
  after(async () => { await up.close(); });

  test('several certificates chosen by SNI: SAN names, explicit names, wildcard, the first as default', { timeout: 15_000 }, async () => {
    const a = certs.leaf('api.test', { dns: ['api.test'] });
    const b = certs.leaf('shop.test', { dns: ['shop.test'] });
    const c = certs.leaf('admin certificate', { dns: ['admin.test', 'other.test'] });
    const w = certs.leaf('wild', { dns: ['*.apps.test'] });
    const gw = await startTestGateway(`
listen:
  host: 127.0.0.1
  port: 0
  tls:
    - { cert: "${a.cert}", key: "${a.key}" }
    - { cert: "${b.cert}", key: "${b.key}" }
    - { cert: "${c.cert}", key: "${c.key}", names: [admin.test] }
    - { cert: "${w.cert}", key: "${w.key}" }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`);
    try {
      assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = certs.ca.certPem;
      assert.equal(fp(await peerOf(gw.port, 'api.test', ca)), a.fingerprint);
      assert.equal(fp(await peerOf(gw.port, 'shop.test', ca)), b.fingerprint);
      assert.equal(fp(await peerOf(gw.port, 'ADMIN.test', ca)), c.fingerprint, 'explicit names, case-insensitive');
      assert.equal(fp(await peerOf(gw.port, 'other.test', ca)), a.fingerprint, 'explicit names replace the certificate\'s own');
      assert.equal(fp(await peerOf(gw.port, 'x.apps.test', ca)), w.fingerprint, 'one-label wildcard');
      assert.equal(fp(await peerOf(gw.port, 'a.b.apps.test', ca)), a.fingerprint, 'a wildcard covers one label only: default');
      assert.equal(fp(await peerOf(gw.port, 'unknown.test', ca)), a.fingerprint, 'unknown name: the first certificate');
      assert.equal(fp(await peerOf(gw.port, undefined, ca)), a.fingerprint, 'no SNI: the first certificate');
      // Full requests verify the chosen certificate against the name; the upstream learns the scheme.
      for (const name of ['api.test', 'shop.test', 'admin.test']) {
        const r = await get(gw.port, '/hello', { servername: name, ca });
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
        assert.equal(JSON.parse(r.body).headers['x-forwarded-host'], name);
      }
    } finally {
      await gw.close();
    }
  });

  test('a reload swaps the certificate for new connections while open HTTP/1.1 and HTTP/2 connections keep serving', { timeout: 20_000 }, async () => {
    const v1 = certs.leaf('api.test', { dns: ['api.test'], file: 'swap-v1' });
    const v2 = certs.leaf('api.test', { dns: ['api.test'], file: 'swap-v2' });
    const live = certs.leaf('api.test', { dns: ['api.test'], file: 'swap-live' });
    copyFileSync(v1.cert, live.cert);
    copyFileSync(v1.key, live.key);
    const yaml = `
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${live.cert}", key: "${live.key}" } }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`;
    const gw = await startTestGateway(yaml);
    const ca = certs.ca.certPem;
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    const h2 = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test' });
    try {
      const first = await get(gw.port, '/a', { ca, agent });
      assert.equal(first.status, 200);
      assert.equal(fp(first.peer), v1.fingerprint);
      assert.equal((await h2get(h2, '/a')).status, 200);
      assert.equal(fp((h2.socket as import('node:tls').TLSSocket).getPeerCertificate()), v1.fingerprint);

      // The certificate is renewed in place (same paths), as certbot does, and the config reloaded.
      copyFileSync(v2.cert, live.cert);
      copyFileSync(v2.key, live.key);
      assert.equal(await gw.reload(), true);
      assert.ok(gw.logs.some((l) => l.event === 'tls_reloaded'));
      assert.ok(!gw.logs.some((l) => l.event === 'config_warning' && String(l.msg).includes('listen')), 'a certificate change needs no restart');

      const again = await get(gw.port, '/b', { ca, agent });
      assert.equal(again.status, 200);
      assert.equal(again.reused, true, 'the keep-alive connection stayed open across the swap');
      assert.equal(fp(again.peer), v1.fingerprint, 'and keeps the certificate it was opened with');
      assert.equal((await h2get(h2, '/b')).status, 200, 'the HTTP/2 session keeps serving');
      assert.equal(h2.closed || h2.destroyed, false);

      const fresh = await get(gw.port, '/c', { ca });
      assert.equal(fresh.status, 200);
      assert.equal(fp(fresh.peer), v2.fingerprint, 'a new connection gets the new certificate');

      // A key that does not match its certificate is refused by the reload; the running one keeps serving.
      copyFileSync(v1.key, live.key);
      assert.equal(await gw.reload(), false);
      const refused = gw.logs.find((l) => l.event === 'reload_refused');
      assert.match(JSON.stringify(refused?.problems), /listen\.tls: the key does not match the certificate/);
      assert.equal(fp((await get(gw.port, '/d', { ca })).peer), v2.fingerprint);
      assert.equal((await h2get(h2, '/d')).status, 200);
    } finally {
      agent.destroy();
      h2.destroy();
      await gw.close();
    }
  });

  test('redirectHttp answers 308 to HTTPS; HSTS is on every HTTPS answer, proxied or the gateway\'s own', { timeout: 15_000 }, async () => {
    const a = certs.leaf('api.test', { dns: ['api.test'] });
    const plain = await freePort();
    const gw = await startTestGateway(`
listen:
  host: 127.0.0.1
  port: 0
  tls: { cert: "${a.cert}", key: "${a.key}" }
  redirectHttp: { port: ${plain} }
  hsts: { maxAge: 365d, includeSubDomains: true }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /api/* }, service: up } ]
`);
    try {
      const redirect = await new Promise<{ status: number; location: string | undefined; hsts: string | undefined }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: plain, path: '/api/x?q=1', method: 'POST', headers: { host: 'api.test:80' } }, (res) => {
          res.resume();
          resolve({ status: res.statusCode!, location: res.headers.location, hsts: res.headers['strict-transport-security'] as string | undefined });
        });
        req.on('error', reject);
        req.end('ignored body');
      });
      assert.equal(redirect.status, 308);
      assert.equal(redirect.location, `https://api.test:${gw.port}/api/x?q=1`);
      assert.equal(redirect.hsts, undefined, 'HSTS is not sent over plain HTTP');
      assert.equal(up.received.filter((r) => r.url === '/api/x?q=1').length, 0, 'the redirect listener forwards nothing');
      const bad = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: plain, path: '/x', headers: { host: 'evil.test/path' } }, (res) => { res.resume(); resolve(res.statusCode!); });
        req.on('error', reject);
        req.end();
      });
      assert.equal(bad, 400, 'a Host that is not a host name makes no Location');

      const ca = certs.ca.certPem;
      const proxied = await get(gw.port, '/api/y', { ca });
      assert.equal(proxied.status, 200);
      assert.equal(proxied.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      const own = await get(gw.port, '/nothing-here', { ca });
      assert.equal(own.status, 404);
      assert.equal(own.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      // A service with its own policy keeps it: one Strict-Transport-Security header, the service's.
      const before = up.handler;
      up.handler = (_req, res) => { res.writeHead(200, { 'strict-transport-security': 'max-age=60' }); res.end('ok'); };
      try {
        const theirs = await get(gw.port, '/api/own-policy', { ca });
        assert.equal(theirs.headers['strict-transport-security'], 'max-age=60');
      } finally {
        up.handler = before;
      }
    } finally {
      await gw.close();
    }
  });

  test('client certificates (mtls) map to consumers by CN, SAN or fingerprint; unverified or unknown ones get 401', { timeout: 20_000 }, async () => {
    const server = certs.leaf('api.test', { dns: ['api.test'] });
    const clients = new CertMaker('Client CA');
    const rogue = new CertMaker('Rogue CA');
    const acme = clients.leaf('acme-client');
    const spiffe = clients.leaf('billing', { uri: ['spiffe://example.org/billing'] });
    const pinned = clients.leaf('pinned-one');
    const stranger = clients.leaf('stranger');
    const forged = rogue.leaf('acme-client');
    const gw = await startTestGateway(`
listen:
  host: 127.0.0.1
  port: 0
  tls: { cert: "${server.cert}", key: "${server.key}" }
  clientCerts: { ca: "${clients.ca.cert}" }
consumers:
  acme: { certificates: [ { cn: acme-client } ] }
  billing: { certificates: [ { san: "spiffe://example.org/billing" } ] }
  pinned: { certificates: [ "sha256:${pinned.fingerprint.match(/../g)!.join(':').toUpperCase()}" ] }
auth:
  certs: { mtls: {} }
services: { up: { targets: ["${up.url}"] } }
routes:
  - { name: secure, match: { path: /secure }, service: up, auth: [certs] }
  - { name: open, match: { path: /open }, service: up }
`);
    const ca = certs.ca.certPem;
    try {
      const none = await get(gw.port, '/secure', { ca });
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'ClientCertificate realm="gatehouse"');
      assert.equal((await get(gw.port, '/open', { ca })).status, 200, 'clientCerts.required false: no certificate is fine elsewhere');

      const byCn = await get(gw.port, '/secure', { ca, cert: acme });
      assert.equal(byCn.status, 200);
      assert.equal(JSON.parse(byCn.body).headers['x-consumer-id'], 'acme');
      const bySan = await get(gw.port, '/secure', { ca, cert: spiffe });
      assert.equal(JSON.parse(bySan.body).headers['x-consumer-id'], 'billing');
      const byFingerprint = await get(gw.port, '/secure', { ca, cert: pinned });
      assert.equal(JSON.parse(byFingerprint.body).headers['x-consumer-id'], 'pinned');

      const unknown = await get(gw.port, '/secure', { ca, cert: stranger });
      assert.equal(unknown.status, 401);
      assert.equal(JSON.parse(unknown.body).code, 'GH_UNKNOWN_CONSUMER');
      const fake = await get(gw.port, '/secure', { ca, cert: forged });
      assert.equal(fake.status, 401, 'the same CN from another CA does not verify');
      assert.equal(JSON.parse(fake.body).code, 'GH_UNAUTHORIZED');

      // The same over HTTP/2: the certificate is the session's, every stream is that client.
      const h2 = h2connect(`https://127.0.0.1:${gw.port}`, { ca, servername: 'api.test', cert: acme.certPem, key: acme.keyPem });
      try {
        for (let i = 0; i < 3; i++) {
          const r = await h2get(h2, '/secure');
          assert.equal(r.status, 200);
          assert.equal(JSON.parse(r.body).headers['x-consumer-id'], 'acme');
        }
      } finally { h2.destroy(); }
      // A client cannot name itself with the header.
      const spoof = await get(gw.port, '/secure', { ca, headers: { 'x-consumer-id': 'acme' } });
      assert.equal(spoof.status, 401);
    } finally {
      await gw.close();
    }
  });

  test('clientCerts.required: a client without a trusted certificate fails the handshake', { timeout: 15_000 }, async () => {
    const server = certs.leaf('api.test', { dns: ['api.test'] });
    const clients = new CertMaker('Required Client CA');
    const acme = clients.leaf('acme-client');
    const gw = await startTestGateway(`
listen:
  host: 127.0.0.1
  port: 0
  tls: { cert: "${server.cert}", key: "${server.key}" }
  clientCerts: { ca: "${clients.ca.cert}", required: true }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`);
    const ca = certs.ca.certPem;
    try {
      await assert.rejects(get(gw.port, '/x', { ca }));
      assert.equal((await get(gw.port, '/x', { ca, cert: acme })).status, 200);
    } finally {
      await gw.close();
    }
  });

  test('an https:// upstream that requires a client certificate gets the one in the service\'s tls', { timeout: 15_000 }, async () => {
    const upstreamCa = new CertMaker('Upstream CA');
    const upstreamCert = upstreamCa.leaf('billing.internal', { ip: ['127.0.0.1'] });
    const gatewayIdentity = certs.leaf('gatehouse');
    const seen: string[] = [];
    const secure = createHttpsServer({ cert: upstreamCert.certPem, key: upstreamCert.keyPem, ca: certs.ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      seen.push(String((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const port = (secure.address() as AddressInfo).port;
    const gw = await startTestGateway(`
services:
  mutual: { targets: ["https://127.0.0.1:${port}"], tls: { ca: "${upstreamCa.ca.cert}", cert: "${gatewayIdentity.cert}", key: "${gatewayIdentity.key}" } }
  anonymous: { targets: ["https://127.0.0.1:${port}"], tls: { ca: "${upstreamCa.ca.cert}" }, retries: 0 }
  h2only: { targets: ["https://127.0.0.1:${port}"], protocol: h2, retries: 0, tls: { ca: "${upstreamCa.ca.cert}", cert: "${gatewayIdentity.cert}", key: "${gatewayIdentity.key}" } }
routes:
  - { name: h2only, match: { path: /h2only }, service: h2only }
  - { name: mutual, match: { path: /mutual }, service: mutual }
  - { name: anonymous, match: { path: /anonymous }, service: anonymous }
`);
    try {
      const ok = await fetch(`${gw.url}/mutual`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'ok');
      assert.deepEqual(seen, ['gatehouse']);
      const refused = await fetch(`${gw.url}/anonymous`);
      assert.equal(refused.status, 502);
      await refused.text();
      // `protocol: h2` to a target that only speaks HTTP/1.1: refused, never pipelined over HTTP/1.1.
      const notH2 = await fetch(`${gw.url}/h2only`);
      assert.equal(notH2.status, 502);
      await notH2.text();
      assert.deepEqual(seen, ['gatehouse'], 'no request reached the upstream over HTTP/1.1');
    } finally {
      await gw.close();
      secure.closeAllConnections();
      await new Promise<void>((resolve) => secure.close(() => resolve()));
    }
  });

  test('http2: false serves HTTPS/1.1 only (no h2 offered by ALPN)', { timeout: 10_000 }, async () => {
    const a = certs.leaf('api.test', { dns: ['api.test'] });
    const gw = await startTestGateway(`
listen: { host: 127.0.0.1, port: 0, http2: false, tls: { cert: "${a.cert}", key: "${a.key}" } }
services: { up: { targets: ["${up.url}"] } }
routes: [ { name: all, match: { path: /* }, service: up } ]
`);
    try {
      const alpn = await new Promise<string | false>((resolve, reject) => {
        const sock = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: certs.ca.certPem, servername: 'api.test', ALPNProtocols: ['h2', 'http/1.1'] }, () => { resolve(sock.alpnProtocol ?? false); sock.end(); });
        sock.on('error', reject);
      });
      assert.notEqual(alpn, 'h2');
      const r = await get(gw.port, '/x', { ca: certs.ca.certPem });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
    } finally {
      await gw.close();
    }
  });

  test('WebSocket over TLS (wss) takes the HTTP/1.1 side of an HTTP/2-enabled listener', { timeout: 15_000 }, async () => {
    const a = certs.leaf('api.test', { dns: ['api.test'] });
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${String(m)}`)));
    await once(wss, 'listening');
    const wsPort = (wss.address() as AddressInfo).port;
    const gw = await startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${a.cert}", key: "${a.key}" } }
services: { chat: { targets: ["http://127.0.0.1:${wsPort}"] } }
routes: [ { name: chat, match: { path: /ws }, service: chat, websocket: {} } ]
`);
    try {
      const ws = new WebSocket(`wss://127.0.0.1:${gw.port}/ws`, [], { ca: certs.ca.certPem, headers: { host: 'api.test' }, ...{ servername: 'api.test' } } as import('ws').ClientOptions);
      await once(ws, 'open');
      ws.send('hi');
      const [reply] = await once(ws, 'message') as [Buffer];
      assert.equal(String(reply), 'echo hi');
      ws.close();
      await once(ws, 'close');
    } finally {
      await gw.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  test('config errors name the entry: missing files, a key that does not match, TLS-only keys without tls', { timeout: 10_000 }, async () => {
    const a = certs.leaf('api.test', { dns: ['api.test'] });
    const b = certs.leaf('shop.test', { dns: ['shop.test'] });
    await assert.rejects(startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: [ { cert: "${a.cert}", key: "${a.key}" }, { cert: "${certs.dir}/nope.pem", key: "${b.key}" } ] }
routes: []
`), /listen\.tls\[1\]\.cert: file not found/);
    await assert.rejects(startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${a.cert}", key: "${b.key}" } }
routes: []
`), /listen\.tls: the key does not match the certificate/);
    await assert.rejects(startTestGateway(`
listen: { host: 127.0.0.1, port: 0, hsts: { maxAge: 1d }, clientCerts: { ca: "${certs.ca.cert}" } }
auth: { certs: { mtls: {} } }
routes: []
`), (err: Error) => /listen\.clientCerts: needs `listen\.tls`/.test(err.message) && /listen\.hsts: needs `listen\.tls`/.test(err.message));
    await assert.rejects(startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${a.cert}", key: "${a.key}" } }
auth: { certs: { mtls: {} } }
routes: []
`), /auth\.certs\.mtls: needs `listen\.clientCerts`/);
    assert.ok(readFileSync(a.cert, 'utf8').includes('BEGIN CERTIFICATE'));
  });
});
