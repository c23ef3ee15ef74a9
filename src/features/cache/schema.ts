/**
 * The schema of `cache`: response caching on a route, a service or under `defaults`. Descriptions here are
 * the user documentation (docs/config-reference.md is generated from them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size, HEADER_NAME_PATTERN } from '../../config/units.js';

const HEADER_NAME = Type.String({
  pattern: HEADER_NAME_PATTERN,
  errorMessage: 'must be a header name (letters, digits and !#$%&\'*+.^`|~-)',
});

/** CacheSchema is the value of `cache:`. */
export const CacheSchema = Type.Object({
  ttl: Duration('How long a response stays fresh when it says nothing itself (no `s-maxage`, `max-age` or `Expires`). Default 60s.', '60s'),
  statuses: Type.Array(Type.Integer({ minimum: 200, maximum: 599 }), {
    minItems: 1,
    uniqueItems: true,
    default: [200, 301, 404],
    description: 'Response statuses that may be stored (206 and 304 never are). Default [200, 301, 404].',
  }),
  query: Type.Union([Type.Literal('all'), Type.Literal('ignore'), Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true })], {
    default: 'all',
    errorMessage: 'must be all, ignore or a list of parameter names',
    description: 'Which query parameters are part of the key: `all` (default; sorted by name, so their order does not matter), `ignore` (none: every query shares one entry), or a list of names (the others are ignored). The upstream always receives the whole query: ignore only parameters it ignores too.',
  }),
  headers: Type.Array(HEADER_NAME, {
    maxItems: 16,
    uniqueItems: true,
    default: [],
    description: 'Request headers whose values are part of the key (`[accept-language]`), as sent upstream. Responses that name headers in `Vary` are kept apart by those too, without listing them here. Default: none.',
  }),
  byConsumer: Type.Boolean({
    default: false,
    description: 'Keep a separate entry per authenticated consumer (the key includes the consumer), which also lets authenticated requests use the cache. Default false.',
  }),
  shareAuthenticated: Type.Boolean({
    default: false,
    description: 'Let requests with `Authorization` or an authenticated caller share entries with everyone. Off (default), such requests bypass the cache (unless `byConsumer`): an answer meant for one caller must not be served to another.',
  }),
  storeSetCookie: Type.Boolean({
    default: false,
    description: 'Store responses that carry `Set-Cookie` (the cookie is then replayed to every client served from the entry). Default false: such responses are not stored.',
  }),
  staleWhileRevalidate: Duration('How long past its freshness an entry may still be served (`X-Cache: STALE`) while one background request refreshes it, when the response has no `stale-while-revalidate` of its own (and no `must-revalidate`). Proxied routes only. Default 0s (off).', '0s'),
  maxEntrySize: Size('Largest response body stored; a larger response is passed through and not stored. Default 1mb.', '1mb'),
  maxSize: Size('Memory budget of the route\'s in-memory cache (bodies, headers and keys); the least recently used entries go first. Each route with a memory cache has its own budget. Default 16mb.', '16mb'),
  lockTimeout: Duration('How long concurrent misses for one key wait for the first one\'s response (to be served from it) before going to the backend themselves. Default 5s.', '5s'),
  store: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
    default: 'memory',
    errorMessage: 'must be memory or redis',
    description: '`memory` (default: this process, an LRU bounded by `maxSize`) or `redis` (the Redis of the top-level `store:`, shared by every instance on it, under `<keyPrefix>cache:`; needs `store: { redis: ... }`).',
  }),
}, {
  additionalProperties: false,
  description: 'Response caching of GET and HEAD requests. The key is the route, the path, the query, the host, the configured `headers` and, with `byConsumer`, the consumer. Response `Cache-Control` is honoured (`no-store`, `no-cache`, `private` → not stored; `s-maxage` over `max-age` over `Expires`; `stale-while-revalidate`), as is `Vary` (`*` → not stored); the client\'s own `Cache-Control` is ignored, so a client cannot empty the cache at will. Answers carry `X-Cache: HIT`, `MISS`, `STALE` or `BYPASS` (and `Age` on hits). Concurrent misses for one key make one backend call. See docs/caching.md.',
});

/** CacheConfig is a validated `cache` value. */
export type CacheConfig = Static<typeof CacheSchema>;
