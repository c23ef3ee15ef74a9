/**
 * `request-rules` through the real gateway and a recording upstream: each rule kind refuses with its status
 * and code and nothing reaches the upstream; hostile signatures in plain and encoded forms (raw request lines
 * too) are refused before authentication; ordinary requests of every shape pass untouched; a refusal never
 * echoes the input, in the answer or in the logs; a long adversarial query is answered at once.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, exchange, header, LISTEN } from './helpers/raw.js';

const CONFIG = (upUrl: string): string => `${LISTEN}
services:
  a: { targets: ['${upUrl}'], retries: 0 }
auth:
  api-key:
    apiKey: { header: x-api-key }
routes:
  - name: methods
    match: { path: /methods/* }
    service: a
    request-rules: { methods: [GET, POST] }
  - name: headers
    match: { path: /headers/* }
    service: a
    request-rules:
      requireHeaders: [x-tenant]
      denyHeaders: { x-debug: "*", x-env: staging }
  - name: agents
    match: { path: /agents/* }
    service: a
    request-rules: { denyUserAgents: [sqlmap, nikto, python-requests, masscan] }
  - name: guarded
    match: { path: /guarded/* }
    service: a
    request-rules:
      block: [path-traversal, sql-injection, script-injection]
      inspectHeaders: [referer, x-search]
  - name: guarded-keyed
    match: { path: /keyed/* }
    service: a
    auth: [api-key]
    request-rules: { block: [sql-injection] }
`;

describe('request rules', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('a');
    gw = await startTestGateway(CONFIG(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): ReturnType<typeof request> =>
    request(`${gw.url}${path}`, { method, headers: { 'user-agent': 'Mozilla/5.0', ...headers } });

  describe('methods', () => {
    test('a method off the list is 405 with Allow; listed ones pass', async () => {
      for (const m of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const r = await get('/methods/x', {}, m);
        assertProblem(r, 405, 'GH_METHOD_NOT_ALLOWED');
        assert.equal(header(r, 'allow'), 'GET, HEAD, POST');
      }
      assert.equal(up.received.length, 0);
      for (const m of ['GET', 'HEAD', 'POST']) assert.equal((await get('/methods/x', {}, m)).status, 200, m);
      assert.equal(up.received.length, 3);
    });

    test('TRACE is refused too, before anything is forwarded', async () => {
      const [r] = await exchange(gw.port, 'TRACE /methods/x HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: t\r\n\r\n');
      assert.equal(r!.status, 405);
      assert.equal(up.received.length, 0);
    });
  });

  describe('headers', () => {
    test('a missing required header is refused, naming the header', async () => {
      const r = await get('/headers/x');
      assertProblem(r, 403, 'GH_REQUEST_BLOCKED');
      assert.equal(r.json.detail, 'the header x-tenant is required');
      assert.equal(up.received.length, 0);
    });

    test('a denied header is refused when present, or with the denied value', async () => {
      assertProblem(await get('/headers/x', { 'x-tenant': 'acme', 'x-debug': '1' }), 403, 'GH_REQUEST_BLOCKED');
      assertProblem(await get('/headers/x', { 'x-tenant': 'acme', 'x-env': 'STAGING' }), 403, 'GH_REQUEST_BLOCKED');
      assert.equal(up.received.length, 0);
      assert.equal((await get('/headers/x', { 'x-tenant': 'acme', 'x-env': 'production' })).status, 200);
      assert.equal(up.received[0]!.headers['x-tenant'], 'acme');
    });

    test('a denied value hidden in a repeated header is still found', async () => {
      const [r] = await exchange(gw.port, 'GET /headers/x HTTP/1.1\r\nHost: gw.test\r\nX-Tenant: acme\r\nX-Env: production\r\nX-Env: staging\r\n\r\n');
      assert.equal(r!.status, 403);
      assert.equal(r!.json.code, 'GH_REQUEST_BLOCKED');
      assert.equal(up.received.length, 0);
    });
  });

  describe('user agents', () => {
    test('listed tools are refused whatever the case; the agent is not echoed', async () => {
      for (const ua of ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)', 'python-requests/2.31.0', 'MASSCAN/1.3']) {
        const r = await get('/agents/x', { 'user-agent': ua });
        assertProblem(r, 403, 'GH_REQUEST_BLOCKED');
        assert.equal(r.json.detail, 'the user agent is not allowed');
        assert.ok(!r.body.includes(ua));
      }
      assert.equal(up.received.length, 0);
    });

    test('browsers and common clients pass (no default list: axios and Go clients are not bots)', async () => {
      for (const ua of ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
        'curl/8.5.0', 'axios/1.7.2', 'Go-http-client/1.1', 'okhttp/4.12.0', 'python-httpx/0.27.0']) {
        assert.equal((await get('/agents/x', { 'user-agent': ua })).status, 200, ua);
      }
      assert.equal(up.received.length, 6);
    });
  });

  describe('hostile signatures', () => {
    const ATTACKS: [string, string][] = [
      ['/guarded/files?name=../../etc/passwd', 'path-traversal signature in the query'],
      ['/guarded/files?name=..%2f..%2fetc%2fpasswd', 'path-traversal signature in the query'],
      ['/guarded/files?name=%2e%2e%2f%2e%2e%2fboot.ini', 'path-traversal signature in the query'],
      ['/guarded/files?name=%252e%252e%252fsecret', 'path-traversal signature in the query'],
      ['/guarded/files?name=x%00.png', 'path-traversal signature in the query'],
      ['/guarded/%252e%252e/admin', 'path-traversal signature in the path'],
      ['/guarded/files?name=..;/admin', 'path-traversal signature in the query'],
      ["/guarded/users?id=1'%20OR%20'1'='1", 'sql-injection signature in the query'],
      ['/guarded/users?id=1%20union%20all%20select%20password%20from%20users', 'sql-injection signature in the query'],
      ['/guarded/users?id=1/**/UNION/**/SELECT/**/1', 'sql-injection signature in the query'],
      ["/guarded/users?name=admin'--", 'sql-injection signature in the query'],
      ['/guarded/users?id=1;drop%20table%20users', 'sql-injection signature in the query'],
      ['/guarded/users?id=1%20and%20sleep(5)', 'sql-injection signature in the query'],
      ['/guarded/users/1%27%20or%201=1--', 'sql-injection signature in the path'],
      ['/guarded/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'script-injection signature in the query'],
      ['/guarded/search?q=%3Cimg%20src=x%20onerror=alert(1)%3E', 'script-injection signature in the query'],
      ['/guarded/go?to=javascript:alert(document.domain)', 'script-injection signature in the query'],
      ['/guarded/go?to=java%09script:alert(1)', 'script-injection signature in the query'],
      ['/guarded/search?q=%3Ciframe%20src=//evil%3E', 'script-injection signature in the query'],
    ];
    for (const [path, detail] of ATTACKS) {
      test(`refused: ${path}`, async () => {
        const [r] = await exchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: t\r\n\r\n`);
        assert.ok(r !== undefined, 'an answer');
        assert.equal(r.status, 403, r.body);
        assert.equal(header(r, 'content-type'), 'application/problem+json');
        assert.equal(r.json.code, 'GH_REQUEST_BLOCKED');
        assert.equal(r.json.detail, detail);
        assert.equal(up.received.length, 0);
      });
    }

    test('inspected headers are checked; others are not', async () => {
      const r = await get('/guarded/x', { referer: 'https://shop.test/?q=<script>alert(1)</script>' });
      assertProblem(r, 403, 'GH_REQUEST_BLOCKED');
      assert.equal(r.json.detail, 'script-injection signature in the header referer');
      assertProblem(await get('/guarded/x', { 'x-search': "' or 1=1 --" }), 403, 'GH_REQUEST_BLOCKED');
      assert.equal(up.received.length, 0);
      assert.equal((await get('/guarded/x', { 'x-other': '<script>' })).status, 200);
    });

    test('a refused request costs no credential check: 403, not 401', async () => {
      const r = await get('/keyed/users?id=1%20union%20select%201', { 'x-api-key': 'gh_whatever' });
      assertProblem(r, 403, 'GH_REQUEST_BLOCKED');
      assert.equal(up.received.length, 0);
    });

    test('the refusal is logged with the rule and where, never with the input', async () => {
      const marker = 'zq9marker';
      await get(`/guarded/users?id=1'%20or%201=1--${marker}`);
      const line = gw.logs.find((l) => l.event === 'request_blocked' && l.rule === 'sql-injection');
      assert.ok(line, 'a request_blocked line');
      assert.equal(line.where, 'query');
      assert.equal(line.route, 'guarded');
      assert.ok(!JSON.stringify(gw.logs).includes(marker));
    });

    test('Tomcat\'s /..;/ in the path never gets this far: path normalization refuses it', async () => {
      const [r] = await exchange(gw.port, 'GET /guarded/static/..;/admin HTTP/1.1\r\nHost: gw.test\r\n\r\n');
      assert.equal(r!.status, 400);
      assert.equal(r!.json.code, 'GH_BAD_PATH');
      assert.equal(up.received.length, 0);
    });

    test('a long adversarial query is answered at once', async () => {
      const query = `q=${"'a=%2e/*on<'or--;&".repeat(350)}`; // about 7 KB, under the URL limit
      const start = performance.now();
      const [r] = await exchange(gw.port, `GET /guarded/x?${query} HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: t\r\n\r\n`);
      assert.ok(performance.now() - start < 500);
      assert.ok(r !== undefined && (r.status === 200 || r.status === 403), String(r?.status));
    });

    const ORDINARY = [
      '/guarded/', '/guarded/v1/users/42', '/guarded/v1/users/42/orders?page=2&per_page=50', '/guarded/search?q=rock+and+roll',
      "/guarded/search?q=rock+'n'+roll", '/guarded/search?q=black+or+white', '/guarded/people?name=O%27Brien', '/guarded/items?sort=-created_at',
      '/guarded/items?filter=name%3Dbob', '/guarded/search?q=select+a+plan', '/guarded/search?q=union+station', '/guarded/search?q=reunion+selection',
      '/guarded/signup?email=a%40b.com', '/guarded/report?from=2024-01-01&to=2024-12-31', '/guarded/range?r=1..10', '/guarded/files/report-2024.pdf',
      '/guarded/search?q=how+much+sleep+(8+hours)', '/guarded/search?q=drop+table+tennis', '/guarded/login?next=%2Faccount%2Fsettings',
      '/guarded/theme?color=%23ff0000', '/guarded/discount?v=100%25', '/guarded/search?q=script+writing', '/guarded/status?online=yes',
      '/guarded/calc?expr=1%3D1', '/guarded/search?q=javascript+tutorial', '/guarded/tags?t=a,b,c', '/guarded/jsonp?callback=jQuery123_456',
      '/guarded/search?q=the+...+ellipsis', '/guarded/prefs?lang=en-US&tz=Europe%2FParis', '/guarded/blog/2024/05/how-to-sleep-better',
      '/guarded/unions/select-committee', '/guarded/wiki/Robert%27);_Drop_Tables', '/guarded/search?q=%E2%82%AC+price', '/guarded/a.b.c/d..e',
      '/guarded/search?q=it%27s+--+fine', '/guarded/search?q=%7B%22a%22%3A%22b%22%7D', '/guarded/online/status', '/guarded/on/error',
    ];
    test('ordinary requests of every shape pass untouched', async () => {
      for (const path of ORDINARY) {
        const [r] = await exchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: Mozilla/5.0\r\nReferer: https://www.example.com/search?q=union+station\r\n\r\n`);
        assert.equal(r?.status, 200, `${path}: ${r?.body}`);
      }
      assert.equal(up.received.length, ORDINARY.length);
      assert.deepEqual(up.received.map((x) => x.url), ORDINARY.map((p) => p.replace(/^\/guarded\/a\.b\.c\/d\.\.e$/, '/guarded/a.b.c/d..e')));
    });
  });
});
