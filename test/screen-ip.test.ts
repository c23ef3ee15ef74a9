/**
 * IP rules through the real gateway and a recording upstream, on the trusted client address: without trusted
 * proxies a spoofed X-Forwarded-For changes nothing; from a trusted proxy the forwarded client is judged (the
 * rightmost untrusted address, so a forged leftmost entry does not help); deny wins; defaults apply; a
 * refused client costs no credential check; IPv6 through a gateway listening on ::1.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, LISTEN } from './helpers/raw.js';

function config(upUrl: string, opts: { listen?: string; trusted?: string } = {}): string {
  return `${opts.listen ?? LISTEN}
${opts.trusted === undefined ? '' : `trustedProxies: ${opts.trusted}`}
services:
  a: { targets: ['${upUrl}'], retries: 0 }
auth:
  api-key:
    apiKey: { header: x-api-key }
defaults:
  ip: { deny: [198.51.100.66] }
routes:
  - { name: private-net, match: { path: /private/* }, service: a, ip: { allow: [10.0.0.0/8, "2001:db8::/32"] } }
  - { name: loopback, match: { path: /loopback/* }, service: a, ip: { allow: [127.0.0.1, "::1"] } }
  - { name: deny-one, match: { path: /deny/* }, service: a, ip: { allow: [10.0.0.0/8, 203.0.113.0/24], deny: [203.0.113.7, 10.9.0.0/16] } }
  - { name: deny-loopback, match: { path: /no-loopback/* }, service: a, ip: { deny: [127.0.0.0/8, "::1"] } }
  - { name: keyed, match: { path: /keyed/* }, service: a, auth: [api-key], ip: { allow: [10.0.0.0/8] } }
  - { name: defaulted, match: { path: /defaulted/* }, service: a }
`;
}

describe('IP rules without trusted proxies', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('the socket address is judged: loopback is not on the private allow list', async () => {
    assertProblem(await request(`${gw.url}/private/x`), 403, 'GH_IP_DENIED');
    assert.equal(up.received.length, 0);
    assert.equal((await request(`${gw.url}/loopback/x`)).status, 200);
    assert.equal(up.received.length, 1);
  });

  test('a spoofed X-Forwarded-For from an untrusted peer does not get past the allow list', async () => {
    for (const xff of ['10.1.2.3', '10.1.2.3, 10.4.5.6', '2001:db8::1', 'for=10.1.2.3']) {
      assertProblem(await request(`${gw.url}/private/x`, { headers: { 'x-forwarded-for': xff } }), 403, 'GH_IP_DENIED');
    }
    assertProblem(await request(`${gw.url}/private/x`, { headers: { forwarded: 'for=10.1.2.3', 'x-real-ip': '10.1.2.3' } }), 403, 'GH_IP_DENIED');
    assert.equal(up.received.length, 0);
  });

  test('nor does one claiming a denied client\'s address change anything for a deny list', async () => {
    assert.equal((await request(`${gw.url}/defaulted/x`, { headers: { 'x-forwarded-for': '198.51.100.66' } })).status, 200);
    assertProblem(await request(`${gw.url}/no-loopback/x`, { headers: { 'x-forwarded-for': '10.1.2.3' } }), 403, 'GH_IP_DENIED');
    assert.equal(up.received.length, 1);
  });

  test('a refused client costs no credential check: 403, not 401', async () => {
    const r = await request(`${gw.url}/keyed/x`, { headers: { 'x-api-key': 'gh_whatever' } });
    assertProblem(r, 403, 'GH_IP_DENIED');
    assert.equal(r.headers['www-authenticate'], undefined);
    assert.equal(up.received.length, 0);
  });
});

describe('IP rules behind a trusted proxy', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url, { trusted: '[127.0.0.1]' }));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const xff = (path: string, value: string): ReturnType<typeof request> => request(`${gw.url}${path}`, { headers: { 'x-forwarded-for': value } });

  test('the forwarded client address is judged', async () => {
    const r = await xff('/private/x', '10.1.2.3');
    assert.equal(r.status, 200);
    assert.equal(up.received.length, 1);
    assert.equal(up.received[0]!.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
    assertProblem(await xff('/private/x', '192.0.2.1'), 403, 'GH_IP_DENIED');
    assertProblem(await xff('/loopback/x', '10.1.2.3'), 403, 'GH_IP_DENIED');
    assert.equal(up.received.length, 1);
  });

  test('a forged leftmost entry does not help: the rightmost untrusted address is the client', async () => {
    assertProblem(await xff('/private/x', '10.1.2.3, 192.0.2.1'), 403, 'GH_IP_DENIED');
    assert.equal((await xff('/private/x', '192.0.2.1, 10.1.2.3')).status, 200);
    assertProblem(await xff('/deny/x', '10.1.1.1, 203.0.113.7'), 403, 'GH_IP_DENIED');
  });

  test('deny wins over allow; IPv4-mapped forwarded addresses count as IPv4', async () => {
    assert.equal((await xff('/deny/x', '203.0.113.8')).status, 200);
    assertProblem(await xff('/deny/x', '203.0.113.7'), 403, 'GH_IP_DENIED');
    assertProblem(await xff('/deny/x', '10.9.3.4'), 403, 'GH_IP_DENIED');
    assertProblem(await xff('/deny/x', '::ffff:203.0.113.7'), 403, 'GH_IP_DENIED');
    assert.equal((await xff('/deny/x', '::ffff:10.1.1.1')).status, 200);
  });

  test('an IPv6 client forwarded by the proxy', async () => {
    assert.equal((await xff('/private/x', '2001:db8::42')).status, 200);
    assertProblem(await xff('/private/x', '2001:db9::42'), 403, 'GH_IP_DENIED');
  });

  test('the defaults apply to a route without its own rules; a route with its own replaces them', async () => {
    assertProblem(await xff('/defaulted/x', '198.51.100.66'), 403, 'GH_IP_DENIED');
    assert.equal((await xff('/defaulted/x', '198.51.100.67')).status, 200);
    assert.equal((await xff('/private/x', '10.0.0.66')).status, 200);
  });

  test('garbage in X-Forwarded-For falls back to the last address vouched for (the proxy), never to the garbage', async () => {
    assertProblem(await xff('/private/x', 'not-an-ip'), 403, 'GH_IP_DENIED');
    assert.equal((await xff('/loopback/x', 'not-an-ip')).status, 200);
  });
});

/** Whether this machine can listen on ::1. */
async function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

describe('IP rules on an IPv6 listener', async () => {
  const available = await ipv6Loopback();
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    if (!available) return;
    up = await startUpstream('a');
    gw = await startTestGateway(config(up.url, { listen: 'listen: { host: "::1", port: 0, shutdownTimeout: 1s }' }));
  });
  after(async () => { if (available) { await gw.close(); await up.close(); } });

  test('the IPv6 socket address is judged', { skip: available ? false : 'no IPv6 loopback here (the matcher is unit-tested)' }, async () => {
    const base = `http://[::1]:${gw.port}`;
    assert.equal((await request(`${base}/loopback/x`)).status, 200);
    assertProblem(await request(`${base}/private/x`), 403, 'GH_IP_DENIED');
    assertProblem(await request(`${base}/no-loopback/x`), 403, 'GH_IP_DENIED');
    assertProblem(await request(`${base}/private/x`, { headers: { 'x-forwarded-for': '2001:db8::1' } }), 403, 'GH_IP_DENIED');
    assert.equal(up.received.length, 1);
  });
});
