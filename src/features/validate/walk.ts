/**
 * Walking a JSON Schema by its structure: only the places that hold subschemas are entered (`properties`
 * values, `items`, `allOf` members, ...), never `enum`, `const`, `default` or `examples`, so a property that
 * happens to be named `format` or `$ref` is not mistaken for a keyword. Used at config load only.
 */
import { escapePointer } from './files.js';

/** Keywords whose value is one subschema (or, for `items` in draft-07, possibly an array of them). */
const ONE = new Set(['items', 'additionalItems', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema']);
/** Keywords whose value is an array of subschemas. */
const MANY = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Keywords whose value maps names to subschemas. */
const MAP = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);

/** MAX_SCHEMA_DEPTH bounds the walk, so a cyclic YAML alias is reported rather than overflowing the stack. */
export const MAX_SCHEMA_DEPTH = 256;

/** SchemaObject is a JSON Schema in object form. */
export type SchemaObject = Record<string, unknown>;

/** SchemaTooDeep is thrown by the walkers past MAX_SCHEMA_DEPTH. */
export class SchemaTooDeep extends Error {
  readonly pointer: string;
  constructor(pointer: string) {
    super('schema nested too deep (or a YAML alias refers to its own ancestor)');
    this.pointer = pointer;
  }
}

function isObject(v: unknown): v is SchemaObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** walkSchema calls `visit` on every schema object in `schema`, with its JSON pointer from `base`. */
export function walkSchema(schema: unknown, base: string, visit: (node: SchemaObject, pointer: string) => void, depth = 0): void {
  if (!isObject(schema)) return;
  if (depth > MAX_SCHEMA_DEPTH) throw new SchemaTooDeep(base);
  visit(schema, base);
  for (const key of Object.keys(schema)) {
    const v = schema[key];
    const at = `${base}/${escapePointer(key)}`;
    if (ONE.has(key)) {
      if (Array.isArray(v)) v.forEach((s, i) => walkSchema(s, `${at}/${i}`, visit, depth + 1));
      else walkSchema(v, at, visit, depth + 1);
    } else if (MANY.has(key) && Array.isArray(v)) {
      v.forEach((s, i) => walkSchema(s, `${at}/${i}`, visit, depth + 1));
    } else if ((MAP.has(key) || key === 'dependencies') && isObject(v)) {
      for (const name of Object.keys(v)) walkSchema(v[name], `${at}/${escapePointer(name)}`, visit, depth + 1);
    }
  }
}

/**
 * transformSchema returns a copy of `schema` where every schema object went through `fn` (which gets a
 * shallow copy it may change and returns the node to keep); subschemas of the result are transformed in turn.
 * `pointer` is the node's place in the original.
 */
export function transformSchema(schema: unknown, base: string, fn: (node: SchemaObject, pointer: string) => SchemaObject, depth = 0): unknown {
  if (!isObject(schema)) return schema;
  if (depth > MAX_SCHEMA_DEPTH) throw new SchemaTooDeep(base);
  const out = fn({ ...schema }, base);
  for (const key of Object.keys(out)) {
    const v = out[key];
    const at = `${base}/${escapePointer(key)}`;
    if (ONE.has(key)) {
      out[key] = Array.isArray(v) ? v.map((s, i) => transformSchema(s, `${at}/${i}`, fn, depth + 1)) : transformSchema(v, at, fn, depth + 1);
    } else if (MANY.has(key) && Array.isArray(v)) {
      out[key] = v.map((s, i) => transformSchema(s, `${at}/${i}`, fn, depth + 1));
    } else if ((MAP.has(key) || key === 'dependencies') && isObject(v)) {
      const m: SchemaObject = {};
      for (const name of Object.keys(v)) m[name] = transformSchema(v[name], `${at}/${escapePointer(name)}`, fn, depth + 1);
      out[key] = m;
    }
  }
  return out;
}

/** findKeyword returns the pointer of the first schema object holding `keyword`, or null. */
export function findKeyword(schema: unknown, keyword: string): string | null {
  let found: string | null = null;
  walkSchema(schema, '', (node, p) => { if (found === null && Object.hasOwn(node, keyword)) found = `${p}/${escapePointer(keyword)}`; });
  return found;
}

/** findRef returns the pointer of the first `$ref` for which `matches` holds, or null. */
export function findRef(schema: unknown, matches: (ref: string, pointer: string) => boolean): string | null {
  let found: string | null = null;
  walkSchema(schema, '', (node, p) => {
    if (found === null && typeof node.$ref === 'string' && matches(node.$ref, p)) found = `${p}/$ref`;
  });
  return found;
}
