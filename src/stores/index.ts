/**
 * Builds the configured store. Redis is imported only when configured, so a gateway on the memory store
 * never loads the Redis client. checkStoreConfig
 * refuses a Redis URL the client would misread, at config load rather than at connection time.
 */
import type { Logger } from 'pino';
import type { Store } from './types.js';
import { DEFAULT_REDIS_URL, type StoreConfig } from './schema.js';
import { MemoryStore } from './memory.js';
import { clusterStore } from '../cluster/ipc-store.js';
import { parseDuration } from '../config/units.js';

/**
 * createStore builds the store `config` names: a MemoryStore (in a cluster worker, an IpcStore on the one
 * MemoryStore its primary holds for every worker: src/cluster/ipc-store.ts), or a RedisStore that has tried
 * to connect for up to a second (and, if Redis is not there, is down and keeps retrying in the background).
 * `usageRetentionMs` is how long hourly usage is kept (default 400 days).
 */
export async function createStore(config: StoreConfig, log: Logger, usageRetentionMs?: number): Promise<Store> {
  if (config === 'memory') return clusterStore(log, usageRetentionMs) ?? new MemoryStore(usageRetentionMs === undefined ? { log } : { log, usageRetentionMs });
  const [{ RedisStore }, { redisTarget }] = await Promise.all([import('./redis.js'), import('./redis-connect.js')]);
  const r = config.redis;
  return RedisStore.open({ url: r.url, target: redisTarget(r), keyPrefix: r.keyPrefix, timeoutMs: parseDuration(r.timeout), log, ...(usageRetentionMs === undefined ? {} : { usageRetentionMs }) });
}

/** The largest database number accepted in a Redis URL (Redis's own bound is its `databases` setting). */
const MAX_REDIS_DB = 2_147_483_647;

/**
 * checkStoreConfig returns the problems of `store:` that its schema cannot see, as (path relative to
 * `store`, message) pairs; none for `memory`. The Redis URL must parse (WHATWG URL, as the client parses
 * it), name a host and a port from 1 to 65535, have no path but `/<db number>`, and no query or fragment:
 * the client would read query parameters as options that override the store's own (its timeout, its
 * offline queue). Messages never repeat the URL, which may hold a password.
 */
export function checkStoreConfig(config: StoreConfig): [string, string][] {
  if (config === 'memory') return [];
  const r = config.redis;
  const sentinel = r.sentinels !== undefined;
  const cluster = r.cluster !== undefined;
  if (sentinel || cluster) {
    const out: [string, string][] = [];
    if (sentinel && cluster) out.push(['.redis.cluster', 'cannot be combined with sentinels: name one topology']);
    // The default URL cannot be told from one written out; any other URL is a mistake to point out.
    if (r.url !== DEFAULT_REDIS_URL) out.push(['.redis.url', `is not used with ${sentinel ? 'sentinels' : 'cluster'}: remove it (credentials go in username and password, TLS in tls)`]);
    if (sentinel && r.name === undefined) out.push(['.redis.name', 'is required with sentinels: the name the Sentinels monitor the primary under (mymaster)']);
    if (!sentinel && r.name !== undefined) out.push(['.redis.name', 'is only used with sentinels']);
    if (!sentinel && r.sentinelPassword !== undefined) out.push(['.redis.sentinelPassword', 'is only used with sentinels']);
    if (cluster && r.db !== undefined && r.db !== 0) out.push(['.redis.db', 'must be 0 with cluster: Redis Cluster has only database 0']);
    return out;
  }
  for (const key of ['name', 'sentinelPassword', 'db', 'username', 'password', 'tls'] as const) {
    if (r[key] !== undefined) return [[`.redis.${key}`, key === 'name' || key === 'sentinelPassword' ? 'is only used with sentinels' : 'is only used with sentinels or cluster: with url, write it in the URL (redis://user:password@host:port/db, rediss:// for TLS)']];
  }
  const path = '.redis.url';
  const text = config.redis.url;
  if (!/^rediss?:\/\//.test(text)) return [[path, 'must be a redis:// or rediss:// URL']];
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The parser refuses a port past 65535 without saying so: name that case, the commonest.
    const port = /^rediss?:\/\/(?:[^@/?#]*@)?(?:\[[^\]/?#]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/.exec(text);
    if (port !== null && Number(port[1]) > 65535) return [[path, 'port is out of range (1 to 65535)']];
    return [[path, 'is not a valid URL (expected redis://[user:password@]host:port[/db], with special characters of the password percent-encoded)']];
  }
  const out: [string, string][] = [];
  if (url.hostname === '') out.push([path, 'must name a host (redis://host:port)']);
  if (url.port === '0') out.push([path, 'port is out of range (1 to 65535)']);
  if (url.pathname !== '' && url.pathname !== '/') {
    const db = /^\/(\d{1,10})$/.exec(url.pathname);
    if (db === null || Number(db[1]) > MAX_REDIS_DB) out.push([path, 'path must be a database number (redis://host:port/0) or nothing']);
  }
  if (url.search !== '' || text.includes('?')) out.push([path, 'must not have a query (?...): set options under store.redis']);
  if (url.hash !== '' || text.includes('#')) out.push([path, 'must not have a fragment (#...): percent-encode # in a password as %23']);
  return out;
}
