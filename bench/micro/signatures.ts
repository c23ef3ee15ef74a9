/**
 * Micro-benchmark of the hostile-request signatures (src/features/request-rules/signatures.ts): what
 * `block: [path-traversal, sql-injection, script-injection]` adds to a request, on ordinary paths and queries
 * (the cost every request pays) and on 8 KB adversarial values (the most a default-configured client can
 * send in a query). Beside it, the obvious alternative for traversal — one `includes` per signature — on the
 * inputs where it is slowest (every character starts a signature), which is why hasTraversal is one pass.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/signatures.js [iterations]`
 */
import { Part, SignatureScanner, SIGNATURE_CATEGORIES, TRAVERSAL, decodedView, hasTraversal } from '../../src/features/request-rules/signatures.js';

const ITERATIONS = Number(process.argv[2] ?? 200_000);
const scanner = new SignatureScanner(SIGNATURE_CATEGORIES);

const ORDINARY: ReadonlyArray<readonly [string, string, Part]> = [
  ['path', '/v1/users/42/orders', Part.Path],
  ['short query', 'page=2&per_page=50', Part.Query],
  ['search query', 'q=rock+and+roll&sort=-created_at&filter=name%3Dbob&lang=en-US', Part.Query],
  ['referer', 'https://www.example.com/search?q=union+station&page=2', Part.Header],
];

const SIZE = 8 * 1024;
const rep = (unit: string): string => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
const ADVERSARIAL: ReadonlyArray<readonly [string, string]> = [
  ['8 KB of %', rep('%')], ['8 KB of .', rep('.')], ["8 KB of '", rep("'")], ['8 KB of /*&', rep('/*&')],
  ['8 KB of " on"', rep(' on')], ['8 KB mixed', rep("'a=%2e/*on<'or--;&")],
];

function time(run: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) run();
  const start = performance.now();
  for (let i = 0; i < n; i++) run();
  return ((performance.now() - start) * 1e6) / n;
}

console.log(`signature scan, all three families (${ITERATIONS.toLocaleString('en')} iterations for ordinary values)`);
for (const [name, value, part] of ORDINARY) {
  console.log(`${name.padEnd(16)} ${String(value.length).padStart(5)} chars  ${time(() => scanner.scan(value, part), ITERATIONS).toFixed(0).padStart(8)} ns`);
}
for (const [name, value] of ADVERSARIAL) {
  console.log(`${name.padEnd(16)} ${String(value.length).padStart(5)} chars  ${(time(() => scanner.scan(value, Part.Query), 2000) / 1000).toFixed(1).padStart(8)} µs`);
}

/** The obvious traversal check: one includes per signature. */
function naiveTraversal(view: string): boolean {
  for (let i = 0; i < TRAVERSAL.length; i++) if (view.includes(TRAVERSAL[i]!)) return true;
  return false;
}
console.log('\ntraversal check alone, on a decoded 8 KB view');
for (const [name, raw] of [['% repeated', rep('%')], ['. repeated', rep('.')], ['ordinary text', rep('the quick brown fox ')]] as const) {
  const view = decodedView(raw, false);
  const onePass = time(() => hasTraversal(view), 2000) / 1000;
  const naive = time(() => naiveTraversal(view), 2000) / 1000;
  console.log(`${name.padEnd(16)} one pass ${onePass.toFixed(1).padStart(6)} µs   includes per signature ${naive.toFixed(1).padStart(6)} µs`);
}
