/**
 * Why the access log builds its line by hand: pino's generic serializer walks an object of ~20 fields,
 * calls the formatters and the time function per line; the access line has a fixed shape, so it is built in
 * one pass (strings a client influences still go through JSON.stringify). Both variants write to the same
 * kind of destination (pino.destination to a file in /tmp) so only the serialization differs.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/micro/access-log.js`
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AccessLog } from '../../src/observability/access-log.js';
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
