/**
 * The `function:` key of a route: a local JavaScript module whose `handler(event, context)` answers the route,
 * as an AWS Lambda function behind an API Gateway HTTP API would (payload format 2.0). The short form is the
 * module's path; the long form tunes the isolation (timeout, memory, workers, queue). Settings are resolved
 * here once, at config load, into milliseconds, megabytes and bytes.
 */
import { statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size, parseDuration, parseSize } from '../../config/units.js';

/** FUNCTION_DEFAULTS are the settings a `function:` leaves out: Lambda's where Lambda has one (timeout 3 s, memory 128 MB, response 6 MB). */
export const FUNCTION_DEFAULTS = {
  handler: 'handler',
  timeout: '3s',
  memory: '128mb',
  workers: 2,
  maxQueue: 100,
  maxResponse: '6mb',
} as const;

/** Bounds checked at load: below MIN_MEMORY_MB V8 cannot even start a worker. */
const MIN_MEMORY_MB = 16;
const MAX_MEMORY_MB = 8192;
const MAX_TIMEOUT_MS = 15 * 60_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

const EXPORT_NAME = '^[A-Za-z_$][A-Za-z0-9_$]*$';
const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';
// TypeBox records do not check their keys' pattern: check() does.
const ENV_RE = new RegExp(ENV_NAME);

const FILE_DESCRIPTION = 'JavaScript module (`.mjs`, `.cjs` or `.js`; relative to the config file) exporting the handler. It runs in worker threads, never in the gateway\'s own thread; the file is read again whenever the config reloads.';

/** FunctionOptionsSchema is the long form of `function:`. */
export const FunctionOptionsSchema = Type.Object({
  file: Type.String({ minLength: 1, description: FILE_DESCRIPTION }),
  handler: Type.Optional(Type.String({
    pattern: EXPORT_NAME, default: FUNCTION_DEFAULTS.handler, errorMessage: 'must be the name of an export (letters, digits, _ and $)',
    description: 'Name of the exported function: `export const handler` (ES module) or `exports.handler` (CommonJS). Called as `handler(event, context)` (async) or `handler(event, context, callback)`. Default `handler`.',
  })),
  timeout: Type.Optional(Duration('Longest one invocation may run; past it the worker is stopped and replaced, and the client gets 504. Starting a worker (importing the module, at most 10s) is not counted. At most 15m. Default 3s.', FUNCTION_DEFAULTS.timeout)),
  memory: Type.Optional(Size('JavaScript heap limit of each worker (V8 old generation; Buffers outside the heap are not counted). A function that exceeds it gets its worker replaced and the client 502. At least 16mb. Default 128mb.', FUNCTION_DEFAULTS.memory)),
  workers: Type.Optional(Type.Integer({
    minimum: 1, maximum: 64, default: FUNCTION_DEFAULTS.workers,
    description: 'Worker threads for this function, each running one invocation at a time (a hung invocation blocks only its own worker). Started on first use. Default 2.',
  })),
  maxQueue: Type.Optional(Type.Integer({
    minimum: 0, maximum: 100_000, default: FUNCTION_DEFAULTS.maxQueue,
    description: 'Requests that may wait for a free worker; past it the answer is 503 with `Retry-After`, as for a request that waited in line longer than `timeout` (the function\'s first start aside). Default 100.',
  })),
  maxResponse: Type.Optional(Size('Largest response body a function may return (after base64 decoding); larger → 502. At most 64mb. Default 6mb (as Lambda).', FUNCTION_DEFAULTS.maxResponse)),
  env: Type.Optional(Type.Record(Type.String({ pattern: ENV_NAME }), Type.String(), {
    description: 'The function\'s `process.env`. The gateway\'s own environment is not passed on (its secrets stay with it), except `PATH`; `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME` and `AWS_LAMBDA_LOG_STREAM_NAME` are set as in Lambda. Use `${VAR}` to pass a variable on. Default: none.',
  })),
}, { additionalProperties: false });
// Every key but `file` is optional with its default stated: in a union, TypeBox fills in defaults only when
// the value is valid, so a required key with a default would be reported missing next to the real mistake.

/** FunctionSchema is a route's `function:` key: a module path, or the long form. */
export const FunctionSchema = Type.Union([
  Type.String({ minLength: 1, description: 'Path of the module, with every setting at its default.' }),
  FunctionOptionsSchema,
], {
  errorMessage: 'must be the path of a module, or a mapping with `file` and settings',
  description: 'Answer the route with a local JavaScript function written for AWS Lambda behind an API Gateway HTTP API (payload format 2.0): `handler(event, context)` gets the request as an API Gateway event and returns `{ statusCode, headers, cookies, body, isBase64Encoded }`, or any JSON value (sent as `200 application/json`). It runs isolated in worker threads with a timeout and a memory limit: a function that throws, hangs, runs out of memory or returns something that is no response gets 502 or 504, and the gateway goes on serving. Its console output goes to the gateway\'s event log (`event: function_log`) with the request id.',
});

/** FunctionConfig is a validated `function:` value. */
export type FunctionConfig = Static<typeof FunctionSchema>;

/** FunctionSettings is a `function:` value resolved for the runtime: absolute path, ms, MB and bytes. */
export interface FunctionSettings {
  /** Absolute path of the module. */
  readonly file: string;
  readonly handler: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  readonly workers: number;
  readonly maxQueue: number;
  readonly maxResponse: number;
  readonly env: Readonly<Record<string, string>>;
}

/** functionSettings resolves a validated `function:` value against the config file's folder. */
export function functionSettings(cfg: FunctionConfig, configDir: string): FunctionSettings {
  const o: Static<typeof FunctionOptionsSchema> = typeof cfg === 'string' ? { file: cfg } : cfg;
  return {
    file: resolve(configDir, o.file),
    handler: o.handler ?? FUNCTION_DEFAULTS.handler,
    timeoutMs: parseDuration(o.timeout ?? FUNCTION_DEFAULTS.timeout),
    memoryMb: Math.floor(parseSize(o.memory ?? FUNCTION_DEFAULTS.memory) / (1024 * 1024)),
    workers: o.workers ?? FUNCTION_DEFAULTS.workers,
    maxQueue: o.maxQueue ?? FUNCTION_DEFAULTS.maxQueue,
    maxResponse: parseSize(o.maxResponse ?? FUNCTION_DEFAULTS.maxResponse),
    env: o.env ?? {},
  };
}

const MODULE_EXTENSIONS = new Set(['.mjs', '.cjs', '.js']);

/** checkFunction returns [key path, message] problems of a `function:` value that the schema cannot express. */
export function checkFunction(cfg: FunctionConfig, configDir: string): [string, string][] {
  const out: [string, string][] = [];
  const fileKey = typeof cfg === 'string' ? '' : 'file';
  const given = typeof cfg === 'string' ? cfg : cfg.file;
  const s = functionSettings(cfg, configDir);
  if (!MODULE_EXTENSIONS.has(extname(s.file).toLowerCase())) {
    out.push([fileKey, `must be a JavaScript module (.mjs, .cjs or .js): ${given}`]);
  } else {
    let isFile = false;
    try { isFile = statSync(s.file).isFile(); } catch { /* reported below */ }
    if (!isFile) out.push([fileKey, `file not found: ${given} (relative to the config file)`]);
  }
  if (s.timeoutMs <= 0 || s.timeoutMs > MAX_TIMEOUT_MS) out.push(['timeout', 'must be more than 0 and at most 15m']);
  if (s.memoryMb < MIN_MEMORY_MB || s.memoryMb > MAX_MEMORY_MB) out.push(['memory', `must be at least ${MIN_MEMORY_MB}mb and at most ${MAX_MEMORY_MB / 1024}gb`]);
  for (const name of Object.keys(s.env)) if (!ENV_RE.test(name)) out.push([`env.${name}`, 'is not a valid environment variable name (letters, digits and _; not a digit first)']);
  if (s.maxResponse <= 0 || s.maxResponse > MAX_RESPONSE_BYTES) out.push(['maxResponse', 'must be more than 0 and at most 64mb']);
  return out;
}
