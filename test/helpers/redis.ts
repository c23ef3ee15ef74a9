/**
 * Redis for tests: the URL (REDIS_URL or the machine's 127.0.0.1:6379), whether it answers, a unique key
 * prefix per test so parallel test files never share counters, and cleanup of that prefix. Outside CI a
 * test that finds no Redis says so and skips; under CI=true it fails instead.
 */
import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';

/** REDIS_URL is the Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let reachable: Promise<boolean> | null = null;

/** redisReachable pings Redis once per process. */
export function redisReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    try { await r.connect(); return (await r.ping()) === 'PONG'; } catch { return false; } finally { r.disconnect(); }
  })();
  return reachable;
}

/**
 * needRedis returns true when Redis is there; otherwise skips the test (outside CI) or throws (under CI=true,
 * where every Redis test must run).
 */
export async function needRedis(t: TestContext): Promise<boolean> {
  if (await redisReachable()) return true;
  if (process.env.CI === 'true') throw new Error(`Redis is required under CI=true but ${REDIS_URL} does not answer`);
  t.skip(`Redis not reachable at ${REDIS_URL}; start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`);
  return false;
}

/** uniquePrefix gives a key prefix no other test uses. */
export function uniquePrefix(): string {
  return `gh-test-${randomBytes(6).toString('hex')}:`;
}

/** dropPrefix deletes every key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } catch { /* best effort */ } finally { r.disconnect(); }
}

/**
 * needRedisServer returns true when redis-server is installed; otherwise skips the test (outside CI) or throws
 * (under CI=true, where every Redis test must run), as needRedis does for a running Redis.
 */
export function needRedisServer(t: TestContext): boolean {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return true;
  if (process.env.CI === 'true') throw new Error('redis-server is required under CI=true but is not installed');
  t.skip('redis-server not found; install it (apt-get install redis-server) to run this test');
  return false;
}

/**
 * startPrivateRedis runs a private redis-server on `port`, for tests that stop and start Redis without
 * disturbing the shared one, and resolves once it accepts connections. Without `dir` it keeps nothing; with
 * `dir` its data lives there as an append-only file fsynced before each reply, so a SIGKILL loses nothing
 * acknowledged and a restart in `dir` finds it all.
 */
export async function startPrivateRedis(port: number, opts: { dir?: string } = {}): Promise<ChildProcess> {
  const persistence = opts.dir === undefined ? ['--appendonly', 'no'] : ['--dir', opts.dir, '--appendonly', 'yes', '--appendfsync', 'always'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${output}`)), 15_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}): ${output}`)); });
      child.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
  } catch (err) {
    await stopPrivateRedis(child);
    throw err;
  }
  // Keep reading its output so a full pipe never blocks it.
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

/** stopPrivateRedis kills a redis-server (SIGKILL: a crash, not a shutdown) and waits for it to be gone. */
export async function stopPrivateRedis(child: ChildProcess | null): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
