/**
 * Why the access log builds its line by hand: pino's generic serializer walks an object of ~20 fields,
 * calls the formatters and the time function per line; the access line has a fixed shape, so it is built in
 * one pass (strings a client influences still go through JSON.stringify). Both variants write to the same
 * kind of destination (pino.destination to a file in /tmp) so only the serialization differs.
 *
 * The second part is why lines go to a file in 16 KiB chunks (BATCH_BYTES): each chunk is one asynchronous
 * write, whose round trip through libuv's thread pool costs more than building a dozen lines. Lines are
 * written 20 per event-loop turn, as a busy server would, and the process's CPU time (its threads included)
 * is divided by the lines. On this project's 2-core VM (Node 20), over three runs of three passes: 4 KiB
 * chunks (pino.destination's minLength, as before) 7.8-13.6 µs a line, 16 KiB chunks 3.8-5.8 µs; 64 KiB
 * chunks were no better than 16 KiB.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/access-log.js`
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AccessLog, accessLogDestination } from '../../src/observability/access-log.js';
import type { Exchange } from '../../src/core/exchange.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-micro-access-'));
const N = 200_000;

const ex = {
  start: performance.now(), status: 200, errorCode: null, requestId: '6878a899bd975f15-1', req: { method: 'GET' },
  path: '/v1/orders/42', query: '', target: 'http://127.0.0.1:3001', identity: null, clientIp: '203.0.113.9',
  body: null, bodyLength: 0, bytesOut: 64, upstreamMs: 0.53, attempts: 1, limitOutcome: null, cacheOutcome: null,
  trace: null, route: { name: 'orders', service: { name: 'orders' } }, runtime: { generation: 1, authenticators: new Map() },
  res: { writableFinished: true, getHeader: () => undefined },
} as unknown as Exchange;

function time(label: string, fn: () => void): void {
  for (let i = 0; i < 20_000; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn();
  console.log(`${label.padEnd(34)} ${((performance.now() - t0) * 1000 / N).toFixed(2)} us/line`);
}

const viaPino = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: () => ({ type: 'access' }) } },
  pino.destination({ dest: join(dir, 'pino.log'), sync: false, minLength: 4096 }));
time('pino logger.info(object)', () => {
  viaPino.info({
    requestId: ex.requestId, method: ex.req.method, path: ex.path, status: ex.status, route: 'orders', service: 'orders',
    target: ex.target, consumer: null, clientIp: ex.clientIp, bytesIn: 0, bytesOut: 64, durationMs: 1.23, upstreamMs: 0.53,
    attempts: 1, limit: null, cache: null, error: null,
  });
});

const silent = pino({ level: 'silent' });
const hand = new AccessLog({ enabled: true, sample: 1, slow: '1s', redactQuery: [] }, pino.destination({ dest: join(dir, 'hand.log'), sync: false, minLength: 4096 }), silent);
time('AccessLog.onEnd (hand-built line)', () => hand.onEnd(ex));
await hand.flush();
viaPino.flush();

/** Writes `N` lines, 20 per event-loop turn, and prints the process's CPU time (all threads) per line. */
async function cpuPerLine(label: string, log: AccessLog): Promise<void> {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i += 20) {
    for (let j = 0; j < 20; j++) log.onEnd(ex);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await log.flush();
  const cpu = process.cpuUsage(cpu0);
  console.log(`${label.padEnd(34)} ${((cpu.user + cpu.system) / N).toFixed(2)} us/line (CPU, writes included)`);
}
const config = { enabled: true, sample: 1, slow: '1s', redactQuery: [] };
for (let pass = 1; pass <= 3; pass++) {
  await cpuPerLine(`pass ${pass}: 4 KiB writes`, new AccessLog(config, pino.destination({ dest: join(dir, 'small.log'), sync: false, minLength: 4096 }), silent));
  const batched = accessLogDestination({ ...config, file: join(dir, 'batched.log') }, dir, pino.destination({ dest: 1 }));
  await cpuPerLine(`pass ${pass}: 16 KiB chunks`, new AccessLog(config, batched.destination, silent, batched.batchBytes));
}
