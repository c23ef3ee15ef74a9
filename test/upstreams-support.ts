/**
 * Shared pieces of the upstreams integration tests (test/upstreams-*.test.ts): a keep-alive client pool on
 * the gateway, a small promise pool to drive many requests with bounded concurrency, counting helpers, and
 * checks that a gateway error body is a clean problem document (no upstream address, no library text).
 */
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import type { TestGateway } from './helpers/gateway.js';
import type { Upstream } from './helpers/upstream.js';

/** ClientReply is one response read whole through a ClientPool. */
export interface ClientReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** client opens a keep-alive pool of `connections` to the gateway; close it when the test is done. */
export function client(gw: TestGateway, connections = 32): Pool {
  return new Pool(gw.url, { connections, pipelining: 1, keepAliveTimeout: 10_000 });
}

/** send makes one request on the pool and reads the whole body. */
export async function send(pool: Pool, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<ClientReply> {
  const res = await pool.request({ path, method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers as ClientReply['headers'], body };
}

/** runPool runs `fn(i)` for i in [0, total) with at most `concurrency` calls in flight. */
export async function runPool<T>(total: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(total);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return out;
}

/** counts returns how many requests each upstream received, by name. */
export function counts(ups: readonly Upstream[], path?: string): Record<string, number> {
  const c: Record<string, number> = {};
  for (const u of ups) c[u.name] = path === undefined ? u.received.length : u.received.filter((r) => r.url === path).length;
  return c;
}

/** resetReceived forgets what every upstream received so far. */
export function resetReceived(ups: readonly Upstream[]): void {
  for (const u of ups) u.received.length = 0;
}

/**
 * assertProblem checks a gateway error: status, catalogue code, problem+json, and that nothing from the
 * upstream side leaks (its address, its port, Node or undici error text).
 */
export function assertProblem(reply: ClientReply | { status: number; headers: ClientReply['headers']; body: string }, status: number, code: string, ups: readonly { port: number }[] = []): void {
  assert.equal(reply.status, status, `status (body: ${reply.body})`);
  assert.match(String(reply.headers['content-type']), /^application\/problem\+json/);
  const doc = JSON.parse(reply.body) as Record<string, unknown>;
  assert.equal(doc.code, code);
  assert.equal(doc.status, status);
  assertNoLeak(reply.body, ups);
}

/**
 * GATEWAY_REQUEST_ID matches the ids the gateway makes (src/core/request-id.ts: 16 random hex digits, a
 * dash, a base-36 counter). A 5-digit port turns up by chance in the random digits about once in 10^5 ids,
 * so ports are looked for in the text without them.
 */
const GATEWAY_REQUEST_ID = /\b[0-9a-f]{16}-[0-9a-z]+\b/g;

/** assertNoLeak fails when a body names an upstream address or carries library error text. */
export function assertNoLeak(body: string, ups: readonly { port: number }[] = []): void {
  assert.doesNotMatch(body, /127\.0\.0\.1|localhost|::1/);
  const withoutIds = body.replace(GATEWAY_REQUEST_ID, '<request-id>');
  for (const u of ups) assert.ok(!withoutIds.includes(String(u.port)), `body names upstream port ${u.port}: ${body}`);
  assert.doesNotMatch(body, /ECONN|UND_ERR|ETIMEDOUT|EPIPE|socket|undici|Error:|at .*\.js/i);
}

/** waitFor polls `cond` every 20 ms until it holds or `ms` passes (then fails with `what`). */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** sleep resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** events returns the captured log lines with this `event`. */
export function events(gw: TestGateway, event: string): Record<string, unknown>[] {
  return gw.logs.filter((l) => l.event === event);
}

/** within asserts that `share` is within `tolerance` (absolute, e.g. 0.05) of `expected`. */
export function within(share: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(share - expected) <= tolerance, `${what}: share ${share.toFixed(4)} is not within ${tolerance} of ${expected.toFixed(4)}`);
}
