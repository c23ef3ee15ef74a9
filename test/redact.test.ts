/**
 * `redact` through the real proxy: JSON responses are held (bounded), redacted and re-framed; other
 * responses stream through untouched; what cannot be redacted safely (too large, encoded, broken) fails
 * closed with 502 rather than reaching the client unredacted.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { assertProblem, header, LISTEN } from './helpers/raw.js';

/** What the upstream answers, by path. */
const CARD = '4111111111111234';
const USER = { name: 'Ann', ssn: '123-45-6789', card: { number: CARD, brand: 'visa' } };
const LIST = { users: [{ id: 1, ssn: '111-11-1111' }, { id: 2, ssn: '222-22-2222' }], items: [{ card: { number: '4000000000000001' } }, { card: { number: CARD } }] };

function config(upUrl: string): string {
  return `${LISTEN}
services:
  up: { targets: ['${upUrl}'], retries: 0 }
routes:
  - name: redacted
    match: { path: /r/* }
    service: up
    redact: [ $.ssn, { path: $.card.number, keep: 4 }, "$.users[*].ssn", { path: "$.items[*].card.number", keep: 4 }, $..password ]
  - name: plain
    match: { path: /plain/* }
    service: up
`;
}

describe('redact through the proxy', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream('up', (req, res) => {
      const path = req.url!.replace(/^\/(r|plain)/, '');
      const json = (body: unknown, type = 'application/json') => { res.writeHead(200, { 'content-type': type, etag: '"v1"' }); res.end(JSON.stringify(body)); };
      switch (path) {
        case '/user': return json(USER);
        case '/unicode': return json({ name: 'Zoë Ångström ✓ 𝄞', ssn: '123-45-6789', note: 'naïve café' });
        case '/list': return json(LIST);
        case '/problem': return json({ title: 'x', password: 'hunter2', ssn: '1' }, 'application/problem+json; charset=utf-8');
        case '/vendor': return json({ ssn: '1', keep: true }, 'application/vnd.acme.v2+json');
        case '/text': res.writeHead(200, { 'content-type': 'text/plain' }); res.end('{"ssn":"123-45-6789"}'); return;
        case '/none': res.writeHead(200); res.end('{"ssn":"123-45-6789"}'); return;
        case '/error': res.writeHead(500, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: 'boom', ssn: '9' })); return;
        case '/broken': res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"ssn": "123-45-6789", '); return;
        case '/gzip': res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }); res.end(gzipSync(JSON.stringify(USER))); return;
        case '/large': {
          // 11 MiB of JSON, past the 10 MiB the proxy holds: sent in chunks like a real service would.
          res.writeHead(200, { 'content-type': 'application/json' });
          const row = JSON.stringify({ ssn: '123-45-6789', pad: 'x'.repeat(1000) });
          res.write('[');
          for (let i = 0; i < 11 * 1024; i++) res.write((i === 0 ? '' : ',') + row);
          res.end(']');
          return;
        }
        case '/deep': res.writeHead(200, { 'content-type': 'application/json' }); res.end('['.repeat(200_000) + ']'.repeat(200_000)); return;
        default: res.writeHead(404); res.end();
      }
    });
    gw = await startTestGateway(config(up.url));
  });
  after(async () => { await gw.close(); await up.close(); });
  beforeEach(() => { up.received.length = 0; });

  test('fields are removed and masked, the body re-framed', async () => {
    const r = await request(`${gw.url}/r/user`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { name: 'Ann', card: { number: '************1234', brand: 'visa' } });
    assert.equal(header(r, 'content-length'), String(Buffer.byteLength(r.body)));
    assert.equal(header(r, 'etag'), '', 'the validator of the original body is dropped');
    assert.ok(!r.body.includes('123-45-6789') && !r.body.includes(CARD));
  });

  test('a body with multi-byte characters is framed by its bytes, not its characters', async () => {
    const r = await request(`${gw.url}/r/unicode`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { name: 'Zoë Ångström ✓ 𝄞', note: 'naïve café' });
    assert.equal(header(r, 'content-length'), String(Buffer.byteLength(r.body)));
    assert.ok(Buffer.byteLength(r.body) > r.body.length);
  });

  test('nested and array fields', async () => {
    const r = await request(`${gw.url}/r/list`);
    assert.deepEqual(r.json, {
      users: [{ id: 1 }, { id: 2 }],
      items: [{ card: { number: '************0001' } }, { card: { number: '************1234' } }],
    });
  });

  test('any JSON media type, error statuses too', async () => {
    assert.deepEqual((await request(`${gw.url}/r/problem`)).json, { title: 'x' });
    assert.deepEqual((await request(`${gw.url}/r/vendor`)).json, { keep: true });
    const e = await request(`${gw.url}/r/error`);
    assert.equal(e.status, 500);
    assert.deepEqual(e.json, { error: 'boom' });
  });

  test('the upstream is asked for an uncompressed body', async () => {
    await request(`${gw.url}/r/user`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(up.received[0]!.headers['accept-encoding'], 'identity');
  });

  test('non-JSON responses pass untouched', async () => {
    const t = await request(`${gw.url}/r/text`);
    assert.equal(t.status, 200);
    assert.equal(t.body, '{"ssn":"123-45-6789"}');
    const n = await request(`${gw.url}/r/none`);
    assert.equal(n.body, '{"ssn":"123-45-6789"}');
  });

  test('routes without redact stream JSON untouched', async () => {
    const r = await request(`${gw.url}/plain/user`);
    assert.deepEqual(r.json, USER);
    assert.equal(header(r, 'etag'), '"v1"');
  });

  test('a JSON response above the buffering bound fails closed with 502', async () => {
    const r = await request(`${gw.url}/r/large`);
    assertProblem(r, 502, 'GH_RESPONSE_TOO_LARGE');
    assert.ok(!r.body.includes('123-45-6789'));
  });

  test('an encoded body the upstream sent anyway, or broken JSON, fails closed with 502', async () => {
    const g = await request(`${gw.url}/r/gzip`);
    assertProblem(g, 502, 'GH_UPSTREAM_ERROR');
    const b = await request(`${gw.url}/r/broken`);
    assertProblem(b, 502, 'GH_UPSTREAM_ERROR');
    assert.ok(!b.body.includes('123-45-6789'));
  });

  test('a body too deeply nested to serialize again fails closed, and the gateway keeps serving', async () => {
    const r = await request(`${gw.url}/r/deep`);
    assertProblem(r, 502, 'GH_UPSTREAM_ERROR');
    assert.deepEqual((await request(`${gw.url}/r/user`)).json, { name: 'Ann', card: { number: '************1234', brand: 'visa' } });
  });
});
