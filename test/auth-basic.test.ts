/**
 * Basic auth through the real gateway and a recording upstream: good users with bcrypt and scrypt hashes are
 * forwarded with consumer headers and without the Authorization header; a wrong password, an unknown user,
 * bad base64 and a missing colon are answered 401 with the Basic challenge and nothing reaches the upstream;
 * no password appears in a log line.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { hashSync } from 'bcryptjs';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request, type Reply } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';
import { hashPassword } from '../src/identity/basic/password-hash.js';

const ALICE_PW = 'open sesame, ünïcode and all';
const BOB_PW = 'b0b:has:colons';
const CAROL_PW = 'carol-default-cost';
const CHALLENGE = 'Basic realm="staff area", charset="UTF-8"';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('Basic auth', () => {
  let up: Upstream;
  let gw: TestGateway;
  let base: string;
  before(async () => {
    up = await startUpstream('a');
    // Cheap parameters keep the suite fast; carol's hash uses the CLI defaults, as operators will. Alice's
    // (N = 4096, some 12 ms) is the model of the dummy hash (the first of the most common kind): costly
    // enough next to a request's own few ms that the timing test below can tell a hash from none.
    const alice = await hashPassword(ALICE_PW, { N: 4096, r: 8, p: 1 });
    const carol = await hashPassword(CAROL_PW);
    const bob = hashSync(BOB_PW, 4);
    gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
consumers:
  alice: { groups: [staff], basic: { username: alice, password: '${alice}' } }
  bob:   { groups: [staff, ops], basic: { username: bob, password: '${bob}' } }
  carol: { basic: { username: carol, password: '${carol}' } }
auth:
  staff:
    basic: { realm: staff area, cacheTtl: 0s }
  staff-cached:
    basic: { realm: staff area }
routes:
  - { name: staff, match: { path: /staff/* }, service: a, auth: [staff] }
  - { name: cached, match: { path: /cached/* }, service: a, auth: [staff-cached] }
`);
    base = `http://127.0.0.1:${gw.port}`;
  });
  after(async () => {
    const logs = JSON.stringify(gw.logs);
    for (const secret of [ALICE_PW, BOB_PW, CAROL_PW, 'wrong-password', basic('alice', ALICE_PW).slice(6)]) assert.ok(!logs.includes(secret), 'a secret appeared in the logs');
    await gw.close();
    await up.close();
  });
  beforeEach(() => { up.received.length = 0; });

  const get = (path: string, authorization?: string): Promise<Reply> => request(base + path, { headers: authorization === undefined ? {} : { authorization } });

  function assertRefused(r: Reply): void {
    assertProblem(r, 401, 'GH_UNAUTHORIZED');
    assert.equal(header(r, 'www-authenticate'), CHALLENGE);
    assert.equal(up.received.length, 0, 'nothing reached the upstream');
  }

  test('good user and password, scrypt hash: forwarded with consumer headers, without Authorization', async () => {
    const r = await get('/staff/x', basic('alice', ALICE_PW));
    assert.equal(r.status, 200, r.body);
    const got = up.received[0]!;
    assert.equal(got.headers['x-consumer-id'], 'alice');
    assert.equal(got.headers['x-consumer-groups'], 'staff');
    assert.equal(got.headers.authorization, undefined);
  });

  test('good user and password, bcrypt hash (colons in the password)', async () => {
    const r = await get('/staff/x', basic('bob', BOB_PW));
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'bob');
    assert.equal(up.received[0]!.headers['x-consumer-groups'], 'staff,ops');
  });

  test('good user with the default scrypt cost of `gatehouse keys hash-password`', async () => {
    const r = await get('/staff/x', basic('carol', CAROL_PW));
    assert.equal(r.status, 200, r.body);
    assert.equal(up.received[0]!.headers['x-consumer-id'], 'carol');
  });

  test('wrong password: 401', async () => {
    assertRefused(await get('/staff/x', basic('alice', 'wrong-password')));
    assertRefused(await get('/staff/x', basic('bob', 'wrong-password')));
  });

  test('unknown user: 401, after as long as a known user takes', async () => {
    // The dummy hash copies the configured hashes' kind and cost, so an unknown user costs what a wrong
    // password of a known user costs (without it, about a tenth). Best of 7 of each, taken in turns so a
    // busy spell of the machine slows both alike: the least disturbed runs are compared.
    const time = async (user: string, i: number): Promise<number> => {
      const t0 = performance.now();
      assertRefused(await get('/staff/x', basic(user, `wrong-password-${i}`)));
      return performance.now() - t0;
    };
    let known = Infinity;
    let unknown = Infinity;
    for (let i = 0; i < 7; i++) {
      known = Math.min(known, await time('alice', i));
      unknown = Math.min(unknown, await time('mallory', i));
    }
    assert.ok(unknown > known * 0.4, `unknown ${unknown.toFixed(1)} ms vs known ${known.toFixed(1)} ms`);
  });

  test('malformed base64, missing colon, empty user, empty credentials: 401', async () => {
    for (const h of ['Basic !!!!', 'Basic YWxpY2U6b3Blbi$$', `Basic ${Buffer.from('alice').toString('base64')}`, `Basic ${Buffer.from(':x').toString('base64')}`, 'Basic', 'Basic    ']) {
      up.received.length = 0;
      assertRefused(await get('/staff/x', h));
    }
  });

  test('no credentials, or another scheme: 401 with the Basic challenge', async () => {
    assertRefused(await get('/staff/x'));
    assertRefused(await get('/staff/x', 'Bearer abc.def.ghi'));
  });

  test('cached route: the same credentials twice, then a wrong one still fails', async () => {
    const h = basic('bob', BOB_PW);
    assert.equal((await get('/cached/x', h)).status, 200);
    const t0 = performance.now();
    assert.equal((await get('/cached/x', h)).status, 200);
    assert.ok(performance.now() - t0 < 500);
    assert.equal(up.received.length, 2);
    up.received.length = 0;
    assertRefused(await get('/cached/x', basic('bob', 'wrong-password')));
  });
});
