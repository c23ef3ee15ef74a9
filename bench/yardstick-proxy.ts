// The yardstick: the fastest featureless reverse proxy we know how to write on Node, so that Gatehouse's
// numbers can be read as "what the features and the architecture cost" rather than "what Node costs".
// It does nothing a gateway could skip: no routing, no logging, no header rewriting beyond what HTTP/1.1
// framing requires. Keep it honest: every shortcut here must also be open to Gatehouse.
//
// node:http server in front, one undici Pool behind, driven through the low-level `dispatch` API with a
// handler object (undici 7 handler API), bodies streamed both ways with backpressure.
//
// Usage: node dist/bench/yardstick-proxy.js --upstream http://127.0.0.1:PORT [--connections N] [--port N]
//        [--host H]
// Prints `yardstick listening on http://<host>:<port>` on stdout once it accepts connections.
import { createServer, IncomingMessage, ServerResponse, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    // Upstream connections. The harness passes 2 x its client connections, so the pool is never the
    // bottleneck: every client request finds a free upstream connection without queueing.
    connections: { type: 'string', default: '100' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (values.upstream === undefined) {
  process.stderr.write('yardstick: --upstream http://host:port is required\n');
  process.exit(2);
}

/** POOL is the one upstream client. pipelining 1: one request at a time per upstream connection, as in
 * Gatehouse (pipelining brings head-of-line blocking and is unsafe for non-idempotent requests). undici
 * sets TCP_NODELAY on its sockets itself. */
const POOL = new Pool(values.upstream, {
  connections: Number(values.connections),
  pipelining: 1,
});

/** CLIENT_CLOSED is the reason given to undici when the client goes away before the response ends. One
 * shared instance: the stack is of no use and building it per abort costs. */
const CLIENT_CLOSED = new Error('client closed the connection');

/** YardstickResponse is the server's response class with a link to the exchange it belongs to, so that the
 * 'drain' and 'close' listeners are two module-level functions instead of two closures per request. */
class YardstickResponse extends ServerResponse<IncomingMessage> {
  exchange: ProxyExchange | null = null;
}

/** ProxyExchange is the undici dispatch handler for one client request: a plain object with the undici 7
 * handler methods, one per request, every field set in the constructor so all instances share one shape. */
class ProxyExchange implements Dispatcher.DispatchHandler {
  readonly res: YardstickResponse;
  controller: Dispatcher.DispatchController | null;
  clientGone: boolean;
  drainListening: boolean;

  constructor(res: YardstickResponse) {
    this.res = res;
    this.controller = null;
    this.clientGone = false;
    this.drainListening = false;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The client may have left while the request waited for a free upstream connection.
    if (this.clientGone) controller.abort(CLIENT_CLOSED);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // 1xx informational answers come through here too; the final response follows.
    if (statusCode < 200) return;
    // Hop-by-hop framing headers describe the upstream connection, not ours: drop them and let Node
    // recompute framing (content-length passes through; without it Node chooses chunked itself).
    if (headers['connection'] !== undefined) delete headers['connection'];
    if (headers['keep-alive'] !== undefined) delete headers['keep-alive'];
    if (headers['transfer-encoding'] !== undefined) delete headers['transfer-encoding'];
    if (statusMessage) this.res.writeHead(statusCode, statusMessage, headers);
    else this.res.writeHead(statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // Backpressure: when the client socket is full, stop reading from upstream until it drains. The
    // 'drain' listener is added only the first time it is needed (never for small bodies).
    if (!this.res.write(chunk)) {
      controller.pause();
      if (!this.drainListening) {
        this.drainListening = true;
        this.res.on('drain', onClientDrain);
      }
    }
  }

  onResponseEnd(): void {
    this.res.exchange = null;
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    const res = this.res;
    res.exchange = null;
    if (this.clientGone) return;
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a truncated response, not a short one.
      res.destroy(error);
    } else {
      res.writeHead(502, BAD_GATEWAY_HEADERS).end();
    }
  }
}

/** BAD_GATEWAY_HEADERS answer a request whose upstream failed before its response started. */
const BAD_GATEWAY_HEADERS = ['content-length', '0'];

function onClientDrain(this: YardstickResponse): void {
  const controller = this.exchange?.controller;
  if (controller != null) controller.resume();
}

function onClientClose(this: YardstickResponse): void {
  // 'close' also follows a normal end; only a close before the response finished is an abort.
  const exchange = this.exchange;
  if (exchange === null || this.writableFinished) return;
  this.exchange = null;
  exchange.clientGone = true;
  if (exchange.controller !== null) exchange.controller.abort(CLIENT_CLOSED);
}

/** forwardHeaders copies the client's raw header list (flat [name, value, ...], as undici accepts it, so no
 * object is built) minus the hop-by-hop framing headers, which undici rejects or recomputes itself. */
function forwardHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Cheap length test first: most names are never lower-cased.
    const len = name.length;
    if (len === 10 || len === 17) {
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
    }
    out.push(name, raw[i + 1]!);
  }
  return out;
}

function onRequest(req: IncomingMessage, res: YardstickResponse): void {
  const exchange = new ProxyExchange(res);
  res.exchange = exchange;
  res.on('close', onClientClose);
  const headers = req.headers;
  // Stream the body when there is one; `null` otherwise, so undici sends no framing for GETs.
  const hasBody = headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  POOL.dispatch(
    {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: forwardHeaders(req.rawHeaders),
      body: hasBody ? req : null,
    },
    exchange,
  );
}

const server = createServer<typeof IncomingMessage, typeof YardstickResponse>(
  { ServerResponse: YardstickResponse, noDelay: true },
  onRequest,
);
// Client connections stay open between scenarios and under load; nothing here should time them out.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.requestTimeout = 0;

server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`yardstick listening on http://${values.host}:${port}\n`);
});

function shutdown(): void {
  server.close();
  POOL.destroy().finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
