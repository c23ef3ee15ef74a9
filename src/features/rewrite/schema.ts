/** Schema of `rewrite`: a path template for the upstream request. */
import { Type } from '@sinclair/typebox';

/** RewriteSchema is the value of `rewrite:`. */
export const RewriteSchema = Type.String({
  pattern: '^/[^?#]*$',
  description: 'Upstream path template. `:name` is replaced by the path parameter of that name and `*` by the rest matched by a trailing `/*`; each value is inserted as it was normalized. E.g. match `/v2/users/:id/*`, rewrite `/accounts/:id/*`. The query string is kept.',
  errorMessage: 'must be a path template starting with / (e.g. /accounts/:id/*)',
});
