/** Schema of `request-rules`: cheap refusals of unwanted requests before authentication. */
import { Type } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../config/units.js';
import { SIGNATURE_CATEGORIES } from './signatures.js';

const HEADER_NAME = Type.String({
  pattern: HEADER_NAME_PATTERN,
  errorMessage: 'must be a header name (letters, digits and !#$%&\'*+.^`|~-)',
});

/** RequestRulesSchema is the value of `request-rules:` on a route, a service or under `defaults`. */
export const RequestRulesSchema = Type.Object({
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$', errorMessage: 'must be an upper-case method name' }), {
    minItems: 1,
    description: 'Methods accepted; any other → 405 `GH_METHOD_NOT_ALLOWED` with `Allow`. `HEAD` is accepted wherever `GET` is. Unlike `match.methods`, this takes no part in routing, so it can stand under `defaults` or on a service. Default: every method.',
  })),
  requireHeaders: Type.Optional(Type.Array(HEADER_NAME, {
    minItems: 1,
    description: 'Request headers that must be present (with any value); a request without one → 403 `GH_REQUEST_BLOCKED` naming the header. Default: none.',
  })),
  denyHeaders: Type.Optional(Type.Record(HEADER_NAME, Type.String({ minLength: 1 }), {
    description: 'Request headers that refuse the request (403 `GH_REQUEST_BLOCKED`): `"*"` when the header is present at all, otherwise when its value equals the given one (case-insensitive, surrounding spaces ignored). Every occurrence of a repeated header is checked. Default: none.',
  })),
  denyUserAgents: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description: 'Refuse requests whose `User-Agent` contains any of these strings (case-insensitive substring match, no patterns), with 403 `GH_REQUEST_BLOCKED`. Each entry needs at least 3 characters. A request without `User-Agent` is not refused by this list (add `user-agent` to `requireHeaders` for that). Default: none.',
  })),
  block: Type.Optional(Type.Array(Type.Union(SIGNATURE_CATEGORIES.map((c) => Type.Literal(c)), {
    errorMessage: `must be one of: ${SIGNATURE_CATEGORIES.join(', ')}`,
  }), {
    minItems: 1,
    uniqueItems: true,
    description: 'Signature families of obviously hostile requests to refuse with 403 `GH_REQUEST_BLOCKED`: `path-traversal` (`../`, encoded dot segments, `/..;/`, NUL, `etc/passwd`), `sql-injection` (`\' or 1=1`, `union select`, `; drop table`, `\'--`, `sleep(5)`), `script-injection` (`<script`, `javascript:`, `onerror=`, `<iframe`). Checked on the path and each query parameter, decoded once, and on the headers in `inspectHeaders`. A coarse filter, not a WAF: see docs/request-protection.md for false positives. Default: none (off).',
  })),
  inspectHeaders: Type.Optional(Type.Array(HEADER_NAME, {
    minItems: 1,
    description: 'Request headers whose values `block` also inspects (`referer`, `x-search`). Default: none; the path and query are always inspected when `block` is set.',
  })),
}, {
  additionalProperties: false,
  minProperties: 1,
  errorMessage: 'needs at least one rule: methods, requireHeaders, denyHeaders, denyUserAgents or block',
  description: 'Refuses unwanted requests before they reach authentication or the service: a method allow-list, required and forbidden headers, a user-agent deny list, and signatures of obviously hostile requests. Values longer than 32 KiB that `block` would inspect are refused.',
});
