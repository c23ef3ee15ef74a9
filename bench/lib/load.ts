// Load runs: autocannon against a URL for a fixed time; an unmeasured warm-up, then a measured run.
//
// Latency percentiles are taken from our own histogram at microsecond resolution: autocannon's histogram
// counts whole milliseconds, and on loopback p50 sits between 0 and 2 ms, where a 1 ms step would turn
// into a 2x "ratio" that means nothing.
import autocannon from 'autocannon';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { createHistogram } from 'node:perf_hooks';
import type { Scenario } from './targets.js';

/** LoadOptions are the knobs shared by every run. */
export interface LoadOptions {
  connections: number;
  /** Measured seconds. */
  durationS: number;
  /** Unmeasured seconds before, same load (JIT, pools and sockets warm up there). */
  warmupS: number;
}

/** LoadResult is what one measured run produced. */
export interface LoadResult {
  /** Responses completed during the measured run, all statuses. */
  requests: number;
  /** Seconds the measured run took, per autocannon. */
  durationS: number;
  requestsPerSecond: number;
  /** Latency percentiles over every response (any status), milliseconds. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses whose status was not 2xx. */
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  /** Response count per status code. */
  statusCodes: Record<string, number>;
}

/** REQUEST_TIMEOUT_S is autocannon's per-request timeout; a request slower than that counts as an error. */
const REQUEST_TIMEOUT_S = 10;

function autocannonOptions(url: string, scenario: Scenario, headers: Record<string, string>, opts: LoadOptions,
  durationS: number): autocannon.Options {
  const o: autocannon.Options = {
    url: url + scenario.path,
    connections: opts.connections,
    duration: durationS,
    pipelining: 1,
    timeout: REQUEST_TIMEOUT_S,
    method: scenario.method,
    headers: { ...headers },
    // The bench's own certificate is self-signed: trust it for this run only.
    ...(url.startsWith('https:') ? { tlsOptions: { rejectUnauthorized: false } } : {}),
  };
  if (scenario.body !== null) {
    o.body = scenario.body;
    o.headers = { 'content-type': 'application/octet-stream', ...headers };
  }
  return o;
}

/** warmUp sends the scenario's load for `warmupS` and forgets the result: JIT, pools and sockets warm up
 * there, so the measured run starts in the steady state. */
export async function warmUp(url: string, scenario: Scenario, headers: Record<string, string>,
  opts: LoadOptions): Promise<void> {
  if (opts.warmupS <= 0) return;
  if (url.startsWith('h2:')) await measureH2(url, scenario, headers, opts.connections, opts.warmupS);
  else await autocannon(autocannonOptions(url, scenario, headers, opts, opts.warmupS));
}

/** measure sends the scenario's load for `durationS` and returns what it measured. */
export async function measure(url: string, scenario: Scenario, headers: Record<string, string>,
  opts: LoadOptions): Promise<LoadResult> {
  if (url.startsWith('h2:')) return measureH2(url, scenario, headers, opts.connections, opts.durationS);
  // Microseconds, at least 1 (the histogram's lowest trackable value); 3 significant digits.
  const hist = createHistogram();
  const instance = autocannon(autocannonOptions(url, scenario, headers, opts, opts.durationS));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    hist.record(Math.max(1, Math.round(ms * 1000)));
  });
  const r = await instance;

  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = Number(s.count);
  const requests = r.requests.total;
  const count = hist.count;
  return {
    requests,
    durationS: r.duration,
    requestsPerSecond: r.duration > 0 ? requests / r.duration : 0,
    p50Ms: count > 0 ? hist.percentile(50) / 1000 : Number.NaN,
    p90Ms: count > 0 ? hist.percentile(90) / 1000 : Number.NaN,
    p99Ms: count > 0 ? hist.percentile(99) / 1000 : Number.NaN,
    maxMs: count > 0 ? hist.max / 1000 : Number.NaN,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
  };
}

/** preflight sends one request of the scenario on a fresh connection and returns null when the answer is a
 * 2xx with the expected number of body bytes, or what was wrong. Not measured: it only tells a broken
 * target from a slow one before its numbers are read. */
export function preflight(url: string, scenario: Scenario, headers: Record<string, string>): Promise<string | null> {
  return new Promise((resolve) => {
    // The same headers as the load (a target's own content type wins over the default).
    const h: Record<string, string> = scenario.body === null ? { ...headers } : { 'content-type': 'application/octet-stream', ...headers };
    if (scenario.body !== null) {
      h['content-length'] = String(scenario.body.length);
    }
    if (url.startsWith('h2:')) {
      void measureH2(url, scenario, headers, 1, 0).then((r) => resolve(r.non2xx > 0 || r.errors > 0 ? 'a non-2xx answer or an error' : null));
      return;
    }
    const send = url.startsWith('https:') ? httpsRequest : request;
    const req = send(url + scenario.path, { method: scenario.method, headers: h, agent: false, timeout: 5000, rejectUnauthorized: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) resolve(`status ${status}`);
        else if (scenario.responseBytes !== null && bytes !== scenario.responseBytes) resolve(`${bytes} body bytes, expected ${scenario.responseBytes}`);
        else resolve(null);
      });
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (err) => resolve(err.message));
    req.end(scenario.body ?? undefined);
  });
}

/** H2_STREAMS_PER_SESSION: HTTP/2 clients multiplex; `connections` concurrent requests ride on N/10 sessions. */
const H2_STREAMS_PER_SESSION = 10;

/**
 * measureH2 is the HTTP/2 load (autocannon speaks HTTP/1.1 only): `concurrency` requests in flight, spread
 * over sessions of H2_STREAMS_PER_SESSION streams to an `h2://host:port` URL (TLS, the bench's certificate
 * trusted), each stream sending its next request when the previous answer ended. `durationS` 0 sends one request.
 * Node's HTTP/2 client runs in this process and costs more CPU per request than autocannon: compare h2 rows
 * with each other more than with HTTP/1.1 rows.
 */
export async function measureH2(url: string, scenario: Scenario, headers: Record<string, string>, concurrency: number, durationS: number): Promise<LoadResult> {
  const origin = `https:${url.slice(3)}`;
  const sessions: ClientHttp2Session[] = [];
  const nSessions = Math.max(1, Math.ceil(concurrency / H2_STREAMS_PER_SESSION));
  for (let i = 0; i < nSessions; i++) {
    const s = h2connect(origin, { rejectUnauthorized: false });
    s.on('error', () => { /* counted per stream */ });
    sessions.push(s);
  }
  const hist = createHistogram();
  const statusCodes: Record<string, number> = {};
  let requests = 0;
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();
  const until = started + durationS * 1000;
  const h: Record<string, string> = { ':method': scenario.method, ':path': scenario.path, ...headers };
  if (scenario.body !== null) { h['content-type'] ??= 'application/octet-stream'; h['content-length'] = String(scenario.body.length); }
  const one = (s: ClientHttp2Session): Promise<void> => new Promise((resolve) => {
    const t0 = performance.now();
    const req = s.request(h);
    let status = 0;
    req.on('response', (hd) => { status = Number(hd[':status']); });
    req.on('data', () => { /* read and dropped */ });
    req.on('end', () => {
      requests++;
      hist.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status < 200 || status > 299) non2xx++;
      resolve();
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(scenario.body ?? undefined);
  });
  const loop = async (s: ClientHttp2Session): Promise<void> => {
    do { await one(s); } while (performance.now() < until && !s.destroyed);
  };
  const loops: Promise<void>[] = [];
  for (let i = 0; i < Math.max(1, concurrency); i++) loops.push(loop(sessions[i % nSessions]!));
  await Promise.all(loops);
  const elapsed = (performance.now() - started) / 1000;
  for (const s of sessions) s.close();
  const count = hist.count;
  return {
    requests, durationS: elapsed, requestsPerSecond: elapsed > 0 ? requests / elapsed : 0,
    p50Ms: count > 0 ? hist.percentile(50) / 1000 : Number.NaN,
    p90Ms: count > 0 ? hist.percentile(90) / 1000 : Number.NaN,
    p99Ms: count > 0 ? hist.percentile(99) / 1000 : Number.NaN,
    maxMs: count > 0 ? hist.max / 1000 : Number.NaN,
    non2xx, errors, timeouts: 0, statusCodes,
  };
}
