/**
 * What the dashboard's statistics cost each request (src/admin/stats.ts, on the hot path whenever the admin
 * listener is on): StatsSink.onEnd over 20 routes, and the clock reads it saves by deriving the wall-clock
 * second from performance.now() instead of a second call to Date.now(). Also the cost of one snapshot (what
 * each open dashboard asks for once a second).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/stats-sink.js`
 */
import { StatsSink } from '../../src/admin/stats.js';
import type { Exchange } from '../../src/core/exchange.js';

const N = 5_000_000;
const routes = Array.from({ length: 20 }, (_, i) => ({ name: `route-${i}` }));
const exchanges = Array.from({ length: 1000 }, (_, i) => ({
  route: routes[i % routes.length], status: i % 50 === 0 ? 502 : 200, errorCode: null, start: performance.now() - (i % 97),
})) as unknown as Exchange[];

function time(label: string, fn: (i: number) => void): void {
  for (let i = 0; i < 200_000; i++) fn(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  console.log(`${label.padEnd(44)} ${(((performance.now() - t0) * 1e6) / N).toFixed(1)} ns`);
}

const sink = new StatsSink();
let sinkValue = 0;
time('StatsSink.onEnd', (i) => sink.onEnd(exchanges[i % 1000]!));
time('performance.now() + Date.now() (not done)', () => { sinkValue += performance.now() + Date.now(); });
time('performance.now() + timeOrigin (done)', () => { sinkValue += performance.now() + performance.timeOrigin; });
const t0 = performance.now();
for (let i = 0; i < 1000; i++) sinkValue += sink.snapshot().routes.length;
console.log(`${'snapshot, 20 routes'.padEnd(44)} ${((performance.now() - t0) / 1000).toFixed(3)} ms`);
if (sinkValue === 42) console.log('');
