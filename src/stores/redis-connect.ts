/**
 * Where Gatehouse's Redis is and how to reach it: one server by URL, a primary found through Redis Sentinel,
 * or a Redis Cluster (`store.redis`: `url`, `sentinels` + `name`, or `cluster`). The store, the response
 * cache and the config kept in Redis (`admin.changes: redis`) all connect through createRedisClient, so the
 * three topologies behave alike everywhere.
 *
 * On Redis Cluster every multi-key command and script must keep its keys in one hash slot. Limit checks do
 * (a route's counters share the tag `{<route>}`, built by the rate-limit feature; a quota is one key), and
 * the store and the config source tag their own keys with `hashTag` when `cluster` is set: usage by
 * consumer, the config under `{config}`. Without Cluster the key names are the ones they always were.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisStoreConfig } from './schema.js';

/** RedisNode is one address (a Sentinel, or a seed node of a Cluster). */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** RedisTarget is a validated `store.redis` reduced to where to connect and with which credentials. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | {
    readonly kind: 'sentinel';
    readonly sentinels: readonly RedisNode[];
    readonly name: string;
    readonly username: string | undefined;
    readonly password: string | undefined;
    readonly sentinelPassword: string | undefined;
    readonly db: number;
    readonly tls: boolean;
  }
  | {
    readonly kind: 'cluster';
    readonly nodes: readonly RedisNode[];
    readonly username: string | undefined;
    readonly password: string | undefined;
    readonly tls: boolean;
  };

/** RedisClient is a connection to any of the three topologies. */
export type RedisClient = Redis | Cluster;

/** redisTarget reads `store.redis` (checked by checkStoreConfig: at most one of sentinels and cluster). */
export function redisTarget(r: RedisStoreConfig): RedisTarget {
  if (r.sentinels !== undefined) {
    return { kind: 'sentinel', sentinels: r.sentinels, name: r.name ?? '', username: r.username, password: r.password, sentinelPassword: r.sentinelPassword, db: r.db ?? 0, tls: r.tls ?? false };
  }
  if (r.cluster !== undefined) return { kind: 'cluster', nodes: r.cluster, username: r.username, password: r.password, tls: r.tls ?? false };
  return { kind: 'standalone', url: r.url };
}

/** redisLabel names the target in messages: addresses and the master name, never a password. */
export function redisLabel(t: RedisTarget): string {
  if (t.kind === 'standalone') {
    const u = new URL(t.url);
    return `${u.protocol}//${u.host}`;
  }
  const nodes = (t.kind === 'sentinel' ? t.sentinels : t.nodes).map((n) => `${n.host}:${n.port}`).join(',');
  return t.kind === 'sentinel' ? `redis-sentinel://${nodes}/${t.name}` : `redis-cluster://${nodes}`;
}

/**
 * hashTag returns `text` as a Redis Cluster hash tag (`{text}`) when the target is a Cluster, else `text`
 * unchanged, so key names on a single server or behind Sentinel stay what they were.
 */
export function hashTag(t: RedisTarget, text: string): string {
  return t.kind === 'cluster' ? `{${text}}` : text;
}

/** A master that became a replica in a failover answers writes with READONLY: reconnect to find the new one. */
function reconnectOnReadonly(err: Error): boolean {
  return err.message.startsWith('READONLY');
}

/**
 * createRedisClient connects to the target with `options`, the settings of each connection (timeouts,
 * retries, offline queue). For a Cluster, `retryStrategy` and `enableOfflineQueue` become the Cluster's own
 * (`clusterRetryStrategy`, `enableOfflineQueue`) and the rest apply to every node's connection; commands go
 * to the masters only (`scaleReads: 'master'`), since counters must read what was just written.
 */
export function createRedisClient(t: RedisTarget, options: RedisOptions): RedisClient {
  if (t.kind === 'standalone') return new Redis(t.url, options);
  if (t.kind === 'sentinel') {
    return new Redis({
      ...options,
      sentinels: t.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: t.name,
      db: t.db,
      ...(t.username === undefined ? {} : { username: t.username }),
      ...(t.password === undefined ? {} : { password: t.password }),
      ...(t.sentinelPassword === undefined ? {} : { sentinelPassword: t.sentinelPassword }),
      ...(t.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      // Learn of a failover from the Sentinels at once rather than from the first failed command.
      failoverDetector: true,
      reconnectOnError: reconnectOnReadonly,
    });
  }
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  const cluster: ClusterOptions = {
    ...(typeof retryStrategy === 'function' ? { clusterRetryStrategy: retryStrategy } : {}),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    scaleReads: 'master',
    redisOptions: {
      ...perNode,
      ...(t.username === undefined ? {} : { username: t.username }),
      ...(t.password === undefined ? {} : { password: t.password }),
      ...(t.tls ? { tls: {} } : {}),
      reconnectOnError: reconnectOnReadonly,
    },
  };
  return new Cluster(t.nodes.map((n) => ({ host: n.host, port: n.port })), cluster);
}
