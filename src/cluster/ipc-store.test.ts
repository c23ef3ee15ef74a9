/**
 * The cluster's shared memory store beyond the conformance suite (which runs every store case against it):
 * two workers' IpcStores on one host stay exact under concurrency, a primary that does not answer costs a call
 * no more than the timeout (StoreError, one outage logged once, recovered at the next answer), errors keep
 * their kind, and close waits for the calls in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { IpcStore, IpcStoreHost, clusterStore, type IpcChannel, type ReplyPort } from './ipc-store.js';
import { StoreError, type LimitCheck } from '../stores/types.js';

const silent = pino({ level: 'silent' });
const T0 = 1_699_999_200_000;

/** A worker's end of a channel to `host`; `hold` keeps messages to the host until `release` (a stalled primary). */
class FakeWorker {
  readonly events = new EventEmitter();
  held: unknown[] | null = null;
  readonly channel: IpcChannel;
  readonly #host: IpcStoreHost;
  readonly #reply: ReplyPort;

  constructor(host: IpcStoreHost) {
    this.#host = host;
    this.#reply = { send: (m) => { const copy: unknown = JSON.parse(JSON.stringify(m)); setImmediate(() => this.events.emit('message', copy)); } };
    this.channel = {
      send: (m) => {
        const copy: unknown = JSON.parse(JSON.stringify(m));
        if (this.held !== null) this.held.push(copy);
        else setImmediate(() => this.#host.handle(copy, this.#reply));
      },
      on: (event, listener) => this.events.on(event, listener),
      off: (event, listener) => this.events.off(event, listener),
    };
  }

  hold(): void { this.held = []; }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const m of held) this.#host.handle(m, this.#reply);
  }
}

function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}

test('two workers on one host: 50 concurrent requests against a limit of 10 let exactly 10 through', async () => {
  const host = new IpcStoreHost(silent);
  const a = new IpcStore(new FakeWorker(host).channel, { log: silent });
  const b = new IpcStore(new FakeWorker(host).channel, { log: silent });
  const checks: LimitCheck[] = [{ key: 'rl:r:ip', algorithm: 'sliding-window', limit: 10, windowMs: 60_000 }];
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).consume(checks, T0 + i, 1)));
  assert.equal(results.filter((r) => r.allowed).length, 10);
  // Usage from both workers lands in the one store, a resent batch once.
  await a.addUsage([{ consumer: 'acme', route: 'r', statusClass: 2, hour: T0, count: 3 }], 'w1-0');
  await b.addUsage([{ consumer: 'acme', route: 'r', statusClass: 2, hour: T0, count: 4 }], 'w2-0');
  await b.addUsage([{ consumer: 'acme', route: 'r', statusClass: 2, hour: T0, count: 4 }], 'w2-0');
  assert.deepEqual(await a.readUsage('acme', T0, T0 + 3_600_000), [{ consumer: 'acme', route: 'r', statusClass: 2, hour: T0, count: 7 }]);
  await a.close();
  await b.close();
  await host.close();
});

test('a primary that does not answer: StoreError after the timeout, one outage logged once, up again at the next answer', async () => {
  const host = new IpcStoreHost(silent);
  const worker = new FakeWorker(host);
  const { log, lines } = captureLog();
  const store = new IpcStore(worker.channel, { log, timeoutMs: 40 });
  const checks: LimitCheck[] = [{ key: 'k', algorithm: 'fixed-window', limit: 5, windowMs: 1000 }];
  assert.equal((await store.consume(checks, T0, 1)).allowed, true);
  worker.hold();
  const started = performance.now();
  const failures = await Promise.allSettled([store.consume(checks, T0, 1), store.peek(checks, T0), store.ping()]);
  const waited = performance.now() - started;
  assert.ok(waited >= 35 && waited < 1000, `waited ${waited} ms`);
  assert.ok(failures[0].status === 'rejected' && failures[0].reason instanceof StoreError);
  assert.ok(failures[1].status === 'rejected' && failures[1].reason instanceof StoreError);
  assert.deepEqual(failures[2], { status: 'fulfilled', value: false });
  assert.deepEqual(store.health, { up: false, outages: 1 });
  assert.equal(lines.filter((l) => l.event === 'store_down').length, 1);
  // The late answers are dropped (their callers have moved on); a fresh call is answered and ends the outage.
  worker.release();
  assert.equal(await store.ping(), true);
  assert.deepEqual(store.health, { up: true, outages: 1 });
  assert.equal(lines.filter((l) => l.event === 'store_recovered').length, 1);
  // The held consume reached the primary after its timeout and was charged there: 2 of 5 used.
  assert.deepEqual((await store.peek(checks, T0)).states[0]!.remaining, 3);
  await store.close();
  await host.close();
});

test('a bad usage range is a RangeError, as from the memory store; close waits for calls in flight', async () => {
  const host = new IpcStoreHost(silent);
  const worker = new FakeWorker(host);
  const store = new IpcStore(worker.channel, { log: silent, usageRetentionMs: 3_600_000 });
  await assert.rejects(store.readUsage('acme', 0, 10 * 365 * 24 * 3_600_000), RangeError);
  worker.hold();
  const pending = store.ping();
  let closed = false;
  const closing = store.close().then(() => { closed = true; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'close waits for the ping in flight');
  worker.release();
  assert.equal(await pending, true);
  await closing;
  assert.equal(worker.events.listenerCount('message'), 0, 'the listener is removed');
  await assert.rejects(store.ping().then((ok) => { if (!ok) throw new StoreError('closed'); }), StoreError);
  await host.close();
});

test('outside a cluster worker, store: memory stays a plain MemoryStore', () => {
  assert.equal(clusterStore(silent), null);
});
