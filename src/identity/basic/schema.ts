/** Schema of the `basic` method of an `auth:` entry: HTTP Basic auth (RFC 7617) against stored password hashes. */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../../config/units.js';

/** BasicSchema is the value of `basic:` inside an `auth:` entry. */
export const BasicSchema = Type.Object({
  realm: Type.String({
    default: 'gatehouse',
    pattern: '^[^"\\\\\\x00-\\x1f\\x7f]*$',
    errorMessage: 'must not contain quotes, backslashes or control characters',
    description: 'Realm named in the `WWW-Authenticate: Basic realm="...", charset="UTF-8"` challenge (browsers show it in the login prompt). Default `gatehouse`.',
  }),
  cacheTtl: Duration('How long a successful check is remembered, keyed by a keyed SHA-256 of the credentials (at most 10,000 entries), so a client sending the same credentials again skips the password hash (bcrypt and scrypt cost 50–100 ms by design). `0s` turns the cache off. The cache is emptied on every config reload. Default `60s`.', '60s'),
}, { additionalProperties: false, description: 'HTTP Basic auth against `consumers.<id>.basic` (user name and a bcrypt or scrypt password hash). Challenge: `Basic realm="gatehouse", charset="UTF-8"`.' });

/** BasicConfig is one validated `basic:` entry. */
export type BasicConfig = Static<typeof BasicSchema>;
