/**
 * The Redis store through an outage, against a private redis-server on a free port: requests fail fast
 * with StoreError while it is gone, the outage is counted and logged once (not once per request), and the
 * store recovers by itself when Redis is back. A store opened while Redis is down starts in an outage and
 * recovers the same way. A Redis that hangs (SIGSTOP: the connection stays open) costs one timeout, then
 * calls fail fast until it answers again. A usage batch whose reply is lost (a proxy swallows it) is not
 * counted again when it is resent.
 *
 * Needs `redis-server` in PATH: skipped without it, except under CI=true, where that is a failure. Waits are
 * generous (a loaded 2-core machine), and every child process is killed in `finally`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { RedisStore } from './redis.js';
import { startPrivateRedis as startRedis, stopPrivateRedis as stopRedis } from '../../test/helpers/redis.js';
import { freePort } from '../../test/helpers/upstream.js';
import { StoreError, type LimitCheck, type UsageRecord } from './types.js';

const CI = process.env.CI === 'true';
const TIMEOUT_MS = 250;
/** Slack on top of the store's timeout before a failing call must have answered (loaded machine). */
const SLACK_MS = 3000;
/** How long recovery may take: the reconnection backoff is capped at 2 s, the machine may be slow. */
const RECOVERY_MS = 10_000;

const missing = redisServerMissing();

if (missing !== null && CI) {
  test('redis-server is in PATH (required under CI=true)', () => {
    assert.fail(`redis-server not found: ${missing}`);
  });
}

/** Why redis-server cannot be run, or null. */
function redisServerMissing(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : `redis-server --version exited with ${r.status}`;
}

/** A pino logger whose lines are kept, parsed, in `lines`. */
function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}

function events(lines: Record<string, unknown>[], event: string): Record<string, unknown>[] {
  return lines.filter((l) => l.event === event);
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (cond()) return true;
    await sleep(50);
  }
  return cond();
}

/**
 * ReplyEater is a TCP proxy to a local port that can swallow every reply on its way back, as a network that
 * loses a reply after the command ran. Each client connection gets its own upstream connection.
 */
class ReplyEater {
  swallow = false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(target: number) {
    this.#server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      this.#sockets.add(client).add(upstream);
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => { if (!this.swallow) client.write(chunk); });
      const drop = (): void => { client.destroy(); upstream.destroy(); this.#sockets.delete(client); this.#sockets.delete(upstream); };
      client.on('close', drop).on('end', drop).on('error', drop);
      upstream.on('close', drop).on('end', drop).on('error', drop);
    });
  }

  static async start(target: number): Promise<ReplyEater> {
    const eater = new ReplyEater(target);
    await new Promise<void>((resolve, reject) => {
      eater.#server.once('error', reject);
      eater.#server.listen(0, '127.0.0.1', resolve);
    });
    return eater;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function isUnavailable(err: unknown): boolean {
  return err instanceof StoreError && err.message === 'store unavailable' && err.cause !== undefined;
}

describe('redis store outage', { skip: missing === null ? false : `redis-server not in PATH (${missing}): install Redis to run this test` }, () => {
  test('fails fast while Redis is down, logs the outage once, recovers by itself', { timeout: 90_000 }, async () => {
    const port = await freePort();
    let server: ChildProcess | null = await startRedis(port);
    const { log, lines } = captureLog();
    const store = await RedisStore.open({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'gh-outage:', timeoutMs: TIMEOUT_MS, log });
    try {
      const now = Date.now();
      const checks: LimitCheck[] = [{ key: 'rl:outage', algorithm: 'fixed-window', limit: 10, windowMs: 60_000 }];
      assert.deepEqual(store.health, { up: true, outages: 0 });
      assert.equal((await store.consume(checks, now, 1)).states[0]!.remaining, 9);

      await stopRedis(server);
      server = null;

      const started = performance.now();
      await assert.rejects(store.consume(checks, now, 1), isUnavailable);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < TIMEOUT_MS + SLACK_MS, `the first failing call took ${elapsed} ms`);
      assert.deepEqual(store.health, { up: false, outages: 1 });

      for (let i = 0; i < 20; i++) await assert.rejects(store.consume(checks, now, 1), isUnavailable);
      await assert.rejects(store.peek(checks, now), isUnavailable);
      await assert.rejects(Promise.resolve(store.addUsage([{ consumer: 'c', route: 'r', statusClass: 2, hour: 0, count: 1 }], 'b-down')), isUnavailable);
      assert.deepEqual(store.health, { up: false, outages: 1 });
      const down = events(lines, 'store_down');
      assert.equal(down.length, 1, 'one store_down log per outage, however many calls fail');
      assert.equal(down[0]!.store, 'redis');
      assert.equal(down[0]!.level, 40);
      assert.equal(events(lines, 'store_recovered').length, 0);

      server = await startRedis(port);
      assert.ok(await waitUntil(() => store.health.up, RECOVERY_MS), 'the store reconnected by itself');
      assert.deepEqual(store.health, { up: true, outages: 1 });
      const recovered = events(lines, 'store_recovered');
      assert.equal(recovered.length, 1);
      assert.equal(recovered[0]!.level, 30);
      assert.equal(typeof recovered[0]!.downMs, 'number');
      assert.ok((recovered[0]!.downMs as number) >= 0);

      // A fresh server (no persistence): counting starts over and works.
      assert.equal((await store.consume(checks, now, 1)).states[0]!.remaining, 9);
      assert.equal((await store.consume(checks, now, 1)).states[0]!.remaining, 8);
      assert.equal(events(lines, 'store_down').length, 1);
    } finally {
      await store.close();
      await stopRedis(server);
    }
  });

  test('a Redis that stops answering (paused, connection open): calls time out, a later success ends the outage', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const { log, lines } = captureLog();
    const store = await RedisStore.open({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'gh-outage:', timeoutMs: TIMEOUT_MS, log });
    let paused = false;
    try {
      const checks: LimitCheck[] = [{ key: 'rl:paused', algorithm: 'sliding-window', limit: 100, windowMs: 60_000 }];
      await store.consume(checks, Date.now(), 1);
      server.kill('SIGSTOP');
      paused = true;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await assert.rejects(store.consume(checks, Date.now(), 1), isUnavailable);
        const elapsed = performance.now() - started;
        assert.ok(elapsed < TIMEOUT_MS + SLACK_MS, `a call to a paused Redis took ${elapsed} ms`);
      }
      assert.deepEqual(store.health, { up: false, outages: 1 });
      assert.equal(events(lines, 'store_down').length, 1);
      server.kill('SIGCONT');
      paused = false;
      // The first timeout dropped the connection: the store reconnects by itself once Redis answers.
      let ok = false;
      const deadline = performance.now() + RECOVERY_MS;
      while (!ok && performance.now() < deadline) {
        try {
          await store.consume(checks, Date.now(), 1);
          ok = true;
        } catch {
          await sleep(100);
        }
      }
      assert.ok(ok, 'calls succeed again once Redis answers');
      assert.deepEqual(store.health, { up: true, outages: 1 });
      assert.equal(events(lines, 'store_recovered').length, 1);
    } finally {
      if (paused) server.kill('SIGCONT');
      await store.close();
      await stopRedis(server);
    }
  });

  test('a store opened while Redis is down starts in an outage and recovers when Redis starts', { timeout: 90_000 }, async () => {
    const port = await freePort();
    let server: ChildProcess | null = null;
    const { log, lines } = captureLog();
    const started = performance.now();
    const store = await RedisStore.open({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'gh-outage:', timeoutMs: TIMEOUT_MS, log });
    try {
      assert.ok(performance.now() - started < 1000 + SLACK_MS, 'open does not wait for Redis past about a second');
      assert.deepEqual(store.health, { up: false, outages: 1 });
      assert.equal(events(lines, 'store_down').length, 1);
      const checks: LimitCheck[] = [{ key: 'rl:late', algorithm: 'token-bucket', limit: 2, windowMs: 1000 }];
      for (let i = 0; i < 5; i++) await assert.rejects(store.consume(checks, Date.now(), 1), isUnavailable);
      assert.equal(events(lines, 'store_down').length, 1);

      server = await startRedis(port);
      assert.ok(await waitUntil(() => store.health.up, RECOVERY_MS), 'the store connected by itself');
      assert.deepEqual(store.health, { up: true, outages: 1 });
      assert.equal(events(lines, 'store_recovered').length, 1);
      const now = Date.now();
      assert.deepEqual(await store.consume(checks, now, 1), { allowed: true, states: [{ remaining: 1, resetMs: 500, retryAfterMs: 0 }] });
    } finally {
      await store.close();
      await stopRedis(server);
    }
  });

  test('a hung Redis (SIGSTOP) costs one timeout: later calls fail fast until it answers again', { timeout: 90_000 }, async () => {
    // A timeout long enough that "fast" cannot be confused with "timed out" on a loaded machine.
    const timeoutMs = 2000;
    const port = await freePort();
    const server = await startRedis(port);
    const { log, lines } = captureLog();
    const store = await RedisStore.open({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'gh-hung:', timeoutMs, log });
    let paused = false;
    try {
      const checks: LimitCheck[] = [{ key: 'rl:hung', algorithm: 'fixed-window', limit: 1000, windowMs: 60_000 }];
      await store.consume(checks, Date.now(), 1);
      server.kill('SIGSTOP');
      paused = true;
      // Calls already sent when Redis hung wait out the timeout (nothing can tell them apart from a slow answer).
      const first = await Promise.allSettled(Array.from({ length: 20 }, () => store.consume(checks, Date.now(), 1)));
      assert.ok(first.every((r) => r.status === 'rejected' && isUnavailable(r.reason)));
      assert.deepEqual(store.health, { up: false, outages: 1 });
      // From then on every call fails at once, for as long as Redis stays stopped (through the client's
      // reconnection attempts, which connect to the stopped server's backlog and time out in turn).
      const until = performance.now() + 3 * timeoutMs;
      let calls = 0;
      let slowest = 0;
      while (performance.now() < until) {
        const started = performance.now();
        const results = await Promise.allSettled([store.consume(checks, Date.now(), 1), store.peek(checks, Date.now()), store.addUsage([{ consumer: 'c', route: 'r', statusClass: 2, hour: 0, count: 1 }], `hung-${calls}`)]);
        slowest = Math.max(slowest, performance.now() - started);
        assert.ok(results.every((r) => r.status === 'rejected' && isUnavailable(r.reason)));
        calls += 3;
        await sleep(20);
      }
      assert.ok(slowest < timeoutMs / 2, `calls to a hung Redis took up to ${Math.round(slowest)} ms after the first timeout (timeout ${timeoutMs} ms)`);
      assert.ok(calls >= 30, `${calls} calls`);
      assert.deepEqual(store.health, { up: false, outages: 1 });
      assert.equal(events(lines, 'store_down').length, 1, 'one outage, logged once');

      server.kill('SIGCONT');
      paused = false;
      assert.ok(await waitUntil(() => store.health.up, RECOVERY_MS), 'the store reconnected by itself');
      assert.equal((await store.consume(checks, Date.now(), 1)).allowed, true);
      assert.deepEqual(store.health, { up: true, outages: 1 });
      assert.equal(events(lines, 'store_recovered').length, 1);
      assert.equal(events(lines, 'store_down').length, 1);
    } finally {
      if (paused) server.kill('SIGCONT');
      await store.close();
      await stopRedis(server);
    }
  });

  test('a usage batch whose reply was lost is not counted again when it is resent', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const eater = await ReplyEater.start(port);
    const { log } = captureLog();
    const store = await RedisStore.open({ url: `redis://127.0.0.1:${eater.port}`, keyPrefix: 'gh-lost:', timeoutMs: TIMEOUT_MS, log });
    const admin = new Redis(`redis://127.0.0.1:${port}`);
    try {
      const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
      const batch: UsageRecord[] = [
        { consumer: 'alice', route: 'orders', statusClass: 2, hour, count: 5 },
        { consumer: 'alice', route: 'orders', statusClass: 5, hour, count: 1 },
      ];
      await store.addUsage(batch, 'warm-up');
      eater.swallow = true;
      await assert.rejects(Promise.resolve(store.addUsage(batch, 'lost-1')), isUnavailable);
      // Redis ran the script: only its reply was lost.
      assert.deepEqual(await admin.hgetall(`gh-lost:u:alice:${hour}`), { 'orders\t2': '10', 'orders\t5': '2' });
      eater.swallow = false;
      assert.ok(await waitUntil(() => store.health.up, RECOVERY_MS), 'the store reconnected by itself');
      // The caller's resend, with the same id: a no-op.
      await store.addUsage(batch, 'lost-1');
      assert.deepEqual((await store.readUsage('alice', hour, hour + 3_600_000)).map((u) => u.count), [10, 2]);
    } finally {
      admin.disconnect();
      await store.close();
      await eater.close();
      await stopRedis(server);
    }
  });
});
