/**
 * Hot reload and graceful shutdown: a client looping through 10 reloads sees zero failures; a bad config
 * is refused while traffic continues; the log names what changed; shutdown drains requests in flight.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUpstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';

const config = (a: string, b: string, extraRoute = '') => `
services:
  a: { targets: ["${a}"] }
  b: { targets: ["${b}"] }
routes:
  - name: main
    match: { path: /* }
    service: a
${extraRoute}`;

describe('hot reload', () => {
  test('10 reloads under a request loop: zero failures, each new config live', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const gw = await startTestGateway(config(a.url, b.url));
    let failures = 0, ok = 0, running = true;
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          const r = await request(`${gw.url}/x`);
          if (r.status === 200) ok++; else failures++;
        } catch { failures++; }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    try {
    for (let i = 0; i < 10; i++) {
      // Alternate the service of the main route and add a route each time.
      gw.writeConfig(config(a.url, b.url, `  - name: extra${i}\n    match: { path: /extra${i} }\n    service: ${i % 2 ? 'a' : 'b'}\n`).replace('service: a\n', `service: ${i % 2 ? 'a' : 'b'}\n`));
      const ok = await gw.reload();
      assert.equal(ok, true, JSON.stringify(gw.logs.filter((l) => (l.level as number) >= 40)));
      await sleep(40);
    }
    } finally {
      // Stop the loops even when an assertion failed, or they would keep the test (and the run) alive.
      running = false;
      await Promise.all(loops);
    }
    assert.equal(failures, 0);
    assert.ok(ok > 50, `only ${ok} requests went through`);
    const last = await request(`${gw.url}/extra9`);
    assert.equal(last.json.upstream, 'a');
    const reloads = gw.logs.filter((l) => l.event === 'config_reloaded');
    assert.equal(reloads.length, 10);
    assert.deepEqual((reloads[1] as any).routes, { added: ['extra1'], removed: ['extra0'], changed: ['main'] });
    await gw.close(); await a.close(); await b.close();
  });

  test('a bad config is refused, logged with its errors, and the old one keeps serving', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const gw = await startTestGateway(config(a.url, b.url));
    gw.writeConfig(config(a.url, b.url).replace('service: a', 'service: nope'));
    assert.equal(await gw.reload(), false);
    const refused = gw.logs.find((l) => l.event === 'reload_refused') as { problems: string[] } | undefined;
    assert.deepEqual(refused?.problems, ['routes[0].service: unknown service "nope" (gatehouse.yaml:9)']);
    const r = await request(`${gw.url}/x`);
    assert.equal(r.json.upstream, 'a');
    await gw.close(); await a.close(); await b.close();
  });

  test('the file watcher reloads on change', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const gw = await startTestGateway(config(a.url, b.url), { watch: true });
    gw.writeConfig(config(a.url, b.url).replace('service: a', 'service: b'));
    // The watcher reloads 150 ms after the last change; poll with a deadline that a loaded machine cannot
    // reach (a watcher that never fires still fails).
    let upstream = '';
    const deadline = Date.now() + 10_000;
    while (upstream !== 'b' && Date.now() < deadline) {
      await sleep(50);
      upstream = (await request(`${gw.url}/x`)).json.upstream;
    }
    assert.equal(upstream, 'b');
    await gw.close(); await a.close(); await b.close();
  });
});

describe('graceful shutdown', () => {
  test('requests in flight finish; new connections are refused; close resolves', async () => {
    // The upstream holds every request until released, so the three are surely in flight when the
    // shutdown starts, however slow the machine.
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const slow = await startUpstream('slow', async (_req, res) => {
      await released;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('done');
    });
    const gw = await startTestGateway(`
services:
  s: { targets: ["${slow.url}"] }
routes:
  - name: s
    match: { path: /* }
    service: s
`);
    const inflight = [request(`${gw.url}/1`), request(`${gw.url}/2`), request(`${gw.url}/3`)];
    let closed: Promise<void>;
    try {
      const deadline = Date.now() + 10_000;
      while (slow.received.length < 3 && Date.now() < deadline) await sleep(10);
      assert.equal(slow.received.length, 3, 'the three requests reached the upstream');
      closed = gw.close();
      await sleep(20);
      await assert.rejects(request(`${gw.url}/late`));
    } finally {
      release();
    }
    const results = await Promise.all(inflight);
    assert.deepEqual(results.map((r) => [r.status, r.body]), [[200, 'done'], [200, 'done'], [200, 'done']]);
    await closed;
    assert.ok(gw.logs.some((l) => l.event === 'stopped'));
    await slow.close();
  });
});
