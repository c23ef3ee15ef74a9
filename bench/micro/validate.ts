/**
 * Micro-benchmark of what `validate` adds to a request with a 1 KB JSON body (src/features/validate): the UTF-8
 * check, the byte scan for depth and prototype keys, JSON.parse and the compiled Ajv validator, each alone and
 * together; then the alternatives the byte scan replaces (a JSON.parse reviver, a walk over the parsed value),
 * to show why the scan is done on bytes before parsing. A proxied request costs tens of microseconds of CPU in
 * the gateway (see docs/benchmarks.md); the whole check should be a small fraction of that.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/validate.js [iterations]`
 */
import { isUtf8 } from 'node:buffer';
import { tmpdir } from 'node:os';
import type { ValidateFunction } from 'ajv';
import { SchemaCompiler, isProblem } from '../../src/features/validate/compiler.js';
import { scanJson, ScanResult, FORBIDDEN_KEYS } from '../../src/features/validate/json.js';
import { ParamCheck, queryObject } from '../../src/features/validate/checks.js';

const ITERATIONS = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;

/** SCHEMA is a realistic body schema: required fields, formats, patterns, nested objects and arrays. */
const SCHEMA = {
  type: 'object',
  required: ['email', 'name', 'address', 'items'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    name: { type: 'string', minLength: 1, maxLength: 100 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    phone: { type: 'string', pattern: '^\\+?[0-9 ]{6,20}$' },
    tags: { type: 'array', items: { type: 'string', maxLength: 30 }, maxItems: 20 },
    address: {
      type: 'object',
      required: ['street', 'city'],
      properties: { street: { type: 'string' }, city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' }, country: { type: 'string', minLength: 2, maxLength: 2 } },
    },
    items: {
      type: 'array',
      maxItems: 50,
      items: {
        type: 'object',
        required: ['sku', 'qty'],
        properties: { sku: { type: 'string', pattern: '^[A-Z0-9-]{3,20}$' }, qty: { type: 'integer', minimum: 1 }, price: { type: 'number', minimum: 0 }, note: { type: 'string', maxLength: 200 } },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
  },
};

const BODY_VALUE = {
  email: 'ann.example@example.com',
  name: 'Ann Example',
  age: 42,
  phone: '+33 6 12 34 56 78',
  tags: ['customer', 'gold', 'newsletter', 'beta', 'eu'],
  address: { street: '12 rue de la République', city: 'Lyon', zip: '69002', country: 'FR' },
  items: Array.from({ length: 6 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: i + 1, price: 9.99 + i, note: 'gift wrap, deliver after 6 pm please' })),
  createdAt: '2026-03-01T12:34:56Z',
};
const BODY = Buffer.from(JSON.stringify(BODY_VALUE, null, 1));

let SINK = 0;

/** time runs `fn` ITERATIONS times per round and returns the best round's nanoseconds per call. */
function time(fn: () => number): number {
  for (let i = 0; i < ITERATIONS / 10; i++) SINK += fn();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) SINK += fn();
    const ns = Number(process.hrtime.bigint() - start) / ITERATIONS;
    if (ns < best) best = ns;
  }
  return best;
}

const compiler = new SchemaCompiler(tmpdir());
const compiled = compiler.source(SCHEMA, '.body', false);
if (isProblem(compiled)) throw new Error(compiled.message);
const validate: ValidateFunction = compiled.fn;
if (!validate(JSON.parse(BODY.toString()))) throw new Error(`the sample body must be valid: ${JSON.stringify(validate.errors)}`);

const query = compiler.source({ type: 'object', properties: { limit: { type: 'integer', maximum: 100 }, tag: { type: 'array', items: { type: 'string' } }, q: { type: 'string' } } }, '.query', true);
if (isProblem(query)) throw new Error(query.message);
const queryCheck = new ParamCheck('query', query.fn, new Set(['tag']), new Set(), null);

/** reviver is the obvious alternative to the scan: JSON.parse calls it for every value. */
function reviver(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError('forbidden key');
  return value;
}

/** walk is the other alternative: after parsing, visit every object (recursive, so it needs a depth bound too). */
function walk(v: unknown, depth: number): number {
  if (depth > 64) return -1;
  if (Array.isArray(v)) { for (const x of v) if (walk(x, depth + 1) < 0) return -1; return 0; }
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) { if (FORBIDDEN_KEYS.has(k) || walk((v as Record<string, unknown>)[k], depth + 1) < 0) return -1; }
  }
  return 0;
}

const rows: [string, number][] = [
  ['isUtf8', time(() => (isUtf8(BODY) ? 1 : 0))],
  ['scanJson (depth + keys)', time(() => scanJson(BODY, 64))],
  ['JSON.parse', time(() => (JSON.parse(BODY.toString('utf8')) as { age: number }).age)],
  ['Ajv validate (parsed once)', (() => { const v = JSON.parse(BODY.toString()) as unknown; return time(() => (validate(v) ? 1 : 0)); })()],
  ['whole body check', time(() => {
    if (!isUtf8(BODY) || scanJson(BODY, 64) !== ScanResult.Ok) return -1;
    return validate(JSON.parse(BODY.toString('utf8'))) ? 1 : 0;
  })],
  ['query: parse + coerce + validate', time(() => (queryCheck.validate(queryObject('limit=20&tag=a&tag=b&q=shoes', queryCheck)) ? 1 : 0))],
  ['alt: JSON.parse with reviver', time(() => (JSON.parse(BODY.toString('utf8'), reviver) as { age: number }).age)],
  ['alt: JSON.parse + walk', time(() => walk(JSON.parse(BODY.toString('utf8')), 0))],
];

console.log(`validate on a ${BODY.length}-byte JSON body, node ${process.version}, ${ITERATIONS} iterations x ${ROUNDS} rounds (best)`);
for (const [name, ns] of rows) console.log(name.padEnd(34) + `${(ns / 1000).toFixed(2)} µs/op`.padStart(14));
const whole = rows.find((r) => r[0] === 'whole body check')![1];
const parse = rows.find((r) => r[0] === 'JSON.parse')![1];
console.log(`\nthe byte scan and the schema add ${((whole - parse) / 1000).toFixed(2)} µs to the JSON.parse any body check needs`);
if (SINK === -1) console.log(SINK);
