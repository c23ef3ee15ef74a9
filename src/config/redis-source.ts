/**
 * The config in Redis (`admin.changes: redis`), shared by every instance on the same Redis and key prefix.
 * Keys under `<keyPrefix>config:` (on Redis Cluster `<keyPrefix>{config}:`, one hash slot for the commit
 * script, which writes `v:<n>` keys it builds itself): `version` (the current number), `v:<n>` (a hash:
 * text, at, actor, summary), `history` (version numbers, newest first, bounded) and `audit` (the audit log,
 * see src/admin/audit.ts). A commit is one Lua script: compare the version with the one the change was made on,
 * store the text as the next version, trim the history, and PUBLISH the new number on
 * `<keyPrefix>config:changed`. Each instance subscribes on a second connection and also reads the version
 * every second, so a lost message delays a change by at most a second.
 */
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, hashTag, redisLabel, type RedisClient, type RedisTarget } from '../stores/redis-connect.js';
import type { Logger } from 'pino';
import { ConfigConflictError, ConfigReadonlyError, HISTORY_LIMIT, type CommitMeta, type ConfigSource, type ConfigVersion } from './source.js';

/** VERSION_POLL_MS is the fallback check of the version, for a missed pub/sub message. */
export const VERSION_POLL_MS = 1000;

/** KEYS: version, history. ARGV: base, text, at, actor, summary, version-hash prefix, history limit, channel. */
const COMMIT_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local v = cur + 1
redis.call('HSET', ARGV[6] .. v, 'text', ARGV[2], 'at', ARGV[3], 'actor', ARGV[4], 'summary', ARGV[5])
redis.call('SET', KEYS[1], v)
redis.call('LPUSH', KEYS[2], v)
local limit = tonumber(ARGV[7])
local old = redis.call('LRANGE', KEYS[2], limit, -1)
for _, n in ipairs(old) do redis.call('DEL', ARGV[6] .. n) end
redis.call('LTRIM', KEYS[2], 0, limit - 1)
redis.call('PUBLISH', ARGV[8], v)
return {1, v}
`;

/** RedisSourceOptions open a RedisConfigSource. */
export interface RedisSourceOptions {
  readonly url: string;
  /** Sentinel or Cluster (redisTarget of `store.redis`); wins over `url` when set. */
  readonly target?: RedisTarget;
  readonly keyPrefix: string;
  /** The config file the gateway was started with (relative paths resolve against its folder). */
  readonly file: string;
  readonly log: Logger;
}

/** RedisConfigSource keeps the config in Redis (see the file comment). */
export class RedisConfigSource implements ConfigSource {
  readonly kind = 'redis' as const;
  readonly label: string;
  readonly file: string;
  /** The command connection, shared with the audit log. */
  readonly client: RedisClient;
  /** The audit log's list (`<keyPrefix>config:audit`, hash-tagged like the rest on a Cluster). */
  readonly auditKey: string;
  readonly #log: Logger;
  /** `<keyPrefix>config:`, or `<keyPrefix>{config}:` on a Cluster. */
  readonly #base: string;
  readonly #versionKey: string;
  readonly #historyKey: string;
  readonly #channel: string;
  #sub: RedisClient | null = null;
  #poll: NodeJS.Timeout | null = null;
  /** The newest version this instance has seen, so the poll reports only news. */
  #seen = 0;
  /** The text of that version: stored again if Redis loses the config (see #reseed). */
  #lastText: string | null = null;
  #reseeding = false;

  private constructor(client: RedisClient, target: RedisTarget, o: RedisSourceOptions) {
    this.client = client;
    this.file = o.file;
    this.#log = o.log;
    // The label appears in messages: never the password of the URL.
    this.label = `${redisLabel(target)}/${o.keyPrefix}config`;
    this.#base = `${o.keyPrefix}${hashTag(target, 'config')}:`;
    this.auditKey = `${this.#base}audit`;
    this.#versionKey = `${this.#base}version`;
    this.#historyKey = `${this.#base}history`;
    this.#channel = `${o.keyPrefix}config:changed`;
  }

  /**
   * open connects, and returns the source and the config text to start with: Redis's current version if it has
   * one, otherwise `fileText`, stored as version 1. Throws when Redis cannot be reached.
   */
  static async open(o: RedisSourceOptions, fileText: string): Promise<RedisConfigSource> {
    const target = o.target ?? { kind: 'standalone', url: o.url };
    const client = createRedisClient(target, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1 });
    // Connection errors are reported by writable() and the calls that fail; unhandled 'error' events would crash.
    client.on('error', () => { /* reported where used */ });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new Error(`admin.changes is redis but Redis cannot be reached (${(err as Error).message.split('\n')[0]})`);
    }
    const s = new RedisConfigSource(client, target, o);
    const current = await client.get(s.#versionKey);
    if (current === null) {
      try {
        await s.commit(fileText, 0, { actor: 'start', summary: 'the config file, stored in Redis as the first version' });
        o.log.info({ event: 'config_source', source: s.label, version: 1 }, `config stored in ${s.label} as version 1 (from the file)`);
      } catch (err) {
        // Another instance stored its file first: that version wins, as it would for a later start.
        if (!(err instanceof ConfigConflictError)) { client.disconnect(); throw err; }
      }
    } else {
      o.log.info({ event: 'config_source', source: s.label, version: Number(current) }, `config read from ${s.label} (version ${current}); the file's own content is not used`);
    }
    return s;
  }

  async read(): Promise<ConfigVersion> {
    const n = Number(await this.client.get(this.#versionKey) ?? '0');
    const v = await this.#version(n);
    if (v === null) throw new Error(`version ${n} of the config is missing from Redis`);
    // Versions only grow in Redis; a lower one means Redis lost its data and the config was stored again.
    this.#seen = n;
    this.#lastText = v.text;
    return v;
  }

  writable(): { ok: true } | { ok: false; reason: string } {
    return this.client.status === 'ready' ? { ok: true } : { ok: false, reason: 'Redis, which holds the config, cannot be reached' };
  }

  async commit(text: string, base: number, meta: CommitMeta): Promise<ConfigVersion> {
    const w = this.writable();
    if (!w.ok) throw new ConfigReadonlyError(w.reason);
    const at = new Date().toISOString();
    const r = await this.client.eval(COMMIT_SCRIPT, 2, this.#versionKey, this.#historyKey,
      String(base), text, at, meta.actor, meta.summary, `${this.#base}v:`, String(HISTORY_LIMIT), this.#channel) as [number, number];
    if (Number(r[0]) !== 1) throw new ConfigConflictError(Number(r[1]));
    const version = Number(r[1]);
    if (version > this.#seen) { this.#seen = version; this.#lastText = text; }
    return { version, text, at, actor: meta.actor, summary: meta.summary };
  }

  async history(limit: number): Promise<readonly ConfigVersion[]> {
    if (limit <= 0) return [];
    const ns = await this.client.lrange(this.#historyKey, 0, limit - 1);
    const out: ConfigVersion[] = [];
    for (const n of ns) {
      const v = await this.#version(Number(n));
      if (v !== null) out.push(v);
    }
    return out;
  }

  watch(onChange: () => void): void {
    if (this.#sub !== null) return;
    // The two classes' duplicate() differ in their arguments; neither is given any.
    const sub: RedisClient = this.client.isCluster ? (this.client as Cluster).duplicate() : (this.client as Redis).duplicate();
    sub.on('error', () => { /* the poll covers a lost subscription */ });
    sub.on('message', (_channel: string, message: string) => {
      if (Number(message) > this.#seen) onChange();
    });
    sub.subscribe(this.#channel).catch((err: unknown) => {
      this.#log.warn({ event: 'config_watch_failed', err: String((err as Error).message) }, 'cannot subscribe to config changes; the version is still checked every second');
    });
    this.#sub = sub;
    this.#poll = setInterval(() => {
      this.client.get(this.#versionKey).then((v) => {
        if (v === null) { if (this.#seen > 0) void this.#reseed(); return; }
        // Higher: another instance's change. Lower: Redis lost the config and an instance stored it again.
        if (Number(v) !== this.#seen) onChange();
      }, () => { /* Redis down: try again next tick */ });
    }, VERSION_POLL_MS);
    this.#poll.unref();
  }

  /**
   * #reseed runs when the config is gone from Redis although this instance applied a version (Redis restarted
   * without persistence, a FLUSHALL, a failover to an empty replica): it stores the config it runs as version
   * 1 again, so admin changes work again and instances agree. Of several instances one wins the
   * compare-and-set; the others pick its version up on their next check.
   */
  async #reseed(): Promise<void> {
    if (this.#reseeding || this.#lastText === null) return;
    this.#reseeding = true;
    this.#log.error({ event: 'config_lost', source: this.label, version: this.#seen }, `the config is gone from ${this.label} (Redis lost its data); storing the running config again`);
    this.#seen = 0;
    try {
      await this.commit(this.#lastText, 0, { actor: 'recovery', summary: 'the running config, stored again after Redis lost it' });
    } catch {
      /* another instance stored it first, or Redis is away again: the next check looks again */
    } finally {
      this.#reseeding = false;
    }
  }

  async close(): Promise<void> {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    this.#sub?.disconnect();
    this.#sub = null;
    try { await this.client.quit(); } catch { this.client.disconnect(); }
  }

  async #version(n: number): Promise<ConfigVersion | null> {
    if (n <= 0) return null;
    const h = await this.client.hgetall(`${this.#base}v:${n}`);
    if (h.text === undefined) return null;
    return { version: n, text: h.text, at: h.at ?? '', actor: h.actor ?? '', summary: h.summary ?? '' };
  }
}
