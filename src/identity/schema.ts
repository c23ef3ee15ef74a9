/**
 * Schemas of `consumers:` and `auth:`. A consumer carries its credentials (API key hashes, a JWT subject,
 * Basic credentials); an `auth:` entry names one authentication method and its settings.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { AUTH_METHODS } from './methods.js';
import { PASSWORD_HASH_PATTERN } from './basic/password-hash.js';

const DateSchema = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2})?(Z|[+-]\\d{2}:\\d{2}))?$',
  errorMessage: 'must be a date (2027-06-30) or a date-time with a zone (2027-06-30T00:00:00Z)',
});

const KeyHash = Type.String({
  pattern: '^sha256:[0-9a-f]{64}$',
  description: 'SHA-256 of the key as `sha256:<64 hex digits>`; `gatehouse keys new` prints one with a fresh key, `gatehouse keys hash` hashes an existing key.',
  errorMessage: 'must be sha256:<64 lower-case hex digits> (see `gatehouse keys hash`)',
});

/** CertificateRefSchema names a client certificate of a consumer (see the `mtls` method). */
export const CertificateRefSchema = Type.Union([
  Type.String({
    pattern: '^sha256:([0-9a-fA-F]{64}|[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){31})$',
    description: 'SHA-256 fingerprint of the certificate, `sha256:` then 64 hex digits (colons between bytes allowed, as `openssl x509 -noout -fingerprint -sha256` prints them).',
    errorMessage: 'must be sha256:<64 hex digits> (colons between bytes allowed), { cn: NAME } or { san: VALUE }',
  }),
  Type.Object({ cn: Type.String({ minLength: 1, description: 'Common name (CN) of the certificate\'s subject, compared exactly.' }) }, { additionalProperties: false }),
  Type.Object({ san: Type.String({ minLength: 1, description: 'A subjectAltName value without its type prefix (`api.partner.example`, `spiffe://example.org/ns/prod/sa/billing`, `ops@example.com`), compared exactly.' }) }, { additionalProperties: false }),
]);

/** ConsumerSchema is one entry under `consumers:` (the key is the consumer id). */
export const ConsumerSchema = Type.Object({
  groups: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), { default: [], description: 'Groups the consumer belongs to, for `allow:` rules and the `X-Consumer-Groups` header.' }),
  plan: Type.Optional(Type.String({ description: 'Name of the consumer\'s plan (rate limits, quotas and billing).' })),
  metadata: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Free key/value pairs, for operators; not sent upstream.' }),
  keys: Type.Array(Type.Union([
    KeyHash,
    Type.Object({
      hash: KeyHash,
      expires: Type.Optional({ ...DateSchema, description: 'When the key stops working (for rotation).' }),
    }, { additionalProperties: false }),
  ]), { default: [], description: 'API keys of the consumer, stored as hashes only. Several keys allow rotation without downtime.' }),
  jwt: Type.Optional(Type.Object({
    subject: Type.String({ description: 'Token `sub` claim (or the claim a `jwt` method maps) that identifies this consumer.' }),
    issuer: Type.Optional(Type.String({ description: 'Only tokens from this issuer map to the consumer. Default: any configured issuer.' })),
  }, { additionalProperties: false, description: 'Maps a JWT subject to this consumer.' })),
  basic: Type.Optional(Type.Object({
    username: Type.String({ minLength: 1, description: 'Basic auth user name.' }),
    password: Type.String({
      pattern: PASSWORD_HASH_PATTERN,
      description: 'Password hash: bcrypt (`$2b$...`) or scrypt (`scrypt$N$r$p$salt$hash`, from `gatehouse keys hash-password`). Never the password itself: anything else is a config error.',
      errorMessage: 'must be a bcrypt ($2b$...) or scrypt (scrypt$...) hash, never a plain password (see `gatehouse keys hash-password`)',
    }),
  }, { additionalProperties: false, description: 'Basic auth credentials of the consumer.' })),
  certificates: Type.Optional(Type.Array(CertificateRefSchema, {
    description: 'Client certificates (mutual TLS) that identify the consumer, for `mtls` authenticators: a fingerprint (`sha256:...`, one certificate), `{ san: ... }` or `{ cn: ... }` (any certificate from the trusted CA with that name). Default: none.',
  })),
}, { additionalProperties: false });

/** ConsumerConfig is one validated consumer entry. */
export type ConsumerConfig = Static<typeof ConsumerSchema>;

function methodProperties(): TProperties {
  const props: TProperties = {};
  for (const m of AUTH_METHODS) props[m.key] = Type.Optional(m.schema);
  return props;
}

/** AuthEntrySchema is one named authenticator under `auth:`; exactly one method key is given (checked at compile). */
export const AuthEntrySchema = Type.Object(methodProperties(), {
  additionalProperties: false,
  description: `One authentication method, named so routes can refer to it: ${AUTH_METHODS.map((m) => `\`${m.key}\``).join(', ')}.`,
});
