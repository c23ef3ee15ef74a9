/**
 * The store conformance suite: one set of cases run against every store (memory, Redis when one is
 * reachable, and a cluster worker's IpcStore over an in-process channel to the primary's memory store), so a
 * limit counts the same whichever store holds it. Time is injected (`now` walks forward by
 * hand, nothing sleeps); the expected numbers of the key points are worked out by hand in the comments, and
 * a longer pseudo-random sequence must give identical answers from both stores.
 *
 * Redis: REDIS_URL or redis://127.0.0.1:6379; each run writes under a unique prefix and deletes its keys.
 * Without a reachable Redis the Redis cases are skipped, except under CI=true, where that is a failure.
 * The memory store's own bounds (eviction, calendar counters, the incremental sweep) are tested at the end.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { DEFAULT_MAX_KEYS, MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import { REDIS_URL } from '../../test/helpers/redis.js';
import type { ConsumeResult, LimitAlgorithm, LimitCheck, LimitState, Store, UsageRecord } from './types.js';
import { EventEmitter } from 'node:events';
import { IpcStore, IpcStoreHost, type IpcChannel, type ReplyPort } from '../cluster/ipc-store.js';

const CI = process.env.CI === 'true';
/** A whole hour in Unix ms (so also a whole second and minute): window arithmetic below starts from it. */
const T0 = 1_699_999_200_000;
const HOUR = 3_600_000;
/** Generous: the suite runs on a loaded machine, and no case here is about timeouts. */
const REDIS_TIMEOUT_MS = 5000;

const silent = pino({ level: 'silent' });

/** Why Redis cannot be used, or null when it answers PING. */
async function redisProblem(): Promise<string | null> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  let cause = '';
  probe.on('error', (err: Error) => { cause = err.message; });
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (err) {
    return cause || (err as Error).message;
  } finally {
    probe.disconnect();
  }
}

const problem = await redisProblem();
const RUN_PREFIX = `gh-test-${randomBytes(6).toString('hex')}:`;

/** StoreFactory opens a fresh, empty store of one kind. */
interface StoreFactory {
  readonly name: string;
  open(): Promise<Store>;
}

const memoryFactory: StoreFactory = { name: 'memory', open: async () => new MemoryStore() };

let redisStores = 0;
/** Each Redis store gets its own prefix under the run's, so cases never see each other's keys. */
function openRedis(prefix = `${RUN_PREFIX}${redisStores++}:`): Promise<RedisStore> {
  return RedisStore.open({ url: REDIS_URL, keyPrefix: prefix, timeoutMs: REDIS_TIMEOUT_MS, log: silent });
}
const redisFactory: StoreFactory = { name: 'redis', open: () => openRedis() };

/**
 * A cluster worker's store (src/cluster/ipc-store.ts) over an in-process channel pair to a primary's host:
 * each message is serialized to JSON, as the cluster's IPC channel does, and delivered on a later turn.
 */
const ipcFactory: StoreFactory = {
  name: 'ipc (cluster worker to primary)',
  open: async () => {
    const host = new IpcStoreHost(silent);
    const worker = new EventEmitter();
    const toWorker: ReplyPort = { send: (m) => { const copy: unknown = JSON.parse(JSON.stringify(m)); setImmediate(() => worker.emit('message', copy)); } };
    const channel: IpcChannel = {
      send: (m) => { const copy: unknown = JSON.parse(JSON.stringify(m)); setImmediate(() => host.handle(copy, toWorker)); },
      on: (event, listener) => worker.on(event, listener),
      off: (event, listener) => worker.off(event, listener),
    };
    return new IpcStore(channel, { log: silent });
  },
};

const FACTORIES: { factory: StoreFactory; skip: string | false }[] = [
  { factory: memoryFactory, skip: false },
  { factory: redisFactory, skip: problem === null ? false : `Redis not reachable at ${REDIS_URL} (${problem}): start redis-server or set REDIS_URL` },
  { factory: ipcFactory, skip: false },
];

if (problem !== null && CI) {
  test('Redis is reachable (required under CI=true)', () => {
    assert.fail(`Redis not reachable at ${REDIS_URL}: ${problem}`);
  });
}

after(async () => {
  if (problem !== null) return;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeys(redis, `${RUN_PREFIX}*`);
  } finally {
    redis.disconnect();
  }
});

// ---- helpers

function check(key: string, algorithm: LimitAlgorithm, limit: number, windowMs: number, windowEnd?: number): LimitCheck {
  return windowEnd === undefined ? { key, algorithm, limit, windowMs } : { key, algorithm, limit, windowMs, windowEnd };
}

function state(remaining: number, resetMs: number, retryAfterMs = 0): LimitState {
  return { remaining, resetMs, retryAfterMs };
}

async function consume(s: Store, checks: LimitCheck[], now: number, cost = 1): Promise<ConsumeResult> {
  return s.consume(checks, now, cost);
}

/** Asserts one consume (or peek, with cost 0) gives `allowed` and exactly `states`. */
async function expectCall(s: Store, checks: LimitCheck[], now: number, cost: number, allowed: boolean, states: LimitState[], label: string): Promise<void> {
  const r = cost === 0 ? await s.peek(checks, now) : await s.consume(checks, now, cost);
  assert.deepEqual(r, { allowed, states }, label);
}

async function withStore(factory: StoreFactory, fn: (s: Store) => Promise<void>): Promise<void> {
  const s = await factory.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/** A pino logger whose lines are kept, parsed, in `lines`. */
function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}

/** mulberry32: a small seeded PRNG, so the random sequence is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the suite, once per store

for (const { factory, skip } of FACTORIES) {
  describe(`store conformance: ${factory.name}`, { skip }, () => {
    test('fixed window: exact counts, reset and retry-after, and a new window', async () => {
      await withStore(factory, async (s) => {
        const c = [check('fw', 'fixed-window', 3, 1000)];
        // The window is [T0, T0+1000): at T0+100, 900 ms are left.
        await expectCall(s, c, T0 + 100, 1, true, [state(2, 900)], '1st');
        await expectCall(s, c, T0 + 100, 1, true, [state(1, 900)], '2nd');
        await expectCall(s, c, T0 + 100, 1, true, [state(0, 900)], '3rd');
        await expectCall(s, c, T0 + 100, 1, false, [state(0, 900, 900)], '4th: denied until the window ends');
        await expectCall(s, c, T0 + 999, 1, false, [state(0, 1, 1)], 'last ms of the window');
        await expectCall(s, c, T0 + 1000, 1, true, [state(2, 1000)], 'next window starts empty');
        await expectCall(s, c, T0 + 2500, 1, true, [state(2, 500)], 'a later window starts empty');
      });
    });

    test('sliding window: the previous window weighs by its overlap', async () => {
      await withStore(factory, async (s) => {
        const c = [check('sw', 'sliding-window', 10, 1000)];
        for (let i = 1; i <= 10; i++) await expectCall(s, c, T0 + 500, 1, true, [state(10 - i, 500)], `request ${i}`);
        // cur + cost > limit: the next window starts in 500 ms, then cur=10 must decay to 9 (the previous
        // window's weight must fall to 0.9): 1000 * (1 - 9/10) = 100 ms more. 600.
        await expectCall(s, c, T0 + 500, 1, false, [state(0, 500, 600)], '11th denied');
        // Next window, 100 ms in: 10 * 900/1000 = 9 estimated, so 1 more fits and leaves 0.
        await expectCall(s, c, T0 + 1100, 1, true, [state(0, 900)], 'after the edge');
        // Now est = 9 + 1 = 10: room in this window (cur 1 + 1 <= 10), wait for the previous one to
        // weigh 8: 1000 * (1 - 8/10) = 200 ms into the window, 100 from now.
        await expectCall(s, c, T0 + 1100, 1, false, [state(0, 900, 100)], 'denied near the edge');
        // At 200 ms in: 10 * 800/1000 + 1 = 9, +1 fits, leaves 0.
        await expectCall(s, c, T0 + 1200, 1, true, [state(0, 800)], 'exactly when retry-after said');
        // At 650 ms in: 10 * 350/1000 + 2 = 5.5, +1 = 6.5, floor(3.5) = 3 left.
        await expectCall(s, c, T0 + 1650, 1, true, [state(3, 350)], 'decayed');
        // Next window, 999 ms in: prev = 3 weighs 3 * 1/1000 = 0.003; + 1 = 1.003: 8 left.
        await expectCall(s, c, T0 + 2999, 1, true, [state(8, 1)], 'end of the next window');
        // Two windows later: both counters are old; empty.
        await expectCall(s, c, T0 + 5000, 1, true, [state(9, 1000)], 'two windows later');
      });
    });

    test('token bucket (GCRA): burst of limit, then one per interval', async () => {
      await withStore(factory, async (s) => {
        // 5 per 1000 ms: one token every 200 ms, a burst of 5.
        const c = [check('tb', 'token-bucket', 5, 1000)];
        for (let i = 1; i <= 5; i++) await expectCall(s, c, T0, 1, true, [state(5 - i, 200 * i)], `burst ${i}`);
        // TAT is T0+1000; one more would make it T0+1200, 200 ms past the window.
        await expectCall(s, c, T0, 1, false, [state(0, 1000, 200)], '6th denied');
        await expectCall(s, c, T0 + 200, 1, true, [state(0, 1000)], 'one token back after 200 ms');
        // TAT T0+1200; at T0+300 a request would make it T0+1400: 100 ms too early.
        await expectCall(s, c, T0 + 300, 1, false, [state(0, 900, 100)], 'too early');
        await expectCall(s, c, T0 + 5000, 1, true, [state(4, 200)], 'full again');
      });
    });

    test('token bucket: a full burst is allowed whatever the interval and the clock', async () => {
      await withStore(factory, async (s) => {
        // 1000/7 ms is no exact double: a burst of 7 must still pass, at any now.
        for (const [i, now] of [T0 + 1, T0 + 123_457, T0 + 987_654_321].entries()) {
          const c = [check(`tb7-${i}`, 'token-bucket', 7, 1000)];
          let allowed = 0;
          for (let k = 0; k < 8; k++) if ((await consume(s, c, now)).allowed) allowed++;
          assert.equal(allowed, 7, `now=${now}`);
          // A whole window later exactly 7 again.
          allowed = 0;
          for (let k = 0; k < 8; k++) if ((await consume(s, c, now + 1000)).allowed) allowed++;
          assert.equal(allowed, 7, `now=${now} + 1000`);
        }
        // 3 per second: reset times round up to whole ms (334, 667, 1000).
        const c = [check('tb3', 'token-bucket', 3, 1000)];
        await expectCall(s, c, T0, 1, true, [state(2, 334)], '1/3');
        await expectCall(s, c, T0, 1, true, [state(1, 667)], '2/3');
        await expectCall(s, c, T0, 1, true, [state(0, 1000)], '3/3');
        await expectCall(s, c, T0, 1, false, [state(0, 1000, 334)], 'denied: 333.3 ms to the next token');
      });
    });

    test('all or nothing: a denial by one check charges no other', async () => {
      await withStore(factory, async (s) => {
        const wide = check('aon-wide', 'fixed-window', 5, 1000);
        const narrow = check('aon-narrow', 'fixed-window', 2, 1000);
        const both = [wide, narrow];
        await expectCall(s, both, T0, 1, true, [state(4, 1000), state(1, 1000)], '1st');
        await expectCall(s, both, T0, 1, true, [state(3, 1000), state(0, 1000)], '2nd');
        // narrow denies: wide is reported as it stands (3 left), uncharged, with no retry of its own.
        await expectCall(s, both, T0, 1, false, [state(3, 1000), state(0, 1000, 1000)], '3rd denied');
        await expectCall(s, both, T0 + 10, 1, false, [state(3, 990), state(0, 990, 990)], '4th denied');
        await expectCall(s, [wide], T0 + 20, 0, true, [state(3, 980)], 'wide was never charged for the denials');

        // Across algorithms: a token bucket and a sliding window; the bucket denies.
        const bucket = check('aon-tb', 'token-bucket', 1, 1000);
        const sliding = check('aon-sw', 'sliding-window', 10, 1000);
        await expectCall(s, [sliding, bucket], T0, 1, true, [state(9, 1000), state(0, 1000)], 'mixed 1st');
        await expectCall(s, [sliding, bucket], T0 + 1, 1, false, [state(9, 999), state(0, 999, 999)], 'mixed denied');
        await expectCall(s, [sliding], T0 + 2, 0, true, [state(9, 998)], 'sliding was not charged');
      });
    });

    test('cost > 1 counts as that many requests in every algorithm', async () => {
      await withStore(factory, async (s) => {
        const f = [check('cost-fw', 'fixed-window', 10, 1000)];
        await expectCall(s, f, T0, 4, true, [state(6, 1000)], 'fixed 4');
        await expectCall(s, f, T0, 4, true, [state(2, 1000)], 'fixed 8');
        // 4 more would make 12: denied; the 2 left are still reported.
        await expectCall(s, f, T0, 4, false, [state(2, 1000, 1000)], 'fixed denied');
        await expectCall(s, f, T0, 2, true, [state(0, 1000)], 'fixed 10');

        const sw = [check('cost-sw', 'sliding-window', 10, 1000)];
        await expectCall(s, sw, T0, 3, true, [state(7, 1000)], 'sliding 3');
        await expectCall(s, sw, T0, 6, true, [state(1, 1000)], 'sliding 9');
        // cur 9 + 3 > 10: next window (1000 ms), then 9 must weigh <= 7: 1000 * (1 - 7/9) = 222.2 → 223.
        await expectCall(s, sw, T0, 3, false, [state(1, 1000, 1223)], 'sliding denied');

        // 6 per second: 166.7 ms per token.
        const tb = [check('cost-tb', 'token-bucket', 6, 1000)];
        await expectCall(s, tb, T0, 3, true, [state(3, 500)], 'bucket 3');
        await expectCall(s, tb, T0, 3, true, [state(0, 1000)], 'bucket 6');
        // 2 more tokens would put the TAT 333.3 ms past the window: 334.
        await expectCall(s, tb, T0, 2, false, [state(0, 1000, 334)], 'bucket denied');
        await expectCall(s, tb, T0 + 400, 2, true, [state(0, 934)], 'bucket after 400 ms');
      });
    });

    test('calendar window: windowEnd names the end, the count spans ordinary window edges', async () => {
      await withStore(factory, async (s) => {
        const end = T0 + 10_000;
        // windowMs (1000) does not cut this window: the key names the period, which ends at `end`.
        const c = [check('q:day:c1:2023-11-14', 'fixed-window', 3, 1000, end)];
        await expectCall(s, c, T0 + 100, 1, true, [state(2, 9900)], '1st');
        await expectCall(s, c, T0 + 2100, 1, true, [state(1, 7900)], '2nd, two ordinary windows later');
        await expectCall(s, c, T0 + 5000, 2, false, [state(1, 5000, 5000)], 'cost 2 does not fit');
        await expectCall(s, c, T0 + 5000, 1, true, [state(0, 5000)], '3rd');
        await expectCall(s, c, T0 + 9999, 1, false, [state(0, 1, 1)], 'denied to the end of the period');
        // The next period is another key.
        await expectCall(s, [check('q:day:c1:2023-11-15', 'fixed-window', 3, 1000, end + 86_400_000)], end, 1, true, [state(2, 86_400_000)], 'next period');
      });
    });

    test('peek reports without charging, in every algorithm', async () => {
      await withStore(factory, async (s) => {
        const checks = [check('pk-fw', 'fixed-window', 3, 1000), check('pk-sw', 'sliding-window', 3, 1000), check('pk-tb', 'token-bucket', 3, 1000)];
        await expectCall(s, checks, T0, 0, true, [state(3, 1000), state(3, 1000), state(3, 0)], 'peek on nothing');
        await expectCall(s, checks, T0, 1, true, [state(2, 1000), state(2, 1000), state(2, 334)], 'consume');
        for (let i = 0; i < 3; i++) await expectCall(s, checks, T0 + 1, 0, true, [state(2, 999), state(2, 999), state(2, 333)], `peek ${i}`);
        await expectCall(s, checks, T0 + 1, 2, true, [state(0, 999), state(0, 999), state(0, 999)], 'consume 2');
        // Full: peek says denied, with retry-after, and still charges nothing.
        await expectCall(s, checks, T0 + 2, 0, false, [state(0, 998, 998), state(0, 998, 1332), state(0, 998, 332)], 'peek when full');
        await expectCall(s, checks, T0 + 2, 0, false, [state(0, 998, 998), state(0, 998, 1332), state(0, 998, 332)], 'peek again');
      });
    });

    test('an empty list of checks allows', async () => {
      await withStore(factory, async (s) => {
        assert.deepEqual(await s.consume([], T0, 1), { allowed: true, states: [] });
        assert.deepEqual(await s.peek([], T0), { allowed: true, states: [] });
      });
    });

    test('usage: add sums per consumer x route x class x hour; read filters and sorts', async () => {
      await withStore(factory, async (s) => {
        const r = (consumer: string, route: string, statusClass: number, hour: number, count: number): UsageRecord => ({ consumer, route, statusClass, hour, count });
        await s.addUsage([
          r('c1', 'users', 2, T0 + HOUR, 5),
          r('c1', 'orders.v2', 5, T0 + HOUR, 1),
          r('c1', 'orders.v2', 2, T0, 3),
          r('c2', 'orders.v2', 2, T0, 9),
          r('c1', 'orders.v2', 2, T0 + 2 * HOUR, 1),
          r('-', 'users', 4, T0, 2),
        ], 'batch-1');
        await s.addUsage([
          r('c1', 'orders.v2', 2, T0, 4),
          r('c1', 'users', 2, T0, 1),
          r('c1', 'orders.v2', 2, T0 - HOUR, 1),
        ], 'batch-2');
        assert.deepEqual(await s.readUsage('c1', T0, T0 + 2 * HOUR), [
          r('c1', 'orders.v2', 2, T0, 7),
          r('c1', 'users', 2, T0, 1),
          r('c1', 'orders.v2', 5, T0 + HOUR, 1),
          r('c1', 'users', 2, T0 + HOUR, 5),
        ]);
        assert.deepEqual(await s.readUsage('c1', T0 - HOUR, T0), [r('c1', 'orders.v2', 2, T0 - HOUR, 1)]);
        assert.deepEqual(await s.readUsage('-', T0, T0 + HOUR), [r('-', 'users', 4, T0, 2)]);
        assert.deepEqual(await s.readUsage('c2', T0 + HOUR, T0 + 3 * HOUR), []);
        assert.deepEqual(await s.readUsage('nobody', T0, T0 + HOUR), []);
        assert.deepEqual(await s.readUsage('c1', T0, T0), []);
        await assert.rejects(s.readUsage('c1', T0, T0 + 3 * 366 * 24 * HOUR), RangeError);
      });
    });

    test('usage: a batch sent twice with the same id is counted once', async () => {
      await withStore(factory, async (s) => {
        const batch: UsageRecord[] = [
          { consumer: 'c1', route: 'users', statusClass: 2, hour: T0, count: 5 },
          { consumer: 'c1', route: 'users', statusClass: 5, hour: T0, count: 1 },
        ];
        await s.addUsage(batch, 'same-id');
        // The resend of a caller that did not hear back: applied already, so nothing changes.
        await s.addUsage(batch, 'same-id');
        const counts = async (): Promise<number[]> => (await s.readUsage('c1', T0, T0 + HOUR)).map((u) => u.count);
        assert.deepEqual(await counts(), [5, 1]);
        // Another batch (another id) with the same records is new usage.
        await s.addUsage(batch, 'other-id');
        assert.deepEqual(await counts(), [10, 2]);
      });
    });
  });
}

// ---- both stores on the same sequence

describe('store conformance: memory and redis agree', { skip: FACTORIES[1]!.skip }, () => {
  test('a long pseudo-random sequence gives identical answers', async () => {
    const memory = new MemoryStore();
    const redis = await openRedis();
    try {
      const rand = prng(20231114);
      const pool: LimitCheck[] = [
        check('r-fw', 'fixed-window', 5, 1000),
        check('r-sw', 'sliding-window', 7, 1000),
        check('r-sw2', 'sliding-window', 4, 300),
        check('r-tb', 'token-bucket', 6, 1000),
        check('r-tb2', 'token-bucket', 3, 700),
        check('r-cal', 'fixed-window', 40, 60_000, T0 + 1_000_000),
      ];
      let now = T0 + 17;
      let allowed = 0;
      let denied = 0;
      for (let step = 0; step < 600; step++) {
        const roll = rand();
        now += roll < 0.3 ? 0 : roll < 0.9 ? Math.floor(rand() * 120) : Math.floor(rand() * 2500);
        // A random non-empty subset of the pool, distinct keys, in pool order.
        const checks = pool.filter(() => rand() < 0.4);
        if (checks.length === 0) checks.push(pool[Math.floor(rand() * pool.length)]!);
        const cost = 1 + Math.floor(rand() * 3);
        const peek = rand() < 0.15;
        const a = peek ? memory.peek(checks, now) : memory.consume(checks, now, cost);
        const b = peek ? await redis.peek(checks, now) : await redis.consume(checks, now, cost);
        assert.deepEqual(b, a, `step ${step} at T0+${now - T0}: ${peek ? 'peek' : `consume cost ${cost}`} of ${checks.map((c) => c.key).join(',')}`);
        if (a.allowed) allowed++;
        else denied++;
      }
      // The sequence must exercise both answers to mean anything.
      assert.ok(allowed > 100 && denied > 100, `allowed ${allowed}, denied ${denied}`);
    } finally {
      await memory.close();
      await redis.close();
    }
  });
});

// ---- Redis only

describe('store conformance: redis specifics', { skip: FACTORIES[1]!.skip }, () => {
  test('every key written expires (PTTL > 0), with the expected layout', async () => {
    const prefix = `${RUN_PREFIX}pttl:`;
    const store = await openRedis(prefix);
    const redis = new Redis(REDIS_URL);
    try {
      const now = Date.now();
      const end = now + 86_400_000;
      await store.consume([
        check('rl:a', 'fixed-window', 5, 60_000),
        check('rl:b', 'sliding-window', 5, 60_000),
        check('rl:c', 'token-bucket', 5, 60_000),
        check('q:d', 'fixed-window', 5, 86_400_000, end),
      ], now, 1);
      await store.addUsage([{ consumer: 'c1', route: 'users', statusClass: 2, hour: Math.floor(now / HOUR) * HOUR, count: 1 }], 'b-pttl');
      const keys = await scanKeys(redis, `${prefix}*`);
      const idx = Math.floor(now / 60_000);
      assert.deepEqual(keys, [
        `${prefix}q:d`,
        `${prefix}rl:a:${idx}`,
        `${prefix}rl:b:${idx}`,
        `${prefix}rl:c`,
        `${prefix}u:c1:${Math.floor(now / HOUR) * HOUR}`,
        `${prefix}ub:b-pttl`,
      ].sort());
      for (const key of keys) {
        const ttl = await redis.pttl(key);
        assert.ok(ttl > 0, `${key} PTTL ${ttl}`);
      }
      assert.ok((await redis.pttl(`${prefix}q:d`)) > 86_000_000, 'a calendar counter lives to the end of its period');
      // The batch marker lives a day (a resend comes only while the sender's sends fail), usage its retention.
      const marker = await redis.pttl(`${prefix}ub:b-pttl`);
      assert.ok(marker > 86_000_000 && marker <= 86_400_000, `marker PTTL ${marker}`);
      assert.ok((await redis.pttl(`${prefix}u:c1:${Math.floor(now / HOUR) * HOUR}`)) > 399 * 86_400_000, 'usage lives 400 days');
    } finally {
      await store.close();
      redis.disconnect();
    }
  });

  test('usage: a key of another type is skipped and logged; the others are counted once, not again on resend', async () => {
    const prefix = `${RUN_PREFIX}wrongtype:`;
    const { log, lines } = captureLog();
    const store = await RedisStore.open({ url: REDIS_URL, keyPrefix: prefix, timeoutMs: REDIS_TIMEOUT_MS, log });
    const redis = new Redis(REDIS_URL);
    try {
      // Another program's string where bob's usage hash of this hour would go.
      await redis.set(`${prefix}u:bob:${T0}`, 'not a hash', 'PX', 600_000);
      const batch: UsageRecord[] = [
        { consumer: 'alice', route: 'orders', statusClass: 2, hour: T0, count: 5 },
        { consumer: 'bob', route: 'orders', statusClass: 2, hour: T0, count: 1 },
        { consumer: 'bob', route: 'orders', statusClass: 4, hour: T0, count: 2 },
        { consumer: 'alice', route: 'orders', statusClass: 2, hour: T0 + HOUR, count: 3 },
      ];
      await store.addUsage(batch, 'wt-1');
      await store.addUsage(batch, 'wt-1');
      assert.deepEqual((await store.readUsage('alice', T0, T0 + 2 * HOUR)).map((u) => [u.hour, u.count]), [[T0, 5], [T0 + HOUR, 3]]);
      assert.equal(await redis.get(`${prefix}u:bob:${T0}`), 'not a hash', 'the foreign key is left alone');
      assert.ok((await redis.pttl(`${prefix}u:bob:${T0}`)) <= 600_000, 'and its expiry too');
      const skipped = lines.filter((l) => l.event === 'usage_records_skipped');
      assert.equal(skipped.length, 1, 'one warning for the call that skipped, none for the resend');
      assert.equal(skipped[0]!.level, 40);
      assert.equal(skipped[0]!.records, 2);
      assert.equal(store.health.up, true, 'a foreign key is no outage');
    } finally {
      await store.close();
      redis.disconnect();
    }
  });

  test('usage: a batch larger than one script is applied whole, and once', async () => {
    const store = await openRedis();
    try {
      const batch: UsageRecord[] = [];
      for (let i = 0; i < 2500; i++) batch.push({ consumer: 'big', route: `r${String(i % 50).padStart(2, '0')}`, statusClass: 1 + (i % 5), hour: T0 + Math.floor(i / 250) * HOUR, count: 1 + (i % 3) });
      await store.addUsage(batch, 'big-1');
      await store.addUsage(batch, 'big-1');
      const usage = await store.readUsage('big', T0, T0 + 10 * HOUR);
      assert.equal(usage.reduce((a, u) => a + u.count, 0), batch.reduce((a, r) => a + r.count, 0));
    } finally {
      await store.close();
    }
  });

  test('50 concurrent consumes over 5 connections against limit 10 allow exactly 10', async () => {
    const prefix = `${RUN_PREFIX}race:`;
    const stores = await Promise.all([0, 1, 2, 3, 4].map(() => openRedis(prefix)));
    try {
      const now = Date.now();
      for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
        const c = [check(`race-${algorithm}`, algorithm, 10, 60_000)];
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => stores[i % 5]!.consume(c, now, 1)));
        assert.equal(results.filter((r) => r.allowed).length, 10, algorithm);
        // The ten allowed saw each remaining value from 9 down to 0 exactly once.
        assert.deepEqual(results.filter((r) => r.allowed).map((r) => r.states[0]!.remaining).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], algorithm);
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('the memory store answers synchronously; redis with a promise', async () => {
    const memory = new MemoryStore();
    const redis = await openRedis();
    try {
      const c = [check('sync', 'fixed-window', 1, 1000)];
      assert.ok(!(memory.consume(c, T0, 1) instanceof Promise));
      assert.ok(!(memory.peek(c, T0) instanceof Promise));
      assert.ok(redis.consume(c, T0, 1) instanceof Promise);
      assert.deepEqual(redis.health, { up: true, outages: 0 });
    } finally {
      await memory.close();
      await redis.close();
    }
  });
});

// ---- memory only: its bounds

describe('memory store bounds', () => {
  test('consume and peek return plain objects, never promises', () => {
    const s = new MemoryStore();
    const c = [check('sync', 'token-bucket', 2, 1000)];
    const r = s.consume(c, T0, 1);
    assert.ok(!(r instanceof Promise));
    assert.deepEqual(r, { allowed: true, states: [state(1, 500)] });
    assert.deepEqual(s.peek(c, T0), { allowed: true, states: [state(1, 500)] });
    assert.deepEqual(s.health, { up: true, outages: 0 });
    void s.close();
  });

  test('past maxKeys the oldest counters are dropped first', async () => {
    const s = new MemoryStore({ maxKeys: 3 });
    try {
      for (const k of ['a', 'b', 'c']) s.consume([check(k, 'fixed-window', 5, 1000)], T0, 1);
      assert.equal(s.size, 3);
      s.consume([check('d', 'fixed-window', 5, 1000)], T0, 1);
      assert.equal(s.size, 3);
      // 'a' was the oldest: it starts over; 'b' kept its count.
      assert.deepEqual(s.peek([check('a', 'fixed-window', 5, 1000)], T0).states, [state(5, 1000)]);
      assert.deepEqual(s.peek([check('b', 'fixed-window', 5, 1000)], T0).states, [state(4, 1000)]);
    } finally {
      await s.close();
    }
  });

  test('sweep drops expired counters and usage past its retention, by the callers\' clock', async () => {
    const s = new MemoryStore({ usageRetentionMs: 2 * HOUR });
    try {
      s.consume([check('old', 'fixed-window', 5, 1000)], T0, 1);
      s.consume([check('cal', 'fixed-window', 5, 1000, T0 + 60_000)], T0, 1);
      s.addUsage([{ consumer: 'c1', route: 'r', statusClass: 2, hour: T0, count: 1 }], 'u1');
      assert.equal(s.sweep(), true, 'a small store is swept in one round');
      assert.equal(s.size, 2, 'nothing expired yet');
      // 'old' expires at the end of its window + 1 s; 'cal' at its period's end + 1 s.
      s.consume([check('new', 'fixed-window', 5, 1000)], T0 + 2000, 1);
      assert.equal(s.sweep(), true);
      assert.equal(s.size, 2, 'old is gone, cal and new stay');
      s.addUsage([{ consumer: 'c1', route: 'r', statusClass: 2, hour: T0 + 3 * HOUR, count: 1 }], 'u2');
      assert.equal(s.sweep(), true);
      assert.equal(s.size, 0, 'every counter expired 3 hours later');
      assert.deepEqual((await s.readUsage('c1', T0, T0 + 4 * HOUR)).map((u) => u.hour), [T0 + 3 * HOUR], 'usage older than 2 hours dropped');
    } finally {
      await s.close();
    }
  });

  test('calendar counters (quotas) are never evicted by a flood of other keys', async () => {
    const s = new MemoryStore();
    try {
      const end = T0 + 30 * 86_400_000;
      const quota = [check('q:month:c=alice:1', 'fixed-window', 5, 30 * 86_400_000, end)];
      let allowed = 0;
      for (let i = 0; i < 10; i++) if (s.consume(quota, T0, 1).allowed) allowed++;
      assert.equal(allowed, 5);
      // More distinct client-chosen keys than the default bound: the oldest of them are dropped, not alice's quota.
      const flood: LimitCheck = { key: '', algorithm: 'sliding-window', limit: 10, windowMs: 60_000 };
      for (let i = 0; i < DEFAULT_MAX_KEYS + 10; i++) s.consume([{ ...flood, key: `rl:search:0:h=${i}` }], T0 + 1, 1);
      assert.ok(s.size - s.calendarSize <= DEFAULT_MAX_KEYS, `rate-limit counters ${s.size - s.calendarSize}`);
      assert.equal(s.calendarSize, 1);
      assert.deepEqual(s.consume(quota, T0 + 2, 1), { allowed: false, states: [state(0, end - T0 - 2, end - T0 - 2)] }, 'the spent quota stays spent');
    } finally {
      await s.close();
    }
  });

  test('a full calendar map keeps every counter it holds, counts no new one, and says so once', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
    const s = new MemoryStore({ maxCalendarKeys: 2, log });
    try {
      const end = T0 + 60_000;
      const q = (who: string): LimitCheck[] => [check(`q:day:i=${who}:1`, 'fixed-window', 1, 60_000, end)];
      assert.equal(s.consume(q('a'), T0, 1).allowed, true);
      assert.equal(s.consume(q('b'), T0, 1).allowed, true);
      // No room for c: it is answered (allowed, as a fresh counter) but not kept.
      for (let i = 0; i < 3; i++) assert.equal(s.consume(q('c'), T0, 1).allowed, true);
      assert.equal(s.calendarSize, 2);
      assert.equal(s.consume(q('a'), T0, 1).allowed, false, 'a is still counted');
      assert.equal(s.consume(q('b'), T0, 1).allowed, false, 'b is still counted');
      assert.deepEqual(lines.map((l) => [l.event, l.level]), [['store_calendar_full', 50]], 'logged once');
      // Once a and b expired and were swept, there is room again.
      s.consume([check('tick', 'fixed-window', 1, 1000)], end + 2000, 1);
      assert.equal(s.sweep(), true);
      assert.equal(s.calendarSize, 0);
      const next = (who: string): LimitCheck[] => [check(`q:day:i=${who}:2`, 'fixed-window', 1, 60_000, end + 60_000)];
      assert.equal(s.consume(next('c'), end + 2000, 1).allowed, true);
      assert.equal(s.consume(next('c'), end + 2000, 1).allowed, false, 'c is counted now');
    } finally {
      await s.close();
    }
  });

  test('the sweep is incremental: it walks at most maxEntries entries per call and resumes where it stopped', async () => {
    const s = new MemoryStore();
    try {
      for (let i = 0; i < 25; i++) s.consume([check(`rl:${i}`, 'fixed-window', 5, 1000)], T0, 1);
      for (let i = 0; i < 5; i++) s.consume([check(`q:${i}`, 'fixed-window', 5, 1000, T0 + 1000)], T0, 1);
      assert.equal(s.size, 30);
      // Everything above has expired by T0 + 5000.
      s.consume([check('live', 'fixed-window', 5, 1000)], T0 + 5000, 1);
      assert.equal(s.sweep(10), false);
      assert.equal(s.size, 21, 'the first 10 rate-limit counters, all expired');
      // Appended during the round (ahead of the cursor): walked in this round too, and kept (not expired).
      s.consume([check('late', 'fixed-window', 5, 1000)], T0 + 5000, 1);
      assert.equal(s.sweep(10), false);
      assert.equal(s.size, 12);
      let calls = 0;
      while (!s.sweep(10)) if (++calls > 10) assert.fail('the round does not end');
      assert.equal(s.size, 2, 'only live and late remain');
      assert.equal(s.calendarSize, 0);
      // A new round starts from the beginning.
      assert.equal(s.sweep(Infinity), true);
      assert.equal(s.size, 2);
    } finally {
      await s.close();
    }
  });
});
