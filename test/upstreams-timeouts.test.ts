/**
 * Upstream timeouts and connection errors through the real gateway: a real connect timeout on loopback
 * (a listener whose accept queue is full drops SYNs, so the connect hangs), the response-headers timeout,
 * the idle-body timeout that cuts a response already started, and connection refused. Every error body is
 * a problem document with no upstream address and no library text in it.
 *
 * undici runs all three timeouts on its coarse shared timer, which ticks about every 500 ms: a 300 ms
 * timeout fires after 300 ms at the earliest and roughly 1 s at the latest. The bounds below say so, with
 * room for a loaded machine on the late side.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { ServerResponse } from 'node:http';
import { request as undiciRequest } from 'undici';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { assertNoLeak, assertProblem, client, send } from './upstreams-support.js';

/** The timeout configured in every test below, in ms. */
const TIMEOUT = 300;
/** undici's coarse timer tick (lib/util/timers.js: TICK_MS = RESOLUTION_MS / 2 - 1), in ms. */
const UNDICI_TICK = 499;
/**
 * Earliest and latest acceptable answer for a 300 ms timeout, in ms (see the file comment). A coarse timer
 * fires on the second tick after it is set, so at most 2 ticks after TIMEOUT on an idle machine (~1.1 s);
 * LATEST adds 2 s for a loaded one (timer ticks run late when the event loop is starved). That is still far
 * below the defaults (connect 5 s, response 15 s, idle 30 s), so an answer in time shows the configured
 * timeout fired, not a default.
 */
const EARLIEST = TIMEOUT - 10;
const LATEST = TIMEOUT + 2 * UNDICI_TICK + 2000;

/**
 * A TCP listener on 127.0.0.1 that never accepts: it listens in a worker thread that then blocks, with a
 * backlog of 1. Once its accept queue is full (filled here), the kernel drops further SYNs, so a new
 * connection neither succeeds nor is refused: a real connect timeout, on loopback.
 */
interface BlackHole { port: number; close(): Promise<void> }

const BLACK_HOLE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const stop = new Int32Array(workerData);
const server = net.createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // Never return to the event loop until told to stop: nothing is ever accepted.
  while (Atomics.load(stop, 0) === 0) Atomics.wait(stop, 0, 0, 50);
  server.close();
});
`;

async function startBlackHole(): Promise<BlackHole> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(BLACK_HOLE_WORKER, { eval: true, workerData: stop });
  const port = await new Promise<number>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  const fillers: Socket[] = [];
  // Connect until one connection hangs: from then on the queue is full and SYNs are dropped.
  for (let i = 0; i < 16; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => { /* closed at the end */ });
    fillers.push(s);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      s.once('connect', () => { clearTimeout(timer); resolve(true); });
    });
    if (!connected) break;
    if (i === 15) throw new Error('the black hole accepted 16 connections: the kernel did not drop SYNs');
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(stop), 0);
      await worker.terminate();
    },
  };
}

describe('timeouts', () => {
  let ok: Upstream;
  let hole: BlackHole;
  before(async () => {
    ok = await startUpstream('ok');
    hole = await startBlackHole();
  });
  after(async () => {
    await ok.close();
    await hole.close();
  });

  test('connect timeout → 504 GH_UPSTREAM_TIMEOUT after ~the configured time; a GET is retried on another target', { timeout: 20_000 }, async (t) => {
    const gw = await startTestGateway(`
services:
  alone: { targets: ["http://127.0.0.1:${hole.port}"], retries: 0, timeouts: { connect: ${TIMEOUT}ms } }
  pair:
    targets: ["http://127.0.0.1:${hole.port}", "${ok.url}"]
    timeouts: { connect: ${TIMEOUT}ms }
routes:
  - { name: alone, match: { path: /alone }, service: alone }
  - { name: pair, match: { path: /pair }, service: pair }
`);
    const pool = client(gw, 4);
    try {
      const t0 = performance.now();
      const r = await send(pool, '/alone');
      const ms = performance.now() - t0;
      assertProblem(r, 504, 'GH_UPSTREAM_TIMEOUT', [hole]);
      t.diagnostic(`connect timeout 300 ms: 504 after ${ms.toFixed(0)} ms`);
      assert.ok(ms >= EARLIEST && ms < LATEST, `answered after ${ms.toFixed(0)} ms; connect timeout is 300 ms`);

      // Round-robin: the first attempt goes to the black hole, times out, and is retried on `ok`.
      const t1 = performance.now();
      const r2 = await send(pool, '/pair');
      const ms2 = performance.now() - t1;
      assert.equal(r2.status, 200);
      t.diagnostic(`connect timeout then retry: 200 after ${ms2.toFixed(0)} ms`);
      assert.ok(ms2 >= EARLIEST && ms2 < LATEST, `retried answer after ${ms2.toFixed(0)} ms`);
    } finally {
      await pool.close();
      await gw.close();
    }
  });

  test('response (headers) timeout → 504 GH_UPSTREAM_TIMEOUT within ~the configured time, not retried', { timeout: 20_000 }, async (t) => {
    const held: ServerResponse[] = [];
    const slow = await startUpstream('slow', (_req, res) => { held.push(res); });
    const gw = await startTestGateway(`
services:
  s: { targets: ["${slow.url}"], timeouts: { response: ${TIMEOUT}ms } }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      const t0 = performance.now();
      const r = await send(pool, '/x');
      const ms = performance.now() - t0;
      assertProblem(r, 504, 'GH_UPSTREAM_TIMEOUT', [slow]);
      t.diagnostic(`response timeout 300 ms: 504 after ${ms.toFixed(0)} ms`);
      assert.ok(ms >= EARLIEST && ms < LATEST, `answered after ${ms.toFixed(0)} ms; response timeout is 300 ms`);
      // The upstream saw the request and may be working on it: a timeout is not retried, even for a GET.
      assert.equal(slow.received.length, 1);
    } finally {
      for (const res of held) res.destroy();
      await pool.close();
      await gw.close();
      await slow.close();
    }
  });

  test('idle body timeout → the response is cut: the client gets the start and then an error, not a complete body', { timeout: 20_000 }, async (t) => {
    const stalled: ServerResponse[] = [];
    const up = await startUpstream('stall', (req, res) => {
      if (req.url === '/chunked') res.writeHead(200, { 'content-type': 'text/plain' });
      else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.write('partial;');
      stalled.push(res); // never finished
    });
    const gw = await startTestGateway(`
services:
  s: { targets: ["${up.url}"], timeouts: { idle: ${TIMEOUT}ms } }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    try {
      for (const path of ['/length', '/chunked']) {
        const t0 = performance.now();
        const res = await undiciRequest(gw.url + path);
        assert.equal(res.statusCode, 200);
        let got = '';
        let failed: unknown = null;
        try {
          for await (const chunk of res.body) got += String(chunk);
        } catch (err) {
          failed = err;
        }
        const ms = performance.now() - t0;
        assert.equal(got, 'partial;', path);
        assert.ok(failed !== null, `${path}: the cut body must fail on the client, not look complete`);
        t.diagnostic(`idle timeout 300 ms, ${path}: cut after ${ms.toFixed(0)} ms`);
        assert.ok(ms >= EARLIEST && ms < LATEST, `${path}: cut after ${ms.toFixed(0)} ms; idle timeout is 300 ms`);
      }
    } finally {
      for (const res of stalled) res.destroy();
      await gw.close();
      await up.close();
    }
  });

  test('connection refused → 502 GH_UPSTREAM_UNAVAILABLE', { timeout: 10_000 }, async () => {
    const dead = await freePort();
    const gw = await startTestGateway(`
services:
  s: { targets: ["http://127.0.0.1:${dead}"] }
routes:
  - { name: r, match: { path: /* }, service: s }
`);
    const pool = client(gw, 2);
    try {
      const r = await send(pool, '/x');
      assertProblem(r, 502, 'GH_UPSTREAM_UNAVAILABLE', [{ port: dead }]);
      const doc = JSON.parse(r.body) as Record<string, unknown>;
      assert.deepEqual(Object.keys(doc).sort(), ['code', 'requestId', 'status', 'title', 'type']);
      assert.equal(r.headers['x-request-id'], doc.requestId);
      assertNoLeak(JSON.stringify(r.headers), [{ port: dead }]);
    } finally {
      await pool.close();
      await gw.close();
    }
  });
});
