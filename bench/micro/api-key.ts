/**
 * What an API key costs per request, and why it is cheap: the `apiKey` authenticator is a scan of the
 * forwarded headers, a shape check, one SHA-256 and one Map lookup. Part 1 times each step and the whole
 * authenticate() against a directory of 10,000 keys; it also shows why keyDigest uses the one-shot
 * crypto.hash() rather than createHash().update().digest(), and why the gateway leaves the key's CRC-32 to
 * scanners (it would cost a fifth of the whole check on every good key). Part 2 (skip with --no-http) puts
 * numbers on the plain path: the gateway in its own process, loaded by autocannon on a plain route and on the same route
 * with `auth: [api-key]`, alternating, and prints the throughput ratio (the aim: ≥ 95%).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/api-key.js [--no-http] [--duration S]`
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Exchange } from '../../src/core/exchange.js';
import { ConsumerIndex } from '../../src/identity/consumers.js';
import type { ConsumerConfig } from '../../src/identity/schema.js';
import { ApiKeyAuthenticator } from '../../src/identity/api-key/authenticator.js';
import { hasKeyShape, hashApiKey, isGatehouseKey, keyDigest, newApiKey } from '../../src/identity/api-key/key-format.js';
import { ChildServer, stopAll } from '../lib/child.js';
import { measure, warmUp, type LoadOptions } from '../lib/load.js';
import { gatehouseConfig, SCENARIOS } from '../lib/targets.js';

const { values } = parseArgs({ options: { 'no-http': { type: 'boolean' }, duration: { type: 'string', default: '5' } } });
const ITERATIONS = 500_000;
const ROUNDS = 5;
let SINK = 0;

/** Best-of-ROUNDS nanoseconds per call; the best round is the one least disturbed by GC. */
function time(fn: () => unknown): number {
  for (let i = 0; i < ITERATIONS / 10; i++) if (fn()) SINK++;
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) if (fn()) SINK++;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / ITERATIONS);
  }
  return best;
}

// 10,000 consumers with a key each: lookup time does not depend on the count (a Map), which is the point.
const consumers: Record<string, ConsumerConfig> = {};
let key = '';
for (let i = 0; i < 10_000; i++) {
  key = newApiKey();
  consumers[`c${i}`] = { groups: ['g'], metadata: {}, keys: [hashApiKey(key)] };
}
const dir = new ConsumerIndex(consumers);
const auth = new ApiKeyAuthenticator({ header: 'x-api-key', format: 'gatehouse' }, { name: 'api-key', consumers: dir, now: Date.now });
// A realistic forwarded header list: the key is found after a few others.
const headers = ['host', 'api.example.com', 'user-agent', 'curl/8.5.0', 'accept', '*/*', 'accept-encoding', 'gzip, br',
  'x-api-key', key, 'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'api.example.com', 'x-request-id', 'gh-1'];
const ex = { upstreamHeaders: headers, query: '' } as unknown as Exchange;
const junk = { upstreamHeaders: ['x-api-key', 'definitely-not-a-key'], query: '' } as unknown as Exchange;
const digest = keyDigest(key);

console.log(`apiKey authenticator, node ${process.version}, ${ITERATIONS} calls x ${ROUNDS} rounds (best), 10,000 keys`);
const rows: [string, number][] = [
  ['shape (hasKeyShape)  (used)', time(() => hasKeyShape(key))],
  ['shape + CRC-32 (isGatehouseKey)', time(() => isGatehouseKey(key))],
  ['crypto.hash(sha256, hex)  (used)', time(() => keyDigest(key))],
  ['createHash().update().digest(hex)', time(() => createHash('sha256').update(key).digest('hex'))],
  ['Map lookup (byKeyHash)', time(() => dir.byKeyHash(digest))],
  ['authenticate(): good key', time(() => auth.authenticate(ex))],
  ['authenticate(): junk, refused', time(() => auth.authenticate(junk))],
];
for (const [name, ns] of rows) console.log(`  ${name.padEnd(36)} ${ns.toFixed(0).padStart(6)} ns`);

if (values['no-http'] !== true) await httpComparison(Number(values.duration));
if (SINK === -1) console.log('');

/** Part 2: the plain route against the same route with an API key, through the real gateway. */
async function httpComparison(durationS: number): Promise<void> {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const logDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-apikey-'));
  const scenario = SCENARIOS[0]!; // GET /64b
  const benchKey = newApiKey();
  const opts: LoadOptions = { connections: 50, durationS, warmupS: 1 };
  const up = await ChildServer.start({ name: 'upstream', args: [join(root, 'dist/bench/upstream.js'), '--port', '0'], cwd: root, logDir, timeoutMs: 10_000 });
  const variants = {
    plain: { config: gatehouseConfig(up.url, 'plain', { description: 'plain', top: 'limits: { requestsPerConnection: 0 }' }), headers: {} },
    'api-key': {
      config: gatehouseConfig(up.url, 'keyed', {
        description: 'api key',
        route: 'auth: [api-key]',
        top: `limits: { requestsPerConnection: 0 }\nconsumers:\n  bench: { groups: [bench], keys: [${hashApiKey(benchKey)}] }\nauth:\n  api-key: { apiKey: {} }`,
      }),
      headers: { 'x-api-key': benchKey },
    },
  };
  const rps: Record<string, number[]> = { plain: [], 'api-key': [] };
  try {
    // Alternating runs, twice each, so drift of the machine hits both sides alike.
    for (let round = 0; round < 2; round++) {
      for (const [name, v] of Object.entries(variants)) {
        const file = join(logDir, `${name}.yaml`);
        writeFileSync(file, v.config);
        const gw = await ChildServer.start({ name, args: [join(root, 'bin/gatehouse.js'), 'start', '-c', file], cwd: root, logDir, timeoutMs: 10_000 });
        try {
          await warmUp(gw.url, scenario, v.headers, opts);
          const r = await measure(gw.url, scenario, v.headers, opts);
          if (r.non2xx > 0 || r.errors > 0) console.log(`  warning: ${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          rps[name]!.push(r.requestsPerSecond);
          console.log(`  ${name.padEnd(8)} round ${round + 1}: ${Math.round(r.requestsPerSecond).toLocaleString('en-US').padStart(8)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms`);
        } finally {
          await gw.stop();
        }
      }
    }
  } finally {
    await stopAll();
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = mean(rps['api-key']!) / mean(rps.plain!);
  console.log(`  api-key / plain throughput: ${(ratio * 100).toFixed(1)}% (aim ≥ 95%); the authenticator's own cost is ${rows[5]![1].toFixed(0)} ns of ${(1e9 / mean(rps.plain!)).toFixed(0)} ns per plain request`);
}
