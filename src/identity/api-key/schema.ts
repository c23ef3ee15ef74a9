/** Schema of the `apiKey` method of an `auth:` entry: where the key is read and what shape it must have. */
import { Type, type Static } from '@sinclair/typebox';

/** ApiKeySchema is the value of `apiKey:` inside an `auth:` entry. */
export const ApiKeySchema = Type.Object({
  header: Type.String({
    default: 'x-api-key',
    pattern: '^[A-Za-z0-9-]+$',
    errorMessage: 'must be a header name of letters, digits and - (names with _ are dropped by the gateway)',
    description: 'Request header that carries the key (case-insensitive). It is removed before forwarding unless the route sets `forwardCredentials: true`. Default `x-api-key`.',
  }),
  query: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]+$',
    errorMessage: 'must be a query parameter name of letters, digits, _, . and -',
    description: 'Query parameter that may carry the key instead of the header (e.g. `api_key`), for clients that cannot set headers. Read only when set; the parameter is removed before forwarding. Default: none (a key in the query is not a credential and is left alone).',
  })),
  format: Type.Union([Type.Literal('gatehouse'), Type.Literal('any')], {
    default: 'gatehouse',
    errorMessage: 'must be one of gatehouse, any',
    description: '`gatehouse`: keys in the shape `gatehouse keys new` makes (a prefix such as `gh_live_`, then 49 base62 characters); anything else is refused before hashing. `any`: keys issued by another system, 16 to 256 visible ASCII characters. Default `gatehouse`.',
  }),
}, { additionalProperties: false, description: 'API keys from a header (or a query parameter where set), looked up by SHA-256 in `consumers.<id>.keys`. Challenge: `ApiKey header="x-api-key"`.' });

/** ApiKeyConfig is one validated `apiKey:` entry. */
export type ApiKeyConfig = Static<typeof ApiKeySchema>;
