/**
 * The Redis store: counters shared by every gateway on one Redis (a single server, a primary behind Redis
 * Sentinel, or a Redis Cluster: see redis-connect.ts), exact across instances because each consume or peek
 * is one Lua script (one round trip, atomic). Usage is one hash per consumer and hour. On a Cluster, the
 * keys of one script call share a hash tag: a limit check's keys the route's (`rl:{<route>}:`, from the
 * rate-limit feature), a usage batch's the consumer's (`u:{<consumer>}:<hour>`, one script per consumer).
 *
 * A Redis that goes away must cost a request no more than `timeoutMs`: commands are never queued while the
 * connection is down (they fail at once), every command has that timeout, and the client reconnects forever
 * in the background (100 ms doubling to 2 s). A Redis that hangs with its connection open (a paused process,
 * a network partition) is detected by the first command that times out: the connection is dropped then, so
 * the commands already sent fail and every later one fails at once until a new connection is ready, rather
 * than each waiting out the timeout on a connection nothing answers. Callers see only StoreError (the
 * library's error stays in `cause`, never in a response) and apply their fail mode. Each outage is counted
 * and logged once when it begins and once when it ends, however many requests fail in between.
 *
 * Usage is added at most once per batch id (USAGE_SCRIPT): a resend after a lost reply is a no-op.
 */
import { createRedisClient, type RedisClient, type RedisTarget } from './redis-connect.js';
import type { Logger } from 'pino';
import { StoreError, type ConsumeResult, type LimitCheck, type LimitState, type Store, type StoreHealth, type UsageRecord } from './types.js';
import { ALGORITHM_CODE, DEFAULT_USAGE_RETENTION_MS, HOUR_MS, checkUsageRange, compareUsage } from './algorithms.js';
import { LIMIT_SCRIPT, USAGE_SCRIPT } from './redis-scripts.js';

/** RedisStoreOptions configure a RedisStore (from `store.redis`, with the timeout parsed). */
export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Sentinel or Cluster (redisTarget of `store.redis`); wins over `url` when set. */
  target?: RedisTarget;
  /** Prefix of every key written (several gateways or other users may share the Redis). */
  keyPrefix: string;
  /** Longest wait for one command, in ms. */
  timeoutMs: number;
  log: Logger;
  /** How long hourly usage is kept, in ms (default 400 days). */
  usageRetentionMs?: number;
}

/** How long `open` waits for the first connection before returning a store that is down (and retrying). */
const OPEN_WAIT_MS = 1000;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;
/** A command error that is not an outage (a key of the wrong type) is logged at most this often. */
const COMMAND_ERROR_LOG_INTERVAL_MS = 60_000;
/**
 * TCP keep-alive probes start after the connection has been idle this long, so a Redis host that vanished
 * (powered off, cut off by a firewall that drops silently) is noticed by an idle connection too.
 */
const KEEP_ALIVE_MS = 10_000;
/**
 * How long a usage batch's marker (`ub:<batchId>`) lives (at most the usage retention). A batch is resent
 * only by the process that froze it, while its sends fail, so the marker must outlive the longest outage a
 * resend may follow, not the usage itself: markers kept for the whole retention would pile up one key per
 * flush (86,400 a day per instance at the default 1 s flush, some 100 bytes each: about 3.5 GB over 400 days).
 * After a day the cost of a marker outweighs the risk (a resend after a day-long outage counted twice).
 */
const USAGE_BATCH_MARKER_MS = 24 * 3_600_000;
/**
 * Records per usage script: a batch larger than this is split into chunks (each with its own marker,
 * `<batchId>.<n>`), so no one script holds Redis for long (Redis runs a script alone: every other gateway's
 * limit checks wait for it). Chunks are cut the same way on every resend: the meter resends a frozen batch.
 */
const USAGE_CHUNK = 1000;
/** The error ioredis rejects a command with when `commandTimeout` passes without an answer. */
const COMMAND_TIMEOUT_MESSAGE = 'Command timed out';
/**
 * Replies by which Redis says it cannot serve at all (loading, failing over, out of memory, refusing our
 * credentials): an outage. Other error replies (WRONGTYPE, ERR) concern one command and leave it up.
 */
const OUTAGE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|NOREPLICAS|CLUSTERDOWN|TRYAGAIN|OOM|MISCONF|NOAUTH|WRONGPASS|NOPERM)\b/;

/** The script commands defineCommand adds: numKeys, then KEYS and ARGV (ioredis flattens the arrays). */
interface ScriptCommands {
  ghLimit(numKeys: number, keys: string[], argv: (string | number)[]): Promise<unknown>;
  ghUsage(numKeys: number, keys: string[], argv: (string | number)[]): Promise<unknown>;
}

/** RedisStore keeps counters and usage in Redis. Build it with `RedisStore.open`. */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #client: RedisClient;
  /** Redis Cluster: usage keys carry the consumer as their hash tag, and a batch is one script per consumer. */
  readonly #cluster: boolean;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #usageRetentionMs: number;
  readonly #usageMarkerMs: number;
  readonly #timeoutMs: number;
  #up = false;
  /** performance.now() of the latest answer from Redis (a reply, or an error reply), or of the latest 'ready'. */
  #lastAnswer = 0;
  #outages = 0;
  /** performance.now() when the current outage began; -1 when none is open. */
  #downSince = -1;
  #lastCommandErrorLog = -Infinity;
  #closing = false;
  /** Set when a timeout dropped the connection; cleared when it has closed, so it is dropped once. */
  #dropping = false;

  private constructor(options: RedisStoreOptions) {
    this.#prefix = options.keyPrefix;
    this.#log = options.log;
    this.#usageRetentionMs = options.usageRetentionMs ?? DEFAULT_USAGE_RETENTION_MS;
    this.#usageMarkerMs = Math.min(USAGE_BATCH_MARKER_MS, this.#usageRetentionMs);
    this.#timeoutMs = options.timeoutMs;
    const target = options.target ?? { kind: 'standalone', url: options.url };
    this.#cluster = target.kind === 'cluster';
    this.#client = createRedisClient(target, {
      // Fail fast while down: a queued command would hold its request past the timeout.
      enableOfflineQueue: false,
      // Reject commands in flight as soon as the connection drops, and never resend them after a
      // reconnection: the caller has already applied its fail mode, and a resent consume would charge twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.timeoutMs,
      // A connection attempt that hangs (a host gone from the network) only delays the next attempt.
      connectTimeout: Math.max(2000, options.timeoutMs * 4),
      // A connection dropped after a timeout (see #dropConnection) is ended, and destroyed if the other side
      // does not close it within this: a paused Redis never does, and reconnection waits for the close.
      disconnectTimeout: options.timeoutMs,
      keepAlive: KEEP_ALIVE_MS,
      retryStrategy: (times: number) => Math.min(RETRY_FIRST_MS * 2 ** Math.min(times - 1, 5), RETRY_MAX_MS),
      connectionName: 'gatehouse',
    });
    this.#client.defineCommand('ghLimit', { lua: LIMIT_SCRIPT });
    this.#client.defineCommand('ghUsage', { lua: USAGE_SCRIPT });
    this.#client.on('ready', () => this.#answered());
    this.#client.on('close', () => {
      this.#dropping = false;
      if (this.#up) this.#markDown('connection closed');
    });
    // Without a listener ioredis prints every failed reconnection; the outage is logged once instead.
    this.#client.on('error', (err: Error) => this.#log.debug({ event: 'store_error', store: 'redis', err: err.message }, 'redis connection error'));
  }

  /**
   * open connects to Redis and waits up to about a second for it. A Redis that is not there yet gives a
   * store that is down (logged as an outage) and keeps connecting in the background; it is used as soon as
   * it answers, without a restart.
   */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    await store.#waitReady(OPEN_WAIT_MS);
    if (!store.#up) store.#markDown('could not connect');
    return store;
  }

  /**
   * client is the connection, for other features that keep shared state in the same Redis (the response
   * cache). Its settings fail fast while Redis is down; users MUST bound their own commands in time.
   */
  get client(): RedisClient {
    return this.#client;
  }

  /** keyPrefix is the prefix of every key this store writes (`store.redis.keyPrefix`). */
  get keyPrefix(): string {
    return this.#prefix;
  }

  /** health says whether Redis answers now and how many outages there were. */
  get health(): StoreHealth {
    return { up: this.#up, outages: this.#outages };
  }

  /** consume checks every limit and, only if all allow, charges each by `cost`: one script, one round trip. */
  consume(checks: readonly LimitCheck[], now: number, cost: number): Promise<ConsumeResult> {
    return this.#run(checks, now, cost, 'consume');
  }

  /** peek returns the states of the checks (for a request of cost 1) without charging. */
  peek(checks: readonly LimitCheck[], now: number): Promise<ConsumeResult> {
    return this.#run(checks, now, 1, 'peek');
  }

  /**
   * addUsage adds the records' counts at most once per `batchId`: one script per 1000 records (USAGE_SCRIPT),
   * all sent at once (one round trip). A resend of a batch whose reply was lost changes nothing; a record
   * Redis refuses (a key of another type under the prefix) is skipped and logged, and the rest counted.
   */
  async addUsage(records: readonly UsageRecord[], batchId: string): Promise<void> {
    if (records.length === 0) return;
    const sends: Promise<unknown>[] = [];
    // On a Cluster a script's keys must share a slot: one group (and marker) per consumer, in the order of
    // their first record, so a resent batch is cut the same way.
    for (const [tag, group] of this.#cluster ? byConsumer(records) : [['', records] as const]) {
      const chunks = Math.ceil(group.length / USAGE_CHUNK);
      for (let c = 0; c < chunks; c++) {
        const from = c * USAGE_CHUNK;
        const to = Math.min(group.length, from + USAGE_CHUNK);
        // A batch of one chunk keeps the plain id; larger ones number their chunks.
        const keys: string[] = [`${this.#prefix}ub:${tag}${chunks === 1 ? batchId : `${batchId}.${c}`}`];
        const argv: (string | number)[] = [this.#usageMarkerMs, this.#usageRetentionMs];
        for (let i = from; i < to; i++) {
          const r = group[i]!;
          keys.push(this.#usageKey(r.consumer, r.hour));
          argv.push(`${r.route}\t${r.statusClass}`, r.count);
        }
        sends.push((this.#client as unknown as ScriptCommands).ghUsage(keys.length, keys, argv));
      }
    }
    let replies: unknown[];
    try {
      replies = await Promise.all(sends);
    } catch (err) {
      throw this.#failed(err);
    }
    this.#answered();
    let skipped = 0;
    let resent = 0;
    for (const reply of replies) {
      if (reply === -1) resent++;
      else if (typeof reply === 'number' && reply > 0) skipped += reply;
    }
    if (skipped > 0) {
      this.#log.warn({ event: 'usage_records_skipped', store: 'redis', batch: batchId, records: skipped }, 'usage records were skipped: their key in Redis is not a usage hash (is another program writing under the key prefix?)');
    }
    if (resent > 0) this.#log.debug({ event: 'usage_batch_resent', store: 'redis', batch: batchId }, 'usage batch was already applied: the resend changed nothing');
  }

  /** readUsage returns one consumer's usage for hours in [fromHour, toHour) (at most 2 years): one pipeline. */
  /** ping sends PING (bounded by the store's timeout); an answer ends an outage, a failure starts one. */
  async ping(): Promise<boolean> {
    try {
      await this.#client.ping();
    } catch (err) {
      this.#failed(err);
      return false;
    }
    if (!this.#up) this.#markUp();
    return true;
  }

  async readUsage(consumer: string, fromHour: number, toHour: number): Promise<UsageRecord[]> {
    checkUsageRange(fromHour, toHour);
    const hours: number[] = [];
    for (let h = Math.ceil(fromHour / HOUR_MS) * HOUR_MS; h < toHour; h += HOUR_MS) hours.push(h);
    if (hours.length === 0) return [];
    const pipeline = this.#client.pipeline();
    for (const h of hours) pipeline.hgetall(this.#usageKey(consumer, h));
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      // A long read may time out behind its own thousands of commands, not because Redis hangs: it does not
      // drop the connection the limit checks share.
      throw this.#failed(err, !isCommandError(err), false);
    }
    if (results === null) throw this.#failed(new Error('usage pipeline aborted'));
    const out: UsageRecord[] = [];
    for (let i = 0; i < results.length; i++) {
      const [err, fields] = results[i]!;
      if (err !== null) throw this.#failed(err, !isCommandError(err), false);
      for (const [field, count] of Object.entries(fields as Record<string, string>)) {
        const tab = field.lastIndexOf('\t');
        if (tab < 0) continue;
        out.push({ consumer, route: field.slice(0, tab), statusClass: Number(field.slice(tab + 1)), hour: hours[i]!, count: Number(count) });
      }
    }
    this.#answered();
    return out.sort(compareUsage);
  }

  /** close quits the connection (waiting for replies in flight) and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
        return;
      } catch {
        // Fall through: drop the connection.
      }
    }
    this.#client.disconnect();
  }

  async #run(checks: readonly LimitCheck[], now: number, cost: number, mode: 'consume' | 'peek'): Promise<ConsumeResult> {
    const n = checks.length;
    if (n === 0) return { allowed: true, states: [] };
    const keys: string[] = new Array(n);
    const argv: (string | number)[] = new Array(3 + 4 * n);
    argv[0] = now;
    argv[1] = cost;
    argv[2] = mode;
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      keys[i] = this.#prefix + c.key;
      const at = 3 + 4 * i;
      argv[at] = ALGORITHM_CODE[c.algorithm];
      argv[at + 1] = c.limit;
      argv[at + 2] = c.windowMs;
      argv[at + 3] = c.windowEnd ?? 0;
    }
    let reply: unknown;
    try {
      reply = await (this.#client as unknown as ScriptCommands).ghLimit(n, keys, argv);
    } catch (err) {
      throw this.#failed(err);
    }
    this.#answered();
    if (!Array.isArray(reply) || reply.length !== 1 + 3 * n) throw this.#failed(new Error('unexpected reply from the limit script'), false);
    const states: LimitState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const at = 1 + 3 * i;
      states[i] = { remaining: Number(reply[at]), resetMs: Number(reply[at + 1]), retryAfterMs: Number(reply[at + 2]) };
    }
    return { allowed: reply[0] === 1, states };
  }

  #usageKey(consumer: string, hour: number): string {
    return this.#cluster ? `${this.#prefix}u:{${consumer}}:${hour}` : `${this.#prefix}u:${consumer}:${hour}`;
  }

  /** Notes that Redis answered: the end of an outage, if one is open. */
  #answered(): void {
    this.#lastAnswer = performance.now();
    if (!this.#up) this.#markUp();
  }

  /**
   * Turns a failure into the StoreError callers see; an outage unless Redis answered for this command only.
   * A timeout drops the connection (see #dropConnection) when Redis answered nothing for at least half the
   * timeout (not all of it: a timer may fire a little early against performance.now()), unless
   * `dropOnTimeout` is false.
   */
  #failed(err: unknown, outage = !isCommandError(err), dropOnTimeout = true): StoreError {
    if (outage) {
      this.#markDown(err);
      if (dropOnTimeout && err instanceof Error && err.message === COMMAND_TIMEOUT_MESSAGE && performance.now() - this.#lastAnswer >= this.#timeoutMs / 2) this.#dropConnection();
      return new StoreError('store unavailable', { cause: err });
    }
    this.#lastAnswer = performance.now();
    const t = performance.now();
    if (t - this.#lastCommandErrorLog >= COMMAND_ERROR_LOG_INTERVAL_MS) {
      this.#lastCommandErrorLog = t;
      this.#log.error({ event: 'store_command_failed', store: 'redis', err: messageOf(err) }, 'a redis command failed (is another program writing under the key prefix?)');
    }
    return new StoreError('store command failed', { cause: err });
  }

  /**
   * Drops the connection after a command timed out while Redis answered nothing (a Redis that still answers,
   * only slowly, keeps its connection: dropping it would fail every command in flight, and reconnecting would
   * load it more). Redis answers in order, so on a Redis that hangs with its connection open every command
   * would wait out the whole timeout, and commands would pile up in the client's queue. Ending the
   * connection makes the client refuse new commands at once (not writable, and no offline queue) and reject
   * those in flight when it closes; it then reconnects with its usual backoff, and 'ready' ends the outage.
   */
  #dropConnection(): void {
    if (this.#dropping || this.#closing || this.#client.status !== 'ready') return;
    this.#dropping = true;
    this.#client.disconnect(true);
  }

  #markDown(reason: unknown): void {
    if (this.#closing || this.#downSince >= 0) return;
    this.#up = false;
    this.#downSince = performance.now();
    this.#outages++;
    this.#log.warn({ event: 'store_down', store: 'redis', reason: messageOf(reason) }, 'redis store unavailable: limits apply their fail mode until it is back');
  }

  #markUp(): void {
    if (this.#closing || this.#up) return;
    this.#up = true;
    if (this.#downSince < 0) return; // the first connection: no outage to end
    const downMs = Math.round(performance.now() - this.#downSince);
    this.#downSince = -1;
    this.#log.info({ event: 'store_recovered', store: 'redis', downMs }, 'redis store available again');
  }

  /** Resolves when the client is ready or after `ms`, whichever comes first. */
  #waitReady(ms: number): Promise<void> {
    if (this.#client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#client.removeListener('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#client.once('ready', done);
    });
  }
}

/**
 * byConsumer splits usage records by consumer, each group tagged `{<consumer>}:` for its marker key (the
 * usage keys' hash tag), in the order of each consumer's first record.
 */
function byConsumer(records: readonly UsageRecord[]): Map<string, UsageRecord[]> {
  const out = new Map<string, UsageRecord[]>();
  for (const r of records) {
    const tag = `{${r.consumer}}:`;
    const group = out.get(tag);
    if (group === undefined) out.set(tag, [r]);
    else group.push(r);
  }
  return out;
}

/** Whether Redis answered this one command with an error that does not mean it is unavailable. */
function isCommandError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError' && !OUTAGE_REPLY.test(err.message);
}

function messageOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
