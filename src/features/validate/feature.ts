/**
 * `validate`: checks requests against JSON Schemas (body, query, headers) or an OpenAPI 3 document before they
 * reach the service. Everything is compiled at config load (src/features/validate/compiler.ts, openapi.ts);
 * per request the feature builds the objects Ajv checks (query parsed once, headers copied) and, only when a
 * body schema applies, reads the body within the route's limit, scans it for depth and forbidden keys, parses
 * it and validates it. The proxy then forwards the very bytes that were read.
 */
import { isUtf8 } from 'node:buffer';
import { resolve } from 'node:path';
import type { Static } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import { AJV } from './compiler.js';
import { defineFeature, type Feature, type FeatureContext } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import type { ErrorCode } from '../../core/errors.js';
import { BodyCheck, BodyRule, Checks, headerObject, ParamCheck, pathObject, queryObject, report, single, type ProblemItem } from './checks.js';
import { isProblem, SchemaCompiler, type Compiled, type Problem } from './compiler.js';
import { charsetIsUtf8, MediaRanges, mediaTypeOf, scanJson, ScanResult, validMediaRange } from './json.js';
import { compileOpenApi, type OpenApiDoc } from './openapi.js';
import { DEFAULT_CONTENT_TYPES, DEFAULT_MAX_DEPTH, ValidateSchema } from './schema.js';

/** ValidateConfig is the validated value of `validate:`. */
export type ValidateConfig = Static<typeof ValidateSchema>;

/** FAILED is what parse() returns once it has answered the request. */
const FAILED = Symbol('validate.failed');

/** ValidateFeature checks one route's requests. */
export class ValidateFeature implements Feature {
  readonly name = 'validate';
  /** The checks of every request (JSON Schema mode), or null with `openapi`. */
  readonly checks: Checks | null;
  /** The compiled OpenAPI document, or null. */
  readonly api: OpenApiDoc | null;
  /** Prefix of request paths in front of the document's templates ('' for none). */
  readonly basePath: string;
  readonly passUnknown: boolean;
  readonly maxDepth: number;
  readonly caseSensitive: boolean;
  private readonly foldedBase: string;

  constructor(plan: ValidatePlan) {
    this.checks = plan.checks;
    this.api = plan.api;
    this.basePath = plan.basePath;
    this.passUnknown = plan.passUnknown;
    this.maxDepth = plan.maxDepth;
    this.caseSensitive = plan.caseSensitive;
    this.foldedBase = plan.caseSensitive ? plan.basePath : plan.basePath.toLowerCase();
  }

  onRequest(ex: Exchange): void | Promise<void> {
    let c = this.checks;
    if (this.api !== null) {
      c = this.operation(ex);
      if (c === null) return;
    }
    if (c!.query !== null && !this.params(ex, c!.query, queryObject(ex.query, c!.query))) return;
    if (c!.headers !== null && !this.params(ex, c!.headers, headerObject(ex.req.headers, c!.headers))) return;
    const body = c!.body;
    if (body === null) return;
    const required = body.required(ex.req.method!);
    if (ex.bodyLength === 0) {
      if (required) refuse(ex, 'GH_VALIDATION_FAILED', single('body', '', 'is required'));
      return;
    }
    const contentType = ex.req.headers['content-type'];
    const i = body.media.match(mediaTypeOf(contentType));
    if (i === -1) {
      ex.fail('GH_UNSUPPORTED_MEDIA_TYPE', { detail: body.unsupported });
      return;
    }
    const fn = body.validators[i]!;
    if (fn === null) return; // a media type the operation accepts without a JSON schema: passed unread
    if (!charsetIsUtf8(contentType!)) {
      ex.fail('GH_UNSUPPORTED_MEDIA_TYPE', { detail: 'a JSON body must be sent as UTF-8' });
      return;
    }
    return this.checkBody(ex, fn, required);
  }

  /** Finds the request's OpenAPI operation and checks its path parameters; null when done (answered or passed). */
  private operation(ex: Exchange): Checks | null {
    const rel = this.relativePath(ex.path);
    const m = rel === null ? null : this.api!.match(rel);
    if (m === null) {
      if (!this.passUnknown) ex.fail('GH_ROUTE_NOT_FOUND', { detail: 'no operation of the API description matches this path' });
      return null;
    }
    const op = m.template.operation(ex.req.method!);
    if (op === null) {
      if (!this.passUnknown) ex.fail('GH_METHOD_NOT_ALLOWED', { headers: ['allow', m.template.allow] });
      return null;
    }
    if (op.path !== null && !this.params(ex, op.path, pathObject(op.pathNames, m.values, op.path))) return null;
    return op;
  }

  /** The path below the base path, or null when the path is not under it. */
  private relativePath(path: string): string | null {
    const n = this.basePath.length;
    if (n === 0) return path;
    const head = path.length < n ? null : this.caseSensitive ? path.slice(0, n) : path.slice(0, n).toLowerCase();
    if (head !== this.foldedBase) return null;
    if (path.length === n) return '/';
    return path.charCodeAt(n) === 47 /* / */ ? path.slice(n) : null;
  }

  private params(ex: Exchange, check: ParamCheck, value: Record<string, unknown>): boolean {
    if (check.validate(value)) return true;
    refuse(ex, 'GH_VALIDATION_FAILED', report(check.place, check.validate.errors));
    return false;
  }

  private async checkBody(ex: Exchange, fn: ValidateFunction, required: boolean): Promise<void> {
    const buf = await ex.readBody();
    if (buf === null) return; // the gateway answered (413, broken body)
    if (buf.length === 0) {
      if (required) refuse(ex, 'GH_VALIDATION_FAILED', single('body', '', 'is required'));
      return;
    }
    const value = this.parse(ex, buf);
    if (value === FAILED) return;
    if (!fn(value)) refuse(ex, 'GH_UNPROCESSABLE', report('body', fn.errors));
  }

  /**
   * parse turns the body into a value, or answers 400. The byte scan comes first: it refuses deep nesting and
   * prototype keys in one linear pass, so neither JSON.parse nor Ajv ever meets a value deeper than maxDepth.
   */
  private parse(ex: Exchange, buf: Buffer): unknown {
    if (!isUtf8(buf)) {
      refuse(ex, 'GH_VALIDATION_FAILED', single('body', '', 'is not valid UTF-8'));
      return FAILED;
    }
    const scan = scanJson(buf, this.maxDepth);
    if (scan !== ScanResult.Ok) {
      refuse(ex, 'GH_VALIDATION_FAILED', single('body', '', scan === ScanResult.TooDeep
        ? `is nested deeper than ${this.maxDepth} levels`
        : 'has a key named __proto__, constructor or prototype'));
      return FAILED;
    }
    try {
      return JSON.parse(buf.toString('utf8')) as unknown;
    } catch {
      // The parser's message quotes the input: it is never passed on.
      refuse(ex, 'GH_VALIDATION_FAILED', single('body', '', 'is not valid JSON'));
      return FAILED;
    }
  }
}

/** Answers a validation failure; the log line names the field, never the value. */
function refuse(ex: Exchange, code: ErrorCode, r: { detail: string; errors: ProblemItem[] }): void {
  const first = r.errors[0]!;
  ex.runtime.log.debug({ event: 'validation_failed', route: ex.route?.name, in: first.in, field: first.field, requestId: ex.requestId }, 'request refused by validation');
  ex.fail(code, { detail: r.detail, errors: r.errors });
}

/** ValidatePlan is a compiled `validate` value, shared by the routes that inherit it. */
export interface ValidatePlan {
  readonly checks: Checks | null;
  readonly api: OpenApiDoc | null;
  readonly basePath: string;
  readonly passUnknown: boolean;
  readonly maxDepth: number;
  readonly caseSensitive: boolean;
}

/**
 * One SchemaCompiler per config generation, kept in the generation's shared store: a schema file used by
 * ten routes is read and compiled once, and a reload starts afresh.
 */
const COMPILER = Symbol('validate.compiler');

function compilerFor(ctx: FeatureContext): SchemaCompiler {
  let c = ctx.generation.get(COMPILER) as SchemaCompiler | undefined;
  if (c === undefined) {
    c = new SchemaCompiler(ctx.configDir);
    ctx.generation.set(COMPILER, c);
  }
  return c;
}

/** planFor compiles a `validate` value once per generation (check and create share the result). */
export function planFor(config: ValidateConfig, ctx: FeatureContext): ValidatePlan | Problem[] {
  const compiler = compilerFor(ctx);
  const known = compiler.plans.get(config);
  if (known !== undefined) return known as ValidatePlan | Problem[];
  const plan = buildPlan(config, ctx, compiler);
  compiler.plans.set(config, plan);
  return plan;
}

function buildPlan(config: ValidateConfig, ctx: FeatureContext, compiler: SchemaCompiler): ValidatePlan | Problem[] {
  const problems: Problem[] = [];
  const hasSchemas = config.body !== undefined || config.query !== undefined || config.headers !== undefined;
  if (config.openapi !== undefined && hasSchemas) problems.push({ rel: '.openapi', message: 'use either openapi or body/query/headers, not both' });
  if (config.openapi === undefined && !hasSchemas) problems.push({ rel: '', message: 'needs body, query, headers or openapi' });
  if (config.openapi === undefined) {
    if (config.basePath !== undefined) problems.push({ rel: '.basePath', message: 'applies only with openapi' });
    if (config.unknownOperations !== undefined) problems.push({ rel: '.unknownOperations', message: 'applies only with openapi' });
  }
  if (config.body === undefined) {
    if (config.contentTypes !== undefined) problems.push({ rel: '.contentTypes', message: config.openapi !== undefined ? 'does not apply with openapi: each operation\'s requestBody.content lists its media types' : 'applies only with body' });
    if (config.requireBody !== undefined) problems.push({ rel: '.requireBody', message: config.openapi !== undefined ? 'does not apply with openapi: each operation\'s requestBody.required decides' : 'applies only with body' });
  }
  config.contentTypes?.forEach((t, i) => {
    if (!validMediaRange(t)) problems.push({ rel: `.contentTypes[${i}]`, message: 'is not a media type or range (application/json, application/*+json, application/*, */*)' });
  });
  if (problems.length > 0) return problems;
  const common = { maxDepth: config.maxDepth ?? DEFAULT_MAX_DEPTH, caseSensitive: ctx.caseSensitive };

  if (config.openapi !== undefined) {
    const path = resolve(ctx.configDir, config.openapi);
    const doc = compileOpenApi(compiler, path, '.openapi', ctx.caseSensitive, (message) => ctx.log.warn({ event: 'openapi_warning' }, `validate.openapi: ${message}`));
    if (Array.isArray(doc)) return doc;
    const base = config.basePath !== undefined ? config.basePath.replace(/\/+$/, '') : doc.serverBase;
    return { checks: null, api: doc, basePath: base, passUnknown: config.unknownOperations === 'pass', ...common };
  }

  let body: BodyCheck | null = null;
  let query: ParamCheck | null = null;
  let headers: ParamCheck | null = null;
  if (config.body !== undefined) {
    const r = compiler.source(config.body, '.body', false);
    if (isProblem(r)) problems.push(r);
    else {
      const media = new MediaRanges(config.contentTypes ?? DEFAULT_CONTENT_TYPES);
      body = new BodyCheck(media, media.ranges.map(() => r.fn), config.requireBody === false ? BodyRule.Optional : BodyRule.WriteMethods);
    }
  }
  if (config.query !== undefined) {
    const r = compiler.source(config.query, '.query', true);
    if (isProblem(r)) problems.push(r);
    else query = new ParamCheck('query', r.fn, arrayProperties(r), new Set(), null);
  }
  if (config.headers !== undefined) {
    const r = compiler.source(config.headers, '.headers', true);
    if (isProblem(r)) problems.push(r);
    else {
      const upper = [...Object.keys(topProperties(r)), ...topRequired(r)].find((n) => n !== n.toLowerCase());
      if (upper !== undefined) problems.push({ rel: '.headers', message: `header names in the schema must be lower case: write "${upper.toLowerCase()}" for "${upper}"` });
      const arrays = arrayProperties(r);
      headers = new ParamCheck('header', r.fn, arrays, arrays, null);
    }
  }
  if (problems.length > 0) return problems;
  return { checks: new Checks(null, query, headers, body), api: null, basePath: '', passUnknown: false, ...common };
}

function topProperties(c: Compiled): Record<string, unknown> {
  const s = c.schema as { properties?: unknown };
  return s !== null && typeof s === 'object' && s.properties !== null && typeof s.properties === 'object' ? s.properties as Record<string, unknown> : {};
}

function topRequired(c: Compiled): string[] {
  const r = (c.schema as { required?: unknown } | null)?.required;
  return Array.isArray(r) ? r.filter((x): x is string => typeof x === 'string') : [];
}

/** Names of the top-level properties whose schema takes arrays: their repeats are collected, not refused. */
function arrayProperties(c: Compiled): Set<string> {
  const out = new Set<string>();
  for (const [name, s] of Object.entries(topProperties(c))) {
    if (s === null || typeof s !== 'object') continue;
    const t = (s as { type?: unknown }).type;
    if (t === 'array' || (Array.isArray(t) && t.includes('array')) || (t === undefined && ('items' in s || 'prefixItems' in s))) out.add(name);
  }
  return out;
}

/** validate is the feature definition registered in src/features/index.ts. */
export const validate = defineFeature({
  key: 'validate',
  stage: 'validate',
  schema: ValidateSchema,
  preload: () => AJV.load(),
  scopes: ['route', 'service', 'defaults'],
  check: (config, ctx) => {
    const plan = planFor(config, ctx);
    return Array.isArray(plan) ? plan.map((p) => [p.rel, p.message] as const) : [];
  },
  create: (config, ctx) => {
    const plan = planFor(config, ctx);
    if (Array.isArray(plan)) throw new Error(plan.map((p) => `validate${p.rel}: ${p.message}`).join('\n'));
    return new ValidateFeature(plan);
  },
});
