/**
 * Compiling the schemas of `validate`, once per config generation. A SchemaCompiler holds that generation's
 * Ajv instances (one per dialect for bodies, and a separate one with type coercion for parameters, which
 * arrive as strings), the schema files it has read, and the validators compiled from them, so a file used by
 * several routes is read and compiled once. Every problem (unreadable file, invalid schema, unknown format,
 * keyword or `$ref`) becomes a config problem with the key path, and the file and line where it lies.
 */
import { relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { LazyModule } from '../../core/lazy.js';
import { didYouMean } from '../../config/errors.js';
import { DataFile, unescapePointer } from './files.js';
import { findKeyword, findRef, SchemaTooDeep, walkSchema } from './walk.js';

/** AjvCore is an Ajv instance of either dialect. */
export type AjvCore = Ajv | Ajv2020;

// ajv-formats is CommonJS: under NodeNext its default import is the module object, whose `default` is the plugin.
/**
 * AJV is Ajv with both dialects and ajv-formats, loaded only for configs that validate (src/core/lazy.ts):
 * together they cost several MB of memory a gateway without validation should not carry.
 */
export const AJV = new LazyModule('ajv', async () => {
  const [core, d2020, formats] = await Promise.all([import('ajv'), import('ajv/dist/2020.js'), import('ajv-formats')]);
  const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (ajv: AjvCore) => AjvCore;
  return { Ajv: core.Ajv, MissingRefError: core.MissingRefError, Ajv2020: d2020.Ajv2020, addFormats };
});

/** Dialect is a JSON Schema version the compiler supports. */
export type Dialect = 'draft-07' | '2020-12';

const DIALECTS: ReadonlyMap<string, Dialect> = new Map([
  ['http://json-schema.org/draft-07/schema', 'draft-07'],
  ['https://json-schema.org/draft/2020-12/schema', '2020-12'],
]);

/** MAX_REFERENCED_FILES bounds how many files one schema may pull in through `$ref`. */
const MAX_REFERENCED_FILES = 64;

/** Keywords offered by "did you mean" for an unknown keyword. */
const KNOWN_KEYWORDS = [
  'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'patternProperties', 'items', 'prefixItems',
  'minItems', 'maxItems', 'uniqueItems', 'minLength', 'maxLength', 'pattern', 'format', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minProperties', 'maxProperties', 'allOf', 'anyOf', 'oneOf',
  'not', 'if', 'then', 'else', 'dependentRequired', 'dependentSchemas', 'propertyNames', 'contains', 'minContains',
  'maxContains', 'unevaluatedProperties', 'unevaluatedItems', 'description', 'title', 'default', 'examples',
  'deprecated', 'readOnly', 'writeOnly', '$ref', '$id', '$schema', '$defs', 'definitions', '$comment',
];

/** Problem is a config problem of the feature: key path relative to `validate`, and the message. */
export interface Problem {
  readonly rel: string;
  readonly message: string;
}

/** isProblem tells a Problem from a compiled result. */
export function isProblem(x: unknown): x is Problem {
  return typeof x === 'object' && x !== null && 'rel' in x && 'message' in x && !('fn' in x);
}

/** Origin says where a schema was written, to turn a JSON pointer inside it into a config problem. */
export interface Origin {
  /** Key path of the config key the schema came from, relative to `validate` (`.body`). */
  readonly rel: string;
  problem(pointer: string, message: string): Problem;
}

/** FileOrigin: a schema file; problems stay on the config key and name the file, line and pointer. */
export class FileOrigin implements Origin {
  constructor(readonly rel: string, readonly file: DataFile) {}
  problem(pointer: string, message: string): Problem {
    return { rel: this.rel, message: `${this.file.at(pointer)} ${pointer === '' ? '/' : pointer}: ${message}` };
  }
}

/** InlineOrigin: a schema written in the config; problems point at the exact key inside it. */
export class InlineOrigin implements Origin {
  constructor(readonly rel: string) {}
  problem(pointer: string, message: string): Problem {
    let rel = this.rel;
    if (pointer !== '') {
      for (const seg of pointer.slice(1).split('/')) {
        const s = unescapePointer(seg);
        rel += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
      }
    }
    return { rel, message };
  }
}

/** dialectOf reads a schema's `$schema`; draft-07 when absent. Returns an error text for any other value. */
export function dialectOf(schema: unknown): Dialect | { error: string } {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return 'draft-07';
  const s = (schema as Record<string, unknown>).$schema;
  if (s === undefined) return 'draft-07';
  const d = typeof s === 'string' ? DIALECTS.get(s.replace(/#$/, '')) : undefined;
  return d ?? { error: `unsupported $schema ${JSON.stringify(s)}: use draft-07 (http://json-schema.org/draft-07/schema#) or 2020-12 (https://json-schema.org/draft/2020-12/schema)` };
}

/** Compiled is a validator and the schema it was compiled from. */
export interface Compiled {
  readonly fn: ValidateFunction;
  readonly schema: unknown;
}

/**
 * SchemaCompiler compiles the schemas of one config generation. Ajv options: `allErrors` off (validation
 * stops at the first error: cheaper and bounded), `strict` on (unknown keywords and formats are config
 * errors, so a typo never silently disables a check), `ownProperties` on (`required: [toString]` is not met
 * by the prototype), no coercion, defaults or removal on bodies (the bytes are forwarded as sent), and
 * coercion of strings on the separate parameter instances.
 */
export class SchemaCompiler {
  readonly configDir: string;
  private readonly instances: Map<string, AjvCore>;
  private readonly registered: Map<AjvCore, Set<string>>;
  private readonly files: Map<string, DataFile>;
  private readonly compiled: Map<string, ValidateFunction | Problem>;
  private inlineCount: number;
  private readonly memos: Map<string, unknown>;
  /** Compiled plans by the config value they were built from (a `defaults` value is shared by routes). */
  readonly plans: WeakMap<object, unknown>;
  /** Format names every instance knows (ajv-formats, full mode). */
  readonly formats: ReadonlySet<string>;

  constructor(configDir: string) {
    this.configDir = configDir;
    this.instances = new Map();
    this.registered = new Map();
    this.files = new Map();
    this.compiled = new Map();
    this.inlineCount = 0;
    this.memos = new Map();
    this.plans = new WeakMap();
    this.formats = new Set(Object.keys(this.ajv('draft-07', false).formats));
  }

  /** ajv returns this generation's instance for a dialect, with or without coercion of types. */
  ajv(dialect: Dialect, coerce: boolean): AjvCore {
    const key = `${dialect}:${coerce ? 'coerce' : 'exact'}`;
    let a = this.instances.get(key);
    if (a === undefined) {
      const opts: Options = {
        allErrors: false,
        strict: true,
        strictTypes: false,
        strictTuples: false,
        strictRequired: false,
        ownProperties: true,
        coerceTypes: coerce,
        useDefaults: false,
        removeAdditional: false,
        verbose: false,
        logger: false,
      };
      const m = AJV.get();
      a = dialect === '2020-12' ? new m.Ajv2020(opts) : new m.Ajv(opts);
      m.addFormats(a);
      this.instances.set(key, a);
      this.registered.set(a, new Set());
    }
    return a;
  }

  /** nextId returns a fresh URI to register a generated schema under. */
  nextId(kind: string): string {
    return `urn:gatehouse:${kind}:${++this.inlineCount}`;
  }

  /** memo builds a value once per generation and key (an OpenAPI document used by several routes). */
  memo<T>(key: string, build: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    const v = build();
    this.memos.set(key, v);
    return v;
  }

  /** register adds a schema under `url` to `ajv` once; false when it was there already. */
  register(ajv: AjvCore, url: string, value: object): boolean {
    const set = this.registered.get(ajv)!;
    if (set.has(url)) return false;
    ajv.addSchema(value, url);
    set.add(url);
    return true;
  }

  /** dialectOfInstance says which dialect an instance of this compiler speaks. */
  dialectOfInstance(ajv: AjvCore): Dialect {
    return ajv instanceof AJV.get().Ajv2020 ? '2020-12' : 'draft-07';
  }

  /** file reads a file once per generation (absolute path). */
  file(path: string): DataFile {
    let f = this.files.get(path);
    if (f === undefined) {
      f = new DataFile(path, this.configDir);
      this.files.set(path, f);
    }
    return f;
  }

  /**
   * source compiles a user schema given as a file path (relative to the config directory) or inline, for the
   * key `rel` (`.body`); `coerce` for parameters.
   */
  source(source: string | Record<string, unknown>, rel: string, coerce: boolean): Compiled | Problem {
    let value: unknown;
    let origin: Origin;
    let url: string;
    if (typeof source === 'string') {
      const f = this.file(resolve(this.configDir, source));
      if (f.error !== null) return { rel, message: `schema file ${source}: ${f.error}${f.error === 'file not found' ? ' (paths are relative to the config file)' : ''}` };
      value = f.value;
      origin = new FileOrigin(rel, f);
      url = f.url;
    } else {
      value = source;
      origin = new InlineOrigin(rel);
      // Relative `$ref`s in an inline schema resolve against the config directory.
      url = new URL(`gatehouse-inline-${++this.inlineCount}.json`, pathToFileURL(this.configDir + sep)).href;
    }
    const dialect = dialectOf(value);
    if (typeof dialect !== 'string') return origin.problem('', dialect.error);
    const fn = this.compile(this.ajv(dialect, coerce), url, value, origin);
    return isProblem(fn) ? fn : { fn, schema: value };
  }

  /**
   * compile registers `value` under `url` in `ajv` and compiles it; `$ref`s to files (relative to the
   * schema's base URI) are read and registered as they are found. Cached per instance and URL.
   */
  compile(ajv: AjvCore, url: string, value: unknown, origin: Origin): ValidateFunction | Problem {
    const key = `${this.keyOf(ajv)}|${url}`;
    const done = this.compiled.get(key);
    if (done !== undefined) return done;
    const result = this.compileUncached(ajv, url, value, origin);
    this.compiled.set(key, result);
    return result;
  }

  private keyOf(ajv: AjvCore): string {
    for (const [k, a] of this.instances) if (a === ajv) return k;
    return '?';
  }

  private compileUncached(ajv: AjvCore, url: string, value: unknown, origin: Origin): ValidateFunction | Problem {
    const meta = this.metaCheck(ajv, value, origin);
    if (meta !== null) return meta;
    // The schema and the files it pulls in, for finding where a compile error lies.
    const sources: Source[] = [{ value, url, origin }];
    const registered = this.registered.get(ajv)!;
    if (!registered.has(url)) {
      try {
        ajv.addSchema(value as object, url);
      } catch (err) {
        return this.describe(err, sources);
      }
      registered.add(url);
    }
    for (let loaded = 0; ; loaded++) {
      try {
        return ajv.getSchema(url)!;
      } catch (err) {
        if (!(err instanceof AJV.get().MissingRefError) || loaded >= MAX_REFERENCED_FILES) return this.describe(err, sources);
        const missing = err.missingSchema;
        const where = locate(sources, (s) => findRef(s.value, (ref) => resolvesTo(ref, s.url, err.missingRef)));
        const written = where.pointer === '' ? this.shownRef(err.missingRef) : String(pointerGet(where.source.value, where.pointer));
        if (!missing.startsWith('file:') || registered.has(missing)) {
          return where.source.origin.problem(where.pointer, `unknown $ref ${JSON.stringify(written)}${missing.startsWith('http') ? ' (remote schemas are not fetched: save it to a file and refer to that)' : ''}`);
        }
        const f = this.file(fileURLToPath(missing));
        if (f.error !== null) return where.source.origin.problem(where.pointer, `$ref ${JSON.stringify(written)}: ${f.error} (${f.shown})`);
        const own = new FileOrigin(origin.rel, f);
        const d = dialectOf(f.value);
        if (typeof d !== 'string') return own.problem('', d.error);
        if (d !== this.dialectOfInstance(ajv)) return own.problem('', `is a ${d} schema, referred to from a schema of another dialect`);
        const meta = this.metaCheck(ajv, f.value, own);
        if (meta !== null) return meta;
        sources.push({ value: f.value, url: missing, origin: own });
        try {
          ajv.addSchema(f.value as object, missing);
        } catch (e) {
          return this.describe(e, sources);
        }
        registered.add(missing);
      }
    }
  }

  /** metaCheck validates a schema against its meta-schema and reports the first error where it lies. */
  metaCheck(ajv: AjvCore, value: unknown, origin: Origin): Problem | null {
    if (typeof value === 'boolean') return null;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return origin.problem('', 'a JSON Schema must be a mapping of keywords');
    try {
      walkSchema(value, '', noop);
    } catch (err) {
      if (err instanceof SchemaTooDeep) return origin.problem(err.pointer, err.message);
      throw err;
    }
    let ok: boolean;
    try {
      ok = ajv.validateSchema(value as object) as boolean;
    } catch (err) {
      return origin.problem('', `cannot be checked: ${(err as Error).message}`);
    }
    if (ok) return null;
    const e = (ajv.errors ?? [])[0];
    if (e === undefined) return origin.problem('', 'invalid schema');
    return origin.problem(e.instancePath, `invalid schema: ${metaMessage(e)}`);
  }

  /**
   * describe turns an Ajv compile error into a problem where it lies (in the schema or in a file it refers
   * to: `sources`, the schema first), with a hint where one helps.
   */
  describe(err: unknown, sources: readonly Source[]): Problem {
    const text = err instanceof Error ? err.message : String(err);
    let m = /^unknown format "(.*)" ignored in schema at path "(.*)"$/.exec(text);
    if (m !== null) {
      const name = m[1]!;
      const hint = didYouMean(name, this.formats);
      const message = `unknown format "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; known formats: see docs/validation.md`;
      // A path starting with # lies in the schema compiled; another one in a file it refers to.
      if (m[2]!.startsWith('#')) return sources[0]!.origin.problem(`${m[2]!.slice(1)}/format`, message);
      const where = locate(sources, (s) => findFormat(s.value, name));
      return where.source.origin.problem(where.pointer, message);
    }
    m = /^strict mode: unknown keyword: "(.*)"$/.exec(text);
    if (m !== null) {
      const kw = m[1]!;
      const hint = didYouMean(kw, KNOWN_KEYWORDS);
      const where = locate(sources, (s) => findKeyword(s.value, kw));
      return where.source.origin.problem(where.pointer, `unknown keyword "${kw}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
    m = /^schema with key or id "(.*)" already exists$/.exec(text);
    if (m !== null) {
      const where = locate(sources, (s) => findKeyword(s.value, '$id'));
      return where.source.origin.problem(where.pointer, `$id ${JSON.stringify(this.shownRef(m[1]!))} is used by two schemas`);
    }
    if (err instanceof AJV.get().MissingRefError) {
      const where = locate(sources, (s) => findRef(s.value, (ref) => resolvesTo(ref, s.url, err.missingRef)));
      return where.source.origin.problem(where.pointer, `unknown $ref ${JSON.stringify(this.shownRef(err.missingRef))}`);
    }
    return sources[0]!.origin.problem('', text.split('\n')[0]!.replace(/^strict mode: /, ''));
  }

  /** shownRef makes a file URL relative to the config directory for messages. */
  shownRef(ref: string): string {
    if (!ref.startsWith('file:')) return ref;
    const hash = ref.indexOf('#');
    const base = hash === -1 ? ref : ref.slice(0, hash);
    let path: string;
    try { path = relative(this.configDir, fileURLToPath(base)); } catch { return ref; }
    return (path.split(sep).join('/') || '.') + (hash === -1 ? '' : ref.slice(hash));
  }
}

/** Source is a schema taking part in one compilation: its value, base URI and where it was written. */
export interface Source {
  readonly value: unknown;
  readonly url: string;
  readonly origin: Origin;
}

/** locate finds the first source where `find` gives a pointer; the schema itself (at its root) otherwise. */
function locate(sources: readonly Source[], find: (s: Source) => string | null): { source: Source; pointer: string } {
  for (const source of sources) {
    const pointer = find(source);
    if (pointer !== null) return { source, pointer };
  }
  return { source: sources[0]!, pointer: '' };
}

/** findFormat returns the pointer of the first `format` keyword naming `name`, or null. */
function findFormat(schema: unknown, name: string): string | null {
  let found: string | null = null;
  walkSchema(schema, '', (node, p) => { if (found === null && node.format === name) found = `${p}/format`; });
  return found;
}

function noop(): void { /* walk only to bound the depth */ }

/** Whether `ref` written in a schema based at `base` resolves to `target`. */
function resolvesTo(ref: string, base: string, target: string): boolean {
  try {
    const a = new URL(ref, base).href;
    return a === target || a.replace(/#$/, '') === target.replace(/#$/, '') || (ref.startsWith('#') && target === ref);
  } catch {
    return ref === target;
  }
}

/** pointerGet reads the value at a JSON pointer. */
function pointerGet(value: unknown, pointer: string): unknown {
  let v = value;
  for (const seg of pointer.slice(1).split('/')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[unescapePointer(seg)];
  }
  return v;
}

/** metaMessage words a meta-schema error, listing the allowed values where the error has them. */
function metaMessage(e: ErrorObject): string {
  const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
  if (e.keyword === 'enum' && Array.isArray(allowed)) return `must be one of ${allowed.map(String).join(', ')}`;
  return e.message ?? 'invalid';
}
