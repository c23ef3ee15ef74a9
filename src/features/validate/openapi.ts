/**
 * An OpenAPI 3.0 or 3.1 document compiled for request validation: each operation's path, query and header
 * parameters become one schema per place (compiled with type coercion), its JSON request bodies one schema per
 * media type; `#/components/schemas/...` are registered with Ajv under the document's file URL. Path templates
 * are matched segment by segment, concrete before templated (`/users/me` before `/users/{id}`).
 *
 * OpenAPI 3.0 schemas are converted to JSON Schema draft-07: `nullable: true` adds `null` to the type (or wraps
 * the schema in `anyOf` with `{type: null}`), boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers, and
 * the annotations JSON Schema does not know (`example`, `xml`, `externalDocs`, `discriminator`, `x-*`) are
 * dropped. 3.1 schemas are JSON Schema 2020-12 and get the same annotation clean-up. Formats the gateway does
 * not know are ignored with a warning, as OpenAPI says tools should.
 */
import type { ValidateFunction } from 'ajv';
import { BodyCheck, BodyRule, Checks, ParamCheck, type Place } from './checks.js';
import { isProblem, type Origin, type Problem, type SchemaCompiler, type Dialect, type AjvCore } from './compiler.js';
import type { DataFile } from './files.js';
import { escapePointer, unescapePointer } from './files.js';
import { isJsonMediaType, MediaRanges } from './json.js';
import { SchemaTooDeep, transformSchema, type SchemaObject } from './walk.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** OpenAPI-only schema keywords, dropped before the schema reaches Ajv. */
const ANNOTATIONS = new Set(['example', 'xml', 'externalDocs', 'discriminator']);
/** Header parameters OpenAPI says to ignore (they are described elsewhere in the document). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const COMPONENT_SCHEMAS = '#/components/schemas/';
/** Most problems reported for one document; past them the rest are usually the same mistake. */
const MAX_PROBLEMS = 20;

const enum Seg { Literal = 0, Mixed = 1, Param = 2 }

/** Segment is one compiled segment of a path template. */
interface Segment {
  readonly kind: Seg;
  /** Literal text (folded when routing is case-insensitive). */
  readonly text: string;
  /** For mixed segments (`{name}.{ext}`): the anchored pattern, built once at load. */
  readonly re: RegExp | null;
}

/** Template is one `paths:` entry: its segments and operations by upper-case method. */
export class Template {
  readonly text: string;
  readonly segments: readonly Segment[];
  readonly ops: ReadonlyMap<string, Checks>;
  /** The `Allow` header of a 405 for this path. */
  readonly allow: string;
  constructor(text: string, segments: readonly Segment[], ops: ReadonlyMap<string, Checks>) {
    this.text = text;
    this.segments = segments;
    this.ops = ops;
    const methods = [...ops.keys()];
    if (ops.has('GET') && !ops.has('HEAD')) methods.push('HEAD');
    this.allow = methods.join(', ');
  }

  /** operation finds the checks for a method; HEAD falls back to GET. */
  operation(method: string): Checks | null {
    const op = this.ops.get(method);
    if (op !== undefined) return op;
    return method === 'HEAD' ? this.ops.get('GET') ?? null : null;
  }
}

/** PathMatch is a matched template and the raw values of its parameters, in template order. */
export class PathMatch {
  readonly template: Template;
  readonly values: readonly string[];
  constructor(template: Template, values: readonly string[]) {
    this.template = template;
    this.values = values;
  }
}

const NO_VALUES: readonly string[] = [];

/** OpenApiDoc is a compiled document: its templates and the base path from its first server. */
export class OpenApiDoc {
  readonly file: DataFile;
  /** Path of the first `servers` URL ('' when none or templated). */
  readonly serverBase: string;
  readonly caseSensitive: boolean;
  /** Templates without parameters, by (folded) path. */
  private readonly exact: ReadonlyMap<string, Template>;
  /** Templates with parameters, by segment count, most specific first. */
  private readonly bySegments: ReadonlyMap<number, readonly Template[]>;

  constructor(file: DataFile, serverBase: string, caseSensitive: boolean, templates: readonly Template[]) {
    this.file = file;
    this.serverBase = serverBase;
    this.caseSensitive = caseSensitive;
    const exact = new Map<string, Template>();
    const by = new Map<number, Template[]>();
    for (const t of templates) {
      if (t.segments.every((s) => s.kind === Seg.Literal)) {
        const key = t.segments.map((s) => s.text).join('/');
        if (!exact.has(key)) exact.set(key, t);
        continue;
      }
      const list = by.get(t.segments.length) ?? [];
      list.push(t);
      by.set(t.segments.length, list);
    }
    for (const list of by.values()) list.sort(bySpecificity);
    this.exact = exact;
    this.bySegments = by;
  }

  /** match finds the template for a path (relative to the base path), or null. */
  match(path: string): PathMatch | null {
    const folded = this.caseSensitive ? path : path.toLowerCase();
    const t = this.exact.get(folded);
    if (t !== undefined) return new PathMatch(t, NO_VALUES);
    const segs = path.split('/');
    const list = this.bySegments.get(segs.length);
    if (list === undefined) return null;
    const fsegs = this.caseSensitive ? segs : folded.split('/');
    next: for (let k = 0; k < list.length; k++) {
      const tpl = list[k]!;
      let values: string[] | null = null;
      for (let i = 0; i < segs.length; i++) {
        const s = tpl.segments[i]!;
        if (s.kind === Seg.Literal) {
          if (s.text !== fsegs[i]) continue next;
        } else if (s.kind === Seg.Param) {
          if (segs[i] === '') continue next;
          (values ??= []).push(segs[i]!);
        } else {
          const m = s.re!.exec(segs[i]!);
          if (m === null) continue next;
          values ??= [];
          for (let g = 1; g < m.length; g++) values.push(m[g]!);
        }
      }
      return new PathMatch(tpl, values ?? NO_VALUES);
    }
    return null;
  }
}

/** Concrete segments before mixed ones before whole-segment parameters, left to right; ties keep document order. */
function bySpecificity(a: Template, b: Template): number {
  for (let i = 0; i < a.segments.length; i++) {
    const d = a.segments[i]!.kind - b.segments[i]!.kind;
    if (d !== 0) return d;
  }
  return 0;
}

/** DocOrigin: a schema at `base` in an OpenAPI file; problems name the file, line and pointer in the document. */
class DocOrigin implements Origin {
  constructor(readonly rel: string, readonly file: DataFile, readonly base: string, readonly map: ((pointer: string) => string) | null = null) {}
  problem(pointer: string, message: string): Problem {
    const at = this.map !== null ? this.map(pointer) : this.base + pointer;
    return { rel: this.rel, message: `${this.file.at(at)} ${at === '' ? '/' : at}: ${message}` };
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A parameter after `$ref` resolution, with where it was written. */
interface Param {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly schema: unknown;
  readonly explode: boolean | undefined;
  readonly pointer: string;
}

/**
 * compileOpenApi reads and compiles the document at `path` (absolute) once per generation. `rel` is the key
 * path of `openapi` for problems; `warn` receives warnings (ignored formats).
 */
export function compileOpenApi(compiler: SchemaCompiler, path: string, rel: string, caseSensitive: boolean, warn: (message: string) => void): OpenApiDoc | Problem[] {
  return compiler.memo(`openapi:${path}:${caseSensitive}`, () => new DocBuilder(compiler, compiler.file(path), rel, warn).build(caseSensitive));
}

/** DocBuilder holds the state of compiling one document. */
class DocBuilder {
  private readonly problems: Problem[] = [];
  private readonly doc: Obj;
  private dialect: Dialect = 'draft-07';
  private v30 = true;
  private components: Obj = {};
  private readonly registeredIn = new Set<AjvCore>();

  constructor(private readonly compiler: SchemaCompiler, private readonly file: DataFile, private readonly rel: string, private readonly warn: (message: string) => void) {
    this.doc = isObj(file.value) ? file.value : {};
  }

  private problem(pointer: string, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ rel: this.rel, message: `${this.file.at(pointer)} ${pointer === '' ? '/' : pointer}: ${message}` });
  }

  build(caseSensitive: boolean): OpenApiDoc | Problem[] {
    const f = this.file;
    if (f.error !== null) return [{ rel: this.rel, message: `OpenAPI document ${f.shown}: ${f.error}${f.error === 'file not found' ? ' (paths are relative to the config file)' : ''}` }];
    if (!isObj(f.value)) return [{ rel: this.rel, message: `${f.shown}: is not an OpenAPI document (a mapping with openapi, info, paths)` }];
    const version = this.doc.openapi;
    if (typeof version !== 'string' || !/^3\.[01]\.\d+/.test(version)) {
      const found = typeof version === 'string' ? `openapi: ${JSON.stringify(version.slice(0, 20))}` : typeof this.doc.swagger === 'string' ? 'a Swagger 2.0 document' : 'no openapi version';
      return [{ rel: this.rel, message: `${f.at('/openapi')} /openapi: only OpenAPI 3.0 and 3.1 documents are supported (found ${found})` }];
    }
    this.v30 = version.startsWith('3.0');
    this.dialect = this.v30 ? 'draft-07' : '2020-12';
    if (!this.v30 && this.doc.jsonSchemaDialect !== undefined && String(this.doc.jsonSchemaDialect).replace(/#$/, '') !== 'https://json-schema.org/draft/2020-12/schema') {
      this.problem('/jsonSchemaDialect', 'only the default dialect (JSON Schema 2020-12) is supported');
    }
    this.components = isObj(this.doc.components) ? this.doc.components : {};
    this.registerComponents(this.compiler.ajv(this.dialect, false), true);
    if (this.problems.length > 0) return this.problems;

    const templates: Template[] = [];
    const paths = this.doc.paths ?? {};
    if (!isObj(paths)) { this.problem('/paths', 'must be a mapping of path templates'); return this.problems; }
    for (const [text, item] of Object.entries(paths)) {
      const at = `/paths/${escapePointer(text)}`;
      if (!text.startsWith('/')) { this.problem(at, 'a path template must start with /'); continue; }
      if (!isObj(item)) { this.problem(at, 'must be a mapping of operations'); continue; }
      if (item.$ref !== undefined) { this.problem(`${at}/$ref`, 'path items given by $ref are not supported: write the operations in place'); continue; }
      const segments = this.segments(text, caseSensitive, at);
      if (segments === null) continue;
      const names = templateNames(text);
      const shared = this.params(item.parameters, `${at}/parameters`);
      const ops = new Map<string, Checks>();
      for (const m of METHODS) {
        const op = item[m];
        if (op === undefined) continue;
        const opAt = `${at}/${m}`;
        if (!isObj(op)) { this.problem(opAt, 'must be a mapping (an operation)'); continue; }
        const own = this.params(op.parameters, `${opAt}/parameters`);
        const merged = new Map<string, Param>();
        for (const p of [...shared, ...own]) merged.set(`${p.in}:${p.in === 'header' ? p.name.toLowerCase() : p.name}`, p);
        const all = [...merged.values()];
        const checks = new Checks(
          this.paramCheck('path', all.filter((p) => p.in === 'path'), opAt),
          this.paramCheck('query', all.filter((p) => p.in === 'query'), opAt),
          this.paramCheck('header', all.filter((p) => p.in === 'header' && !IGNORED_HEADERS.has(p.name.toLowerCase())), opAt),
          this.body(op.requestBody, `${opAt}/requestBody`),
          names,
        );
        ops.set(m.toUpperCase(), checks);
      }
      templates.push(new Template(text, segments, ops));
    }
    if (this.problems.length > 0) return this.problems;
    return new OpenApiDoc(this.file, serverBase(this.doc.servers), caseSensitive, templates);
  }

  /** Registers `#/components/schemas` in `ajv` as one schema (`$defs`) under the file's URL; compiles each once to find its problems. */
  private registerComponents(ajv: AjvCore, check: boolean): void {
    if (this.registeredIn.has(ajv)) return;
    this.registeredIn.add(ajv);
    const schemas = this.components.schemas;
    if (schemas === undefined) return;
    if (!isObj(schemas)) { this.problem('/components/schemas', 'must be a mapping of schemas'); return; }
    const defs: Obj = {};
    for (const [name, s] of Object.entries(schemas)) {
      const converted = this.convert(s, `/components/schemas/${escapePointer(name)}`);
      if (converted !== undefined) defs[name] = converted;
    }
    if (this.problems.length > 0) return;
    const root = { $defs: defs };
    const origin = new DocOrigin(this.rel, this.file, '', (p) => p.replace(/^\/\$defs\//, '/components/schemas/'));
    if (check) {
      const meta = this.compiler.metaCheck(ajv, root, origin);
      if (meta !== null) { this.problems.push(meta); return; }
    }
    try {
      this.compiler.register(ajv, this.file.url, root);
    } catch (err) {
      this.problems.push(this.compiler.describe(err, [{ value: root, url: this.file.url, origin }]));
      return;
    }
    if (!check) return;
    for (const name of Object.keys(defs)) {
      const at = `/components/schemas/${escapePointer(name)}`;
      try {
        ajv.getSchema(`${this.file.url}#/$defs/${escapePointer(name)}`);
      } catch (err) {
        this.problems.push(this.compiler.describe(err, [{ value: defs[name], url: this.file.url, origin: new DocOrigin(this.rel, this.file, at) }]));
        if (this.problems.length >= MAX_PROBLEMS) return;
      }
    }
  }

  /**
   * convert turns an OpenAPI schema into a JSON Schema for the document's dialect (see the file comment);
   * `$ref`s to `#/components/schemas/...` become absolute, any other `$ref` is a problem.
   */
  private convert(schema: unknown, pointer: string): unknown {
    if (typeof schema === 'boolean') return schema;
    if (!isObj(schema)) { this.problem(pointer, 'a schema must be a mapping of keywords'); return undefined; }
    const url = this.file.url;
    const names = isObj(this.components.schemas) ? this.components.schemas : {};
    const before = this.problems.length;
    try {
      const pass1 = transformSchema(schema, pointer, (node, at) => {
        for (const key of Object.keys(node)) if (key.startsWith('x-') || ANNOTATIONS.has(key)) delete node[key];
        const ref = node.$ref;
        if (typeof ref === 'string' && !ref.startsWith(url)) {
          if (ref.startsWith(COMPONENT_SCHEMAS)) {
            const name = unescapePointer(ref.slice(COMPONENT_SCHEMAS.length).split('/')[0]!);
            if (!Object.hasOwn(names, name)) this.problem(`${at}/$ref`, `unknown $ref ${JSON.stringify(ref)}: no schema ${JSON.stringify(name)} under components.schemas`);
            else node.$ref = `${url}#/$defs/${ref.slice(COMPONENT_SCHEMAS.length)}`;
          } else {
            this.problem(`${at}/$ref`, `unsupported $ref ${JSON.stringify(ref)}: schemas may refer only to #/components/schemas/...`);
          }
        }
        if (typeof node.format === 'string' && !this.compiler.formats.has(node.format)) {
          this.warn(`${this.file.at(`${at}/format`)} ${at}/format: unknown format "${node.format}" ignored`);
          delete node.format;
        }
        if (this.v30) {
          for (const [ex, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
            if (typeof node[ex] !== 'boolean') continue;
            if (node[ex] === true && typeof node[bound] === 'number') { node[ex] = node[bound]; delete node[bound]; }
            else delete node[ex];
          }
        }
        return node;
      });
      // A schema with a problem is not compiled: Ajv would only report the same problem again.
      return this.problems.length > before ? undefined : transformSchema(pass1, pointer, nullable);
    } catch (err) {
      if (err instanceof SchemaTooDeep) { this.problem(err.pointer, err.message); return undefined; }
      throw err;
    }
  }

  /** Compiles a path template into segments; null (with a problem) when it is malformed. */
  private segments(text: string, caseSensitive: boolean, at: string): Segment[] | null {
    const out: Segment[] = [];
    for (const raw of text.split('/')) {
      const open = raw.indexOf('{');
      if (open === -1) {
        if (raw.includes('}')) { this.problem(at, 'unbalanced } in the path template'); return null; }
        out.push({ kind: Seg.Literal, text: caseSensitive ? raw : raw.toLowerCase(), re: null });
      } else if (/^\{[^{}/]+\}$/.test(raw)) {
        out.push({ kind: Seg.Param, text: raw.slice(1, -1), re: null });
      } else {
        let pattern = '^';
        let rest = raw;
        for (let m = /\{([^{}/]+)\}/.exec(rest); m !== null; m = /\{([^{}/]+)\}/.exec(rest)) {
          pattern += escapeRegExp(rest.slice(0, m.index)) + '(.+?)';
          rest = rest.slice(m.index + m[0].length);
        }
        if (rest.includes('{') || rest.includes('}')) { this.problem(at, 'unbalanced { or } in the path template'); return null; }
        out.push({ kind: Seg.Mixed, text: raw, re: new RegExp(pattern + escapeRegExp(rest) + '$', caseSensitive ? '' : 'i') });
      }
    }
    return out;
  }

  /** Resolves a `parameters` list (`$ref`s to `#/components/parameters/...` included). */
  private params(list: unknown, at: string): Param[] {
    if (list === undefined) return [];
    if (!Array.isArray(list)) { this.problem(at, 'must be a list'); return []; }
    const out: Param[] = [];
    list.forEach((entry, i) => {
      let p: unknown = entry;
      let pointer = `${at}/${i}`;
      for (let hops = 0; isObj(p) && typeof p.$ref === 'string' && hops < 10; hops++) {
        const ref = p.$ref;
        const prefix = '#/components/parameters/';
        const target = ref.startsWith(prefix) && isObj(this.components.parameters) ? (this.components.parameters as Obj)[unescapePointer(ref.slice(prefix.length))] : undefined;
        if (target === undefined) { this.problem(`${pointer}/$ref`, `unknown $ref ${JSON.stringify(ref)}: parameters may refer only to #/components/parameters/...`); return; }
        p = target;
        pointer = `/components/parameters/${ref.slice(prefix.length)}`;
      }
      if (!isObj(p) || typeof p.name !== 'string' || typeof p.in !== 'string') { this.problem(pointer, 'a parameter needs a name and an in'); return; }
      if (!['path', 'query', 'header', 'cookie'].includes(p.in)) { this.problem(`${pointer}/in`, 'must be path, query, header or cookie'); return; }
      out.push({ name: p.name, in: p.in, required: p.required === true || p.in === 'path', schema: p.schema, explode: typeof p.explode === 'boolean' ? p.explode : undefined, pointer });
    });
    return out;
  }

  /** Builds the check of one place's parameters: one object schema whose properties are the parameters. */
  private paramCheck(place: Place, params: Param[], opAt: string): ParamCheck | null {
    if (params.length === 0) return null;
    const properties: Obj = {};
    const required: string[] = [];
    const arrays = new Set<string>();
    const comma = new Set<string>();
    const where = new Map<string, string>();
    const before = this.problems.length;
    for (const p of params) {
      const name = place === 'header' ? p.name.toLowerCase() : p.name;
      const schema = p.schema === undefined ? {} : this.convert(p.schema, `${p.pointer}/schema`);
      if (schema === undefined) continue;
      properties[name] = schema;
      where.set(name, p.schema === undefined ? p.pointer : `${p.pointer}/schema`);
      if (p.required) required.push(name);
      if (this.isArraySchema(schema)) {
        arrays.add(name);
        if (place !== 'query' || p.explode === false) comma.add(name);
      }
    }
    if (this.problems.length > before) return null;
    const ajv = this.compiler.ajv(this.dialect, true);
    this.registerComponents(ajv, false);
    const composite = { type: 'object', properties, required };
    const origin = new DocOrigin(this.rel, this.file, opAt, (pointer) => {
      const m = /^\/properties\/([^/]*)(.*)$/.exec(pointer);
      const base = m === null ? undefined : where.get(unescapePointer(m[1]!));
      return base === undefined ? `${opAt}/parameters` : base + m![2];
    });
    const fn = this.compiler.compile(ajv, this.compiler.nextId(`openapi-${place}`), composite, origin);
    if (isProblem(fn)) { this.problems.push(fn); return null; }
    return new ParamCheck(place, fn, arrays, comma, place === 'header' ? Object.keys(properties) : null);
  }

  /** Builds the body check of an operation from its `requestBody`, or null when it has none. */
  private body(requestBody: unknown, at: string): BodyCheck | null {
    if (requestBody === undefined) return null;
    let rb = requestBody;
    let pointer = at;
    const prefix = '#/components/requestBodies/';
    if (isObj(rb) && typeof rb.$ref === 'string') {
      const ref = rb.$ref;
      const target = ref.startsWith(prefix) && isObj(this.components.requestBodies) ? (this.components.requestBodies as Obj)[unescapePointer(ref.slice(prefix.length))] : undefined;
      if (target === undefined) { this.problem(`${at}/$ref`, `unknown $ref ${JSON.stringify(ref)}: request bodies may refer only to #/components/requestBodies/...`); return null; }
      rb = target;
      pointer = `/components/requestBodies/${ref.slice(prefix.length)}`;
    }
    if (!isObj(rb) || !isObj(rb.content)) { this.problem(pointer, 'a request body needs content (media types and their schemas)'); return null; }
    const ranges: string[] = [];
    const validators: (ValidateFunction | null)[] = [];
    const ajv = this.compiler.ajv(this.dialect, false);
    for (const [type, media] of Object.entries(rb.content)) {
      const mediaAt = `${pointer}/content/${escapePointer(type)}`;
      const range = type.toLowerCase().split(';')[0]!.trim();
      if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(range)) { this.problem(mediaAt, 'is not a media type'); continue; }
      ranges.push(range);
      const schema = isObj(media) ? media.schema : undefined;
      if (!isJsonMediaType(range) || schema === undefined) { validators.push(null); continue; }
      const converted = this.convert(schema, `${mediaAt}/schema`);
      if (converted === undefined) { validators.push(null); continue; }
      const fn = this.compiler.compile(ajv, this.compiler.nextId('openapi-body'), converted, new DocOrigin(this.rel, this.file, `${mediaAt}/schema`));
      if (isProblem(fn)) { this.problems.push(fn); validators.push(null); continue; }
      validators.push(fn);
    }
    return new BodyCheck(new MediaRanges(ranges), validators, rb.required === true ? BodyRule.Always : BodyRule.Optional);
  }

  /** Whether a (converted) parameter schema takes arrays, following one `$ref` into the components. */
  private isArraySchema(schema: unknown): boolean {
    let s = schema;
    if (isObj(s) && typeof s.$ref === 'string' && s.$ref.startsWith(`${this.file.url}#/$defs/`)) {
      const name = unescapePointer(s.$ref.slice(this.file.url.length + '#/$defs/'.length).split('/')[0]!);
      s = isObj(this.components.schemas) ? (this.components.schemas as Obj)[name] : undefined;
    }
    if (!isObj(s)) return false;
    const t = s.type;
    return t === 'array' || (Array.isArray(t) && t.includes('array')) || (t === undefined && (s.items !== undefined || s.prefixItems !== undefined));
  }
}

/** Second conversion pass: OpenAPI 3.0 `nullable` as JSON Schema (lenient in 3.1, where it is no keyword). */
function nullable(node: SchemaObject): SchemaObject {
  if (!('nullable' in node)) return node;
  const on = node.nullable === true;
  delete node.nullable;
  if (!on) return node;
  if (node.type !== undefined) {
    const types = Array.isArray(node.type) ? node.type : [node.type];
    if (!types.includes('null')) node.type = [...types, 'null'];
    if (Array.isArray(node.enum) && !node.enum.includes(null)) node.enum = [...node.enum, null];
    return node;
  }
  return { anyOf: [{ type: 'null' }, node] };
}

/** The path of the first server URL, without a trailing slash ('' when there is none or it is templated). */
function serverBase(servers: unknown): string {
  if (!Array.isArray(servers) || !isObj(servers[0]) || typeof servers[0].url !== 'string') return '';
  const url = servers[0].url;
  if (url.includes('{')) return '';
  let path: string;
  if (url.startsWith('/')) path = url;
  else {
    try { path = new URL(url).pathname; } catch { return ''; }
  }
  path = path.replace(/\/+$/, '');
  return path;
}

/** Parameter names of a template, in order (`/a/{x}/b/{y}.{z}` → x, y, z). */
function templateNames(text: string): string[] {
  return [...text.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]!);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

