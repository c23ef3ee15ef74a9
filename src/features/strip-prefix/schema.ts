/** Schema of `strip-prefix`: a path prefix removed before the request is forwarded. */
import { Type } from '@sinclair/typebox';

/** StripPrefixSchema is the value of `strip-prefix:`. */
export const StripPrefixSchema = Type.String({
  pattern: '^/[^?#]*[^/?#]$',
  description: 'Path prefix removed, at a segment boundary, before forwarding: with `/v1`, `/v1/users?a=1` goes up as `/users?a=1` and `/v1` as `/`. The query string is kept.',
  errorMessage: 'must be a path prefix starting with / and not ending with / (e.g. /v1)',
});
