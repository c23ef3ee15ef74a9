// What the benchmark runs: the scenarios (one kind of request each) and the targets (what the load is sent
// to). Every target runs every scenario. To benchmark a feature, add one gatehouse target below with the
// config snippet that turns it on (see the commented example); the table then shows its cost against the
// yardstick and against direct.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { hashApiKey, newApiKey } from '../../src/identity/api-key/key-format.js';

/** Scenario is one kind of request, sent by every connection in a loop for the measured duration. */
export interface Scenario {
  name: string;
  method: 'GET' | 'POST';
  /** Path on the upstream (bench/upstream.ts); targets are expected to forward it unchanged. */
  path: string;
  /** Request body sent with every request, or null. */
  body: Buffer | null;
  /** Bytes the upstream answers with, checked once before the load starts; null when a target may change the body (redaction). */
  responseBytes: number | null;
}

/** SCENARIOS are run in this order against every target. */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'get-64b', method: 'GET', path: '/64b', body: null, responseBytes: 64 },
  { name: 'get-64k', method: 'GET', path: '/64k', body: null, responseBytes: 64 * 1024 },
  { name: 'post-4k', method: 'POST', path: '/post', body: Buffer.alloc(4096, 'c'), responseBytes: 64 },
  // A 1 KB JSON body in, about 1 KB of JSON out: what validation and redaction work on.
  // 64 bytes of JSON: what an aggregation of two backends merges (compared with the plain route on the same request).
  { name: 'get-json', method: 'GET', path: '/json64', body: null, responseBytes: null },
  { name: 'post-json-1k', method: 'POST', path: '/json', body: Buffer.from(JSON.stringify({ name: 'Ada Lovelace', email: 'ada@example.com', tags: Array.from({ length: 40 }, (_, i) => `tag-${i}`), note: 'n'.repeat(400) })), responseBytes: null },
];

/** TargetKind says how a target is started: `direct` is the upstream itself (no process of its own),
 * `yardstick` is bench/yardstick-proxy.ts, `gatehouse` is `bin/gatehouse.js start -c <generated config>`. */
export type TargetKind = 'direct' | 'yardstick' | 'gatehouse';

/** Target is one thing the load is sent to. */
export interface Target {
  name: string;
  kind: TargetKind;
  /** One line for the report. */
  description: string;
  /** For `gatehouse`: the whole YAML config, given the upstream's origin (`http://127.0.0.1:<port>`). */
  config: ((upstream: string) => string) | null;
  /** Extra request headers the load generator sends to this target (an API key, a tenant id, ...). */
  headers: Record<string, string>;
  /** Scenario names this target runs; all of them when absent. */
  scenarios?: readonly string[];
  /** `h2`: the load speaks HTTP/2 (see GatehouseVariant.protocol). */
  protocol?: 'h2';
}

/** GatehouseVariant is what a gatehouse target adds to the plain one-route config. */
export interface GatehouseVariant {
  description: string;
  /** YAML lines added to the benchmarked route, at route level (e.g. `rate-limit: { ... }`). */
  route?: string;
  /** The `listen:` line, replacing the plain one; `{CERT}` and `{KEY}` become the run's certificate files. */
  listen?: string;
  /** How the load reaches the target: `h2` for HTTP/2 (the harness's own client); default HTTP/1.1 (autocannon). */
  protocol?: 'h2';
  /** YAML lines that replace the route's `service: plain` (another backend: `aggregate:`, `function:`). */
  backend?: string;
  /** YAML lines added at the top level of the config (e.g. a `stores:` section). */
  top?: string;
  /** Extra request headers the load generator sends. */
  headers?: Record<string, string>;
  /** Scenario names this target runs; all when absent. */
  scenarios?: readonly string[];
}

/** gatehouseConfig renders the benchmark's config: one service with the upstream as its only target and
 * one route matching every path, plus the variant's snippets. */
export function gatehouseConfig(upstream: string, routeName: string, variant: GatehouseVariant): string {
  const lines = [
    variant.listen === undefined ? 'listen: { host: 127.0.0.1, port: 0 }' : variant.listen.replaceAll('{CERT}', BENCH_CERT.cert).replaceAll('{KEY}', BENCH_CERT.key),
    'services:',
    `  plain: { targets: [ "${upstream}" ] }`,
    'routes:',
    `  - name: ${routeName}`,
    '    match: { path: /* }',
    variant.backend === undefined ? '    service: plain' : indent(variant.backend.replaceAll('{UPSTREAM}', upstream), '    '),
  ];
  if (variant.route !== undefined) lines.push(indent(variant.route, '    '));
  if (variant.top !== undefined) lines.push(variant.top.trimEnd().replaceAll('{UPSTREAM}', upstream));
  // Access lines on the bench's stdout pipe would measure the pipe: targets log only where they say so.
  if (variant.top === undefined || !/^log:/m.test(variant.top)) lines.push('log: { access: { enabled: false } }');
  return `${lines.join('\n')}\n`;
}

function indent(text: string, prefix: string): string {
  return text.trimEnd().split('\n').map((l) => (l.length > 0 ? prefix + l : l)).join('\n');
}

/** gatehouse declares a gatehouse target; its route is named after it (`plain` for `gatehouse`). */
function gatehouse(name: string, variant: GatehouseVariant): Target {
  const routeName = name === 'gatehouse' ? 'plain' : name;
  return {
    name,
    kind: 'gatehouse',
    description: variant.description,
    config: (upstream) => gatehouseConfig(upstream, routeName, variant),
    headers: variant.headers ?? {},
    ...(variant.scenarios ? { scenarios: variant.scenarios } : {}),
    ...(variant.protocol ? { protocol: variant.protocol } : {}),
  };
}

/** BENCH_CERT holds the run's self-signed certificate files, made by run.ts before a TLS target starts. */
export const BENCH_CERT = { cert: '', key: '' };

/** The function target's handler: bench/functions/ in the source tree (this file runs from dist/bench/lib/). */
const BENCH_FUNCTION = fileURLToPath(new URL('../../../bench/functions/hello-64b.mjs', import.meta.url));

// Credentials for the identity targets, made once per run: an API key with its hash, and RS256/ES256 key
// pairs with one long-lived token each (keys cached by the gateway, as in production).
const BENCH_KEY = newApiKey();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ISSUER = 'https://bench.gatehouse.invalid/';
async function token(alg: string, key: KeyObject): Promise<string> {
  return new SignJWT({ scope: 'bench' }).setProtectedHeader({ alg }).setIssuer(ISSUER).setAudience('bench')
    .setSubject('bench-client').setIssuedAt().setExpirationTime('1d').sign(key);
}
const RS256_TOKEN = await token('RS256', rsa.privateKey);
const ES256_TOKEN = await token('ES256', ec.privateKey);
const pem = (k: KeyObject): string => (k.export({ type: 'spki', format: 'pem' }) as string).trim().split('\n').map((l) => `          ${l}`).join('\n');

const IDENTITY_TOP = `limits: { requestsPerConnection: 0 }
consumers:
  bench:
    groups: [bench]
    keys: [${hashApiKey(BENCH_KEY)}]
    jwt: { subject: bench-client }
auth:
  key: { apiKey: {} }
  jwt-rs:
    jwt:
      issuer: ${ISSUER}
      audience: bench
      algorithms: [RS256]
      publicKey: |
${pem(rsa.publicKey)}
  jwt-es:
    jwt:
      issuer: ${ISSUER}
      audience: bench
      algorithms: [ES256]
      publicKey: |
${pem(ec.publicKey)}`;

const CHAIN_ROUTE = `auth: [key]
allow: { groups: [bench] }
validate:
  body:
    type: object
    required: [name, email]
    properties:
      name: { type: string, maxLength: 200 }
      email: { type: string, format: email }
      tags: { type: array, items: { type: string }, maxItems: 100 }
      note: { type: string, maxLength: 2000 }
    additionalProperties: false
redact: [ $.ssn, { path: $.card.number, keep: 4 }, "$.orders[*].card" ]`;

/** TARGETS are run in this order. Gatehouse targets are compared with the `yardstick` and `direct` rows
 * of the same scenario, so keep those two in the list. */
export const TARGETS: readonly Target[] = [
  { name: 'direct', kind: 'direct', description: 'clients hit the upstream itself', config: null, headers: {} },
  { name: 'yardstick', kind: 'yardstick', description: 'minimal node:http + undici Pool proxy', config: null, headers: {} },
  // Like for like with the yardstick, which never closes a client connection: autocannon ignores
  // `Connection: close` (it writes the next request at once and loses it when the server closes), so the
  // default limit of 1000 requests a connection shows up as a p99 artifact no real client sees. The second
  // row keeps the cost of the default limits visible.
  gatehouse('gatehouse', { description: 'one plain route, no features (requestsPerConnection: 0)', top: 'limits: { requestsPerConnection: 0 }' }),
  gatehouse('gh-defaults', { description: 'one plain route, every default limit (1000 requests a connection)', scenarios: ['get-64b', 'get-64k', 'post-4k'] }),
  // Identity and access (issue 3): each compared with the plain route above.
  gatehouse('gh-apikey', {
    description: 'API key (SHA-256 + map lookup)',
    top: IDENTITY_TOP,
    route: 'auth: [key]',
    headers: { 'x-api-key': BENCH_KEY },
    scenarios: ['get-64b', 'post-4k'],
  }),
  gatehouse('gh-jwt-rs256', {
    description: 'JWT RS256, PEM key',
    top: IDENTITY_TOP,
    route: 'auth: [jwt-rs]',
    headers: { authorization: `Bearer ${RS256_TOKEN}` },
    scenarios: ['get-64b', 'post-4k'],
  }),
  gatehouse('gh-jwt-es256', {
    description: 'JWT ES256, PEM key',
    top: IDENTITY_TOP,
    route: 'auth: [jwt-es]',
    headers: { authorization: `Bearer ${ES256_TOKEN}` },
    scenarios: ['get-64b', 'post-4k'],
  }),
  gatehouse('gh-chain', {
    description: 'API key + allow + validation + redaction on 1 KB JSON',
    top: IDENTITY_TOP,
    route: CHAIN_ROUTE,
    headers: { 'x-api-key': BENCH_KEY, 'content-type': 'application/json' },
    scenarios: ['post-json-1k'],
  }),
  // Rate limits (issue 4): a limit never reached, so every request pays the check and the headers.
  gatehouse('gh-rl-memory', {
    description: 'rate limit, memory store (sliding window by IP)',
    top: 'limits: { requestsPerConnection: 0 }',
    route: 'rate-limit: { limit: 1000000000, per: 1h, by: ip }',
    scenarios: ['get-64b'],
  }),
  gatehouse('gh-rl-redis', {
    description: 'rate limit, Redis store (one Lua call per request)',
    top: `limits: { requestsPerConnection: 0 }\nstore: { redis: { url: "\${REDIS_URL:-redis://127.0.0.1:6379}", keyPrefix: "gatehouse-bench:" } }`,
    route: 'rate-limit: { limit: 1000000000, per: 1h, by: ip }',
    scenarios: ['get-64b'],
  }),
  // Observability (issue 7): an access line per request to a file, and metrics on the admin listener.
  gatehouse('gh-observe', {
    description: 'access log to a file + Prometheus metrics',
    top: `limits: { requestsPerConnection: 0 }\nadmin: { port: 0 }\nlog: { access: { file: "\${TMPDIR:-/tmp}/gatehouse-bench-access.log" } }`,
    scenarios: ['get-64b'],
  }),
  gatehouse('gh-trace', {
    description: 'OpenTelemetry tracing, every request sampled, OTLP to a local sink',
    top: `limits: { requestsPerConnection: 0 }\ntracing: { enabled: true, endpoint: "{UPSTREAM}/v1/traces" }`,
    scenarios: ['get-64b'],
  }),
  gatehouse('gh-trace-10', {
    description: 'OpenTelemetry tracing, 10% of new traces sampled (a production setting)',
    top: `limits: { requestsPerConnection: 0 }\ntracing: { enabled: true, endpoint: "{UPSTREAM}/v1/traces", sampleRatio: 0.1 }`,
    scenarios: ['get-64b'],
  }),
  // Protocols (issue 6): the plain route over HTTPS/1.1 and over HTTP/2, against the plain HTTP row.
  gatehouse('gh-https', {
    description: 'the plain route over HTTPS (HTTP/1.1, TLS 1.3, keep-alive)',
    listen: 'listen: { host: 127.0.0.1, port: 0, tls: { cert: "{CERT}", key: "{KEY}" }, http2: false }',
    top: 'limits: { requestsPerConnection: 0 }',
    scenarios: ['get-64b', 'get-64k'],
  }),
  gatehouse('gh-h2', {
    description: 'the plain route over HTTP/2 (TLS; 10 streams a session; the harness\'s own h2 client)',
    listen: 'listen: { host: 127.0.0.1, port: 0, tls: { cert: "{CERT}", key: "{KEY}" } }',
    top: 'limits: { requestsPerConnection: 0 }',
    protocol: 'h2',
    scenarios: ['get-64b', 'get-64k'],
  }),
  // Composition (issue 5): each compared with the plain route on the same request.
  gatehouse('gh-aggregate', {
    description: 'aggregation: two backends in parallel, merged under keys',
    top: 'limits: { requestsPerConnection: 0 }',
    backend: 'aggregate:\n  backends:\n    a: { service: plain, path: /json64 }\n    b: { service: plain, path: /json64 }',
    scenarios: ['get-json'],
  }),
  gatehouse('gh-cache-hit', {
    description: 'response cache, memory store, every request a hit',
    top: 'limits: { requestsPerConnection: 0 }',
    route: 'cache: { ttl: 1h }',
    scenarios: ['get-64b', 'get-64k'],
  }),
  gatehouse('gh-function', {
    description: 'function backend: a Lambda-style handler in a worker thread (2 workers)',
    top: 'limits: { requestsPerConnection: 0 }',
    backend: `function: ${JSON.stringify(BENCH_FUNCTION)}`,
    scenarios: ['get-64b'],
  }),
  // A feature's cost is one entry (snippets follow docs/config-reference.md), e.g.:
  // gatehouse('gh-deprecation', {
  //   description: 'plain route + deprecation headers',
  //   route: 'deprecation: { sunset: 2030-01-01, link: https://example.com/migrate }',
  // }),
  // and for a feature the client must satisfy, the headers it sends:
  //   headers: { 'x-api-key': 'bench-key' },
];

/** WS_TARGET is the gateway of the WebSocket part of the run: one route with `websocket:` to the upstream's echo. */
export const WS_TARGET: Target = gatehouse('gh-websocket', {
  description: 'WebSocket tunnel to the upstream\'s echo',
  top: 'limits: { requestsPerConnection: 0 }',
  route: 'websocket: { messagesPerSecond: 0, maxConnectionsPerConsumer: 0 }',
});
