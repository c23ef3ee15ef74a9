/**
 * Schema of the `introspection` method of an `auth:` entry: OAuth 2.0 Token Introspection (RFC 7662)
 * against one endpoint, with the client credentials of the gateway and a bounded cache of answers.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../../config/units.js';
import { ClaimOptionsSchemas } from '../claims.js';

/** IntrospectionSchema is the value of `introspection:` inside an `auth:` entry. */
export const IntrospectionSchema = Type.Object({
  url: Type.String({
    pattern: '^https?://',
    errorMessage: 'must be an http:// or https:// URL',
    description: 'Introspection endpoint of the authorization server (`introspection_endpoint` of its metadata). Tokens are POSTed there as `token=...&token_type_hint=access_token`. Required.',
  }),
  clientId: Type.Optional(Type.String({ minLength: 1, description: 'Client id of the gateway at the authorization server, sent with `clientSecret` as HTTP Basic (RFC 6749 §2.3.1). Default: no client authentication.' })),
  clientSecret: Type.Optional(Type.String({ minLength: 1, description: 'Client secret; write `${INTROSPECTION_SECRET}` to read it from the environment. Required with `clientId`.' })),
  timeout: Duration('Deadline of one introspection call (connect, headers and body). When it passes, or the endpoint fails, the request is refused with 401 and a warning is logged. Default 2s.', '2s'),
  issuer: Type.Optional(Type.String({ minLength: 1, description: 'Expected `iss` of the answer when it has one; also the issuer under which `consumers.<id>.jwt` subjects are looked up. Default: the answer\'s `iss`, not checked.' })),
  audience: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description: 'Required `aud` of the answer (one of a list suffices). Default: not checked.',
    errorMessage: 'must be an audience string or a list of them',
  })),
  cacheTtl: Duration('Longest time an active answer is reused; never past the token\'s `exp`. `0s` disables caching. Default 5m.', '5m'),
  negativeCacheTtl: Duration('How long an inactive answer (`active: false`) is reused, so a replayed bad token costs one call per period. Failures of the endpoint are not cached. Default 10s.', '10s'),
  cacheSize: Type.Integer({ minimum: 0, default: 10000, description: 'Most answers kept (active and inactive); the oldest go first. Keyed by the SHA-256 of the token, so tokens themselves are not kept. Default 10000.' }),
  maxTokenSize: Size('Longest token sent to the endpoint; longer tokens are refused without a call. Default 8kb.', '8kb'),
  maxResponseSize: Size('Largest answer read from the endpoint. Default 64kb.', '64kb'),
  ...ClaimOptionsSchemas,
}, {
  additionalProperties: false,
  description: 'Opaque (or any) bearer tokens checked by the authorization server\'s introspection endpoint (RFC 7662): `active: false` is refused, `exp` and `nbf` of the answer are checked, the subject (or `consumerClaim`) is mapped to a consumer. Answers are cached within `exp`. Challenge: `Bearer realm="gatehouse"`.',
});

/** IntrospectionConfig is one validated `introspection:` entry. */
export type IntrospectionConfig = Static<typeof IntrospectionSchema>;
