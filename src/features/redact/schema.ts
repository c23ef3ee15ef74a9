/** Schema of `redact`: fields removed from or masked in JSON response bodies, by JSON path. */
import { Type, type Static } from '@sinclair/typebox';

const PATH_DOC = 'A JSON path into the response body: `$.ssn`, `$.card.number`, `$.users[*].ssn`, `$.items[0].token`, `$[\'odd key\']`, `$..password` (that key at any depth). A path that does not match a body changes nothing.';

const JsonPath = Type.String({
  pattern: '^\\$',
  errorMessage: 'must be a JSON path starting with $ (e.g. $.card.number)',
  description: PATH_DOC,
});

/** RedactEntrySchema is one entry: a path (the value is removed) or a path with a mask. */
export const RedactEntrySchema = Type.Union([
  JsonPath,
  Type.Object({
    path: JsonPath,
    keep: Type.Integer({
      minimum: 0,
      maximum: 64,
      description: 'Mask instead of removing: replace every character but the last `keep` with `*` (`keep: 4` turns 4111111111111234 into ************1234; `keep: 0` hides it all). A value no longer than `keep` is hidden whole; a number is masked as its digits (the result is a string); null stays null; objects, lists and booleans are removed.',
    }),
  }, { additionalProperties: false }),
], { description: 'A path (the value is removed), or `{ path, keep }` (the value is masked).' });

/** RedactSchema is the value of `redact:`. */
export const RedactSchema = Type.Array(RedactEntrySchema, {
  minItems: 1,
  description: 'Fields removed or masked in JSON responses (`application/json`, `*+json`), applied in order. The proxy holds such responses whole (up to 10 MiB; larger → 502 `GH_RESPONSE_TOO_LARGE`, never passed on unredacted) and asks the service for an uncompressed body. Other responses pass untouched.',
});

/** RedactConfig is the validated value of `redact:`. */
export type RedactConfig = Static<typeof RedactSchema>;
