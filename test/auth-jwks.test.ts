/**
 * JWKS behaviour through the real gateway and a local key server that counts its fetches: an unknown `kid`
 * after rotation (one refetch, none again within the cooldown), rotation while traffic flows (no failure for
 * tokens of a published key), the issuer going down (cached keys keep working past the TTL, and across a
 * hot reload), and a slow or absent issuer at startup (startup never waits; requests wait at most the fetch
 * deadline).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, LISTEN } from './helpers/raw.js';
import { JwksServer, makeKey, sign, type TestKey } from './helpers/idp.js';
import { waitFor } from './upstreams-support.js';

/**
 * How long to wait for a background JWKS fetch that is due within a few hundred ms (a TTL or cooldown of
 * 200-400 ms here). Generous, so a loaded machine cannot fail the test, and still far below the defaults
 * (10 min TTL, 30 s cooldown) that would apply if the configured values were ignored.
 */
const BACKGROUND_FETCH_MS = 5000;

const ISS = 'https://id.example.com/';

function config(upUrl: string, jwksUrl: string, jwt = '', extraRoute = ''): string {
  return `${LISTEN}
services:
  a: { targets: ['${upUrl}'], retries: 0 }
consumers:
  acme: { jwt: { subject: acme-client } }
auth:
  staff-jwt:
    jwt: { issuer: '${ISS}', audience: api, jwks: '${jwksUrl}', algorithms: [RS256, ES256]${jwt} }
routes:
  - { name: staff, match: { path: /staff/* }, service: a, auth: [staff-jwt] }
${extraRoute}`;
}

/** token signs a fresh token (unique jti, so it is not in the cache of verified tokens). */
function token(key: TestKey): Promise<string> {
  return sign(key, { iss: ISS, aud: 'api', sub: 'acme-client', jti: randomUUID() });
}

function call(gw: TestGateway, t: string): Promise<Reply> {
  return request(`${gw.url}/staff/x`, { headers: { authorization: `Bearer ${t}` } });
}

let a: TestKey, b: TestKey, c: TestKey;
let up: Upstream;
before(async () => {
  [a, b, c] = await Promise.all([makeKey('RS256', 'key-a'), makeKey('ES256', 'key-b'), makeKey('RS256', 'key-c')]);
  up = await startUpstream('a');
});
after(async () => { await up.close(); });

describe('unknown kid after rotation', () => {
  let jwks: JwksServer;
  let gw: TestGateway;
  before(async () => {
    jwks = await new JwksServer([a]).start();
    gw = await startTestGateway(config(up.url, jwks.jwksUrl, ', jwksCooldown: 500ms'));
  });
  after(async () => { await gw.close(); await jwks.stop(); });

  test('a new key is accepted after one refetch; another unknown kid within the cooldown causes no fetch', async () => {
    assert.equal((await call(gw, await token(a))).status, 200);
    assert.equal(jwks.fetches, 1, 'one fetch at startup');
    await sleep(550);
    jwks.setKeys([a, b]);
    const before = up.received.length;
    const r = await call(gw, await token(b));
    assert.equal(r.status, 200, r.body);
    assert.equal(jwks.fetches, 2, 'one refetch for the unknown kid');
    assert.equal(up.received.length, before + 1);
    jwks.setKeys([a, b, c]);
    for (let i = 0; i < 5; i++) {
      const refused = await call(gw, await token(c));
      assertProblem(refused, 401, 'GH_UNAUTHORIZED');
    }
    assert.equal(jwks.fetches, 2, 'no second fetch within the cooldown');
    assert.equal(up.received.length, before + 1, 'nothing upstream for the refused tokens');
    await sleep(550);
    assert.equal((await call(gw, await token(c))).status, 200, 'after the cooldown, the next unknown kid refetches');
    assert.equal(jwks.fetches, 3);
  });
});

describe('rotation while traffic flows', () => {
  let jwks: JwksServer;
  let gw: TestGateway;
  before(async () => {
    jwks = await new JwksServer([a]).start();
    gw = await startTestGateway(config(up.url, jwks.jwksUrl, ', jwksCacheTtl: 400ms, jwksCooldown: 200ms'));
  });
  after(async () => { await gw.close(); await jwks.stop(); });

  test('no failure for tokens of the old and the new key while both are published; the old one goes after', async () => {
    const pool = async (k: TestKey): Promise<string[]> => Promise.all(Array.from({ length: 15 }, () => token(k)));
    const [tokensA, tokensB] = await Promise.all([pool(a), pool(b)]);
    const failures = { a: 0, b: 0 };
    const sent = { a: 0, b: 0 };
    let useA = true;
    let useB = false;
    let running = true;
    const worker = async (w: number): Promise<void> => {
      for (let i = w; running; i++) {
        const which = useA && (!useB || i % 2 === 0) ? 'a' : 'b';
        const list = which === 'a' ? tokensA : tokensB;
        const r = await call(gw, list[i % list.length]!);
        sent[which]++;
        if (r.status !== 200) failures[which]++;
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    let during: typeof failures;
    let sentDuring: typeof sent;
    try {
      await sleep(300);
      jwks.setKeys([a, b]);               // the issuer publishes the new key before using it
      await sleep(250);                   // (longer than the cooldown)
      useB = true;                        // ... then signs with it
      await sleep(600);
      during = { ...failures };
      sentDuring = { ...sent };
      useA = false;                       // the issuer stops using the old key
      await sleep(100);
      const mark = gw.logs.length;
      jwks.setKeys([b]);                  // and retires it
      // A background refresh (TTL 400ms) picks that up: wait for it rather than for a fixed time.
      await waitFor(() => gw.logs.slice(mark).some((l) => l.event === 'jwks_updated' && l.keys === 1), BACKGROUND_FETCH_MS, 'the refresh that drops the retired key');
    } finally {
      running = false;
      await Promise.all(workers);
    }
    assert.deepEqual(during, { a: 0, b: 0 }, `failures while both keys were published (sent ${JSON.stringify(sentDuring)})`);
    assert.ok(sentDuring.a > 20 && sentDuring.b > 10, `traffic flowed: ${JSON.stringify(sentDuring)}`);
    assert.equal(failures.b, 0, 'the new key never failed');
    // The old key is gone from the set: its tokens are refused, fresh or seen before (the cache of verified
    // tokens is dropped when the key set changes).
    assertProblem(await call(gw, await token(a)), 401, 'GH_UNAUTHORIZED');
    assertProblem(await call(gw, tokensA[0]!), 401, 'GH_UNAUTHORIZED');
    assert.equal((await call(gw, tokensB[0]!)).status, 200);
  });
});

describe('the issuer going down', () => {
  let jwks: JwksServer;
  let gw: TestGateway;
  before(async () => {
    jwks = await new JwksServer([a]).start();
    gw = await startTestGateway(config(up.url, jwks.jwksUrl, ', jwksCacheTtl: 300ms, jwksCooldown: 200ms'));
  });
  after(async () => { await gw.close(); await jwks.stop(); });

  test('cached keys keep working, past the TTL and across a hot reload, with warnings in the log', async () => {
    assert.equal((await call(gw, await token(a))).status, 200);
    await jwks.stop();
    assert.equal((await call(gw, await token(a))).status, 200, 'right after the issuer went down');
    // jwks_stale is logged by the first failed refresh past the TTL (300ms): from then on the keys are stale.
    await waitFor(() => gw.logs.some((l) => l.event === 'jwks_stale'), BACKGROUND_FETCH_MS, 'the keys to go stale');
    assert.equal((await call(gw, await token(a))).status, 200, 'past the TTL: stale keys served');
    const failed = gw.logs.filter((l) => l.event === 'jwks_fetch_failed');
    assert.ok(failed.length >= 1, 'fetch failures logged');
    assert.equal(failed[0]!.level, 40);
    assert.ok(gw.logs.some((l) => l.event === 'jwks_stale'), 'stale keys logged');
    // A hot reload builds a new config generation: it shares the warm key cache rather than starting empty.
    gw.writeConfig(config(up.url, jwks.jwksUrl, ', jwksCacheTtl: 300ms, jwksCooldown: 200ms', '  - { name: extra, match: { path: /extra }, service: a }\n'));
    assert.equal(await gw.reload(), true);
    assert.equal((await call(gw, await token(a))).status, 200, 'after a reload while the issuer is down');
    // An unknown kid still cannot be verified while the issuer is down.
    assertProblem(await call(gw, await token(b)), 401, 'GH_UNAUTHORIZED');
  });
});

describe('the first fetch', () => {
  test('a slow issuer does not delay startup; the first request waits for the fetch', async () => {
    const jwks = await new JwksServer([a]).start();
    // The issuer answers only when released, so "before" and "after" its answer do not depend on timing.
    // jwksTimeout is long so that the fetch cannot time out however slow the machine is.
    jwks.hold();
    const t0 = performance.now();
    const gw = await startTestGateway(config(up.url, jwks.jwksUrl, ', jwksTimeout: 30s'));
    try {
      // Waiting for the held fetch could only end at its 30 s deadline: any bound well below it will do.
      assert.ok(performance.now() - t0 < 10_000, 'started without waiting for the JWKS');
      assert.ok(!gw.logs.some((l) => l.event === 'jwks_updated'), 'started before the JWKS arrived');
      await waitFor(() => jwks.fetches === 1, BACKGROUND_FETCH_MS, 'the first fetch, started at startup');
      const pending = token(a).then((t) => call(gw, t));
      await sleep(100); // let the request reach the gateway and wait there for the fetch in flight
      jwks.release();
      const r = await pending;
      assert.equal(r.status, 200, r.body);
      assert.equal(jwks.fetches, 1);
    } finally {
      await gw.close();
      await jwks.stop();
    }
  });

  test('an issuer slower than jwksTimeout, or unreachable: refused within the deadline, logged', async () => {
    const jwks = await new JwksServer([a]).start();
    jwks.hold(); // never answers (released only by stop()): only the deadline can end the fetch
    const gw = await startTestGateway(config(up.url, jwks.jwksUrl, ', jwksTimeout: 300ms'));
    const port = await freePort();
    const gw2 = await startTestGateway(config(up.url, `http://127.0.0.1:${port}/jwks.json`));
    try {
      const t0 = performance.now();
      assertProblem(await call(gw, await token(a)), 401, 'GH_UNAUTHORIZED');
      // The 300 ms deadline cut the wait (the log below names it). The bound leaves a loaded machine a
      // second of slack and stays under the default jwksTimeout (1.5 s), which would mean 300ms was ignored.
      assert.ok(performance.now() - t0 < 1400, 'no longer than the fetch deadline');
      assert.ok(gw.logs.some((l) => l.event === 'jwks_fetch_failed' && l.reason === 'no answer within 300 ms'));
      assertProblem(await call(gw2, await token(a)), 401, 'GH_UNAUTHORIZED');
      assert.ok(gw2.logs.some((l) => l.event === 'jwks_fetch_failed' && l.reason === 'request failed (ECONNREFUSED)'));
      assert.ok(gw2.logs.some((l) => l.event === 'auth_refused' && l.reason === 'issuer keys unavailable (JWKS never fetched)'));
    } finally {
      await gw.close();
      await gw2.close();
      await jwks.stop();
    }
  });
});
