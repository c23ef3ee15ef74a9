/**
 * `gatehouse cache purge --route NAME [--prefix /users/]`: deletes a route's cached responses. A cache in
 * Redis (`cache.store: redis`) is purged in Redis directly, for every instance at once. A memory cache lives
 * inside the gateway process, so the command asks the running gateway through its admin listener
 * (`POST /cache/purge`, with the admin token of the config); without `admin:` it cannot reach it.
 */
import { loadConfigFile } from '../config/load.js';
import { compile } from '../config/compile.js';
import { preloadFor } from '../config/preload.js';
import { silentLogger } from '../observability/log.js';
import { createStore } from '../stores/index.js';
import type { RedisStore } from '../stores/redis.js';
import { cacheFeatureOf } from '../features/cache/feature.js';
import { pathKeyPrefix, routeKeyPrefix } from '../features/cache/key.js';
import { RedisCacheStore } from '../features/cache/redis-store.js';
import { CliError } from './usage.js';

/** CachePurgeOptions are the flags of `gatehouse cache purge`. */
export interface CachePurgeOptions {
  file: string;
  route?: string | undefined;
  /** Path prefix (with the query, if wanted) of the entries to delete; all of the route's without it. */
  prefix?: string | undefined;
}

/** How long the command waits for the admin listener. */
const ADMIN_TIMEOUT_MS = 10_000;

/**
 * runCachePurge purges and prints how many entries went; resolves with that number. User mistakes and
 * unreachable stores or gateways are CliError (exit 2); a bad config throws ConfigError (exit 1).
 */
export async function runCachePurge(o: CachePurgeOptions, out: (s: string) => void): Promise<number> {
  const route = o.route;
  if (route === undefined || route === '') throw new CliError('--route NAME is required');
  const prefix = o.prefix === undefined || o.prefix === '' ? undefined : o.prefix;
  if (prefix !== undefined && !prefix.startsWith('/')) throw new CliError('--prefix must be a path starting with / (e.g. /users/)');
  const loaded = loadConfigFile(o.file);
  await preloadFor(loaded.config);
  const rt = compile(loaded, silentLogger());
  const compiled = rt.routes.find((r) => r.name === route);
  const feature = compiled === undefined ? null : cacheFeatureOf(compiled.features);
  const kind = feature?.storeKind;
  await rt.retire(0);
  if (compiled === undefined) throw new CliError(`unknown route "${route}"`);
  if (kind === undefined) throw new CliError(`route "${route}" has no cache`);
  const config = loaded.config;
  let purged: number;
  if (kind === 'redis') {
    if (typeof config.store !== 'object') throw new CliError(`route "${route}" asks for cache.store: redis, but the top-level store: is memory`);
    purged = await purgeRedis(config.store, route, prefix);
  } else {
    purged = await purgeThroughAdmin(config.admin, route, prefix);
  }
  out(`purged ${purged} cache ${purged === 1 ? 'entry' : 'entries'} of route ${route}${prefix === undefined ? '' : ` under ${prefix}`}\n`);
  return purged;
}

async function purgeRedis(store: Exclude<ReturnType<typeof loadConfigFile>['config']['store'], 'memory'>, route: string, prefix: string | undefined): Promise<number> {
  const log = silentLogger();
  const s = await createStore(store, log);
  try {
    if (!s.health.up) throw new CliError('the store (Redis) cannot be reached');
    const rs = s as RedisStore;
    const cache = new RedisCacheStore(rs.client, rs.keyPrefix, log, Date.now);
    try {
      return await cache.purge(prefix === undefined ? routeKeyPrefix(route) : pathKeyPrefix(route, prefix));
    } catch {
      throw new CliError('the store (Redis) failed during the purge; run the command again');
    }
  } finally {
    await s.close();
  }
}

async function purgeThroughAdmin(admin: ReturnType<typeof loadConfigFile>['config']['admin'], route: string, prefix: string | undefined): Promise<number> {
  if (admin === undefined) {
    throw new CliError(`route "${route}" caches in the gateway's memory, which this command reaches through the admin listener; the config has no \`admin:\` (add one, or use cache.store: redis)`);
  }
  if (admin.port === 0) throw new CliError('admin.port is 0 (any free port), so the command cannot know where the admin listener is; set a fixed port');
  const host = admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
  const query = new URLSearchParams({ route, ...(prefix === undefined ? {} : { prefix }) });
  let res: Response;
  try {
    res = await fetch(`${base}/cache/purge?${query.toString()}`, {
      method: 'POST',
      headers: admin.token === undefined ? {} : { authorization: `Bearer ${admin.token}` },
      signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
    });
  } catch {
    throw new CliError(`no gateway answers on the admin listener at ${base}; is it running with this config?`);
  }
  let body: { purged?: unknown; title?: unknown } = {};
  try { body = (await res.json()) as typeof body; } catch { /* reported below by status */ }
  if (res.status === 200 && typeof body.purged === 'number') return body.purged;
  if (res.status === 401) throw new CliError('the admin listener did not accept the token of this config (admin.token)');
  throw new CliError(`the admin listener answered ${res.status}${typeof body.title === 'string' ? `: ${body.title}` : ''}`);
}
