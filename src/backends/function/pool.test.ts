/**
 * The worker pool on its own, with the fixture functions: answers come back, and each way a function can
 * fail (hang, memory, exit, no such export) ends only its own invocation or worker, with the right outcome;
 * the queue is bounded; close() waits for invocations and ends the threads.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FunctionPool, type InvokeMessage, type Outcome, type PoolJob } from './pool.js';
import { functionSettings } from './schema.js';
import type { LambdaEventV2, WireResponse } from './lambda.js';

/** Compiled to dist/src/backends/function/, so the fixtures are four folders up. */
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/functions/', import.meta.url));

interface Settled { outcome: Outcome; response: WireResponse | null; detail: string | null; ms: number }

class Job implements PoolJob {
  readonly message: InvokeMessage;
  queuedAt = 0;
  startedAt = 0;
  gone = false;
  readonly done: Promise<Settled>;
  private resolve!: (s: Settled) => void;
  private readonly t0 = performance.now();
  constructor(query: Record<string, string> = {}) {
    const event = { version: '2.0', rawPath: '/', queryStringParameters: query, requestContext: { http: { method: 'GET' } } } as unknown as LambdaEventV2;
    this.message = { seq: 0, requestId: `r${Math.random().toString(36).slice(2, 8)}`, deadline: 0, event };
    this.done = new Promise((r) => { this.resolve = r; });
  }
  abandoned(): boolean { return this.gone; }
  started(now: number): void { this.startedAt = now; }
  settle(outcome: Outcome, response: WireResponse | null, detail: string | null): void {
    this.resolve({ outcome, response, detail, ms: performance.now() - this.t0 });
  }
}

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, sink), lines };
}

function pool(file: string, opts: Record<string, unknown> = {}): { p: FunctionPool; lines: Record<string, unknown>[] } {
  const { log, lines } = capture();
  return { p: new FunctionPool(functionSettings({ file, timeout: '300ms', ...opts } as never, FIXTURES), 'fn', log), lines };
}

function run(p: FunctionPool, query: Record<string, string> = {}): Job {
  const j = new Job(query);
  p.submit(j, performance.now());
  return j;
}

const text = (s: Settled): string => Buffer.from(s.response!.body!).toString();

describe('FunctionPool', () => {
  test('runs invocations and sends the answers back', async () => {
    const { p } = pool('hello.mjs');
    try {
      const [a, b, c] = await Promise.all([run(p).done, run(p).done, run(p).done]);
      for (const s of [a!, b!, c!]) {
        assert.equal(s.outcome, 'ok');
        assert.equal(s.response!.status, 200);
        assert.equal(text(s), '"Hello from Lambda!"');
      }
    } finally { await p.close(); }
  });

  test('a hung invocation times out, its worker is replaced, the other worker keeps serving', async () => {
    const { p } = pool('hangs.mjs', { workers: 2 });
    try {
      await run(p).done; // warm one worker
      const hung = run(p, { hang: '1' });
      const other = await run(p).done;
      assert.equal(other.outcome, 'ok', 'the second worker answers while the first spins');
      const s = await hung.done;
      assert.equal(s.outcome, 'timeout');
      assert.ok(s.ms >= 290 && s.ms < 2000, `timed out after ${s.ms}ms`);
      const after = await run(p).done;
      assert.equal(after.outcome, 'ok');
      assert.equal(text(after), 'awake');
    } finally { await p.close(); }
  });

  test('a worker out of memory fails its invocation alone; the next one runs on a new worker', async () => {
    const { p } = pool('hog.mjs', { workers: 1, memory: '32mb', timeout: '10s' });
    try {
      const s = await run(p, { eat: '1' }).done;
      assert.equal(s.outcome, 'crashed');
      assert.match(s.detail!, /out of memory/);
      const next = await run(p).done;
      assert.equal(next.outcome, 'ok');
      assert.equal(text(next), 'fine');
    } finally { await p.close(); }
  });

  test('process.exit in a function ends its worker, not the gateway', async () => {
    const { p } = pool('garbage.mjs', { workers: 1 });
    try {
      const s = await run(p, { kind: 'exit' }).done;
      assert.equal(s.outcome, 'crashed');
      assert.match(s.detail!, /exited with code 3/);
      assert.equal((await run(p).done).outcome, 'ok');
    } finally { await p.close(); }
  });

  test('thrown errors and results that are no response', async () => {
    const { p } = pool('garbage.mjs', { workers: 1, maxResponse: '1kb' });
    const t = pool('throws.mjs', { workers: 1 });
    try {
      assert.equal((await run(p, { kind: 'status' }).done).outcome, 'invalid');
      assert.equal((await run(p, { kind: 'function' }).done).outcome, 'invalid');
      assert.equal((await run(p, { kind: 'big' }).done).outcome, 'too-large');
      const thrown = await run(t.p).done;
      assert.equal(thrown.outcome, 'error');
      assert.match(thrown.detail!, /hunter2/, 'the error text is kept for the log');
      assert.equal((await run(t.p, { sync: '1' }).done).outcome, 'error');
    } finally { await p.close(); await t.p.close(); }
  });

  test('the queue is bounded: past it, and past the timeout in line, the answer is busy', async () => {
    const { p } = pool('hangs.mjs', { workers: 1, maxQueue: 1 });
    try {
      await run(p).done;
      const hung = run(p, { hang: '1' });
      const waiting = run(p);
      const refused = await run(p).done;
      assert.equal(refused.outcome, 'busy', 'one may wait, the next is refused');
      assert.equal((await hung.done).outcome, 'timeout');
      // It waited the whole timeout behind the hung one: answered busy rather than run late.
      assert.equal((await waiting.done).outcome, 'busy');
      assert.equal((await run(p).done).outcome, 'ok');
    } finally { await p.close(); }
  });

  test('a client that left before its turn is dropped, not run', async () => {
    const { p } = pool('hangs.mjs', { workers: 1 });
    try {
      await run(p).done;
      const hung = run(p, { hang: '1' });
      const left = new Job();
      left.gone = true;
      p.submit(left, performance.now());
      assert.equal((await hung.done).outcome, 'timeout');
      assert.equal((await left.done).outcome, 'gone');
    } finally { await p.close(); }
  });

  test('a module that cannot start: unavailable at once, retried after a backoff, logged once', async () => {
    const { p, lines } = pool('no-export.mjs');
    try {
      const s = await run(p).done;
      assert.equal(s.outcome, 'unavailable');
      const again = await run(p).done;
      assert.equal(again.outcome, 'unavailable');
      assert.ok(again.ms < 50, 'refused at once during the backoff');
      const failures = lines.filter((l) => l.event === 'function_start_failed');
      assert.equal(failures.length, 1);
      assert.match(String(failures[0]!.err), /exports no function named "handler"/);
    } finally { await p.close(); }
  });

  test('console output becomes log lines with the request id', async () => {
    const { p, lines } = pool('echo.mjs', { workers: 1 });
    try {
      const j = run(p);
      assert.equal((await j.done).outcome, 'ok');
      for (let i = 0; i < 200 && lines.filter((l) => l.event === 'function_log').length < 2; i++) await new Promise((r) => setTimeout(r, 5));
      const out = lines.find((l) => l.event === 'function_log' && l.stream === 'stdout');
      const err = lines.find((l) => l.event === 'function_log' && l.stream === 'stderr');
      assert.equal(out?.msg, `echo invoked for ${j.message.requestId}`);
      assert.equal(out?.requestId, j.message.requestId);
      assert.equal(err?.msg, 'a line on stderr');
    } finally { await p.close(); }
  });

  test('close waits for the running invocation, then refuses', async () => {
    const { p } = pool('callback.cjs', { workers: 1 });
    await run(p).done;
    const j = new Job();
    (j.message.event as unknown as Record<string, unknown>).rawPath = '/x';
    p.submit(j, performance.now());
    const closing = p.close();
    assert.equal((await j.done).outcome, 'ok');
    await closing;
    assert.equal((await run(p).done).outcome, 'unavailable');
  });
});
