/** Schema of `deprecation`: announces that a route (an API version) is being retired. */
import { Type } from '@sinclair/typebox';

const DateSchema = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2})?(Z|[+-]\\d{2}:\\d{2}))?$',
  errorMessage: 'must be a date (2027-06-30) or a date-time with a zone (2027-06-30T00:00:00Z)',
});

/** DeprecationSchema is the value of `deprecation:`. */
export const DeprecationSchema = Type.Object({
  since: Type.Optional({ ...DateSchema, description: 'When the route was deprecated; sent as `Deprecation: @<unix seconds>` (RFC 9745). Default: the time the config was loaded.' }),
  sunset: Type.Optional({ ...DateSchema, description: 'When the route stops answering; sent as `Sunset: <HTTP-date>` (RFC 8594).' }),
  link: Type.Optional(Type.String({ pattern: '^https?://', description: 'Documentation of the migration; sent as `Link: <url>; rel="deprecation"`.' })),
}, { additionalProperties: false, description: 'Marks the route deprecated: adds `Deprecation`, `Sunset` and `Link` headers to its responses.' });
