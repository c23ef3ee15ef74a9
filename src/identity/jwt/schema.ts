/**
 * Schema of the `jwt` method of an `auth:` entry: one issuer, its audience, its pinned algorithms and one
 * key source (a JWKS URL, a PEM public key or a shared secret), plus where the token is read and what its
 * claims must hold. Several issuers are several entries: an entry leaves tokens of other issuers to the next
 * method of the route.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../../config/units.js';
import { ClaimOptionsSchemas } from '../claims.js';

/** ALGORITHMS are the JWS algorithms a `jwt` entry may pin (never `none`). */
export const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** JwtAlgorithm is one of ALGORITHMS. */
export type JwtAlgorithm = (typeof ALGORITHMS)[number];

/** JwtSchema is the value of `jwt:` inside an `auth:` entry. */
export const JwtSchema = Type.Object({
  issuer: Type.String({
    minLength: 1,
    description: 'Expected `iss` claim, compared exactly (`https://id.example.com/` and `https://id.example.com` differ). A token whose unverified `iss` is another issuer is left to the next method of the route, so several `jwt` entries can serve several issuers. Required.',
  }),
  audience: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description: 'Accepted `aud` value, or a list of them (any one suffices). The token must carry `aud`. Required.',
    errorMessage: 'must be an audience string or a list of them',
  }),
  algorithms: Type.Array(Type.Union(ALGORITHMS.map((a) => Type.Literal(a)), { errorMessage: `must be one of ${ALGORITHMS.join(', ')} (never none)` }), {
    minItems: 1,
    description: `Signature algorithms accepted from this issuer (the token's \`alg\` must be one of them): ${ALGORITHMS.join(', ')}. \`none\` is never accepted. HS* only with \`secret\`; the others only with \`jwks\` or \`publicKey\`, so a public key can never serve as an HMAC secret. Required.`,
    errorMessage: `must be a list of algorithms among ${ALGORITHMS.join(', ')}`,
  }),
  jwks: Type.Optional(Type.String({
    pattern: '^https?://',
    errorMessage: 'must be an http:// or https:// URL',
    description: 'URL of the issuer\'s JWK Set (e.g. from `jwks_uri` of its OpenID configuration). Fetched when the config loads, cached, refreshed in the background, refetched when a token names an unknown `kid` (at most once per `jwksCooldown`); cached keys keep serving while the issuer is down. Keys named by a token (`jku`, `x5u`, `x5c`, `jwk`) are never used. One of `jwks`, `publicKey`, `secret`.',
  })),
  publicKey: Type.Optional(Type.String({
    minLength: 1,
    description: 'PEM public key (`-----BEGIN PUBLIC KEY-----`) or certificate, inline or as a file path relative to the config file. RSA keys need at least 2048 bits. One of `jwks`, `publicKey`, `secret`.',
  })),
  secret: Type.Optional(Type.String({
    minLength: 1,
    description: 'Shared secret for HS256/HS384/HS512; write `${JWT_SECRET}` to read it from the environment. At least as long as the hash (32 bytes for HS256, 48 for HS384, 64 for HS512). One of `jwks`, `publicKey`, `secret`.',
  })),
  secretEncoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64'), Type.Literal('base64url')], {
    default: 'utf8',
    description: 'How `secret` is written: `utf8` (its bytes as they are), `base64` or `base64url` (decoded first). Default `utf8`.',
  }),
  clockSkew: Duration('Tolerance when checking `exp` and `nbf` against the gateway\'s clock. Default 60s.', '60s'),
  maxTokenSize: Size('Longest token accepted, checked before any parsing; longer tokens are refused. Default 8kb.', '8kb'),
  header: Type.String({
    default: 'authorization',
    pattern: '^[A-Za-z0-9-]+$',
    errorMessage: 'must be a header name of letters, digits and - (names with _ are dropped by the gateway)',
    description: 'Request header that carries the token. `authorization` expects `Bearer <token>`; any other header holds the bare token. Removed before forwarding unless the route sets `forwardCredentials: true`. Default `authorization`.',
  }),
  cookie: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]+$',
    errorMessage: 'must be a cookie name of letters, digits, _, . and -',
    description: 'Read the token from this cookie instead of a header. The Cookie header itself is forwarded (it may hold other cookies). Default: none (the header is used).',
  })),
  query: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]+$',
    errorMessage: 'must be a query parameter name of letters, digits, _, . and -',
    description: 'Also accept the token in this query parameter (e.g. `access_token`), for clients that cannot set headers, such as a browser opening a WebSocket. Read only when set, and only when the header (or cookie) holds no token; given twice it is refused. The parameter is removed before forwarding and from the access log. Default: none.',
  })),
  typ: Type.Optional(Type.String({
    minLength: 1,
    description: 'Required `typ` header of the token, e.g. `at+jwt` for RFC 9068 access tokens. Default: not checked.',
  })),
  jwksCacheTtl: Duration('How long fetched JWKS keys count as fresh; they are refetched in the background before that. Past it, and while the issuer cannot be reached, the cached keys are still used (and a warning logged). Default 10m.', '10m'),
  jwksCooldown: Duration('Least time between two JWKS fetches caused by tokens with an unknown `kid`, and between retries after a failed fetch. Default 30s.', '30s'),
  jwksTimeout: Duration('Deadline of one JWKS fetch (connect, headers and body). Requests that arrive before the first fetch ends wait at most this long. Default 1.5s.', '1.5s'),
  jwksMaxSize: Size('Largest JWKS document accepted; the fetch is aborted past it. Default 150kb.', '150kb'),
  verifiedCache: Size('Memory for recently verified tokens (approximate: about twice the token length plus 256 bytes each), so a token seen again skips signature verification until its `exp`. Dropped whenever the issuer\'s key set changes. `0b` disables it. Default 4mb.', '4mb'),
  ...ClaimOptionsSchemas,
}, {
  additionalProperties: false,
  description: 'JSON Web Tokens (RFC 7519) of one issuer, verified with `jose`: signature with a pinned algorithm, `exp` (required), `nbf`, `iss` and `aud` checked with a clock skew; the subject (or `consumerClaim`) is mapped to a consumer. Challenge: `Bearer realm="gatehouse"`.',
});

/** JwtConfig is one validated `jwt:` entry. */
export type JwtConfig = Static<typeof JwtSchema>;
