/** Schema of `validate`: request validation against JSON Schemas or an OpenAPI 3 document. */
import { Type } from '@sinclair/typebox';

/** SchemaSource is a JSON Schema given as a file path or inline. */
const SchemaSource = (what: string) => Type.Union([
  Type.String({ minLength: 1, description: 'Path of a JSON Schema file (JSON or YAML; draft-07 unless its `$schema` says 2020-12), relative to the config file.' }),
  Type.Record(Type.String(), Type.Unknown(), { description: 'An inline JSON Schema.' }),
], { description: `JSON Schema for ${what}: a file path or an inline schema, compiled once at config load.` });

/** DEFAULT_CONTENT_TYPES are the media types accepted for a JSON body when `contentTypes` is not set. */
export const DEFAULT_CONTENT_TYPES = ['application/json', 'application/*+json'] as const;
/** DEFAULT_MAX_DEPTH is the deepest nesting of arrays and objects accepted in a JSON body. */
export const DEFAULT_MAX_DEPTH = 64;

/** ValidateSchema is the value of `validate:` on a route, a service or under `defaults`. */
export const ValidateSchema = Type.Object({
  body: Type.Optional(SchemaSource('the JSON request body; a mismatch answers 422 `GH_UNPROCESSABLE`')),
  query: Type.Optional(SchemaSource('the query parameters, as an object of strings (a parameter the schema types as an array collects every repeat; values are coerced to the schema\'s types); a mismatch answers 400 `GH_VALIDATION_FAILED`')),
  headers: Type.Optional(SchemaSource('the request headers, as an object keyed by lower-case name (values coerced to the schema\'s types); a mismatch answers 400 `GH_VALIDATION_FAILED`')),
  openapi: Type.Optional(Type.String({
    minLength: 1,
    description: 'Path of an OpenAPI 3.0 or 3.1 document (YAML or JSON), relative to the config file. Each request is matched to an operation by method and path template, and its path, query and header parameters and JSON request body are checked. Not combined with `body`, `query` or `headers`.',
  })),
  basePath: Type.Optional(Type.String({
    pattern: '^/',
    errorMessage: 'must start with /',
    description: 'With `openapi`: the prefix of the request path in front of the document\'s path templates (`/v1` for a route `/v1/users/*` over paths `/users/{id}`). Default: the path of the document\'s first `servers` URL, or none. `/` means none.',
  })),
  unknownOperations: Type.Optional(Type.Union([Type.Literal('reject'), Type.Literal('pass')], {
    description: 'With `openapi`: what to do with a request the document does not describe. `reject` (default): 404 `GH_ROUTE_NOT_FOUND` when no path template matches, 405 `GH_METHOD_NOT_ALLOWED` (with `Allow`) when the path exists without this method. `pass`: forward it unchecked.',
    errorMessage: 'must be reject or pass',
  })),
  contentTypes: Type.Optional(Type.Array(Type.String({
    pattern: '^[a-z0-9!#$&^_.+*-]+/[a-z0-9!#$&^_.+*-]+$',
    errorMessage: 'must be a lower-case media type (application/json, application/*+json, */*)',
  }), {
    minItems: 1,
    description: 'With `body`: the media types accepted for the body, each parsed as JSON; `*` stands for a whole type or subtype, and `application/*+json` for any `+json` type. Another type answers 415 `GH_UNSUPPORTED_MEDIA_TYPE`. Default `[application/json, application/*+json]`. With `openapi` the operation\'s `requestBody.content` decides.',
  })),
  requireBody: Type.Optional(Type.Boolean({
    description: 'With `body`: whether POST, PUT and PATCH requests must carry a body (a missing one answers 400). Requests of other methods are checked only when they carry one. Default true. With `openapi`, `requestBody.required` decides.',
  })),
  maxDepth: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 1000,
    description: 'Deepest nesting of objects and arrays accepted in a JSON body; deeper answers 400 before the body is parsed. Default 64.',
  })),
}, {
  additionalProperties: false,
  description: 'Request validation: the body, query and headers against JSON Schemas, or every operation of an OpenAPI 3 document. Bodies must be JSON (415 otherwise), are read whole within the route\'s body limit and forwarded byte for byte. Invalid JSON, too deep or with a `__proto__`, `constructor` or `prototype` key → 400 `GH_VALIDATION_FAILED`; body mismatch → 422 `GH_UNPROCESSABLE`; query, header or path mismatch → 400 `GH_VALIDATION_FAILED`. The problem document names the failing field, never its value. See docs/validation.md.',
});
