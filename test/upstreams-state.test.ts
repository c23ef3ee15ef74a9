/**
 * Upstream state rules added after the first suites: panic routing when passive health has ejected every
 * target, passive health switched off, state kept across a reload that leaves a service unchanged, and a
 * circuit breaker that counts requests rather than attempts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';

const failing = (status: number) => (_req: unknown, res: import('node:http').ServerResponse) => { res.writeHead(status).end('no'); };

describe('upstream state', () => {
  test('panic mode: with every target ejected, requests still reach the targets (and it is logged)', async () => {
    const up = await startUpstream('only', failing(502));
    const gw = await startTestGateway(`
services:
  s: { targets: ["${up.url}"], retries: 0, passiveHealth: { failures: 2, cooldown: 1m } }
routes:
  - { name: s, match: { path: /* }, service: s }
`);
    try {
      for (let i = 0; i < 2; i++) assert.equal((await request(`${gw.url}/x`)).status, 502);
      assert.ok(gw.logs.some((l) => l.event === 'target_ejected'));
      up.handler = (_req, res) => { res.writeHead(200).end('recovered'); };
      const r = await request(`${gw.url}/x`);
      assert.equal(r.status, 200, 'an ejected only target still gets traffic instead of 503 GH_NO_HEALTHY_TARGET');
      assert.equal(r.body, 'recovered');
      assert.ok(gw.logs.some((l) => l.event === 'service_panic' && l.service === 's'));
      assert.ok(gw.logs.some((l) => l.event === 'target_readmitted'), 'a good answer re-admits it');
    } finally { await gw.close(); await up.close(); }
  });

  test('passiveHealth.enabled: false never ejects', async () => {
    const bad = await startUpstream('bad', failing(503));
    const good = await startUpstream('good');
    const gw = await startTestGateway(`
services:
  s: { targets: ["${bad.url}", "${good.url}"], retries: 0, passiveHealth: { enabled: false, failures: 1 } }
routes:
  - { name: s, match: { path: /* }, service: s }
`);
    try {
      for (let i = 0; i < 10; i++) await request(`${gw.url}/x`);
      assert.equal(bad.received.length, 5, 'round-robin kept sending to the failing target');
      assert.ok(!gw.logs.some((l) => l.event === 'target_ejected'));
    } finally { await gw.close(); await bad.close(); await good.close(); }
  });

  test('a reload that leaves a service unchanged keeps its state; a changed service starts fresh', async () => {
    const bad = await startUpstream('bad', failing(503));
    const good = await startUpstream('good');
    const cfg = (extra: string) => `
services:
  s: { targets: ["${bad.url}", "${good.url}"], retries: 0, passiveHealth: { failures: 1, cooldown: 1m }${extra} }
routes:
  - { name: s, match: { path: /* }, service: s }
  - { name: other, match: { path: /other }, service: s }
`;
    const gw = await startTestGateway(cfg(''));
    try {
      for (let i = 0; i < 2; i++) await request(`${gw.url}/x`);
      assert.equal(bad.received.length, 1, 'ejected after one failure');
      const before = gw.gateway.runtime.services.get('s');
      gw.writeConfig(cfg('').replace('/other', '/another'));
      assert.equal(await gw.reload(), true);
      assert.equal(gw.gateway.runtime.services.get('s'), before, 'the same Service object is shared');
      for (let i = 0; i < 4; i++) assert.equal((await request(`${gw.url}/x`)).status, 200);
      assert.equal(bad.received.length, 1, 'still ejected after the reload');
      gw.writeConfig(cfg(', balance: random'));
      assert.equal(await gw.reload(), true);
      assert.notEqual(gw.gateway.runtime.services.get('s'), before);
      // The old service is released and closed once its last runtime retired (after its requests finish):
      // poll for it rather than guess how long that takes.
      const deadline = Date.now() + 5000;
      while (!before!.targets[0]!.pool.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(before!.targets[0]!.pool.closed, true);
    } finally { await gw.close(); await bad.close(); await good.close(); }
  });

  test('the circuit breaker counts a retried request once', async () => {
    const a = await startUpstream('a', failing(503));
    const b = await startUpstream('b', failing(503));
    const c = await startUpstream('c', failing(503));
    const gw = await startTestGateway(`
services:
  s:
    targets: ["${a.url}", "${b.url}", "${c.url}"]
    retries: 2
    passiveHealth: { enabled: false }
    circuitBreaker: { failures: 2, cooldown: 10s }
routes:
  - { name: s, match: { path: /* }, service: s }
`);
    try {
      const first = await request(`${gw.url}/x`);
      assert.equal(first.status, 503);
      assert.equal(a.received.length + b.received.length + c.received.length, 3, 'three attempts');
      assert.notEqual(first.json?.code, 'GH_CIRCUIT_OPEN');
      const second = await request(`${gw.url}/x`);
      assert.notEqual(second.json?.code, 'GH_CIRCUIT_OPEN', 'one failed request so far: still closed');
      const third = await request(`${gw.url}/x`);
      assert.equal(third.json?.code, 'GH_CIRCUIT_OPEN', 'two failed requests open it');
    } finally { await gw.close(); await a.close(); await b.close(); await c.close(); }
  });
});
