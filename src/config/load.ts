/**
 * Loading a config file: parse YAML (JSON is YAML too) keeping positions, substitute `${VAR}` and
 * `${VAR:-default}` in scalar values, validate against the assembled schema, apply defaults. Every problem
 * is collected with its key path and line before anything is thrown.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigSchema, type GatehouseConfig } from './schema.js';
import { ConfigError, didYouMean, pathToString, type ConfigProblem } from './errors.js';

/** LoadedConfig is a validated config with what is needed to report later problems against its source. */
export interface LoadedConfig {
  readonly config: GatehouseConfig;
  readonly file: string;
  readonly dir: string;
  /** lineOf gives the 1-based line of a key path in the source, or 0. */
  lineOf(path: readonly (string | number)[]): number;
}

/** Top-level records whose entries get their defaults by hand (TypeBox's Value.Default does not descend into records). */
const RECORD_SCHEMAS: readonly (readonly [string, TSchema])[] = ['services', 'consumers', 'auth', 'plans'].map((k) => {
  const record = (ConfigSchema.properties as unknown as Record<string, { patternProperties: Record<string, TSchema> }>)[k]!;
  return [k, Object.values(record.patternProperties)[0]!] as const;
});
const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER = '__gatehouse_env_';
const PLACEHOLDER_RE = /__gatehouse_env_(\d+)_/g;

/** loadConfigFile reads, validates and returns a config, or throws ConfigError with every problem. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new ConfigError([{ path: '', message: reason, file: basename(file), line: 0 }]);
  }
  return loadConfigText(text, file, env);
}

/** loadConfigText is loadConfigFile on text already read; `file` names it in errors and anchors relative paths. */
export function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const shortName = basename(file);
  const lineCounter = new LineCounter();
  // `${VAR}` becomes an inert placeholder before parsing: `{ port: ${PORT} }` would otherwise break flow
  // syntax, and an environment value can never inject YAML. Placeholders are resolved per scalar below.
  const refs: string[] = [];
  const masked = text.replace(ENV_RE, (m) => `${PLACEHOLDER}${refs.push(m) - 1}_`);
  const doc = parseDocument(masked, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const lineAt = (offset: number | undefined): number => (offset === undefined ? 0 : lineCounter.linePos(offset).line);

  // After the first few syntax errors the rest are usually echoes of them.
  for (const e of doc.errors.slice(0, 3)) {
    problems.push({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, file: shortName, line: lineAt(e.pos[0]) });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  substituteEnv(doc, refs, env, (path, message, offset) => problems.push({ path: pathToString(path), message, file: shortName, line: lineAt(offset) }));
  const value: unknown = doc.toJS() ?? {};
  const lineOf = (path: readonly (string | number)[]): number => lineAt(locate(doc, path));

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ path: '', message: 'the config must be a mapping of keys (listen, services, routes, ...)', file: shortName, line: 1 });
    throw new ConfigError(problems);
  }
  // Defaults first: a key with a default is optional to the user (the JSON Schema says so too).
  const withDefaults = Value.Default(ConfigSchema, structuredClone(value)) as Record<string, unknown>;
  // TypeBox does not descend into records: give each service its defaults by hand.
  for (const [key, schema] of RECORD_SCHEMAS) {
    const record = withDefaults[key];
    if (record && typeof record === 'object' && !Array.isArray(record)) {
      for (const [k, v] of Object.entries(record)) (record as Record<string, unknown>)[k] = Value.Default(schema, v);
    }
  }
  checkUnknownKeys(ConfigSchema, value, [], (path, message, keyPath) =>
    problems.push({ path: pathToString(path), message, file: shortName, line: lineAt(locate(doc, keyPath, true)) }));
  const missing = new Set<string>();
  for (const e of schemaErrors(withDefaults)) {
    if (missing.has(e.path)) continue;
    if (e.type === ValueErrorType.ObjectRequiredProperty) missing.add(e.path);
    const path = pointerToPath(e.path);
    problems.push({ path: pathToString(path), message: describe(e), file: shortName, line: lineOf(path) });
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems));

  const config = withDefaults as GatehouseConfig;
  return { config, file: shortName, dir: dirname(resolve(file)), lineOf };
}

/** Replaces `${VAR}` and `${VAR:-default}` inside scalar strings; a missing variable without default is a problem. */
function substituteEnv(doc: Document, refs: readonly string[], env: NodeJS.ProcessEnv, report: (path: (string | number)[], msg: string, offset?: number) => void): void {
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes(PLACEHOLDER)) {
      const original = node.value.replace(PLACEHOLDER_RE, (_m, i: string) => refs[Number(i)]!);
      const replaced = original.replace(ENV_RE, (_m, name: string, def: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (def !== undefined) return def;
        report(path, `environment variable ${name} is not set and has no default (write \${${name}:-default})`, node.range?.[0]);
        return '';
      });
      // A whole-value number (`port: ${PORT:-8080}`) becomes a number, as if written literally.
      node.value = original.match(/^\$\{[^}]+\}$/) && /^-?\d+$/.test(replaced) ? Number(replaced) : replaced;
    }
  };
  visit(doc.contents, []);
}

/** Finds the source offset of a key path; for `keyItself`, the key rather than its value. Falls back to the nearest ancestor. */
function locate(doc: Document, path: readonly (string | number)[], keyItself = false): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = (node as Node | null)?.range?.[0];
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      if (keyItself && i === path.length - 1) return (pair.key as Node).range?.[0] ?? best;
      node = pair.value;
      best = (node as Node | null)?.range?.[0] ?? (pair.key as Node).range?.[0] ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      best = (node as Node | null)?.range?.[0] ?? best;
    } else {
      return best;
    }
  }
  return best;
}

/**
 * Unknown keys are errors with a "did you mean". Done by walking the schema rather than from TypeBox's
 * additionalProperties error, because that error does not name the key.
 */
function checkUnknownKeys(schema: TSchema, value: unknown, path: (string | number)[], report: (path: (string | number)[], msg: string, keyPath: (string | number)[]) => void): void {
  if (value === null || typeof value !== 'object') return;
  const kind = schema[Kind];
  if (kind === 'Union') {
    // Follow the variant of the same shape (object vs array); errors of other variants would only confuse.
    for (const v of schema.anyOf as TSchema[]) {
      if ((v[Kind] === 'Object' && !Array.isArray(value)) || (v[Kind] === 'Array' && Array.isArray(value))) {
        const objVariants = (schema.anyOf as TSchema[]).filter((x) => x[Kind] === 'Object');
        if (v[Kind] === 'Object' && objVariants.length > 1) {
          // Several object variants: pick the one sharing most keys.
          const keys = Object.keys(value);
          const bestV = objVariants.reduce((a, b) => (score(b, keys) > score(a, keys) ? b : a));
          checkUnknownKeys(bestV, value, path, report);
        } else {
          checkUnknownKeys(v, value, path, report);
        }
        return;
      }
    }
    return;
  }
  if (kind === 'Array' && Array.isArray(value)) {
    value.forEach((item, i) => checkUnknownKeys(schema.items as TSchema, item, [...path, i], report));
    return;
  }
  if (kind === 'Record' && !Array.isArray(value)) {
    const inner = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
    for (const [k, v] of Object.entries(value)) checkUnknownKeys(inner, v, [...path, k], report);
    return;
  }
  if (kind === 'Object' && !Array.isArray(value)) {
    const props = schema.properties as Record<string, TSchema>;
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (sub === undefined) {
        if (schema.additionalProperties === false) {
          const hint = didYouMean(k, Object.keys(props));
          report(path, `unknown key "${k}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`, [...path, k]);
        }
      } else {
        checkUnknownKeys(sub, v, [...path, k], report);
      }
    }
  }
}

function score(schema: TSchema, keys: string[]): number {
  const props = schema.properties as Record<string, unknown>;
  return keys.filter((k) => k in props).length;
}

/** Yields schema errors other than unknown keys, descending into the matching variant of unions. */
function* schemaErrors(value: unknown): Generator<ValueError> {
  // Interpreted, not compiled: a config is checked once per load, and TypeCompiler's generated validator of
  // the whole schema would stay resident (about 4 MB of RSS) for nothing between loads.
  for (const e of Value.Errors(ConfigSchema, value)) yield* expand(e);
}

function* expand(e: ValueError): Generator<ValueError> {
  if (e.type === ValueErrorType.ObjectAdditionalProperties) return;
  if (e.type === ValueErrorType.Union && e.errors.length > 0) {
    // Report the variant that fits the value's shape best: the one with the fewest errors, preferring
    // the variant of the same JSON type.
    let best: ValueError[] | null = null;
    for (const it of e.errors) {
      const errs = [...it].flatMap((x) => [...expand(x)]);
      const sameType = errs.length === 0 || !errs.some((x) => x.path === e.path && isTypeError(x));
      if (sameType && (best === null || errs.length < best.length)) best = errs;
    }
    // A variant whose only errors are unknown keys yields nothing here: checkUnknownKeys names those keys.
    if (best !== null) { yield* best; return; }
  }
  yield e;
}

function isTypeError(e: ValueError): boolean {
  return [ValueErrorType.String, ValueErrorType.Number, ValueErrorType.Integer, ValueErrorType.Boolean,
    ValueErrorType.Object, ValueErrorType.Array, ValueErrorType.Literal, ValueErrorType.Null].includes(e.type);
}

function describe(e: ValueError): string {
  const custom = (e.schema as { errorMessage?: string }).errorMessage;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty: return 'is required';
    // A duration or size written as a bare number gets the form it should have, not just "a string".
    case ValueErrorType.String: return custom ?? 'must be a string';
    case ValueErrorType.Integer: return 'must be a whole number';
    case ValueErrorType.Number: return 'must be a number';
    case ValueErrorType.Boolean: return 'must be true or false';
    case ValueErrorType.Object: return 'must be a mapping of keys';
    case ValueErrorType.Array: return 'must be a list';
    case ValueErrorType.NumberMinimum: case ValueErrorType.IntegerMinimum: return `must be >= ${e.schema.minimum}`;
    case ValueErrorType.NumberMaximum: case ValueErrorType.IntegerMaximum: return `must be <= ${e.schema.maximum}`;
    case ValueErrorType.ArrayMinItems: return `must have at least ${e.schema.minItems} item${e.schema.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.Union: case ValueErrorType.Literal: case ValueErrorType.StringPattern: case ValueErrorType.StringFormat:
      return custom ?? (e.type === ValueErrorType.StringPattern ? `must match ${e.schema.pattern}` : e.message.toLowerCase());
    default: return custom ?? e.message;
  }
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => {
    const seg = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(seg) ? Number(seg) : seg;
  });
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\n${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
