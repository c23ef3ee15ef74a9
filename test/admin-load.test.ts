/**
 * Admin changes under load: 20 client loops send requests for about two seconds to routes that exist
 * throughout, while routes and a service are created, changed and deleted through the admin API. Every
 * change is one atomic swap, so not one of those requests may fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';

const TOKEN = 'load-test-admin-token-0123';

test('changes through the admin API under load: zero failed requests', async () => {
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  const gw = await startTestGateway(`
admin: { port: 0, token: ${TOKEN} }
services:
  a: { targets: ["${a.url}"] }
  b: { targets: ["${b.url}"] }
routes:
  - { name: steady, match: { path: /steady/* }, service: a }
  - { name: moving, match: { path: /moving/* }, service: a }
`);
  const api = (method: string, path: string, body?: unknown) => request(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = async (i: number): Promise<void> => {
    const path = i % 2 === 0 ? `/steady/${i}` : `/moving/${i}`;
    while (running) {
      try {
        const r = await request(`${gw.url}${path}`);
        if (r.status === 200) ok++; else failures.push(`${path}: ${r.status} ${r.body.slice(0, 200)}`);
      } catch (err) {
        failures.push(`${path}: ${(err as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: 20 }, (_, i) => loop(i));
  let changes = 0;
  try {
    const until = Date.now() + 2000;
    for (let n = 0; Date.now() < until; n++) {
      // A route added and removed, the route under load moved between services, a service's settings changed.
      const steps: [string, string, unknown?][] = [
        ['PUT', `/api/routes/extra${n}`, { match: { path: `/extra${n}` }, service: n % 2 ? 'a' : 'b' }],
        ['PUT', '/api/routes/moving', { match: { path: '/moving/*' }, service: n % 2 ? 'a' : 'b' }],
        ['PUT', '/api/services/b', { targets: [b.url], retries: n % 3 }],
        ['DELETE', `/api/routes/extra${n}`],
      ];
      for (const [method, path, body] of steps) {
        const r = await api(method, path, body);
        assert.ok(r.status === 200 || r.status === 201, `${method} ${path}: ${r.status} ${r.body}`);
        changes++;
      }
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
  try {
    assert.deepEqual(failures.slice(0, 5), []);
    assert.ok(changes >= 20, `only ${changes} changes were made`);
    assert.ok(ok > 200, `only ${ok} requests were made`);
    // Both services took traffic on the moved route.
    assert.ok(a.received.some((r) => r.url.startsWith('/moving/')) && b.received.some((r) => r.url.startsWith('/moving/')));
    const audit = (await api('GET', '/api/audit?limit=1000')).json as unknown[];
    assert.equal(audit.length, changes);
  } finally {
    await gw.close();
    await a.close();
    await b.close();
  }
});
