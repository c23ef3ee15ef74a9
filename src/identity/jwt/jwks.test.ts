/**
 * The JWKS cache against a local key server: the first fetch, background refresh, refetch on an unknown
 * `kid` with its cooldown, stale keys while the issuer is down, the bounds of a fetch (deadline, size, no
 * redirects, bad documents), sharing across config generations, and close().
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { errors, type FlattenedJWSInput } from 'jose';
import { acquireJwks, releaseJwks, JwksCache, JwksUnavailable, type JwksSettings } from './jwks.js';
import { JOSE } from './jose.js';
import { JwksServer, makeKey, type TestKey } from '../../../test/helpers/idp.js';

// jose is loaded lazily (src/core/lazy.ts); the gateway preloads it for configs with a jwt entry.
await JOSE.load();

const TOKEN = {} as FlattenedJWSInput;

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, sink), lines };
}

function settings(url: string, o: Partial<JwksSettings> = {}): JwksSettings {
  return { url, timeoutMs: 1500, maxBytes: 150 * 1024, ttlMs: 600_000, cooldownMs: 30_000, ...o };
}

function events(lines: Record<string, unknown>[], name: string): Record<string, unknown>[] {
  return lines.filter((l) => l.event === name);
}

/**
 * PATIENCE bounds the wait for background work due within a few hundred ms (a cooldown or TTL of 100-300 ms
 * here): generous, so a loaded machine cannot fail a test, yet far below the defaults (30 s cooldown, 10 min
 * TTL) that would apply if the configured values were ignored.
 */
const PATIENCE = 5000;

/** until polls `cond` every 10 ms and fails with `what` after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

let k1: TestKey;
let k2: TestKey;
let k3: TestKey;
before(async () => { [k1, k2, k3] = await Promise.all([makeKey('RS256', 'k1'), makeKey('ES256', 'k2'), makeKey('RS256', 'k3')]); });

describe('JwksCache', () => {
  test('the first fetch starts at once; a request waits for it; keys are imported once', async () => {
    const srv = await new JwksServer([k1]).start();
    srv.delayMs = 200;
    const { log } = capture();
    const c = acquireJwks(settings(srv.jwksUrl), log);
    try {
      assert.equal(c.fetches, 1);
      const t0 = performance.now();
      const key = await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      assert.ok(performance.now() - t0 >= 100, 'waited for the fetch in flight');
      assert.equal(await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), key, 'the same CryptoKey: imported once');
      assert.equal(srv.fetches, 1);
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('unknown kid: one refetch, then none within the cooldown', async () => {
    const srv = await new JwksServer([k1]).start();
    const { log } = capture();
    const c = acquireJwks(settings(srv.jwksUrl, { cooldownMs: 300 }), log);
    try {
      await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      await sleep(320);
      srv.setKeys([k1, k2]);
      const v = c.version;
      await c.getKey({ alg: 'ES256', kid: 'k2' }, TOKEN);
      assert.equal(srv.fetches, 2);
      assert.equal(c.version, v + 1);
      srv.setKeys([k1, k2, k3]);
      await assert.rejects(c.getKey({ alg: 'RS256', kid: 'k3' }, TOKEN), errors.JWKSNoMatchingKey);
      await assert.rejects(c.getKey({ alg: 'RS256', kid: 'nope' }, TOKEN), errors.JWKSNoMatchingKey);
      assert.equal(srv.fetches, 2, 'no fetch within the cooldown');
      await sleep(320);
      await c.getKey({ alg: 'RS256', kid: 'k3' }, TOKEN);
      assert.equal(srv.fetches, 3);
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('concurrent unknown kids share one fetch', async () => {
    const srv = await new JwksServer([k1]).start();
    const c = acquireJwks(settings(srv.jwksUrl, { cooldownMs: 0 }), capture().log);
    try {
      await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      srv.setKeys([k1, k3]);
      srv.delayMs = 100;
      await Promise.all(Array.from({ length: 20 }, () => c.getKey({ alg: 'RS256', kid: 'k3' }, TOKEN)));
      assert.equal(srv.fetches, 2);
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('refreshed in the background before the TTL; the same document keeps the imported keys', async () => {
    // Refreshes are due every 0.8 TTL. Two of them must come within 2.5 TTL, with no request asking: a TTL
    // of 1 s leaves the machine ~0.9 s of slack, where 200 ms left it ~0.1 s.
    const TTL = 1000;
    const srv = await new JwksServer([k1]).start();
    const c = acquireJwks(settings(srv.jwksUrl, { ttlMs: TTL }), capture().log);
    try {
      const key = await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      const v = c.version;
      await until(() => srv.fetches >= 3, 2.5 * TTL, 'two background refreshes');
      assert.equal(c.version, v, 'unchanged document: same version');
      assert.equal(await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), key);
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('issuer down: cached keys keep serving past the TTL, with warnings; recovery is logged', async () => {
    const srv = await new JwksServer([k1]).start();
    const { log, lines } = capture();
    const c = acquireJwks(settings(srv.jwksUrl, { ttlMs: 150, cooldownMs: 100 }), log);
    try {
      await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      await srv.stop();
      // The first failed refresh past the TTL logs jwks_stale; a few more failures follow (cooldown 100 ms).
      await until(() => events(lines, 'jwks_stale').length > 0 && events(lines, 'jwks_fetch_failed').length >= 3, PATIENCE, 'the keys to go stale');
      assert.ok(await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN));
      assert.equal(events(lines, 'jwks_stale').length, 1, 'stale logged once');
      assert.equal(events(lines, 'jwks_fetch_failed')[0]!.level, 40);
      await srv.start();
      await until(() => events(lines, 'jwks_recovered').length > 0, PATIENCE, 'the recovery');
      assert.equal(events(lines, 'jwks_recovered').length, 1);
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('issuer down from the start: refused fast, no fetch storm; keys once it answers', async () => {
    const srv = await new JwksServer([k1]).start();
    await srv.stop();
    const { log, lines } = capture();
    const c = acquireJwks(settings(srv.jwksUrl, { cooldownMs: 300 }), log);
    try {
      await assert.rejects(c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), JwksUnavailable);
      const fetches = c.fetches;
      for (let i = 0; i < 10; i++) await assert.rejects(c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), JwksUnavailable);
      assert.equal(c.fetches, fetches, 'no new fetch within the cooldown');
      assert.equal(events(lines, 'jwks_fetch_failed')[0]!.reason, 'request failed (ECONNREFUSED)');
      await srv.start();
      // The retry after the cooldown (300 ms) runs in the background and gets the keys.
      await until(() => c.ready, PATIENCE, 'the keys, once the issuer answers');
      assert.ok(await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN));
    } finally {
      await releaseJwks(c);
      await srv.stop();
    }
  });

  test('bounds: deadline, size cap, no redirects, bad documents; old keys stay', async () => {
    const srv = await new JwksServer([k1]).start();
    const { log, lines } = capture();
    const c = new JwksCache(settings(srv.jwksUrl, { timeoutMs: 200, maxBytes: 4096, cooldownMs: 0 }), log);
    try {
      assert.equal(await c.refresh(), true);
      const key = await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      const reasons: unknown[] = [];
      const attempt = async (): Promise<void> => {
        assert.equal(await c.refresh(), false);
        reasons.push(events(lines, 'jwks_fetch_failed').at(-1)!.reason);
      };
      // The server would answer after 5 s; the 200 ms deadline must cut the fetch long before (the bound
      // leaves a loaded machine over 2 s of slack).
      srv.delayMs = 5000;
      const t0 = performance.now();
      await attempt();
      assert.ok(performance.now() - t0 < 2500, 'the deadline cut the fetch');
      srv.delayMs = 0;
      srv.body = JSON.stringify({ keys: [k1.jwk], pad: 'x'.repeat(5000) });
      await attempt();
      srv.body = null;
      srv.status = 302;
      await attempt();
      srv.status = 200;
      srv.body = '<html>';
      await attempt();
      srv.body = '{"keys": 3}';
      await attempt();
      assert.deepEqual(reasons, ['no answer within 200 ms', 'response larger than 4096 bytes', 'status 302', 'the document is not JSON', 'the document is not a JWK Set']);
      assert.equal(await c.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), key, 'the old keys still serve');
    } finally {
      await c.close();
      await srv.stop();
    }
  });

  test('shared across config generations by URL and settings; the last release closes it', async () => {
    const srv = await new JwksServer([k1]).start();
    const { log } = capture();
    const a = acquireJwks(settings(srv.jwksUrl, { ttlMs: 100 }), log);
    const b = acquireJwks(settings(srv.jwksUrl, { ttlMs: 100 }), log);
    const other = acquireJwks(settings(srv.jwksUrl, { ttlMs: 100, cooldownMs: 1000 }), log);
    try {
      assert.equal(a, b);
      assert.notEqual(a, other);
      await a.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN);
      await releaseJwks(a);
      assert.ok(await b.getKey({ alg: 'RS256', kid: 'k1' }, TOKEN), 'still open for the other user');
      await releaseJwks(b);
      await releaseJwks(other);
      const after = srv.fetches;
      await sleep(250);
      assert.equal(srv.fetches, after, 'closed: no background refresh');
      const fresh = acquireJwks(settings(srv.jwksUrl, { ttlMs: 100 }), log);
      assert.notEqual(fresh, a, 'a closed cache is not handed out again');
      await releaseJwks(fresh);
    } finally {
      await srv.stop();
    }
  });
});
