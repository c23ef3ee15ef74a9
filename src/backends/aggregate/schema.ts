/**
 * The `aggregate:` block of a route: the backends it calls, how their answers are shaped and merged, and
 * what happens when some fail. The descriptions here are the user documentation of the block.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../../config/units.js';

/** BACKEND_NAME is the form of a backend's name: a JSON key, a placeholder root and a structured-field token. */
export const BACKEND_NAME = '^[A-Za-z][A-Za-z0-9_-]*$';

const FIELD_PATH = Type.String({
  minLength: 1,
  description: 'Dot path of a field (`address.city`); arrays on the way are entered, so the path applies to every element.',
});

/**
 * AggregateCallSchema is one entry of `aggregate.backends`. Its defaults are applied when the backend is built
 * (config defaults do not reach into records), so the schema states them in descriptions only.
 */
export const AggregateCallSchema = Type.Object({
  service: Type.String({ description: 'Service under `services:` that this call goes to. Calls only ever reach the config\'s services.' }),
  path: Type.String({
    minLength: 1,
    description: 'Path (and query) of the call, starting with `/`. Placeholders are filled per request, each value encoded as one path segment: `{id}` (the route\'s path parameter `:id`), `{query.x}`, `{header.x}`, `{consumer.id}`, `{consumer.metadata.x}`, `{claims.x}` (a dot path into the token\'s claims) and `{<backend>.<dot.path>}` (a value from an earlier backend\'s response, which makes this call wait for it). The client\'s own query string is not forwarded.',
  }),
  method: Type.Optional(Type.String({
    pattern: '^(GET|POST|PUT|PATCH|DELETE)$',
    errorMessage: 'must be GET, POST, PUT, PATCH or DELETE',
    description: 'Method of the call: GET, POST, PUT, PATCH or DELETE; no body is ever sent. Default GET.',
  })),
  timeout: Type.Optional(Duration('Time for this call, headers and body, within the aggregate\'s own `timeout`. Default: the aggregate\'s `timeout`.')),
  maxSize: Type.Optional(Size('Largest response body read from this call; a larger one fails the call (GH_RESPONSE_TOO_LARGE). Default 1mb.')),
  extract: Type.Optional(Type.String({ minLength: 1, description: 'Keep only this sub-value of the response (dot path, `data.user`); a missing one gives `null`. Applied first.' })),
  flatten: Type.Optional(Type.String({ minLength: 1, description: 'Collect the values at this dot path across nested arrays into one flat array (`orders.items` turns `{orders:[{items:[1,2]},{items:[3]}]}` into `[1,2,3]`). Applied after `extract`.' })),
  allow: Type.Optional(Type.Array(FIELD_PATH, { minItems: 1, description: 'Keep only these fields (dot paths); everything else is dropped. Applied after `flatten`; give `allow` or `deny`, not both.' })),
  deny: Type.Optional(Type.Array(FIELD_PATH, { minItems: 1, description: 'Drop these fields (dot paths). Applied after `flatten`; give `allow` or `deny`, not both.' })),
  rename: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^[^.]+$', errorMessage: 'must be a plain name (no dots)' }), {
    description: 'Rename fields: `{ name: fullName }`; a dot path renames its last segment wherever the path leads (`addresses.zip: postcode`). Applied last.',
  })),
  hide: Type.Optional(Type.Boolean({ description: 'Call this backend only for the values later paths take from it; leave its answer out of the response. Default false.' })),
}, { additionalProperties: false });

/** AggregateSchema is a route's `aggregate:` block. */
export const AggregateSchema = Type.Object({
  merge: Type.Union([Type.Literal('keys'), Type.Literal('flat')], {
    default: 'keys',
    description: '`keys`: each backend\'s answer under its name. `flat`: the answers\' members merged into one object, later backends winning (an answer that is not an object stays under its name). Default keys.',
  }),
  onFailure: Type.Union([Type.Literal('partial'), Type.Literal('fail')], {
    default: 'partial',
    description: '`partial`: answer 200 with what arrived, the failed parts listed in `$errors` and the `Gatehouse-Partial` header. `fail`: any failed part fails the request with the worst status of the failed parts (GH_AGGREGATE_FAILED). When every part failed, both answer as `fail`. Default partial.',
  }),
  timeout: Duration('Time for the whole aggregation, sequential steps included; each call gets at most what is left of it. Default 10s.', '10s'),
  backends: Type.Record(Type.String({ pattern: BACKEND_NAME }), AggregateCallSchema, {
    minProperties: 1,
    description: 'The calls, by name (the answer\'s key with `merge: keys`). Calls run in parallel unless a path takes a value from another call\'s response.',
  }),
}, { additionalProperties: false, description: 'Answer by calling several services and merging their JSON answers (composition).' });

/** AggregateConfig is a validated `aggregate:` block. */
export type AggregateConfig = Static<typeof AggregateSchema>;

/** AggregateCallConfig is one validated entry of `aggregate.backends`. */
export type AggregateCallConfig = Static<typeof AggregateCallSchema>;

/** DEFAULT_CALL_METHOD is the `method` of a call that sets none. */
export const DEFAULT_CALL_METHOD = 'GET';

/** DEFAULT_MAX_SIZE is the `maxSize` of a call that sets none. */
export const DEFAULT_MAX_SIZE = '1mb';
