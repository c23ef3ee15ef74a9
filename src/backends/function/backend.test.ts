/**
 * The `function:` backend built from YAML through the real loader and compiler: its settings and defaults,
 * the config errors with their exact messages, and requests run on an in-memory exchange (no listener):
 * the answer is written through the route's response path, refusals are problem documents.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import { Exchange } from '../../core/exchange.js';
import type { Runtime } from '../../core/runtime.js';
import { FunctionBackend, FUNCTION_ERRORS } from './backend.js';
import { functionSettings } from './schema.js';

/** Compiled to dist/src/backends/function/, so the fixtures are four folders up. */
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/functions/', import.meta.url));
const CONFIG = join(FIXTURES, 'gatehouse.yaml');

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function compileRoute(fn: string, path = '/r'): Runtime {
  const rt = compile(loadConfigText(`routes:\n  - name: r\n    match: { path: ${path} }\n    function: ${fn}\n`, CONFIG, {}), silentLogger());
  runtimes.push(rt);
  return rt;
}

function problems(fn: string): string[] {
  try {
    compileRoute(fn);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  return [];
}

interface Answer { status: number; headers: Record<string, string>; body: string }

/** Runs one request through the route's backend on an in-memory exchange. */
async function call(rt: Runtime, url: string, method = 'GET'): Promise<Answer> {
  const out: Answer = { status: 0, headers: {}, body: '' };
  const req = { method, httpVersion: '1.1', headers: { host: 'gw.test' }, complete: true };
  const res = {
    headersSent: false, destroyed: false, shouldKeepAlive: true, req,
    writeHead(s: number, h: string[]) { out.status = s; this.headersSent = true; for (let i = 0; i < h.length; i += 2) out.headers[h[i]!] = h[i + 1]!; },
    end(b?: string | Buffer) { if (b !== undefined) out.body = b.toString(); },
  };
  const ex = new Exchange(req as unknown as IncomingMessage, res as unknown as ServerResponse, rt, 'req-1', '192.0.2.1', performance.now());
  const q = url.indexOf('?');
  ex.path = ex.upstreamPath = q === -1 ? url : url.slice(0, q);
  ex.query = q === -1 ? '' : url.slice(q + 1);
  ex.route = rt.routes[0]!;
  ex.params = {};
  ex.upstreamHeaders = ['x-forwarded-host', 'gw.test'];
  await rt.routes[0]!.backend.handle(ex);
  return out;
}

describe('function settings', () => {
  test('the short form takes every default', () => {
    assert.deepEqual(functionSettings('./hello.mjs', '/srv'), {
      file: '/srv/hello.mjs', handler: 'handler', timeoutMs: 3000, memoryMb: 128, workers: 2, maxQueue: 100, maxResponse: 6 * 1024 * 1024, env: {},
    });
  });
  test('the long form, through the loader (defaults filled in by the schema)', () => {
    const rt = compileRoute('{ file: ./echo.mjs, handler: main, timeout: 500ms, memory: 64mb, workers: 3, maxQueue: 0, maxResponse: 1kb, env: { A: b } }');
    const b = rt.routes[0]!.backend as FunctionBackend;
    assert.deepEqual(b.settings, { file: join(FIXTURES, 'echo.mjs'), handler: 'main', timeoutMs: 500, memoryMb: 64, workers: 3, maxQueue: 0, maxResponse: 1024, env: { A: 'b' } });
    assert.equal(b.target, 'function:echo.mjs');
    assert.equal(b.pool.threads, 0, 'no thread until the first request');
  });
});

describe('function config errors', () => {
  test('missing files, other languages, and bounds the schema cannot say', () => {
    assert.deepEqual(problems('./missing.mjs'), ['routes[0].function: file not found: ./missing.mjs (relative to the config file) (gatehouse.yaml:4)']);
    assert.deepEqual(problems('{ file: ./handler.ts }'), ['routes[0].function.file: must be a JavaScript module (.mjs, .cjs or .js): ./handler.ts (gatehouse.yaml:4)']);
    assert.deepEqual(problems('{ file: ./hello.mjs, timeout: 16m, memory: 8mb, maxResponse: 65mb, env: { 9x: y } }'), [
      'routes[0].function.timeout: must be more than 0 and at most 15m (gatehouse.yaml:4)',
      'routes[0].function.memory: must be at least 16mb and at most 8gb (gatehouse.yaml:4)',
      'routes[0].function.env.9x: is not a valid environment variable name (letters, digits and _; not a digit first) (gatehouse.yaml:4)',
      'routes[0].function.maxResponse: must be more than 0 and at most 64mb (gatehouse.yaml:4)',
    ]);
  });
  test('schema errors name the key', () => {
    assert.deepEqual(problems('42'), ['routes[0].function: must be the path of a module, or a mapping with `file` and settings (gatehouse.yaml:4)']);
    assert.deepEqual(problems('{ file: ./hello.mjs, timout: 1s }'), ['routes[0].function: unknown key "timout" (did you mean "timeout"?) (gatehouse.yaml:4)']);
    assert.deepEqual(problems('{ file: ./hello.mjs, handler: a.b }'), ['routes[0].function.handler: must be the name of an export (letters, digits, _ and $) (gatehouse.yaml:4)']);
    assert.deepEqual(problems('{ timeout: 1s }'), ['routes[0].function.file: is required (gatehouse.yaml:4)']);
  });
});

describe('FunctionBackend on an in-memory exchange', () => {
  test('answers through the route\'s response path', async () => {
    const rt = compileRoute('{ file: ./echo.mjs, env: { GREETING: hey } }', '/users/:id');
    const a = await call(rt, '/users/7?x=1');
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/json');
    assert.equal(a.headers['x-request-id'], 'req-1');
    assert.equal(a.headers['content-length'], String(Buffer.byteLength(a.body)));
    const { event, context, env } = JSON.parse(a.body) as Record<string, Record<string, unknown>>;
    assert.equal(event!.routeKey, 'ANY /users/{id}');
    assert.deepEqual(event!.queryStringParameters, { x: '1' });
    assert.equal((event!.requestContext as Record<string, Record<string, unknown>>).http!.sourceIp, '192.0.2.1');
    assert.equal(context!.awsRequestId, 'req-1');
    assert.equal(env!.GREETING, 'hey');
  });

  test('a function that cannot start is answered 502 at once, without detail', async () => {
    const rt = compileRoute('./no-export.mjs');
    const a = await call(rt, '/r');
    assert.equal(a.status, 502);
    const doc = JSON.parse(a.body) as Record<string, unknown>;
    assert.equal(doc.code, FUNCTION_ERRORS.failed);
    assert.equal(doc.detail, undefined);
    assert.ok(!a.body.includes('export'));
  });
});
