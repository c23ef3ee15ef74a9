// The benchmark's upstream: a node:http server that answers as cheaply as Node can, so that the numbers of
// the targets in front of it measure the proxies, not this server. bench/run.ts starts it in its own process;
// it prints `upstream listening on http://127.0.0.1:<port>` on stdout once it accepts connections.
//
//   GET  /64b   200, 64 bytes
//   GET  /64k   200, 64 KiB (one preallocated Buffer, written in one call)
//   POST /post  reads and discards the request body, then 200, 64 bytes
//   POST /json  reads and discards the request body, then 200 with BODY_JSON (about 1 KB of JSON with
//               sensitive-looking fields, for redaction)
//   GET  /json64  200, 64 bytes of JSON (what aggregation merges)
//   WS   /ws      a WebSocket echo (each message sent back as it came), for the WebSocket part of the run
//   POST /v1/traces  reads and discards an OTLP export, then 200 `{}` (the sink of the tracing target)
//   else        404, empty
//
// Usage: node dist/bench/upstream.js [--port N] [--host H]
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

/** BODY_64B is the 64-byte answer of `GET /64b` and `POST /post`. */
const BODY_64B = Buffer.alloc(64, 'a');
/** BODY_64K is the 64 KiB answer of `GET /64k`, allocated once so no request pays for it. */
const BODY_64K = Buffer.alloc(64 * 1024, 'b');

/** BODY_JSON is the answer of `POST /json`: a customer record with fields a route may redact. */
export const BODY_JSON = Buffer.from(JSON.stringify({
  id: 'c-1001', name: 'Ada Lovelace', email: 'ada@example.com', ssn: '123-45-6789',
  card: { number: '4111111111111111', expiry: '12/30', holder: 'A LOVELACE' },
  address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB' },
  orders: Array.from({ length: 8 }, (_, i) => ({ id: `o-${i}`, total: 1000 + i * 37, currency: 'GBP', card: { number: '4111111111111111' } })),
  notes: 'x'.repeat(200),
}));

// Headers as flat [name, value, ...] arrays: writeHead takes them as they are, without walking object keys.
const HEADERS_64B = ['content-type', 'application/octet-stream', 'content-length', String(BODY_64B.length)];
const HEADERS_64K = ['content-type', 'application/octet-stream', 'content-length', String(BODY_64K.length)];
const HEADERS_EMPTY = ['content-length', '0'];
const HEADERS_JSON = ['content-type', 'application/json', 'content-length', String(BODY_JSON.length)];
/** BODY_JSON64 is the answer of `GET /json64`: a small record of exactly 64 bytes. */
const BODY_JSON64 = Buffer.from(JSON.stringify({ id: 'c-1001', name: 'Ada Lovelace', city: 'London', n: 12345678 }).padEnd(64, ' '));
const HEADERS_JSON64 = ['content-type', 'application/json', 'content-length', String(BODY_JSON64.length)];
const BODY_OTLP = Buffer.from('{}');
const HEADERS_OTLP = ['content-type', 'application/json', 'content-length', String(BODY_OTLP.length)];

/** UpstreamRequest is this server's request class: it carries its response, so the POST body's 'end'
 * listener can be one module-level function instead of a closure per request. */
class UpstreamRequest extends IncomingMessage {
  benchRes: ServerResponse | null = null;
}

function onPostBodyEnd(this: UpstreamRequest): void {
  const res = this.benchRes;
  this.benchRes = null;
  if (res === null) return;
  if (this.url === '/json') res.writeHead(200, HEADERS_JSON).end(BODY_JSON);
  else if (this.url === '/v1/traces') res.writeHead(200, HEADERS_OTLP).end(BODY_OTLP);
  else res.writeHead(200, HEADERS_64B).end(BODY_64B);
}

function handle(req: UpstreamRequest, res: ServerResponse): void {
  const url = req.url;
  if (req.method === 'GET') {
    if (url === '/64b') { res.writeHead(200, HEADERS_64B).end(BODY_64B); return; }
    if (url === '/64k') { res.writeHead(200, HEADERS_64K).end(BODY_64K); return; }
    if (url === '/json64') { res.writeHead(200, HEADERS_JSON64).end(BODY_JSON64); return; }
  } else if (req.method === 'POST' && (url === '/post' || url === '/json' || url === '/v1/traces')) {
    // Read the whole body (discarding it) before answering, as a real service would.
    req.benchRes = res;
    req.on('end', onPostBodyEnd);
    req.resume();
    return;
  }
  req.resume();
  res.writeHead(404, HEADERS_EMPTY).end();
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const server = createServer<typeof UpstreamRequest>({ IncomingMessage: UpstreamRequest, noDelay: true }, handle);
// HTTP keep-alive is on by default. A long idle timeout keeps the targets' pooled connections alive between
// scenarios, so no run pays for reconnecting, and no connection is closed under a request in flight.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.requestTimeout = 0;

// The WebSocket echo: compression off, as through the gateway, so both rows measure the same frames.
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
});

server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`upstream listening on http://${values.host}:${port}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
