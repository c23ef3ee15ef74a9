/**
 * The embedded default: the bundled example config with the built-in demo services shows routing, load
 * balancing over two instances and a health-check ejection, as the README tour says. The services listen on
 * ephemeral ports here; the example's fixed ports are swapped in the config text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startDemoServices } from '../src/cli/demo.js';
import { startGateway } from '../src/main.js';
import { request } from './helpers/http.js';
import { waitFor } from './upstreams-support.js';

test('the bundled example with the demo services: routing, round-robin, health-check ejection', async () => {
  const demo = await startDemoServices({ users1: 0, users2: 0, orders: 0 });
  const example = readFileSync(fileURLToPath(new URL('../../examples/gatehouse.yaml', import.meta.url)), 'utf8')
    .replace(/127\.0\.0\.1:3001\b/g, `127.0.0.1:${demo.ports.users1}`)
    .replace(/127\.0\.0\.1:3002\b/g, `127.0.0.1:${demo.ports.users2}`)
    .replace(/127\.0\.0\.1:3003\b/g, `127.0.0.1:${demo.ports.orders}`);
  const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-demo-')), 'gatehouse.yaml');
  writeFileSync(file, example);
  // Log lines are kept (not printed) so the test can wait for the ejection instead of sleeping.
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l.trim() !== '') logs.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const gw = await startGateway({ configFile: file, log: pino({ level: 'info' }, sink), watch: false, env: { PORT: '0' } });
  try {
    const user = await request(`${gw.url}/api/users/42`);
    assert.equal(user.status, 200);
    assert.equal(user.json.id, '42');
    assert.equal(user.headers.server, undefined, 'the backend Server header is hidden');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await request(`${gw.url}/api/users`)).json.servedBy);
    assert.deepEqual([...seen].sort(), ['users-1', 'users-2']);
    assert.equal((await request(`${gw.url}/api/orders?user=7`)).json.orders[0].user, '7');
    assert.equal((await request(`${gw.url}/nowhere`)).status, 404);
    assert.equal((await request(`${gw.url}/api/orders`, { method: 'DELETE' })).status, 405);
    assert.equal((await request(`${gw.url}/api/users/42`, { headers: { 'api-version': '2' } })).headers.deprecation, undefined);

    demo.setUsers2Healthy(false);
    // Interval 1s × unhealthy 2, plus a probe in flight: about 2-3 s. Wait for the ejection itself, with room
    // for a loaded machine.
    await waitFor(() => logs.some((l) => l.event === 'target_ejected' && l.target === `http://127.0.0.1:${demo.ports.users2}`), 15_000, 'users-2 to be ejected');
    const after = new Set<string>();
    for (let i = 0; i < 6; i++) after.add((await request(`${gw.url}/api/users`)).json.servedBy);
    assert.deepEqual([...after], ['users-1']);
  } finally {
    await gw.close();
    for (const s of demo.servers) s.close();
  }
});
