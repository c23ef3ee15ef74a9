/**
 * SECURITY.md "Paths": one normalization feeds routing and the upstream request, so every spelling of a
 * blocked `/admin` meets the same rules as `/admin`; forbidden encodings and non-origin targets are refused
 * with 400 before anything is forwarded; `//host/x` never changes the upstream host.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest } from './helpers/http.js';
import { assertProblem, header, parseRaw, LISTEN } from './helpers/raw.js';

const H = 'Host: gw.test\r\n';

async function send(port: number, method: string, target: string, extra = ''): Promise<ReturnType<typeof parseRaw>> {
  const body = method === 'POST' ? 'Content-Length: 2\r\n\r\nok' : '\r\n';
  return parseRaw(await rawRequest(port, `${method} ${target} HTTP/1.1\r\n${H}Connection: close\r\n${extra}${body}`));
}

describe('paths: a blocked /admin stays blocked however it is spelled', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(`${LISTEN}
routing: { caseSensitive: false }
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: public, match: { path: /public/* }, service: a }
  - { name: api, match: { path: /api/* }, service: a }
  - { name: admin, match: { path: /admin, methods: [POST] }, service: a }
`);
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  /** Spellings of `/admin` and the path the upstream receives; case is forwarded as sent (routing is case-insensitive). */
  const SPELLINGS: [string, string][] = [
    ['/admin', '/admin'], ['/%61dmin', '/admin'], ['/%61%64%6d%69%6e', '/admin'], ['//admin', '/admin'], ['///admin', '/admin'],
    ['/./admin', '/admin'], ['/public/../admin', '/admin'], ['/public/%2e%2e/admin', '/admin'], ['/public/%2E%2E/admin', '/admin'],
    ['/public/.%2e/admin', '/admin'], ['/api/x/../../admin', '/admin'], ['/public/../../../admin', '/admin'],
    ['/public/..//admin', '/admin'], ['/ADMIN', '/ADMIN'], ['/AdMiN', '/AdMiN'], ['/%41DMIN', '/ADMIN'],
  ];

  for (const [path] of SPELLINGS) {
    test(`GET ${path} → 405 like GET /admin, nothing upstream`, async () => {
      const r = await send(gw.port, 'GET', path);
      assertProblem(r, 405, 'GH_METHOD_NOT_ALLOWED');
      assert.equal(header(r, 'allow'), 'POST');
      assert.equal(up.received.length, 0);
    });
  }

  for (const [path, forwarded] of SPELLINGS) {
    test(`POST ${path} → the admin route, forwarded as ${forwarded}`, async () => {
      const r = await send(gw.port, 'POST', path);
      assert.equal(r.status, 200);
      assert.equal(up.received.length, 1);
      assert.equal(up.received[0]!.url, forwarded);
    });
  }

  test('normalized path and untouched query reach the upstream', async () => {
    const r = await send(gw.port, 'GET', '/public//a/./b/%7Euser/c%2Dd/../e?q=%2F..%2F&x=1');
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.url, '/public/a/b/~user/e?q=%2F..%2F&x=1');
  });

  test('escapes of reserved characters stay encoded (uppercase) and are not decoded into structure', async () => {
    const r = await send(gw.port, 'GET', '/public/a%3fb%23c%25d');
    assert.equal(r.status, 200);
    assert.equal(up.received[0]!.url, '/public/a%3Fb%23c%25d');
  });

  test('dot segments cannot climb above the root', async () => {
    const r = await send(gw.port, 'GET', '/public/../../../../etc/passwd');
    assertProblem(r, 404, 'GH_ROUTE_NOT_FOUND');
    assert.equal(up.received.length, 0);
  });

  const REFUSED: [string, string, string][] = [
    ['encoded slash %2F', '/public/..%2Fadmin', 'GH_BAD_PATH_ENCODING'],
    ['encoded slash %2f', '/public/a%2fb', 'GH_BAD_PATH_ENCODING'],
    ['encoded backslash %5C', '/public/..%5Cadmin', 'GH_BAD_PATH_ENCODING'],
    ['encoded NUL %00', '/public/a%00.txt', 'GH_BAD_PATH_ENCODING'],
    ['encoded CR %0D', '/public/a%0D%0AX-Injected:%201', 'GH_BAD_PATH_ENCODING'],
    ['raw backslash', '/public/..\\admin', 'GH_BAD_PATH'],
    ['raw #', '/public/a#/../../admin', 'GH_BAD_PATH'],
    ['invalid UTF-8 %C3%28', '/public/%C3%28', 'GH_BAD_PATH_ENCODING'],
    ['overlong UTF-8 slash %C0%AF', '/public/..%C0%AFadmin', 'GH_BAD_PATH_ENCODING'],
    ['lone continuation byte %80', '/public/%80', 'GH_BAD_PATH_ENCODING'],
    ['encoded surrogate %ED%A0%80', '/public/%ED%A0%80', 'GH_BAD_PATH_ENCODING'],
    ['malformed escape %zz', '/public/%zz', 'GH_BAD_PATH_ENCODING'],
    ['truncated escape %4', '/public/%4', 'GH_BAD_PATH_ENCODING'],
    ['absolute-form', 'http://evil.test/public/x', 'GH_ABSOLUTE_FORM'],
    ['absolute-form to /admin', 'http://gw.test/admin', 'GH_ABSOLUTE_FORM'],
    ['asterisk-form', '*', 'GH_ABSOLUTE_FORM'],
  ];
  for (const [what, target, code] of REFUSED) {
    test(`${what} → 400 ${code}, nothing upstream`, async () => {
      for (const method of ['GET', 'POST']) {
        const r = await send(gw.port, method, target);
        assertProblem(r, 400, code);
        assert.equal(up.received.length, 0);
      }
    });
  }

  // Tomcat, Jetty and Spring strip `;params` from each segment before resolving dot segments, so they read
  // `/public/..;/admin` as `/admin`: forwarded as is, it reaches a path the gateway blocks. parseTarget keeps
  // `..;` as an ordinary segment today; refusing a dot segment followed by `;` (after decoding) closes it.
  test('`..;` and `.;` segments (dot segments to Tomcat-style upstreams) are refused', async () => {
    for (const target of ['/public/..;/admin', '/public/%2e%2e;/admin', '/public/.;/x', '/public/..;jsessionid=1/admin']) {
      const r = await send(gw.port, 'POST', target);
      assertProblem(r, 400, 'GH_BAD_PATH');
    }
    assert.equal(up.received.length, 0);
  });

  test('a raw byte above 0x7E in the path is refused', async () => {
    const r = parseRaw(await rawRequest(gw.port, Buffer.concat([Buffer.from('GET /public/'), Buffer.from([0xc3, 0xa9]), Buffer.from(` HTTP/1.1\r\n${H}\r\n`)])));
    assert.equal(r.status, 400);
    assert.equal(header(r, 'content-type'), 'application/problem+json');
    assert.equal(up.received.length, 0);
  });
});

describe('paths: //host/x never changes the upstream host', () => {
  let up: Upstream;
  let other: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    other = await startUpstream('other');
    gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: all, match: { path: /* }, service: a }
`);
  });
  after(async () => { await gw.close(); await up.close(); await other.close(); });
  beforeEach(() => { up.received.length = 0; other.received.length = 0; });

  for (const [target, expected] of [
    ['//evil.com/x', '/evil.com/x'],
    ['//evil.com/x?y=1', '/evil.com/x?y=1'],
    [`//127.0.0.1:PORT/x`, '/127.0.0.1:PORT/x'],
    ['/..//evil.com/x', '/evil.com/x'],
    ['/.//evil.com/x', '/evil.com/x'],
  ] as const) {
    test(`GET ${target} goes to the configured upstream as ${expected}`, async () => {
      const t = target.replace('PORT', String(other.port));
      const r = await send(gw.port, 'GET', t);
      assert.equal(r.status, 200);
      assert.equal(other.received.length, 0);
      assert.equal(up.received.length, 1);
      assert.equal(up.received[0]!.url, expected.replace('PORT', String(other.port)));
      assert.equal(up.received[0]!.headers.host, `127.0.0.1:${up.port}`);
    });
  }
});
