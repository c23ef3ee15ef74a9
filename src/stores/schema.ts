/**
 * The schema of `store:`, where rate-limit and quota counters and metered usage live. Descriptions here are
 * the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/units.js';

/** DEFAULT_REDIS_URL is `store.redis.url` when not set. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** RedisNodeSchema is one address: a Sentinel, or a seed node of a Cluster. */
export const RedisNodeSchema = Type.Object({
  host: Type.String({ minLength: 1, description: 'Host name or IP address.' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port (Sentinels usually listen on 26379).' }),
}, { additionalProperties: false });

/** RedisStoreSchema is `store: { redis: {...} }`. */
export const RedisStoreSchema = Type.Object({
  url: Type.String({
    pattern: '^rediss?://',
    default: DEFAULT_REDIS_URL,
    description: 'Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) of a single Redis server. Not used with `sentinels` or `cluster`. Default redis://127.0.0.1:6379.',
    errorMessage: 'must be a redis:// or rediss:// URL',
  }),
  sentinels: Type.Optional(Type.Array(RedisNodeSchema, {
    minItems: 1,
    description: 'Redis Sentinel: the Sentinels to ask for the current primary of `name` (`[{ host, port }]`); Gatehouse follows failovers. Credentials of the primary go in `username`/`password`, not in `url`. Default: none (a single server at `url`).',
  })),
  name: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]{1,64}$',
    description: 'With `sentinels`: the name the Sentinels monitor the primary under (`sentinel monitor <name> ...`), such as `mymaster`. Required with `sentinels`.',
    errorMessage: 'must be 1 to 64 letters, digits or _ . -',
  })),
  sentinelPassword: Type.Optional(Type.String({ description: 'With `sentinels`: the password of the Sentinels themselves (`requirepass` in sentinel.conf), when they have one; write it as `${VAR}`. Default: none.' })),
  db: Type.Optional(Type.Integer({ minimum: 0, description: 'With `sentinels`: the database number. Default 0. (Redis Cluster has only database 0.)' })),
  cluster: Type.Optional(Type.Array(RedisNodeSchema, {
    minItems: 1,
    description: 'Redis Cluster: some of its nodes (`[{ host, port }]`), from which Gatehouse learns the rest and the slots. Keys of one script share a hash tag (docs/deployment.md). Default: none (a single server at `url`).',
  })),
  username: Type.Optional(Type.String({ minLength: 1, description: 'With `sentinels` or `cluster`: the ACL user (Redis 6+). Default: none (the `default` user). With `url`, put it in the URL.' })),
  password: Type.Optional(Type.String({ minLength: 1, description: 'With `sentinels` or `cluster`: the password of the Redis servers; write it as `${VAR}`. Default: none. With `url`, put it in the URL.' })),
  tls: Type.Optional(Type.Boolean({ description: 'With `sentinels` or `cluster`: connect with TLS (to the Sentinels too). Default false. With `url`, write `rediss://`.' })),
  keyPrefix: Type.String({
    pattern: '^[A-Za-z0-9_.:-]{1,64}$',
    default: 'gatehouse:',
    description: 'Prefix of every key Gatehouse writes, so several gateways (or other users) can share one Redis. Instances that must share limits use the same prefix. Default `gatehouse:`.',
    errorMessage: 'must be 1 to 64 letters, digits or _ . : -',
  }),
  timeout: Duration('How long a limit check may wait for Redis before the fail mode applies. Default 250ms.', '250ms'),
  failMode: Type.Union([Type.Literal('open'), Type.Literal('closed')], {
    default: 'open',
    description: 'What limited routes do while Redis cannot be reached: `open` lets requests through unlimited (default, as Kong\'s fault-tolerant mode), `closed` refuses them with 503 `GH_STORE_UNAVAILABLE`. Each outage is logged once when it starts and once when it ends; the connection is retried in the background.',
    errorMessage: 'must be open or closed',
  }),
}, { additionalProperties: false, default: {} });

/** StoreSchema is the top-level `store:` key. */
export const StoreSchema = Type.Union([
  Type.Literal('memory'),
  Type.Object({ redis: RedisStoreSchema }, { additionalProperties: false }),
], {
  default: 'memory',
  description: 'Where rate-limit and quota counters and usage live: `memory` (default: this process only, lost on restart) or `{ redis: { url } }` (or `sentinels` + `name`, or `cluster`) to share exact counts across every instance using the same Redis and key prefix.',
  errorMessage: 'must be memory or { redis: { url: redis://... } }',
});

/** StoreConfig is a validated `store:` value. */
export type StoreConfig = Static<typeof StoreSchema>;
/** RedisStoreConfig is a validated `store.redis` block. */
export type RedisStoreConfig = Static<typeof RedisStoreSchema>;
