/**
 * Streaming through the real gateway: a 50 MB upload (from a generator, never a 50 MB buffer) and a 50 MB
 * download arrive byte for byte, and the process's memory stays bounded while they pass; a client that
 * stops reading makes the upstream stop writing (backpressure) instead of the gateway buffering the rest.
 *
 * This process holds the client, the gateway and the upstream, and all three stream with fixed-size
 * buffers, so whatever extra memory is live during a transfer is socket buffers, stream high-water marks,
 * or a body being buffered. The sampler runs two full GCs before each sample (`--expose-gc`, switched on at
 * run time) so that garbage is not mistaken for buffering: V8 frees the memory of dead ArrayBuffers on a
 * background thread after a GC, and the next GC first waits for that to finish. With a single GC, samples
 * counted 3 to 19 MB of such dead buffers, varying from run to run; with two, streaming
 * peaked under 1 MB. Two measures are asserted:
 *
 * - live ArrayBuffer memory (`process.memoryUsage().arrayBuffers`, where every Buffer's bytes are counted):
 *   the precise one. A gateway holding a whole 50 MB body would show at least 50 MB. The bound is 30 MB.
 * - RSS growth, bounded by 40 MB: below the 50 MB a whole body would need. RSS alone cannot prove much,
 *   though: memory freed by earlier transfers stays in the allocator's arenas and is reused without RSS
 *   growing (holding the whole 50 MB download in the client grew RSS by only ~10 MB in a trial run), which
 *   is why the ArrayBuffer bound is the one that shows the body was never held whole.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { request as undiciRequest, Agent } from 'undici';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { waitFor } from './upstreams-support.js';

const MB = 1024 * 1024;
const SIZE = 50 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'g');
/** Largest acceptable RSS growth during a 50 MB transfer (see the file comment). */
const RSS_BOUND = 40 * MB;
/** Largest acceptable live ArrayBuffer memory during a 50 MB transfer (see the file comment). */
const LIVE_BOUND = 30 * MB;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** body yields `size` bytes in 64 KiB chunks, reusing one buffer: the client never holds the body. */
async function* body(size: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < size; sent += CHUNK.length) yield size - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, size - sent);
}

/** writeBody writes `size` bytes to `res` honouring backpressure, and reports how much it has written. */
function writeBody(res: ServerResponse, size: number, progress: { written: number }): void {
  const pump = (): void => {
    while (progress.written < size) {
      const n = Math.min(CHUNK.length, size - progress.written);
      progress.written += n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { res.once('drain', pump); return; }
    }
    res.end();
  };
  pump();
}

/** MemoryWatch samples RSS and live ArrayBuffer memory (after two full GCs) every 25 ms and keeps the peaks. */
class MemoryWatch {
  readonly baseline: number;
  peak: number;
  peakArrayBuffers: number;
  private readonly timer: NodeJS.Timeout;
  constructor() {
    gc();
    this.baseline = process.memoryUsage().rss;
    this.peak = this.baseline;
    this.peakArrayBuffers = 0;
    this.timer = setInterval(() => this.sample(), 25);
  }
  sample(): void {
    // The second GC waits for the first one's background freeing of dead ArrayBuffers (see the file comment).
    gc();
    gc();
    const m = process.memoryUsage();
    if (m.rss > this.peak) this.peak = m.rss;
    if (m.arrayBuffers > this.peakArrayBuffers) this.peakArrayBuffers = m.arrayBuffers;
  }
  /** end stops sampling. */
  end(): void {
    clearInterval(this.timer);
    this.sample();
  }
  /** stop ends sampling and checks both bounds. */
  stop(what: string): void {
    this.end();
    const growth = this.peak - this.baseline;
    assert.ok(this.peakArrayBuffers < LIVE_BOUND, `${what}: ${(this.peakArrayBuffers / MB).toFixed(1)} MB of Buffers were live at once`);
    assert.ok(growth < RSS_BOUND, `${what}: rss grew by ${(growth / MB).toFixed(1)} MB`);
  }
  describe(): string {
    return `rss +${((this.peak - this.baseline) / MB).toFixed(1)} MB (baseline ${(this.baseline / MB).toFixed(0)} MB), live ArrayBuffers peak ${(this.peakArrayBuffers / MB).toFixed(1)} MB`;
  }
}

describe('streaming 50 MB through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let agent: Agent;
  const downloads = new Map<string, { written: number; aborted: boolean }>();
  before(async () => {
    up = await startUpstream('big', (req, res, r) => {
      if (req.method === 'GET') {
        const progress = { written: 0, aborted: false };
        downloads.set(req.url!, progress);
        res.once('close', () => { progress.aborted = !res.writableFinished; });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
        writeBody(res, SIZE, progress);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bodyBytes: r.bodyBytes }));
    });
    gw = await startTestGateway(`
services:
  big: { targets: ["${up.url}"] }
routes:
  - { name: big, match: { path: /* }, service: big, body-limit: 100mb }
`);
    agent = new Agent({ connections: 4 });
    // Warm up every code path once, under the same GC-sampling regime as the measurements, so that JIT code,
    // pools and the allocator's growth to its working size are not counted: in trial runs the first large
    // transfer grew RSS by 13-28 MB whatever it was, through the gateway or straight to the upstream; after
    // this warm-up each measured transfer grows it by 0-13 MB.
    const warm = new MemoryWatch();
    for (const [size, headers] of [[SIZE, { 'content-length': String(SIZE) }], [8 * MB, {}]] as const) {
      const r = await undiciRequest(gw.url + '/warm', { method: 'POST', headers, body: Readable.from(body(size)), dispatcher: agent });
      await r.body.text();
    }
    const w = await undiciRequest(gw.url + '/warm', { dispatcher: agent });
    await w.body.dump({ limit: Infinity });
    warm.end();
  });
  after(async () => {
    await agent.close();
    await gw.close();
    await up.close();
  });

  for (const framing of ['content-length', 'chunked'] as const) {
    test(`upload (${framing}): the upstream receives exactly 50 MB; memory stays bounded`, { timeout: 30_000 }, async (t) => {
      up.received.length = 0;
      const watch = new MemoryWatch();
      const t0 = performance.now();
      const headers: Record<string, string> = framing === 'content-length' ? { 'content-length': String(SIZE) } : {};
      const res = await undiciRequest(gw.url + '/upload', { method: 'POST', headers, body: Readable.from(body(SIZE)), dispatcher: agent });
      const text = await res.body.text();
      const ms = performance.now() - t0;
      t.diagnostic(`upload ${framing}: 50 MB in ${ms.toFixed(0)} ms; ${watch.describe()}`);
      assert.equal(res.statusCode, 200, text);
      assert.equal(JSON.parse(text).bodyBytes, SIZE);
      assert.equal(up.received.length, 1);
      assert.equal(up.received[0]!.bodyBytes, SIZE);
      assert.equal(up.received[0]!.headers['content-length'], framing === 'content-length' ? String(SIZE) : undefined);
      watch.stop('50 MB upload');
    });
  }

  test('download: the client receives exactly 50 MB; memory stays bounded', { timeout: 30_000 }, async (t) => {
    const watch = new MemoryWatch();
    const t0 = performance.now();
    const res = await undiciRequest(gw.url + '/download', { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(SIZE));
    let received = 0;
    for await (const chunk of res.body) received += (chunk as Buffer).length;
    const ms = performance.now() - t0;
    t.diagnostic(`download: 50 MB in ${ms.toFixed(0)} ms; ${watch.describe()}`);
    assert.equal(received, SIZE);
    watch.stop('50 MB download');
  });

  test('a client that leaves mid-upload or mid-download: the upstream exchange is aborted too', { timeout: 15_000 }, async () => {
    const closed: { url: string; complete: boolean }[] = [];
    const onRequest = (req: IncomingMessage): void => { req.once('close', () => closed.push({ url: req.url!, complete: req.complete })); };
    up.server.on('request', onRequest);
    try {
      for (const framing of ['content-length', 'chunked'] as const) {
        const path = `/abort-${framing}`;
        const sock = connect(gw.port, '127.0.0.1');
        await new Promise((resolve) => sock.once('connect', resolve));
        const head = framing === 'chunked' ? 'transfer-encoding: chunked\r\n' : `content-length: ${SIZE}\r\n`;
        sock.write(`POST ${path} HTTP/1.1\r\nhost: x\r\n${head}\r\n`);
        const piece = Buffer.alloc(256 * 1024, 'u');
        sock.write(framing === 'chunked' ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
        await waitFor(() => up.received.some((r) => r.url === path && r.bodyBytes > 0), 3000, `${path} to reach the upstream`);
        sock.destroy();
        await waitFor(() => closed.some((c) => c.url === path), 3000, `the upstream request of ${path} to be aborted`);
        assert.equal(closed.find((c) => c.url === path)!.complete, false);
      }
    } finally {
      up.server.removeListener('request', onRequest);
    }
    // Download: the client reads a little and leaves; the upstream's response is cut off, not finished.
    const sock = connect(gw.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write('GET /leave HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => sock.once('data', resolve));
    const progress = downloads.get('/leave')!;
    sock.destroy();
    await waitFor(() => progress.aborted, 3000, 'the upstream response to be aborted');
    assert.ok(progress.written < SIZE);
  });

  test('an upload that stalls is cut with 408, and its upstream request is aborted (chunked too)', { timeout: 15_000 }, async () => {
    const gw2 = await startTestGateway(`
limits: { bodyIdleTimeout: 300ms }
services:
  big: { targets: ["${up.url}"] }
routes:
  - { name: big, match: { path: /* }, service: big, body-limit: 100mb }
`);
    const closed: { url: string; complete: boolean }[] = [];
    const onRequest = (req: IncomingMessage): void => { req.once('close', () => closed.push({ url: req.url!, complete: req.complete })); };
    up.server.on('request', onRequest);
    try {
      for (const framing of ['content-length', 'chunked'] as const) {
        const path = `/stall-${framing}`;
        const sock = connect(gw2.port, '127.0.0.1');
        let reply = '';
        sock.on('data', (d: Buffer) => { reply += d.toString('latin1'); });
        sock.on('error', () => { /* the gateway closes it */ });
        await new Promise((resolve) => sock.once('connect', resolve));
        const head = framing === 'chunked' ? 'transfer-encoding: chunked\r\n' : 'content-length: 100000\r\n';
        sock.write(`POST ${path} HTTP/1.1\r\nhost: x\r\n${head}\r\n${framing === 'chunked' ? 'a\r\n0123456789\r\n' : '0123456789'}`);
        // ... and nothing more: the gateway answers 408 and must not leave the upstream request hanging.
        await waitFor(() => reply.startsWith('HTTP/1.1 408'), 3000, `${path}: 408`);
        await waitFor(() => closed.some((c) => c.url === path), 3000, `${path}: the upstream request to be aborted`);
        assert.equal(closed.find((c) => c.url === path)!.complete, false);
        sock.destroy();
      }
    } finally {
      up.server.removeListener('request', onRequest);
      await gw2.close();
    }
  });

  test('backpressure: a client that stops reading stops the upstream; the gateway does not buffer the rest', { timeout: 30_000 }, async (t) => {
    const watch = new MemoryWatch();
    const res = await undiciRequest(gw.url + '/slow-reader', { dispatcher: agent, highWaterMark: 64 * 1024 });
    assert.equal(res.statusCode, 200);
    const progress = downloads.get('/slow-reader')!;
    // Read nothing for a while: the upstream must stall once the socket and stream buffers are full.
    let last = -1;
    for (let i = 0; i < 40 && progress.written !== last; i++) {
      last = progress.written;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const stalledAt = progress.written;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(progress.written, stalledAt, 'the upstream kept writing while the client read nothing');
    watch.sample();
    t.diagnostic(`client paused: upstream stalled after writing ${(stalledAt / MB).toFixed(1)} MB of 50; ${watch.describe()}`);
    // What is in flight is socket buffers (two loopback connections) and high-water marks, not the body.
    assert.ok(stalledAt < 25 * MB, `the upstream wrote ${(stalledAt / MB).toFixed(1)} MB before stalling`);

    // Now read slowly: 64 KiB at a time with pauses, then the rest at full speed.
    let received = 0;
    let reads = 0;
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      if (++reads <= 50 && reads % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.diagnostic(`slow reader: ${watch.describe()}`);
    assert.equal(received, SIZE);
    watch.stop('50 MB download to a slow reader');
  });
});
