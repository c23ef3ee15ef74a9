/**
 * What the gateway sends to a target and what it passes back, through the real gateway: the Host header in
 * each `host:` mode (also when the target's pool is saturated and requests wait in undici's queue), HTTPS
 * targets verified against a CA given in `tls.ca` (a certificate made with `openssl` at test time), and
 * upstream redirects handed to the client untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { assertProblem, client, runPool, send } from './upstreams-support.js';

describe('host header modes', () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream('up', (req, res) => {
      const reply = (): void => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(String(req.headers.host)); };
      if (req.url === '/slow') setTimeout(reply, 50); else reply();
    });
  });
  after(async () => { await up.close(); });

  test('`target` (default) sends the target\'s host:port, `preserve` the client\'s Host, a literal host that name', { timeout: 10_000 }, async () => {
    const gw = await startTestGateway(`
services:
  deflt: { targets: ["${up.url}"] }
  target: { targets: ["${up.url}"], host: target }
  preserve: { targets: ["${up.url}"], host: preserve }
  literal: { targets: ["${up.url}"], host: backend.internal }
routes:
  - { name: deflt, match: { path: /deflt }, service: deflt }
  - { name: target, match: { path: /target }, service: target }
  - { name: preserve, match: { path: /preserve }, service: preserve }
  - { name: literal, match: { path: /literal }, service: literal }
`);
    const pool = client(gw, 4);
    try {
      const headers = { host: 'shop.example.com' };
      assert.equal((await send(pool, '/deflt', { headers })).body, `127.0.0.1:${up.port}`);
      assert.equal((await send(pool, '/target', { headers })).body, `127.0.0.1:${up.port}`);
      assert.equal((await send(pool, '/preserve', { headers })).body, 'shop.example.com');
      assert.equal((await send(pool, '/preserve', { headers: { host: 'other.example.com:8443' } })).body, 'other.example.com:8443');
      assert.equal((await send(pool, '/literal', { headers })).body, 'backend.internal');
      // One Host header reaches the upstream, never two.
      for (const r of up.received) assert.equal(r.rawHeaders.filter((_, i) => i % 2 === 0 && r.rawHeaders[i]!.toLowerCase() === 'host').length, 1);
      // The client's Host still goes to X-Forwarded-Host in every mode.
      assert.equal(up.received.at(-1)!.headers['x-forwarded-host'], 'shop.example.com');
    } finally {
      await pool.close();
      await gw.close();
    }
  });

  test('`preserve` and a literal host hold when requests queue for a busy pool (pool.connections: 1)', { timeout: 10_000 }, async () => {
    const gw = await startTestGateway(`
services:
  preserve: { targets: ["${up.url}"], host: preserve, pool: { connections: 1 } }
  literal: { targets: ["${up.url}"], host: backend.internal, pool: { connections: 1 } }
routes:
  - { name: preserve, match: { path: /slow }, service: preserve }
  - { name: literal, match: { path: /slow, headers: { x-literal: "1" } }, service: literal }
`);
    const pool = client(gw, 8);
    try {
      // Eight at once over one upstream connection: seven wait in undici's queue for their turn.
      const hosts = await runPool(8, 8, async (i) => (await send(pool, '/slow', { headers: { host: `tenant-${i}.example.com` } })).body);
      assert.deepEqual(hosts, Array.from({ length: 8 }, (_, i) => `tenant-${i}.example.com`));
      const literal = await runPool(6, 6, async () => (await send(pool, '/slow', { headers: { 'x-literal': '1' } })).body);
      assert.deepEqual(literal, Array.from({ length: 6 }, () => 'backend.internal'));
    } finally {
      await pool.close();
      await gw.close();
    }
  });
});

/** Certificates made once for the HTTPS tests. */
interface Certs { dir: string; ipCert: string; ipKey: string; dnsCert: string; dnsKey: string }

function makeCerts(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  const make = (name: string, san: string): void => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`,
      '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`),
    ], { stdio: 'ignore', timeout: 10_000 });
  };
  make('ip', 'IP:127.0.0.1');
  make('dns', 'DNS:api.internal');
  return { dir, ipCert: join(dir, 'ip.pem'), ipKey: join(dir, 'ip.key'), dnsCert: join(dir, 'dns.pem'), dnsKey: join(dir, 'dns.key') };
}

async function startHttps(cert: string, key: string): Promise<{ server: HttpsServer; url: string; port: number; hits: number }> {
  const state = { hits: 0 } as { server: HttpsServer; url: string; port: number; hits: number };
  const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req: IncomingMessage, res: ServerResponse) => {
    state.hits++;
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'tls' });
    res.end(JSON.stringify({ secure: true, host: req.headers.host, url: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, { server, port, url: `https://127.0.0.1:${port}` });
}

describe('HTTPS targets', () => {
  let certs: Certs;
  let ipUp: Awaited<ReturnType<typeof startHttps>>;
  let dnsUp: Awaited<ReturnType<typeof startHttps>>;
  before(async () => {
    certs = makeCerts();
    ipUp = await startHttps(certs.ipCert, certs.ipKey);
    dnsUp = await startHttps(certs.dnsCert, certs.dnsKey);
  });
  after(async () => {
    for (const u of [ipUp, dnsUp]) {
      u.server.closeAllConnections();
      await new Promise<void>((resolve) => u.server.close(() => resolve()));
    }
    rmSync(certs.dir, { recursive: true, force: true });
  });

  test('verified with `tls.ca`; without it the self-signed certificate is refused → 502', { timeout: 15_000 }, async () => {
    const gw = await startTestGateway(`
services:
  trusted: { targets: ["${ipUp.url}"], tls: { ca: "${certs.ipCert}" } }
  untrusted: { targets: ["${ipUp.url}"] }
  wrongca: { targets: ["${ipUp.url}"], tls: { ca: "${certs.dnsCert}" } }
  skip: { targets: ["${ipUp.url}"], tls: { insecureSkipVerify: true } }
  named: { targets: ["https://127.0.0.1:${dnsUp.port}"], tls: { ca: "${certs.dnsCert}", servername: api.internal } }
  misnamed: { targets: ["https://127.0.0.1:${dnsUp.port}"], tls: { ca: "${certs.dnsCert}" } }
routes:
  - { name: trusted, match: { path: /trusted }, service: trusted }
  - { name: untrusted, match: { path: /untrusted }, service: untrusted }
  - { name: wrongca, match: { path: /wrongca }, service: wrongca }
  - { name: skip, match: { path: /skip }, service: skip }
  - { name: named, match: { path: /named }, service: named }
  - { name: misnamed, match: { path: /misnamed }, service: misnamed }
`);
    const pool = client(gw, 4);
    try {
      const ok = await send(pool, '/trusted');
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual(JSON.parse(ok.body), { secure: true, host: `127.0.0.1:${ipUp.port}`, url: '/trusted' });
      const hitsBefore = ipUp.hits;
      for (const path of ['/untrusted', '/wrongca']) {
        const r = await send(pool, path);
        assertProblem(r, 502, 'GH_UPSTREAM_ERROR', [ipUp]);
        assert.doesNotMatch(r.body, /certificate|self.signed|CERT|TLS|SSL/i);
      }
      assert.equal(ipUp.hits, hitsBefore, 'no request was sent over an unverified connection');
      assert.equal((await send(pool, '/skip')).status, 200);
      // A certificate for a DNS name, reached by IP: verified against `servername`, refused without it.
      const named = await send(pool, '/named');
      assert.equal(named.status, 200, named.body);
      assertProblem(await send(pool, '/misnamed'), 502, 'GH_UPSTREAM_ERROR', [dnsUp]);
    } finally {
      await pool.close();
      await gw.close();
    }
  });
});

describe('upstream redirects', () => {
  test('are passed to the client as they are (status, Location, body), never followed', { timeout: 10_000 }, async () => {
    let selfUrl = '';
    const up = await startUpstream('redir', (req, res) => {
      const m = /^\/r\/(\d{3})$/.exec(req.url!);
      if (m) {
        res.writeHead(Number(m[1]), { location: req.url === '/r/302' ? `${selfUrl}/elsewhere?x=1` : '/login?next=%2Fr', 'content-type': 'text/plain' });
        res.end('moved');
        return;
      }
      res.writeHead(200).end('followed!');
    });
    selfUrl = up.url;
    const gw = await startTestGateway(`
services:
  s: { targets: ["${up.url}"] }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      const r = await send(pool, '/r/302');
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, `${up.url}/elsewhere?x=1`, 'Location is not rewritten');
      assert.equal(r.body, 'moved');
      for (const status of [301, 303, 307, 308]) {
        const x = await send(pool, `/r/${status}`);
        assert.equal(x.status, status);
        assert.equal(x.headers.location, '/login?next=%2Fr');
      }
      assert.deepEqual(up.received.map((q) => q.url), ['/r/302', '/r/301', '/r/303', '/r/307', '/r/308'], 'no redirect was followed');
    } finally {
      await pool.close();
      await gw.close();
      await up.close();
    }
  });
});
