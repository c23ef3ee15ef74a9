/**
 * Function backends through the real gateway: a handler written for AWS Lambda (API Gateway HTTP API,
 * payload 2.0) runs unchanged; the event carries the request as API Gateway would send it (credentials
 * removed, consumer added); a function that throws, hangs, exhausts its memory or returns garbage is answered
 * 502 / 504 without its error text while other requests go on succeeding; an edited function takes effect
 * with a reload and the old generation's threads end.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest } from 'undici';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { FUNCTION_ERRORS, FunctionBackend } from '../src/backends/function/backend.js';

/** Compiled to dist/test/, so the fixtures are two folders up. */
const F = fileURLToPath(new URL('../../test/fixtures/functions/', import.meta.url));
const KEY = 'function-test-key-0123456789';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** Statuses of a function's failures (their codes are FUNCTION_ERRORS). */
const ERRORS = { failed: 502, timeout: 504, busy: 503 };

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('function backend', () => {
  let gw: TestGateway;
  before(async () => {
    process.env.GATEHOUSE_TEST_SECRET = 'the gateway keeps this';
    gw = await startTestGateway(`${LISTEN}
consumers:
  acme: { keys: ["sha256:${sha(KEY)}"] }
auth:
  key: { apiKey: { format: any, header: x-api-key } }
routes:
  - { name: hello, match: { path: /hello }, function: ${F}hello.mjs }
  - { name: callback, match: { path: /cb/*, methods: [POST] }, function: ${F}callback.cjs }
  - name: echo
    match: { path: /echo/:id }
    function: { file: ${F}echo.mjs, env: { GREETING: hi } }
  - { name: files, match: { path: /files/* }, function: ${F}echo.mjs }
  - { name: private, match: { path: /private }, auth: [key], function: ${F}echo.mjs }
  - { name: throws, match: { path: /throws }, function: ${F}throws.mjs }
  - { name: hangs, match: { path: /hangs }, function: { file: ${F}hangs.mjs, timeout: 300ms, workers: 1, maxQueue: 0 } }
  - { name: hog, match: { path: /hog }, function: { file: ${F}hog.mjs, memory: 32mb, workers: 1, timeout: 10s } }
  - { name: garbage, match: { path: /garbage }, function: { file: ${F}garbage.mjs, maxResponse: 1kb, workers: 1 } }
  - { name: binary, match: { path: /binary }, function: ${F}binary.mjs }
`);
  });
  after(async () => { await gw.close(); delete process.env.GATEHOUSE_TEST_SECRET; });

  test('a handler written for AWS Lambda runs unchanged', async () => {
    const r = await request(`${gw.url}/hello`);
    assert.equal(r.status, 200);
    assert.equal(r.body, '"Hello from Lambda!"');
    assert.match(header(r, 'x-request-id'), /.+/);
    await waitFor('the access line', () => gw.access.some((l) => l.route === 'hello'));
    const line = gw.access.find((l) => l.route === 'hello')!;
    assert.equal(line.target, 'function:hello.mjs');
    assert.equal(typeof line.upstreamMs, 'number');
  });

  test('a CommonJS callback handler: status, headers, cookies', async () => {
    const r = await request(`${gw.url}/cb/orders`, { method: 'POST', body: 'x' });
    assert.equal(r.status, 201);
    assert.equal(r.body, 'created by callback for POST /cb/orders');
    assert.equal(header(r, 'content-type'), 'text/plain; charset=utf-8');
    assert.equal(header(r, 'x-function'), 'callback');
    assert.equal(header(r, 'x-count'), '3');
    assert.deepEqual(r.headers['set-cookie'], ['session=abc; Path=/; HttpOnly', 'theme=dark']);
  });

  test('the event carries the request as API Gateway sends it, the context as Lambda does', async () => {
    const r = await request(`${gw.url}/echo/42?a=1&a=2&q=x%20y`, { headers: { cookie: 's=1; t=2', 'x-custom': 'yes', 'user-agent': 'tester/1' } });
    assert.equal(r.status, 200);
    assert.equal(header(r, 'content-type'), 'application/json', 'a result without statusCode is sent as JSON');
    const { event: e, context: c, env } = r.json;
    const id = header(r, 'x-request-id');
    assert.equal(e.version, '2.0');
    assert.equal(e.routeKey, 'ANY /echo/{id}');
    assert.equal(e.rawPath, '/echo/42');
    assert.equal(e.rawQueryString, 'a=1&a=2&q=x%20y');
    assert.deepEqual(e.queryStringParameters, { a: '1,2', q: 'x y' });
    assert.deepEqual(e.pathParameters, { id: '42' });
    assert.deepEqual(e.cookies, ['s=1', 't=2']);
    assert.equal(e.headers.cookie, undefined);
    assert.equal(e.headers['x-custom'], 'yes');
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.match(e.headers.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(e.isBase64Encoded, false);
    assert.equal(e.body, undefined);
    const rc = e.requestContext;
    assert.deepEqual(rc.http, { method: 'GET', path: '/echo/42', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'tester/1' });
    assert.equal(rc.requestId, id);
    assert.equal(rc.stage, '$default');
    assert.equal(rc.domainName, '127.0.0.1');
    assert.match(rc.time, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    assert.ok(Math.abs(rc.timeEpoch - Date.now()) < 60_000);
    assert.equal(c.functionName, 'echo');
    assert.equal(c.functionVersion, '$LATEST');
    assert.equal(c.awsRequestId, id);
    assert.equal(c.memoryLimitInMB, '128');
    assert.equal(c.logGroupName, '/aws/lambda/echo');
    assert.ok(c.remaining > 0 && c.remaining <= 3000, `remaining ${c.remaining}`);
    assert.deepEqual(env, { GREETING: 'hi', SECRET: null, name: 'echo' }, 'the gateway\'s own environment stays with it');
    await waitFor('the function\'s console line', () => gw.logs.some((l) => l.event === 'function_log' && l.requestId === id));
    assert.equal(gw.logs.find((l) => l.event === 'function_log' && l.requestId === id && l.stream === 'stdout')!.msg, `echo invoked for ${id}`);
  });

  test('bodies: text as text, bytes as base64', async () => {
    const json = await request(`${gw.url}/echo/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":"é"}' });
    assert.deepEqual([json.json.event.body, json.json.event.isBase64Encoded], ['{"a":"é"}', false]);
    const bytes = Buffer.from([0xff, 0x00, 0x10, 0x80]);
    const bin = await request(`${gw.url}/echo/1`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    assert.deepEqual([bin.json.event.body, bin.json.event.isBase64Encoded], [bytes.toString('base64'), true]);
    const res = await undiciRequest(`${gw.url}/binary`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual([...Buffer.from(await res.body.arrayBuffer())], [0, 1, 2, 253, 254, 255]);
  });

  test('a prefix route passes the rest of the path as `proxy`', async () => {
    const r = await request(`${gw.url}/files/a/b%20c.txt`);
    assert.equal(r.json.event.routeKey, 'ANY /files/{proxy+}');
    assert.deepEqual(r.json.event.pathParameters, { proxy: 'a/b c.txt' });
  });

  test('the function sees what a service would: credentials removed, the consumer added', async () => {
    assert.equal((await request(`${gw.url}/private`)).status, 401);
    const r = await request(`${gw.url}/private`, { headers: { 'x-api-key': KEY, 'x-consumer-id': 'forged' } });
    assert.equal(r.status, 200);
    const e = r.json.event;
    assert.equal(e.headers['x-api-key'], undefined);
    assert.equal(e.headers['x-consumer-id'], 'acme');
    assert.equal(e.requestContext.authorizer.lambda.consumer, 'acme');
  });

  test('a function that throws: 502 without its error text, which is logged with the request id', async () => {
    for (const url of [`${gw.url}/throws`, `${gw.url}/throws?sync=1`]) {
      const r = await request(url);
      assertProblem(r, ERRORS.failed, FUNCTION_ERRORS.failed);
      assert.ok(!/hunter2|db:\/\/|SyntaxError|JSON/.test(r.body), r.body);
      const id = header(r, 'x-request-id');
      await waitFor('the failure log', () => gw.logs.some((l) => l.event === 'function_failed' && l.requestId === id));
      assert.match(String(gw.logs.find((l) => l.event === 'function_failed' && l.requestId === id)!.err), /hunter2|JSON/);
    }
    assert.equal((await request(`${gw.url}/hello`)).status, 200);
  });

  test('a hanging function: 504 at its timeout while other requests succeed; its worker is replaced', async () => {
    assert.equal((await request(`${gw.url}/hangs`)).body, 'awake');
    const t0 = performance.now();
    const id = 'hang-1';
    const hung = request(`${gw.url}/hangs?hang=1`, { headers: { 'x-request-id': id } }).then((r) => ({ r, ms: performance.now() - t0 }));
    await waitFor('the function to spin', () => gw.logs.some((l) => l.event === 'function_log' && l.msg === `spinning for ${id}`));
    // Its only worker spins and the queue holds nobody (maxQueue: 0): the next request is refused at once.
    const busy = await request(`${gw.url}/hangs`);
    assertProblem(busy, ERRORS.busy, FUNCTION_ERRORS.busy);
    assert.equal(header(busy, 'retry-after'), '1');
    let answeredMeanwhile = 0;
    for (let i = 0; i < 3; i++) {
      const ok = await request(`${gw.url}/hello`);
      assert.equal(ok.status, 200);
      if (performance.now() - t0 < 300) answeredMeanwhile++;
    }
    assert.ok(answeredMeanwhile > 0, 'other routes answered while the function hung');
    const { r, ms } = await hung;
    assertProblem(r, ERRORS.timeout, FUNCTION_ERRORS.timeout);
    assert.ok(ms >= 290 && ms < 2000, `answered after ${ms}ms`);
    assert.equal((await request(`${gw.url}/hangs`)).body, 'awake', 'a new worker serves the next request');
  });

  test('a memory-hungry function: 502, the gateway serves on, and the next call runs on a new worker', async () => {
    const hog = request(`${gw.url}/hog?eat=1`);
    assert.equal((await request(`${gw.url}/hello`)).status, 200);
    const r = await hog;
    assertProblem(r, ERRORS.failed, FUNCTION_ERRORS.failed);
    assert.ok(!r.body.includes('memory'), r.body);
    const next = await request(`${gw.url}/hog`);
    assert.equal(next.status, 200);
    assert.equal(next.body, 'fine');
  });

  test('results that are no response: 502; a body past maxResponse: 502 too large', async () => {
    for (const kind of ['status', 'range', 'body', 'header', 'crlf', 'function', 'cycle', 'exit']) {
      const r = await request(`${gw.url}/garbage?kind=${kind}`);
      assertProblem(r, ERRORS.failed, FUNCTION_ERRORS.failed);
      assert.equal(r.headers['set-cookie'], undefined, kind);
    }
    assertProblem(await request(`${gw.url}/garbage?kind=big`), 502, FUNCTION_ERRORS.tooLarge);
    assert.equal((await request(`${gw.url}/garbage`)).body, 'fine');
  });
});

describe('function backend and config', () => {
  test('an edited function takes effect with a reload; the old generation\'s threads end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-fn-'));
    const fn = join(dir, 'fn.mjs');
    writeFileSync(fn, 'export const handler = async () => ({ statusCode: 200, body: "v1" });\n');
    const config = (file: string): string => `${LISTEN}\nroutes:\n  - { name: fn, match: { path: /fn }, function: ${file} }\n`;
    const gw = await startTestGateway(config(fn));
    try {
      assert.equal((await request(`${gw.url}/fn`)).body, 'v1');
      const old = gw.gateway.runtime.routes[0]!.backend as FunctionBackend;
      assert.ok(old.pool.threads >= 1);
      writeFileSync(fn, 'export const handler = async () => ({ statusCode: 200, body: "v2" });\n');
      assert.equal(await gw.reload(), true);
      assert.equal((await request(`${gw.url}/fn`)).body, 'v2', 'the new generation imported the edited file');
      await waitFor('the old generation\'s workers to end', () => old.pool.threads === 0);
      // A reload naming a file that is not there is refused; the running function keeps serving.
      gw.writeConfig(config(join(dir, 'missing.mjs')));
      assert.equal(await gw.reload(), false);
      assert.ok(gw.logs.some((l) => l.event === 'reload_refused' && JSON.stringify(l.problems).includes('file not found')));
      assert.equal((await request(`${gw.url}/fn`)).body, 'v2');
    } finally { await gw.close(); rmSync(dir, { recursive: true, force: true }); }
  });

  test('a missing or non-JavaScript file is refused when the config loads', async () => {
    await assert.rejects(startTestGateway(`${LISTEN}\nroutes:\n  - { name: fn, match: { path: /fn }, function: ./nope.mjs }\n`),
      /routes\[0\]\.function: file not found: \.\/nope\.mjs \(relative to the config file\)/);
    await assert.rejects(startTestGateway(`${LISTEN}\nroutes:\n  - { name: fn, match: { path: /fn }, function: { file: ${F}hello.ts, timeout: 0s } }\n`),
      (err: Error) => /routes\[0\]\.function\.file: must be a JavaScript module/.test(err.message) && /routes\[0\]\.function\.timeout: must be more than 0/.test(err.message));
  });
});
