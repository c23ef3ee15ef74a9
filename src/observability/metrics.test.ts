/**
 * Tests of the Prometheus metrics: the real gateway with real upstreams, GatewayMetrics set as the request
 * sink, known requests (200s, an unrouted 404, a request refused before routing, a 429 from a rate limit,
 * retries to a dead target, an ejected target behind an open circuit), and the exact deltas read back from
 * the parsed text exposition. Then cardinality (random paths, a method outside the standard set) and the
 * parts no integration test reaches easily, on hand-made exchanges.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../../test/helpers/gateway.js';
import { startUpstream, freePort, type Upstream } from '../../test/helpers/upstream.js';
import { request, rawRequest, statusOf } from '../../test/helpers/http.js';
import type { Exchange } from '../core/exchange.js';
import type { CompiledRoute } from '../core/route.js';
import type { Runtime } from '../core/runtime.js';
import type { RequestSink } from './types.js';
import { GatewayMetrics } from './metrics.js';
import { DEFAULT_LATENCY_BUCKETS, type MetricsConfig } from './metrics-schema.js';

const CONFIG: MetricsConfig = { enabled: true, prefix: 'gatehouse_', consumerLabel: false, buckets: [...DEFAULT_LATENCY_BUCKETS] };

/** Sample is one line of the text exposition. */
interface Sample { name: string; labels: Record<string, string>; value: number }

/** parse reads the Prometheus text format (the subset prom-client writes: no timestamps). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let consumed = 0;
    for (let l = re.exec(body); l !== null; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
      consumed += l[0].length;
    }
    assert.equal(consumed, body.length, `unparsable labels: ${line}`);
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** value is the sample with exactly these labels, or 0 when the series does not exist (yet). */
function value(samples: readonly Sample[], name: string, labels: Record<string, string | number> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => [k, String(v)] as const);
  for (const s of samples) {
    if (s.name !== name || Object.keys(s.labels).length !== want.length) continue;
    if (want.every(([k, v]) => s.labels[k] === v)) return s.value;
  }
  return 0;
}

/** series lists the samples of one metric. */
function series(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

/** CountingSink forwards to the metrics and counts finished requests, so a test can wait for the last one. */
class CountingSink implements RequestSink {
  ended = 0;
  constructor(readonly inner: RequestSink) {}
  onEnd(ex: Exchange): void {
    this.ended++;
    this.inner.onEnd(ex);
  }

  /** until waits (bounded) until `n` requests have finished: onEnd runs on the response's 'close', after the client may have read it. */
  async until(n: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.ended < n) {
      if (Date.now() > deadline) assert.fail(`only ${this.ended} of ${n} requests reached the sink`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** attach puts fresh metrics on the gateway's current runtime (the lead wires config and admin later). */
function attach(gw: TestGateway, config: MetricsConfig = CONFIG): { metrics: GatewayMetrics; sink: CountingSink } {
  const metrics = new GatewayMetrics(config, () => gw.gateway.runtime, () => gw.counters.store.health);
  const sink = new CountingSink(metrics);
  gw.gateway.runtime.sink = sink;
  return { metrics, sink };
}

async function scrape(m: GatewayMetrics): Promise<Sample[]> {
  return parse(await m.metricsText());
}

const G = 'gatehouse_';
/** A fixed wall clock, so the rate-limit window cannot roll over in the middle of a test. */
const WALL_CLOCK = Date.UTC(2026, 10, 22, 10, 0, 0);

describe('metrics through the real gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let dead: number;
  let dead2: number;

  before(async () => {
    up = await startUpstream('api');
    dead = await freePort();
    dead2 = await freePort();
    gw = await startTestGateway(`log: { access: { enabled: false } }
services:
  api: { targets: ["${up.url}"], circuitBreaker: { failures: 5 } }
  dead:
    targets: ["http://127.0.0.1:${dead}"]
    retries: { attempts: 2, budget: 1 }
    passiveHealth: { failures: 1000 }
  fragile:
    targets: ["http://127.0.0.1:${dead2}"]
    retries: 0
    passiveHealth: { failures: 1, cooldown: 10m, maxCooldown: 10m }
    circuitBreaker: { failures: 1, cooldown: 10m }
routes:
  - { name: api, match: { path: /api/* }, service: api }
  - { name: limited, match: { path: /limited/* }, service: api, rate-limit: { limit: 2, per: 1h, by: route } }
  - { name: broken, match: { path: /broken/* }, service: dead }
  - { name: fragile, match: { path: /fragile/* }, service: fragile }
`, { wallClock: () => WALL_CLOCK });
  });

  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('known requests give exact deltas in every request metric', async () => {
    const { metrics, sink } = attach(gw);
    const t0 = await scrape(metrics);
    let sent = 0;
    let apiBytes = 0;
    let unroutedBytes = 0;

    for (let i = 0; i < 3; i++) {
      const r = await request(`${gw.url}/api/item/${i}`);
      assert.equal(r.status, 200);
      apiBytes += Buffer.byteLength(r.body);
      sent++;
    }
    const post = await request(`${gw.url}/api/upload`, { method: 'POST', body: 'x'.repeat(100), headers: { 'content-type': 'text/plain' } });
    assert.equal(post.status, 200);
    apiBytes += Buffer.byteLength(post.body);
    sent++;

    for (let i = 0; i < 2; i++) {
      const r = await request(`${gw.url}/nowhere/${i}`);
      assert.equal(r.status, 404);
      unroutedBytes += Buffer.byteLength(r.body);
      sent++;
    }
    // Refused before routing (an encoded slash), reported with no route.
    const raw = await rawRequest(gw.port, 'GET /api/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(statusOf(raw), 400);
    unroutedBytes += Buffer.byteLength(raw.slice(raw.indexOf('\r\n\r\n') + 4), 'latin1');
    sent++;

    const limited = [];
    for (let i = 0; i < 3; i++) { limited.push((await request(`${gw.url}/limited/x`)).status); sent++; }
    assert.deepEqual(limited, [200, 200, 429]);

    for (let i = 0; i < 2; i++) {
      const r = await request(`${gw.url}/broken/x`);
      assert.equal(r.status, 502);
      sent++;
    }
    assert.equal((await request(`${gw.url}/fragile/x`)).status, 502);
    sent++;

    await sink.until(sent);
    const t1 = await scrape(metrics);
    const d = (name: string, labels: Record<string, string | number> = {}): number => value(t1, G + name, labels) - value(t0, G + name, labels);

    const req = (route: string, service: string, method: string, cls: string) => d('requests_total', { route, service, method, status_class: cls });
    assert.equal(req('api', 'api', 'GET', '2xx'), 3);
    assert.equal(req('api', 'api', 'POST', '2xx'), 1);
    assert.equal(req('-', '-', 'GET', '4xx'), 3, 'two 404s and one request refused before routing');
    assert.equal(req('limited', 'api', 'GET', '2xx'), 2);
    assert.equal(req('limited', 'api', 'GET', '4xx'), 1);
    assert.equal(req('broken', 'dead', 'GET', '5xx'), 2);
    assert.equal(req('fragile', 'fragile', 'GET', '5xx'), 1);
    const total = series(t1, G + 'requests_total').reduce((a, s) => a + s.value, 0) - series(t0, G + 'requests_total').reduce((a, s) => a + s.value, 0);
    assert.equal(total, sent, 'every request is counted once');

    assert.equal(d('request_duration_seconds_count', { route: 'api', service: 'api' }), 4);
    assert.equal(d('request_duration_seconds_count', { route: '-', service: '-' }), 3);
    assert.equal(d('request_duration_seconds_count', { route: 'broken', service: 'dead' }), 2);
    assert.equal(d('request_duration_seconds_bucket', { route: 'api', service: 'api', le: '+Inf' }), 4);
    assert.ok(d('request_duration_seconds_sum', { route: 'api', service: 'api' }) > 0);
    // Upstream latency: six responses from `api` (four on route api, two allowed on limited); none from a
    // target that never answered.
    assert.equal(d('upstream_duration_seconds_count', { service: 'api' }), 6);
    assert.equal(d('upstream_duration_seconds_count', { service: 'dead' }), 0);
    assert.equal(d('upstream_duration_seconds_count', { service: 'fragile' }), 0);

    assert.equal(d('request_bytes_total', { route: 'api' }), 100);
    assert.equal(d('response_bytes_total', { route: 'api' }), apiBytes);
    assert.equal(d('response_bytes_total', { route: '-' }), unroutedBytes, 'gateway answers are measured from their Content-Length');

    // Two requests x (1 + 2 retries) on the single dead target; `retries: 0` makes none.
    assert.equal(d('upstream_retries_total', { service: 'dead' }), 4);
    assert.equal(d('upstream_retries_total', { service: 'fragile' }), 0);
    assert.equal(d('upstream_retries_total', { service: 'api' }), 0);

    assert.equal(d('rate_limit_rejections_total', { route: 'limited', kind: 'rate' }), 1);
    assert.equal(series(t1, G + 'rate_limit_rejections_total').length, 1, 'routes without limits have no rejection series');
    assert.equal(series(t1, G + 'cache_requests_total').length, 0, 'no route has a cache');

    // Gauges are read at scrape time from the live runtime.
    assert.equal(value(t1, G + 'upstream_target_healthy', { service: 'api', target: up.url }), 1);
    assert.equal(value(t1, G + 'upstream_target_healthy', { service: 'dead', target: `http://127.0.0.1:${dead}` }), 1);
    assert.equal(value(t1, G + 'upstream_target_healthy', { service: 'fragile', target: `http://127.0.0.1:${dead2}` }), 0, 'ejected after one failure');
    assert.equal(series(t1, G + 'upstream_target_healthy').length, 3);
    assert.equal(value(t1, G + 'circuit_state', { service: 'api' }), 0);
    assert.equal(value(t1, G + 'circuit_state', { service: 'fragile' }), 2, 'open after one failure');
    assert.equal(series(t1, G + 'circuit_state').length, 2, 'services without a breaker have no circuit_state');
    assert.equal(value(t1, G + 'store_up'), 1);
    assert.equal(value(t1, G + 'websocket_connections'), 0);
    assert.ok(value(t1, 'process_cpu_user_seconds_total') > 0, 'process metrics are collected');
    assert.ok(series(t1, 'nodejs_heap_size_used_bytes').length === 1);
  });

  test('histogram buckets are cumulative and end in +Inf = count', async () => {
    const { metrics, sink } = attach(gw);
    for (let i = 0; i < 5; i++) assert.equal((await request(`${gw.url}/api/h`)).status, 200);
    await sink.until(5);
    const s = await scrape(metrics);
    for (const [name, labels] of [['request_duration_seconds', { route: 'api', service: 'api' }], ['upstream_duration_seconds', { service: 'api' }]] as const) {
      const buckets = series(s, G + name + '_bucket').filter((b) => Object.entries(labels).every(([k, v]) => b.labels[k] === v));
      assert.deepEqual(buckets.map((b) => b.labels.le), [...DEFAULT_LATENCY_BUCKETS.map(String), '+Inf']);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name} buckets are cumulative`);
      assert.equal(buckets.at(-1)!.value, 5);
      assert.equal(value(s, G + name + '_count', labels), 5);
    }
  });

  test('50 random paths on a prefix route make one series; a method outside the standard set is OTHER', async () => {
    const { metrics, sink } = attach(gw);
    const paths: string[] = [];
    for (let i = 0; i < 50; i++) paths.push(`/api/${Math.random().toString(36).slice(2)}/${i}`);
    for (let i = 0; i < 50; i += 10) {
      const replies = await Promise.all(paths.slice(i, i + 10).map((p) => request(gw.url + p)));
      for (const r of replies) assert.equal(r.status, 200);
    }
    // PROPFIND is a method Node's parser accepts (so it reaches the gateway) and clients can choose freely.
    assert.equal((await request(`${gw.url}/api/dav`, { method: 'PROPFIND' })).status, 200);
    await sink.until(51);
    const text = await metrics.metricsText();
    const s = parse(text);
    const apiSeries = series(s, G + 'requests_total').filter((x) => x.labels.route === 'api');
    assert.deepEqual(apiSeries.map((x) => [x.labels.method, x.labels.status_class, x.value]), [['GET', '2xx', 50], ['OTHER', '2xx', 1]]);
    assert.deepEqual(series(s, G + 'request_duration_seconds_count').map((x) => [x.labels.route, x.value]), [['-', 0], ['api', 51]]);
    for (const p of paths) assert.ok(!text.includes(p.split('/')[2]!), 'no path reaches a label');
    assert.ok(!text.includes('PROPFIND'));
    for (const x of series(s, G + 'requests_total')) assert.ok(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'OTHER'].includes(x.labels.method!));
  });

  test('series survive a reload: the new generation\'s routes count into the same series', async () => {
    const { metrics, sink } = attach(gw);
    assert.equal((await request(`${gw.url}/api/before`)).status, 200);
    await sink.until(1);
    const file = (await import('node:fs')).readFileSync(gw.file, 'utf8');
    gw.writeConfig(file.replace('cooldown: 10m }', 'cooldown: 9m }'));
    assert.equal(await gw.reload(), true);
    metrics.onReload(true);
    // The lead's wiring sets the sink on every generation; here the test does it for the new one.
    gw.gateway.runtime.sink = sink;
    assert.equal((await request(`${gw.url}/api/after`)).status, 200);
    await sink.until(2);
    const s = await scrape(metrics);
    assert.deepEqual(series(s, G + 'requests_total').map((x) => [x.labels.route, x.value]), [['api', 2]]);
    assert.equal(value(s, G + 'config_reloads_total', { outcome: 'applied' }), 1);
    assert.equal(value(s, G + 'config_reloads_total', { outcome: 'refused' }), 0);
  });
});

/** fake builds the fields of an Exchange that the metrics read. */
function fake(over: Partial<Record<keyof Exchange, unknown>> & { method?: string }): Exchange {
  const { method, ...rest } = over;
  return {
    route: null, req: { method: method ?? 'GET', complete: true }, res: {}, status: 200, errorCode: null, start: performance.now(),
    upstreamStart: 0, upstreamMs: -1, attempts: 0, bytesOut: 0, bodyLength: 0, body: null, replied: false,
    limitOutcome: null, cacheOutcome: null, identity: null, target: null,
    ...rest,
  } as unknown as Exchange;
}

function route(name: string, service: string | null): CompiledRoute {
  return { name, service: service === null ? null : { name: service } } as unknown as CompiledRoute;
}

const NO_RUNTIME = (): Runtime => ({ services: new Map() }) as unknown as Runtime;

describe('GatewayMetrics on hand-made exchanges', () => {
  test('consumer label, cache outcomes, limit kinds, status none, HEAD answers and gauges', async () => {
    const m = new GatewayMetrics({ ...CONFIG, consumerLabel: true }, NO_RUNTIME);
    const r = route('orders', 'shop');
    m.onEnd(fake({ route: r, identity: { consumer: { id: 'acme' } } }));
    m.onEnd(fake({ route: r, identity: { consumer: { id: 'acme' } } }));
    m.onEnd(fake({ route: r, identity: { consumer: null, subject: 'someone' } }));
    m.onEnd(fake({ route: r, status: 0 }));
    m.onEnd(fake({ route: r, cacheOutcome: 'hit' }));
    m.onEnd(fake({ route: r, cacheOutcome: 'something-new' }));
    m.onEnd(fake({ route: r, status: 429, limitOutcome: 'quota-exceeded' }));
    m.onEnd(fake({ route: r, status: 503, limitOutcome: 'store-down-closed' }));
    m.onEnd(fake({ route: r, limitOutcome: 'store-down-open' }));
    m.onEnd(fake({ route: r, limitOutcome: 'allowed' }));
    // A gateway answer to HEAD sends no body, whatever Content-Length it declares.
    m.onEnd(fake({ route: null, method: 'HEAD', status: 404, replied: true, res: { _contentLength: 200 } }));
    m.onEnd(fake({ route: null, status: 404, replied: true, res: { _contentLength: 200 } }));
    // A declared body that never arrived whole (refused with 413) is not counted; a buffered one is.
    m.onEnd(fake({ route: r, method: 'POST', status: 413, replied: true, bodyLength: 10_000_000, req: { method: 'POST', complete: false } }));
    m.onEnd(fake({ route: r, method: 'POST', body: Buffer.alloc(7) }));
    m.websocketOpened(); m.websocketOpened(); m.websocketClosed();
    m.onReload(false);

    const s = await scrape(m);
    const rq = (labels: Record<string, string>) => value(s, G + 'requests_total', { route: 'orders', service: 'shop', method: 'GET', status_class: '2xx', ...labels });
    assert.equal(rq({ consumer: 'acme' }), 2);
    assert.equal(rq({ consumer: '-' }), 5, 'anonymous, authenticated without a consumer, two cached, two allowed limits');
    assert.equal(rq({ consumer: '-', status_class: 'none' }), 1);
    assert.equal(value(s, G + 'cache_requests_total', { route: 'orders', outcome: 'hit' }), 1);
    assert.equal(value(s, G + 'cache_requests_total', { route: 'orders', outcome: 'other' }), 1);
    assert.equal(value(s, G + 'rate_limit_rejections_total', { route: 'orders', kind: 'quota' }), 1);
    assert.equal(value(s, G + 'rate_limit_rejections_total', { route: 'orders', kind: 'store' }), 1);
    assert.equal(series(s, G + 'rate_limit_rejections_total').length, 2);
    assert.equal(value(s, G + 'response_bytes_total', { route: '-' }), 200);
    assert.equal(value(s, G + 'request_bytes_total', { route: 'orders' }), 7);
    assert.equal(value(s, G + 'websocket_connections'), 1);
    assert.equal(value(s, G + 'config_reloads_total', { outcome: 'refused' }), 1);
    assert.equal(series(s, G + 'store_up').length, 0, 'no store getter, no store_up');
  });

  test('a new generation of a route (same name) shares its series; prefix and buckets apply', async () => {
    const m = new GatewayMetrics({ ...CONFIG, prefix: 'edge_', buckets: [1, 0.1] }, NO_RUNTIME);
    m.onEnd(fake({ route: route('a', 's'), upstreamMs: 50, attempts: 3 }));
    m.onEnd(fake({ route: route('a', 's'), upstreamMs: 500, attempts: 1 }));
    const s = await scrape(m);
    assert.equal(value(s, 'edge_requests_total', { route: 'a', service: 's', method: 'GET', status_class: '2xx' }), 2);
    assert.equal(series(s, 'edge_requests_total').length, 1);
    assert.deepEqual(series(s, 'edge_upstream_duration_seconds_bucket').map((b) => [b.labels.le, b.value]), [['0.1', 1], ['1', 2], ['+Inf', 2]]);
    assert.equal(value(s, 'edge_upstream_duration_seconds_sum', { service: 's' }), 0.55);
    assert.equal(value(s, 'edge_upstream_retries_total', { service: 's' }), 2);
    assert.equal(series(s, 'gatehouse_requests_total').length, 0);
    assert.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  });

  test('never throws: a broken exchange and a failing runtime getter', async () => {
    const m = new GatewayMetrics(CONFIG, () => { throw new Error('no runtime'); }, () => { throw new Error('no store'); });
    assert.doesNotThrow(() => m.onEnd({} as Exchange));
    assert.doesNotThrow(() => m.onEnd(fake({ route: { name: 'x' } as unknown as CompiledRoute, req: null })));
    const s = await scrape(m);
    assert.equal(series(s, G + 'upstream_target_healthy').length, 0);
    assert.equal(value(s, G + 'store_up'), 0);
  });

  test('registries are separate: two instances do not share series', async () => {
    const a = new GatewayMetrics(CONFIG, NO_RUNTIME);
    const b = new GatewayMetrics(CONFIG, NO_RUNTIME);
    a.onEnd(fake({ route: route('r', null) }));
    assert.equal(value(await scrape(a), G + 'requests_total', { route: 'r', service: '-', method: 'GET', status_class: '2xx' }), 1);
    assert.equal(series(await scrape(b), G + 'requests_total').length, 0);
  });
});
