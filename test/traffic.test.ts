/**
 * Static answers, traffic splitting and mirroring through the real gateway: what a client gets, and what each
 * real upstream (primary, canary, shadow) actually received.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { LISTEN } from './helpers/raw.js';
import { compile } from '../src/config/compile.js';
import { loadConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { silentLogger } from '../src/observability/log.js';
import { hashApiKey, newApiKey } from '../src/identity/api-key/key-format.js';

const ANN = newApiKey();
const BOB = newApiKey();
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/static/', import.meta.url));

/** Config problems of a YAML text, one line each. */
function problems(yaml: string): string[] {
  try {
    const rt = compile(loadConfigText(yaml, 'gatehouse.yaml', {}), silentLogger());
    void rt.retire(0);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
}

describe('static answers', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(`${LISTEN}
routes:
  - name: stub
    match: { path: /stub }
    static: { status: 201, json: { id: 7, tags: [a, b] }, headers: { x-stub: yes } }
  - name: text
    match: { path: /text }
    static: { body: "hello\\n" }
  - name: down
    match: { path: /down/* }
    static: { status: 503, file: ${JSON.stringify(FIXTURES + 'maintenance.html')}, headers: { retry-after: "120" } }
  - name: redacted
    match: { path: /secret }
    static: { json: { name: Ann, ssn: 123-45-6789 } }
    redact: [ $.ssn ]
  - name: empty
    match: { path: /empty }
    static: { status: 204 }
`);
  });
  after(async () => { await gw.close(); });

  test('a JSON stub with its status and headers', async () => {
    const r = await request(`${gw.url}/stub`);
    assert.equal(r.status, 201);
    assert.deepEqual(r.json, { id: 7, tags: ['a', 'b'] });
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-stub'], 'yes');
    assert.match(String(r.headers['x-request-id']), /\S/);
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));
  });

  test('a text body, and HEAD gets the headers without it', async () => {
    const r = await request(`${gw.url}/text`);
    assert.equal(r.body, 'hello\n');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    const h = await request(`${gw.url}/text`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.equal(h.headers['content-length'], '6');
  });

  test('a maintenance page from a file, typed by its extension', async () => {
    const r = await request(`${gw.url}/down/anything`);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '120');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(r.body, /maintenance/);
  });

  test('route features apply to a static body (redaction)', async () => {
    const r = await request(`${gw.url}/secret`);
    assert.deepEqual(r.json, { name: 'Ann' });
  });

  test('204 has no body and no length', async () => {
    const r = await request(`${gw.url}/empty`);
    assert.equal(r.status, 204);
    assert.equal(r.body, '');
    assert.equal(r.headers['content-length'], undefined);
  });

  test('config errors: two bodies, a missing file, two backends, no backend', () => {
    assert.deepEqual(problems(`routes:
  - { name: a, match: { path: /a }, static: { body: x, json: 1 } }
  - { name: b, match: { path: /b }, static: { file: ./nope.html } }
`), [
      'routes[0].static: gives body and json; give at most one body (gatehouse.yaml:2)',
      'routes[1].static.file: file not found: ./nope.html (relative to the config file) (gatehouse.yaml:3)',
    ]);
    const p = problems(`services: { s: { targets: [http://127.0.0.1:9] } }
routes:
  - { name: a, match: { path: /a }, service: s, static: { body: x } }
  - { name: b, match: { path: /b } }
`);
    assert.deepEqual(p, [
      'routes[0]: names 2 backends (service, static); a route has exactly one (gatehouse.yaml:3)',
      `routes[1]: needs a backend: \`service\` to send requests to, or one of ${p[1]!.match(/one of (.*) \(gatehouse/)![1]} (gatehouse.yaml:4)`,
    ]);
    assert.match(p[1]!, /`static`/);
  });
});

describe('traffic splitting', () => {
  let stable: Upstream;
  let canary: Upstream;
  let beta: Upstream;
  let gw: TestGateway;
  before(async () => {
    stable = await startUpstream('stable');
    canary = await startUpstream('canary');
    beta = await startUpstream('beta');
    gw = await startTestGateway(`${LISTEN}
services:
  stable: { targets: ['${stable.url}'] }
  canary: { targets: ['${canary.url}'] }
  beta: { targets: ['${beta.url}'] }
consumers:
  ann: { groups: [beta-testers], keys: ['${hashApiKey(ANN)}'] }
  bob: { keys: ['${hashApiKey(BOB)}'] }
auth:
  key: { apiKey: { header: x-api-key } }
routes:
  - name: even
    match: { path: /even/* }
    service: stable
    split: { to: [ { service: canary, percent: 10 } ] }
  - name: rules
    match: { path: /rules/* }
    service: stable
    auth: [key]
    split: { to: [ { service: beta, header: { x-beta: "1" } }, { service: beta, groups: [beta-testers] } ] }
  - name: sticky
    match: { path: /sticky/* }
    service: stable
    auth: [key]
    split: { sticky: consumer, to: [ { service: canary, percent: 50 } ] }
`);
  });
  after(async () => { await gw.close(); await Promise.all([stable.close(), canary.close(), beta.close()]); });

  test('a 90/10 split holds within 2% over 10,000 requests', async () => {
    stable.received.length = 0;
    canary.received.length = 0;
    const N = 10_000;
    let sent = 0;
    const worker = async () => {
      while (sent < N) {
        sent++;
        const r = await request(`${gw.url}/even/x`);
        assert.equal(r.status, 200);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const share = canary.received.length / N;
    assert.equal(stable.received.length + canary.received.length, N);
    assert.ok(Math.abs(share - 0.10) <= 0.02, `canary share ${share}`);
  });

  test('rules by header and by consumer group go first', async () => {
    beta.received.length = 0;
    const byHeader = await request(`${gw.url}/rules/a`, { headers: { 'x-api-key': BOB, 'x-beta': '1' } });
    assert.equal(byHeader.json.upstream, 'beta');
    const byGroup = await request(`${gw.url}/rules/b`, { headers: { 'x-api-key': ANN } });
    assert.equal(byGroup.json.upstream, 'beta');
    const neither = await request(`${gw.url}/rules/c`, { headers: { 'x-api-key': BOB } });
    assert.equal(neither.json.upstream, 'stable');
    assert.deepEqual(beta.received.map((r) => r.url), ['/rules/a', '/rules/b']);
  });

  test('sticky: one consumer always lands on the same side', async () => {
    for (const key of [ANN, BOB]) {
      const sides = new Set<string>();
      for (let i = 0; i < 20; i++) sides.add((await request(`${gw.url}/sticky/x`, { headers: { 'x-api-key': key } })).json.upstream as string);
      assert.equal(sides.size, 1, `${key} went to ${[...sides].join(' and ')}`);
      assert.ok(['stable', 'canary'].includes([...sides][0]!));
    }
  });

  test('config errors: unknown service, percentages over 100, two kinds in one entry, split without service', () => {
    assert.deepEqual(problems(`services: { s: { targets: [http://127.0.0.1:9] }, t: { targets: [http://127.0.0.1:8] } }
routes:
  - name: a
    match: { path: /a }
    service: s
    split: { to: [ { service: nope, percent: 60 }, { service: t, percent: 50, header: { x: "1" } } ] }
  - { name: b, match: { path: /b }, static: { body: x }, split: { to: [ { service: t, percent: 5 } ] } }
`), [
      'routes[0].split.to[0].service: unknown service "nope" (gatehouse.yaml:6)',
      'routes[0].split.to[1]: needs exactly one of percent, header or groups (gatehouse.yaml:6)',
      'routes[0].split.to: percentages add up to 110; at most 100 (gatehouse.yaml:6)',
      'routes[1].split: needs the route\'s `service` (it divides or copies proxied traffic) (gatehouse.yaml:7)',
    ]);
  });
});

describe('mirroring', () => {
  let primary: Upstream;
  let shadow: Upstream;
  let gw: TestGateway;
  let dead: Server;
  let deadUrl: string;
  before(async () => {
    primary = await startUpstream('primary', undefined, { keepBody: true });
    shadow = await startUpstream('shadow', (_req, res) => { res.writeHead(500); res.end('shadow broke'); }, { keepBody: true });
    // A shadow that accepts connections and never answers: the worst kind of dead.
    dead = createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    gw = await startTestGateway(`${LISTEN}
services:
  primary: { targets: ['${primary.url}'] }
  shadow: { targets: ['${shadow.url}'] }
  dead: { targets: ['${deadUrl}'], timeouts: { response: 30s } }
routes:
  - name: all
    match: { path: /all/* }
    service: primary
    mirror: { service: shadow }
  - name: some
    match: { path: /some/* }
    service: primary
    mirror: { service: shadow, percent: 25 }
  - name: dead
    match: { path: /dead/* }
    service: primary
    mirror: { service: dead, timeout: 30s, maxInFlight: 5 }
`);
  });
  after(async () => {
    await gw.close();
    dead.closeAllConnections();
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    await Promise.all([primary.close(), shadow.close()]);
  });

  test('the shadow receives the same request, body included, marked as a copy; its 500 never reaches the client', async () => {
    shadow.received.length = 0;
    const r = await request(`${gw.url}/all/orders?x=1`, { method: 'POST', body: '{"item":42}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.upstream, 'primary');
    await waitFor(() => shadow.received.length === 1);
    const copy = shadow.received[0]!;
    assert.equal(copy.method, 'POST');
    assert.equal(copy.url, '/all/orders?x=1');
    assert.equal(copy.body, '{"item":42}');
    assert.equal(copy.headers['x-gatehouse-mirror'], '1');
    assert.equal(copy.headers['x-request-id'], r.headers['x-request-id']);
    assert.equal(primary.received.at(-1)!.body, '{"item":42}');
    assert.equal(primary.received.at(-1)!.headers['x-gatehouse-mirror'], undefined);
  });

  test('a 25% mirror copies exactly 25 of 100 requests', async () => {
    shadow.received.length = 0;
    for (let i = 0; i < 100; i++) assert.equal((await request(`${gw.url}/some/${i}`)).status, 200);
    await waitFor(() => shadow.received.length >= 25);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(shadow.received.length, 25);
  });

  test('a shadow that never answers costs the client nothing, and copies past the cap are skipped', async () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = await request(`${gw.url}/dead/${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.upstream, 'primary');
    }
    // 20 sequential requests against a primary on loopback: far below the shadow's 30 s timeout each.
    assert.ok(performance.now() - started < 5000);
  });

  test('config error: unknown shadow service', () => {
    assert.deepEqual(problems(`services: { s: { targets: [http://127.0.0.1:9] } }
routes:
  - { name: a, match: { path: /a }, service: s, mirror: { service: ghost } }
`), ['routes[0].mirror.service: unknown service "ghost" (gatehouse.yaml:3)']);
  });
});


async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
