/**
 * `gatehouse import openapi SPEC --service NAME`: turns the paths and methods of an OpenAPI 3.0 or 3.1 document
 * into a `routes:` fragment to review and paste into a config. Each route validates its requests with
 * `validate: { openapi: SPEC }`, so the schemas stay in the document rather than being copied into the config.
 * The document is compiled with the validate feature's own compiler first: what this command prints is what
 * the gateway will accept, and a document the gateway would refuse is refused here, in one line.
 */
import { writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import { didYouMean } from '../config/errors.js';
import { AJV, SchemaCompiler } from '../features/validate/compiler.js';
import { DataFile, escapePointer } from '../features/validate/files.js';
import { compileOpenApi } from '../features/validate/openapi.js';
import { CliError } from './usage.js';

/** ImportOpenApiOptions are the arguments and flags of `gatehouse import openapi`. */
export interface ImportOpenApiOptions {
  /** Path of the OpenAPI document (YAML or JSON), relative to the current directory. */
  spec: string;
  /** The service under `services:` the routes send requests to (required). */
  service?: string;
  /** A config file given with `-c`: the service must exist in it, and route names must not clash with its routes. */
  config?: string;
  /** Write the fragment to this file (which must not exist) rather than to `out`. */
  out?: string;
  /** `--base-path`: the gateway path in front of the document's templates. Default: the path of `servers[0].url`. */
  basePath?: string;
  /** `--strip-base`: add `strip-prefix: <base path>` so the service receives the bare template paths. */
  stripBase?: boolean;
  /** `--per`: `operation` (default, one route per method and path) or `path` (one route per path, its methods listed). */
  per?: string;
  /** `--name-prefix`: put in front of every route name (`pets-`). */
  namePrefix?: string;
  /** The date written in the header; tests inject one. */
  now?: number;
  /** The directory relative paths start from; default process.cwd(). */
  cwd?: string;
}

/** ImportOpenApiResult says what was written, for the command's summary on stderr. */
export interface ImportOpenApiResult {
  readonly routes: number;
  readonly warnings: readonly string[];
  /** The file written, or null when the fragment went to `out`. */
  readonly file: string | null;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** One operation of the document, in document order. */
interface Operation {
  readonly template: string;
  readonly method: string;
  readonly operationId: string | null;
  readonly summary: string | null;
  readonly deprecated: boolean;
  readonly security: readonly string[];
}

/** A path template mapped to a route path pattern, or why it cannot be. */
interface MappedPath {
  readonly path: string;
  /** Notes on segments the router cannot express exactly (mixed segments). */
  readonly notes: readonly string[];
}

/** One route to emit: the operations it covers and its match. */
class ImportedRoute {
  name = '';
  readonly path: string;
  readonly methods: string[] = [];
  readonly ops: Operation[] = [];
  readonly notes: string[] = [];
  constructor(path: string) {
    this.path = path;
  }
}

/**
 * runImportOpenApi reads the document, maps it to routes and writes the YAML fragment to `o.out` (a file) or to
 * `out`. Throws CliError (exit 2) on anything it refuses; a config given with `-c` that does not load throws
 * the loader's ConfigError (exit 1).
 */
export async function runImportOpenApi(o: ImportOpenApiOptions, out: (s: string) => void): Promise<ImportOpenApiResult> {
  const cwd = o.cwd ?? process.cwd();
  const service = o.service;
  if (service === undefined || service === '') throw new CliError('--service NAME is required: the service under `services:` the imported routes send requests to');
  if (!NAME_RE.test(service)) throw new CliError(`--service "${service}" is not a service name (letters, digits, _ . -; starting with a letter or digit)`);
  const per = o.per ?? 'operation';
  if (per !== 'operation' && per !== 'path') throw new CliError(`--per must be operation or path, not "${per}"`);
  const prefix = o.namePrefix ?? '';
  if (prefix !== '' && !NAME_RE.test(prefix)) throw new CliError(`--name-prefix "${prefix}" must start with a letter or digit and hold only letters, digits, _ . -`);
  const basePath = o.basePath === undefined ? undefined : checkBasePath(o.basePath);

  // The target config, when given: the service must be there and the new names must be free.
  const taken = new Set<string>();
  let caseSensitive = true;
  if (o.config !== undefined) {
    const loaded = loadConfigFile(resolve(cwd, o.config));
    if (!(service in loaded.config.services)) {
      const hint = didYouMean(service, Object.keys(loaded.config.services));
      throw new CliError(`${o.config} has no service "${service}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}; add it under services: first`);
    }
    for (const r of loaded.config.routes) taken.add(r.name);
    caseSensitive = loaded.config.routing.caseSensitive;
  }

  const specPath = resolve(cwd, o.spec);
  // Messages name the document relative to the current directory, or by its file name when it lies elsewhere.
  const shownFrom = relative(cwd, specPath).startsWith('..') || isAbsolute(relative(cwd, specPath)) ? dirname(specPath) : cwd;
  const file = new DataFile(specPath, shownFrom);
  if (file.error !== null) throw new CliError(`${o.spec}: ${file.error}`);
  const doc = file.value;
  if (!isObj(doc)) throw new CliError(`${o.spec}: is not an OpenAPI document (a mapping with openapi, info and paths)`);
  checkVersion(doc, o.spec);
  const external = firstExternalRef(doc, '');
  if (external !== null) {
    const remote = /^[a-z][a-z0-9+.-]*:|^\/\//i.test(external.ref);
    throw new CliError(`${file.at(external.at)} ${external.at}: $ref ${JSON.stringify(external.ref)} ${remote
      ? 'is a URL, and nothing is fetched from the network'
      : 'is in another file, and validate.openapi reads one file'}: bundle the document into one file first (for example \`npx @redocly/cli bundle\`)`);
  }

  // Compile it as the gateway will: a document `validate` refuses is refused here, with the same message.
  const warnings: string[] = [];
  await AJV.load();
  const compiled = compileOpenApi(new SchemaCompiler(shownFrom), specPath, '', caseSensitive, (m) => warnings.push(m));
  if (Array.isArray(compiled)) {
    const more = compiled.length > 1 ? ` (and ${compiled.length - 1} more problem${compiled.length > 2 ? 's' : ''})` : '';
    throw new CliError(`${o.spec}: the validate feature cannot use this document: ${compiled[0]!.message}${more}`);
  }

  const servers = doc.servers;
  const serverUrl = Array.isArray(servers) && isObj(servers[0]) && typeof servers[0].url === 'string' ? servers[0].url : null;
  if (basePath === undefined && serverUrl !== null && serverUrl.includes('{')) {
    warnings.push(`servers[0].url ${JSON.stringify(serverUrl)} is templated, so no base path was taken from it; pass --base-path if the API lives under one`);
  }
  const base = basePath ?? compiled.serverBase;

  const ops = operations(doc, file, o.spec);
  const routes = group(ops, base, per, warnings);
  if (routes.length === 0) throw new CliError(`${o.spec}: no operation to import${ops.length > 0 ? ' (every path was skipped: ' + comment(warnings[warnings.length - 1] ?? '') + ')' : ' (paths is empty)'}`);
  name(routes, per, prefix, taken, o.config, warnings);

  const refDir = o.config !== undefined ? dirname(resolve(cwd, o.config)) : o.out !== undefined ? dirname(resolve(cwd, o.out)) : cwd;
  const text = render({
    routes, service, base, stripBase: o.stripBase === true, warnings,
    spec: o.spec, specRef: pathRef(refDir, specPath), refDir: o.config !== undefined ? 'the config file' : o.out !== undefined ? 'the output file' : 'the current directory',
    baseFrom: basePath !== undefined ? '--base-path' : base === '' ? 'none: the document has no server path' : 'the path of servers[0].url',
    info: isObj(doc.info) ? doc.info : {}, version: String(doc.openapi), now: o.now ?? Date.now(),
  });

  if (o.out === undefined) {
    out(text);
    return { routes: routes.length, warnings, file: null };
  }
  try {
    writeFileSync(resolve(cwd, o.out), text, { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'EEXIST' ? `--out ${o.out} exists; choose another file or remove it` : `--out ${o.out}: cannot write the file (${code ?? 'error'})`);
  }
  return { routes: routes.length, warnings, file: o.out };
}

/** checkBasePath normalizes `--base-path`: a literal path, without a trailing slash; `/` means none (''). */
function checkBasePath(p: string): string {
  if (!p.startsWith('/')) throw new CliError(`--base-path must start with / (got "${p}")`);
  if (/[*{}?#\s]|\/:|\/\/|\/\.\.?(\/|$)/.test(p)) throw new CliError(`--base-path "${p}" must be a plain path (no parameters, *, empty or dot segments)`);
  return p.replace(/\/+$/, '');
}

/** checkVersion refuses anything but OpenAPI 3.0 and 3.1, with a hint for Swagger 2.0. */
function checkVersion(doc: Obj, spec: string): void {
  const v = doc.openapi;
  if (typeof v === 'string' && /^3\.[01]\.\d+/.test(v)) return;
  if (doc.swagger !== undefined) throw new CliError(`${spec}: is a Swagger ${String(doc.swagger)} document; convert it to OpenAPI 3 first (for example \`npx swagger2openapi ${spec} -o openapi.yaml\`)`);
  if (typeof v === 'string') throw new CliError(`${spec}: openapi ${JSON.stringify(v.slice(0, 20))} is not supported: only OpenAPI 3.0 and 3.1 documents`);
  throw new CliError(`${spec}: is not an OpenAPI document (no openapi version)`);
}

/** firstExternalRef finds the first `$ref` that does not point inside the document (depth-first, document order). */
function firstExternalRef(node: unknown, at: string, depth = 0): { ref: string; at: string } | null {
  if (depth > 200 || node === null || typeof node !== 'object') return null;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const r = firstExternalRef(node[i], `${at}/${i}`, depth + 1);
      if (r !== null) return r;
    }
    return null;
  }
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) return { ref: v, at: `${at}/$ref` };
    // Examples are data, not schema: a `$ref` key inside one is not a reference.
    if (k === 'example' || k === 'examples') continue;
    const r = firstExternalRef(v, `${at}/${escapePointer(k)}`, depth + 1);
    if (r !== null) return r;
  }
  return null;
}

/** operations lists every operation in document order; duplicate operationIds are refused (OpenAPI requires them unique). */
function operations(doc: Obj, file: DataFile, spec: string): Operation[] {
  const out: Operation[] = [];
  const seen = new Map<string, string>();
  const globalSecurity = schemeNames(doc.security);
  for (const [template, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
    if (!isObj(item)) continue;
    for (const m of METHODS) {
      const op = item[m];
      if (!isObj(op)) continue;
      const where = `${m.toUpperCase()} ${template}`;
      const id = typeof op.operationId === 'string' && op.operationId !== '' ? op.operationId : null;
      if (id !== null) {
        const first = seen.get(id);
        if (first !== undefined) {
          throw new CliError(`${file.at(`/paths/${escapePointer(template)}/${m}/operationId`)}: operationId "${id}" is used by ${first} and ${where}; operationIds must be unique (fix ${spec})`);
        }
        seen.set(id, where);
      }
      out.push({
        template, method: m.toUpperCase(), operationId: id,
        summary: typeof op.summary === 'string' ? op.summary : null,
        deprecated: op.deprecated === true,
        security: op.security !== undefined ? schemeNames(op.security) : globalSecurity,
      });
    }
  }
  return out;
}

/** schemeNames lists the security scheme names of a `security` requirement list (`[]`: none). */
function schemeNames(security: unknown): string[] {
  if (!Array.isArray(security)) return [];
  const names = new Set<string>();
  for (const req of security) if (isObj(req)) for (const k of Object.keys(req)) names.add(k);
  return [...names];
}

/**
 * mapPath turns a path template into a route path below `base`. `{x}` becomes `:x` (renamed to letters, digits
 * and `_`, so `rewrite` can use it); a segment mixing text and parameters (`{name}.json`) becomes one whole
 * parameter, since router parameters are whole segments: the route takes any segment there and the validate
 * feature, which knows the template, refuses a segment of another shape with 404. Returns a reason string for a
 * template no route can express.
 */
function mapPath(template: string, base: string): MappedPath | string {
  const segs = template.split('/').slice(1);
  const used = new Set<string>();
  const notes: string[] = [];
  const outSegs: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '' && i < segs.length - 1) return 'it has an empty segment, which path normalization merges away';
    if (!s.includes('{')) {
      if (s.includes('}')) return `segment "${s}" has an unbalanced }`;
      if (s.startsWith(':') || s.includes('*')) return `segment "${s}" would read as a route parameter or wildcard`;
      if (s === '.' || s === '..') return 'it has a dot segment, which path normalization resolves away';
      outSegs.push(s);
      continue;
    }
    const names = [...s.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]!);
    if (names.length === 0 || s.replace(/\{[^{}/]+\}/g, '').match(/[{}]/)) return `segment "${s}" has an unbalanced { or }`;
    let p = names.join('_').replace(/[^A-Za-z0-9_]+/g, '_');
    if (!/^[A-Za-z_]/.test(p)) p = `p${p}`;
    for (let k = 2; used.has(p); k++) p = `${p.replace(/_\d+$/, '')}_${k}`;
    used.add(p);
    if (!/^\{[^{}/]+\}$/.test(s)) notes.push(`"${s}" is routed as any one segment (:${p}); validate answers 404 to other shapes`);
    outSegs.push(`:${p}`);
  }
  const path = base + '/' + outSegs.join('/');
  return { path: base !== '' && path === `${base}/` ? base : path, notes };
}

/** group makes the routes: one per operation, or one per path; operations landing on the same route are merged. */
function group(ops: readonly Operation[], base: string, per: string, warnings: string[]): ImportedRoute[] {
  const routes: ImportedRoute[] = [];
  const byKey = new Map<string, ImportedRoute>();
  const skipped = new Set<string>();
  for (const op of ops) {
    const mapped = mapPath(op.template, base);
    if (typeof mapped === 'string') {
      if (!skipped.has(op.template)) warnings.push(`${op.template} skipped: ${mapped}`);
      skipped.add(op.template);
      continue;
    }
    // Routes are keyed by the shape of their path: `/files/:id` and `/files/:name_ext` match the same requests.
    const shape = mapped.path.replace(/\/:[^/]+/g, '/:');
    const key = per === 'path' ? shape : `${op.method} ${shape}`;
    let r = byKey.get(key);
    if (r === undefined) {
      r = new ImportedRoute(mapped.path);
      byKey.set(key, r);
      routes.push(r);
    } else if (!r.ops.some((x) => x.template === op.template)) {
      warnings.push(`${op.method} ${op.template} shares the route of ${r.ops[0]!.method} ${r.ops[0]!.template} (${r.path}): the router cannot tell them apart, validate does`);
    }
    if (!r.methods.includes(op.method)) r.methods.push(op.method);
    r.ops.push(op);
    for (const n of mapped.notes) if (!r.notes.includes(n)) r.notes.push(n);
  }
  return routes;
}

/** sanitize turns an operationId or a path into a route name fragment (letters, digits, _ . -). */
function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '');
}

/** slug names a path template: `/pets/{petId}/photos` → `pets-petId-photos`, `/` → `root`. */
function slug(template: string): string {
  const s = sanitize(template.replace(/[{}]/g, '').split('/').filter((x) => x !== '').join('-'));
  return s === '' ? 'root' : s;
}

/** name gives each route a unique name; a clash with a route of the target config is refused. */
function name(routes: ImportedRoute[], per: string, prefix: string, taken: ReadonlySet<string>, config: string | undefined, warnings: string[]): void {
  const used = new Set<string>();
  for (const r of routes) {
    const op = r.ops[0]!;
    let n = per === 'path'
      ? slug(op.template)
      : (op.operationId !== null ? sanitize(op.operationId) : '') || `${op.method.toLowerCase()}-${slug(op.template)}`;
    n = prefix + n;
    const wanted = n;
    for (let k = 2; used.has(n); k++) n = `${wanted}-${k}`;
    if (n !== wanted) warnings.push(`route name "${wanted}" was taken by another imported route; this one is "${n}"`);
    if (taken.has(n)) throw new CliError(`route name "${n}" (${op.method} ${op.template}) is already used in ${config}; pass --name-prefix to keep the imported names apart`);
    used.add(n);
    r.name = n;
  }
}

/** pathRef writes the document's path as `validate.openapi` needs it: relative to where the config lives. */
function pathRef(dir: string, abs: string): string {
  let rel = relative(dir, abs);
  if (isAbsolute(rel)) return rel.split(sep).join('/');
  rel = rel.split(sep).join('/');
  return rel.startsWith('../') ? rel : `./${rel}`;
}

/**
 * scalar writes a string as a YAML scalar: plain when it reads back as the same string in a flow collection,
 * otherwise double-quoted (JSON strings are YAML).
 */
function scalar(s: string): string {
  try {
    const v = parseYaml(`k: [${s}]`) as { k?: unknown } | null;
    if (Array.isArray(v?.k) && v.k.length === 1 && v.k[0] === s) return s;
  } catch { /* not plain: quote it */ }
  return JSON.stringify(s);
}

/** comment makes text from the document safe for one comment line: no line breaks, no `${`, bounded. */
function comment(s: string): string {
  const flat = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\$\{/g, '$ {').trim();
  return flat.length > 160 ? `${flat.slice(0, 159)}…` : flat;
}

interface RenderInput {
  routes: readonly ImportedRoute[];
  service: string;
  base: string;
  stripBase: boolean;
  warnings: readonly string[];
  spec: string;
  specRef: string;
  refDir: string;
  baseFrom: string;
  info: Obj;
  version: string;
  now: number;
}

/** render writes the fragment: a header to read before merging, then `routes:` with one comment per route. */
function render(x: RenderInput): string {
  const title = typeof x.info.title === 'string' ? ` "${comment(x.info.title)}"` : '';
  const apiVersion = typeof x.info.version === 'string' || typeof x.info.version === 'number' ? ` ${comment(String(x.info.version))}` : '';
  const basePathValue = x.base === '' ? '/' : x.base;
  const lines = [
    `# Routes imported from ${comment(x.spec)} (OpenAPI ${comment(x.version)}${title}${apiVersion}) by \`gatehouse import openapi\` on ${new Date(x.now).toISOString().slice(0, 10)}.`,
    '# REVIEW BEFORE MERGING: paste the entries under `routes:` in your config, then run `gatehouse validate`.',
    `# Service: ${x.service}. Base path: ${x.base === '' ? 'none' : x.base} (${x.baseFrom}).${x.stripBase && x.base !== '' ? ` The service receives paths without ${x.base}.` : ''}`,
    `# Requests are checked against the document itself (validate.openapi: ${x.specRef}, relative to ${x.refDir});`,
    '# a request it does not describe is refused (404, or 405 with Allow). Add auth, rate limits and the rest by hand.',
  ];
  for (const w of x.warnings) lines.push(`# warning: ${comment(w)}`);
  lines.push('routes:');
  for (const r of x.routes) {
    const first = r.ops[0]!;
    const what = r.ops.length === 1
      ? `${first.method} ${first.template}${first.operationId !== null ? ` (${first.operationId})` : ''}${first.summary !== null ? `: ${first.summary}` : ''}`
      : r.ops.map((op) => `${op.method} ${op.template}${op.operationId !== null ? ` (${op.operationId})` : ''}`).join(', ');
    lines.push(`  # ${comment(what)}`);
    for (const n of r.notes) lines.push(`  # note: ${comment(n)}`);
    const deprecated = r.ops.filter((op) => op.deprecated).map((op) => op.method);
    if (deprecated.length > 0) lines.push(`  # deprecated in the document${r.methods.length > 1 ? ` (${deprecated.join(', ')})` : ''}: consider \`deprecation:\``);
    const security = [...new Set(r.ops.flatMap((op) => op.security))];
    if (security.length > 0) lines.push(`  # security in the document: ${comment(security.join(', '))}; configure \`auth:\` for it`);
    lines.push(`  - name: ${scalar(r.name)}`);
    lines.push(`    match: { path: ${scalar(r.path)}, methods: [${r.methods.join(', ')}] }`);
    lines.push(`    service: ${scalar(x.service)}`);
    if (x.stripBase && x.base !== '') lines.push(`    strip-prefix: ${scalar(x.base)}`);
    lines.push(`    validate: { openapi: ${scalar(x.specRef)}, basePath: ${scalar(basePathValue)} }`);
  }
  return `${lines.join('\n')}\n`;
}
