/** Schema of the route key `auth`: which named authenticators a route accepts. */
import { Type } from '@sinclair/typebox';

const Names = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Names of entries under `auth:`, tried in order; the first credential present decides.' });

/** AuthSchema is the value of `auth:` on a route, a service or under `defaults`. */
export const AuthSchema = Type.Union([
  Names,
  Type.Object({
    methods: Names,
    anonymous: Type.Boolean({ default: false, description: 'Let requests with no credential at all through, unauthenticated. A credential that is present but bad is still refused. Default false.' }),
    unknownConsumers: Type.Boolean({ default: false, description: 'Accept a valid token whose subject is no configured consumer, as an authenticated caller without a consumer. Default false (401 `GH_UNKNOWN_CONSUMER`).' }),
    forwardCredentials: Type.Boolean({ default: false, description: 'Forward the credential (Authorization header, API key) upstream. Default false: it is removed.' }),
  }, { additionalProperties: false }),
], { description: 'Authentication: a list of authenticator names (any one suffices), or the object form with options. Failures answer 401 with `WWW-Authenticate`; the request is never forwarded.' });
