/**
 * Real upstream servers for tests, on 127.0.0.1 port 0. Each records what it received (method, url,
 * headers, raw headers, body size) so tests can assert what actually reached the service.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Received is one request as the upstream saw it. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  bodyBytes: number;
  body: string;
}

/** Handler answers a request; the default echoes what was received as JSON. */
export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, received: Received) => void | Promise<void>;

/** Upstream is a running test server. */
export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly received: Received[];
  /** Name put in the `x-upstream` response header and the echo body. */
  readonly name: string;
  handler: UpstreamHandler;
  close(): Promise<void>;
}

/** echo answers 200 with the received request as JSON. */
export const echo = (name: string): UpstreamHandler => (_req, res, r) => {
  const body = JSON.stringify({ upstream: name, method: r.method, url: r.url, headers: r.headers, bodyBytes: r.bodyBytes });
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name, server: 'test-upstream/1.0', 'x-powered-by': 'tests' });
  res.end(body);
};

/** startUpstream starts a recording server; `keepBody` keeps bodies up to 64 KiB as text. */
export async function startUpstream(name = 'up', handler?: UpstreamHandler, opts: { keepBody?: boolean } = {}): Promise<Upstream> {
  const received: Received[] = [];
  const up = { received, name, handler: handler ?? echo(name) } as Upstream & { handler: UpstreamHandler };
  const server = createServer((req, res) => {
    const r: Received = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, body: '' };
    received.push(r);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      r.bodyBytes += c.length;
      if (opts.keepBody && r.bodyBytes <= 65536) chunks.push(c);
    });
    req.on('end', () => {
      if (opts.keepBody) r.body = Buffer.concat(chunks).toString();
      void Promise.resolve(up.handler(req, res, r)).catch(() => res.destroy());
    });
    req.on('error', () => { /* client (the gateway) aborted */ });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(up, {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  });
  return up;
}

/** freePort returns a port that nothing listens on (bound then released), for connection-refused targets. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
