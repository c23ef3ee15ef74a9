/**
 * Why request ids are a prefix and a counter rather than crypto.randomUUID(): ns per id for each.
 * Run: node dist/bench/micro/request-id.js
 */
import { randomUUID } from 'node:crypto';
import { newRequestId } from '../../src/core/request-id.js';

function time(name: string, fn: () => string, n = 2_000_000): void {
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += fn().length; // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += fn().length;
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${name.padEnd(18)} ${ns.toFixed(1).padStart(7)} ns/id   (${sink > 0 ? 'ok' : ''})`);
}

time('randomUUID', randomUUID);
time('prefix + counter', newRequestId);
