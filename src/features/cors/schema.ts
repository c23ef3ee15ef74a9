/** Schema of `cors`: cross-origin resource sharing answered at the gateway. */
import { Type } from '@sinclair/typebox';
import { Duration, HEADER_NAME_PATTERN } from '../../config/units.js';

const HEADER_NAME = Type.String({
  pattern: HEADER_NAME_PATTERN,
  errorMessage: 'must be a header name (letters, digits and !#$%&\'*+.^`|~-)',
});

/** CorsSchema is the value of `cors:` on a route, a service or under `defaults`. */
export const CorsSchema = Type.Object({
  origins: Type.Union([
    Type.Literal('*'),
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  ], {
    errorMessage: 'must be "*" or a list of origins',
    description: 'Origins allowed to call the route from a browser: `"*"` (any origin, without credentials), or a list of exact origins (`https://app.example.com`, no path, no trailing `/`), `"null"`, and patterns with one leading wildcard label (`https://*.example.com`, which matches any subdomain but not `example.com` itself). Matched without regular expressions. Required.',
  }),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$', errorMessage: 'must be an upper-case method name' }), {
    minItems: 1,
    description: 'Methods a preflight may announce (`Access-Control-Allow-Methods`). Default: the method the preflight asks for, when the route accepts it (`match.methods`).',
  })),
  headers: Type.Optional(Type.Union([Type.Literal('*'), Type.Array(HEADER_NAME, { minItems: 1 })], {
    errorMessage: 'must be "*" or a list of header names',
    description: 'Request headers a preflight may announce (`Access-Control-Allow-Headers`); a preflight asking for another → 403 (list `content-type` when pages send JSON). `"*"` allows whatever the preflight asks for (echoed, so it also works with credentials, where browsers do not honour a literal `*`). Default: `"*"`.',
  })),
  exposeHeaders: Type.Optional(Type.Array(HEADER_NAME, {
    minItems: 1,
    description: 'Response headers that browser scripts may read beyond the CORS-safelisted ones (`Access-Control-Expose-Headers`). `"*"` exposes all, but not with `credentials`. Default: none.',
  })),
  credentials: Type.Boolean({
    default: false,
    description: 'Let browsers send cookies and `Authorization` cross-origin and read the answer (`Access-Control-Allow-Credentials: true`). Not allowed with `origins: "*"`. Default false.',
  }),
  maxAge: Duration('How long browsers may cache a preflight answer (`Access-Control-Max-Age`, sent in whole seconds; browsers cap it: Chromium at 2 h, Firefox at 24 h). Default 5m.', '5m'),
  strict: Type.Boolean({
    default: false,
    description: 'Refuse actual (non-preflight) requests whose `Origin` is not allowed with 403 `GH_CORS_REJECTED`. Default false: such requests are forwarded without CORS headers, and the browser withholds the answer from the calling page. Requests without `Origin` are never refused by this rule.',
  }),
}, {
  additionalProperties: false,
  description: 'CORS answered at the gateway: a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered 204 here and never forwarded, before authentication, even when `match.methods` does not list `OPTIONS`; actual requests from an allowed origin get `Access-Control-Allow-Origin` (with `Vary: Origin`) on every answer, errors included.',
});
