/** Schema of `headers`: request and response headers set or removed, and cookies kept from the service. */
import { Type, type Static } from '@sinclair/typebox';

const Name = Type.String({ minLength: 1, description: 'A header name (case-insensitive).' });

const SetHeaders = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  description: 'Headers set to a fixed value, replacing any the message already has (`x-env: prod`). Names are case-insensitive; values may not contain CR, LF or other control characters.',
});

const Remove = Type.Array(Name, { minItems: 1, description: 'Headers removed (case-insensitive names).' });

/** HeadersSchema is the value of `headers:`. */
export const HeadersSchema = Type.Object({
  request: Type.Optional(Type.Object({
    set: Type.Optional(SetHeaders),
    remove: Type.Optional(Remove),
    removeCookies: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', errorMessage: 'must be a cookie name' }), {
      minItems: 1,
      description: 'Cookies (by exact, case-sensitive name) taken out of the `Cookie` header before forwarding; the other cookies are forwarded as sent. Use it for the session cookies of a front end that the service must not see.',
    })),
  }, { additionalProperties: false, description: 'Edits of the request sent to the service (after authentication, so `set` can add a service credential).' })),
  response: Type.Optional(Type.Object({
    set: Type.Optional(SetHeaders),
    remove: Type.Optional(Remove),
  }, { additionalProperties: false, description: 'Edits of the service\'s response before it reaches the client. `set` replaces the service\'s own value.' })),
}, {
  additionalProperties: false,
  description: 'Request and response headers set or removed. Headers the gateway manages (framing, `Host`, `X-Request-Id`, `X-Consumer-*`, and setting `X-Forwarded-*`) are refused at load. Like every feature key, a route\'s `headers` replaces the one from its service or `defaults` whole: repeat the edits you want to keep.',
});

/** HeadersConfig is the validated value of `headers:`. */
export type HeadersConfig = Static<typeof HeadersSchema>;
