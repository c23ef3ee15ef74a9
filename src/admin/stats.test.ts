/**
 * StatsSink on a pinned clock: counts, errors (5xx and gateway errors, not 4xx refusals), rates over the last
 * 5 s, percentiles within a bucket's span, the 60 s series sliding and wrapping, and routes listed from the
 * config, fading out after a reload removed them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange } from '../core/exchange.js';
import { StatsSink, bucketOf } from './stats.js';

/** A finished request as the sink sees it, `ms` milliseconds long. */
function ex(route: string | null, status: number, ms: number, errorCode: string | null = null): Exchange {
  return { route: route === null ? null : { name: route }, status, errorCode, start: performance.now() - ms } as unknown as Exchange;
}

test('counts requests and errors per route, per second, with rates over the last 5 s', () => {
  let now = 1_700_000_000_000;
  const sink = new StatsSink({ now: () => now });
  for (let i = 0; i < 10; i++) sink.onEnd(ex('orders', 200, 5));
  sink.onEnd(ex('orders', 502, 5, 'GH_UPSTREAM_UNAVAILABLE'));
  sink.onEnd(ex('orders', 429, 1, 'GH_RATE_LIMITED'));
  sink.onEnd(ex('orders', 200, 5, 'GH_UPSTREAM_RESET'));
  sink.onEnd(ex(null, 404, 1, 'GH_ROUTE_NOT_FOUND'));
  now += 1000;
  for (let i = 0; i < 7; i++) sink.onEnd(ex('users', 200, 2));
  now += 500;
  const s = sink.snapshot();
  assert.equal(s.windowS, 60);
  assert.equal(s.at, now);
  assert.deepEqual(s.routes.map((r) => r.route), ['orders', 'users']);
  const orders = s.routes[0]!;
  assert.equal(orders.total, 13);
  assert.equal(orders.series.length, 60);
  assert.deepEqual(orders.series.slice(-2).map((p) => [p.requests, p.errors]), [[13, 2], [0, 0]]);
  assert.equal(orders.series[59]!.t, Math.floor(now / 1000));
  // 13 requests over 4.5 s (four whole seconds and half of this one).
  assert.equal(orders.rps, Math.round((13 / 4.5) * 100) / 100);
  assert.equal(orders.errorRate, Math.round((2 / 13) * 10_000) / 10_000);
  const users = s.routes[1]!;
  assert.equal(users.total, 7);
  assert.equal(users.errorRate, 0);
});

test('percentiles fall within the span of the bucket of the true value', () => {
  const now = 1_700_000_000_000;
  const sink = new StatsSink({ now: () => now });
  for (let i = 0; i < 98; i++) sink.onEnd(ex('api', 200, 10));
  for (let i = 0; i < 2; i++) sink.onEnd(ex('api', 200, 800));
  const r = sink.snapshot().routes[0]!;
  assert.ok(r.p50Ms > 10 / Math.SQRT2 && r.p50Ms <= 10 * Math.SQRT2, `p50 ${r.p50Ms}`);
  assert.ok(r.p99Ms > 800 / Math.SQRT2 && r.p99Ms <= 800 * Math.SQRT2, `p99 ${r.p99Ms}`);
  assert.ok(r.series[59]!.p99Ms >= r.p50Ms);
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(-1), 0);
  assert.equal(bucketOf(Number.NaN), 0);
  assert.equal(bucketOf(1e9), 39);
});

test('the series slides: old seconds leave the rate, then the window, and reused slots start from zero', () => {
  let now = 1_700_000_000_000;
  const sink = new StatsSink({ now: () => now });
  sink.onEnd(ex('api', 200, 1));
  now += 6000;
  let r = sink.snapshot().routes[0]!;
  assert.equal(r.rps, 0);
  assert.equal(r.p50Ms, 0);
  assert.equal(r.series.reduce((n, p) => n + p.requests, 0), 1);
  assert.equal(r.series[53]!.requests, 1);
  // 60 s later the same slot is reused for a new second: it must not add the old count.
  now += 54_000;
  sink.onEnd(ex('api', 500, 1));
  r = sink.snapshot().routes[0]!;
  assert.equal(r.series.reduce((n, p) => n + p.requests, 0), 1);
  assert.equal(r.series[59]!.errors, 1);
  assert.equal(r.total, 2);
});

test('routes of the config are listed in order, even idle; removed ones fade out after a minute', () => {
  let now = 1_700_000_000_000;
  let names = ['a', 'b', 'c'];
  const sink = new StatsSink({ now: () => now, routeNames: () => names });
  sink.onEnd(ex('c', 200, 1));
  sink.onEnd(ex('old', 200, 1));
  assert.deepEqual(sink.snapshot().routes.map((r) => [r.route, r.total]), [['a', 0], ['b', 0], ['c', 1], ['old', 1]]);
  names = ['b', 'c'];
  now += 61_000;
  assert.deepEqual(sink.snapshot().routes.map((r) => r.route), ['b', 'c']);
  // Forgotten, not just hidden: a new request starts it from zero.
  sink.onEnd(ex('old', 200, 1));
  assert.equal(sink.snapshot().routes.find((r) => r.route === 'old')!.total, 1);
});
