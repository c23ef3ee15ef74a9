/**
 * Builds the configured store. Redis is imported only when configured, so a gateway on the memory store
 * never loads the Redis client. The fingerprint lets a hot reload keep the running store (its connection
 * and its in-memory counts) when `store:` did not change in a way the store itself sees.
 */
import type { Logger } from 'pino';
import type { Store } from './types.js';
import type { StoreConfig } from './schema.js';
import { MemoryStore } from './memory.js';
import { parseDuration } from '../config/units.js';

/**
 * createStore builds the store `config` names: a MemoryStore, or a RedisStore that has tried to connect
 * for up to a second (and, if Redis is not there, is down and keeps retrying in the background).
 * `usageRetentionMs` is how long hourly usage is kept (default 400 days).
 */
export async function createStore(config: StoreConfig, log: Logger, usageRetentionMs?: number): Promise<Store> {
  if (config === 'memory') return new MemoryStore(usageRetentionMs === undefined ? {} : { usageRetentionMs });
  const { RedisStore } = await import('./redis.js');
  const r = config.redis;
  return RedisStore.open({ url: r.url, keyPrefix: r.keyPrefix, timeoutMs: parseDuration(r.timeout), log, ...(usageRetentionMs === undefined ? {} : { usageRetentionMs }) });
}

/**
 * storeFingerprint identifies what the store is built from: equal fingerprints mean the running store can
 * be kept across a reload. `failMode` is left out: it is the callers' behaviour, not the store's, so
 * changing it does not drop the connection. Keys are in a fixed order, whatever the order in the YAML.
 * (The string may hold the Redis password of the URL: compare it, never log it.)
 */
export function storeFingerprint(config: StoreConfig): string {
  if (config === 'memory') return JSON.stringify('memory');
  const r = config.redis;
  return JSON.stringify({ redis: { url: r.url, keyPrefix: r.keyPrefix, timeout: r.timeout } });
}
