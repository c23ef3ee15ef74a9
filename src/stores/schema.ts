/**
 * The schema of `store:`, where rate-limit and quota counters and metered usage live. Descriptions here are
 * the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/units.js';

/** RedisStoreSchema is `store: { redis: {...} }`. */
export const RedisStoreSchema = Type.Object({
  url: Type.String({
    pattern: '^rediss?://',
    default: 'redis://127.0.0.1:6379',
    description: 'Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS). Default redis://127.0.0.1:6379.',
    errorMessage: 'must be a redis:// or rediss:// URL',
  }),
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
  description: 'Where rate-limit and quota counters and usage live: `memory` (default: this process only, lost on restart) or `{ redis: { url } }` to share exact counts across every instance using the same Redis and key prefix.',
  errorMessage: 'must be memory or { redis: { url: redis://... } }',
});

/** StoreConfig is a validated `store:` value. */
export type StoreConfig = Static<typeof StoreSchema>;
/** RedisStoreConfig is a validated `store.redis` block. */
export type RedisStoreConfig = Static<typeof RedisStoreSchema>;
