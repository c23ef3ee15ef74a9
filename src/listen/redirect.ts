/**
 * The plain-HTTP listener of `listen.redirectHttp`: every request is answered `308 Permanent Redirect` to
 * the same host and path over HTTPS, and nothing else is done with it (no routing, no upstream). 308 rather
 * than 301 keeps the method and body of a non-GET request on the retry.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOn } from './bind.js';
import type { Limits } from '../core/runtime.js';

/** A Host the Location may be built from: a DNS name or an IP literal, with an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** RedirectServer answers plain-HTTP requests with a redirect to HTTPS. */
export class RedirectServer {
  readonly server: Server;
  /** `:8443`, or '' for the default HTTPS port. */
  private readonly portSuffix: string;
  private readonly urlLimit: number;

  constructor(httpsPort: number, limits: Limits) {
    this.portSuffix = httpsPort === 443 ? '' : `:${httpsPort}`;
    this.urlLimit = limits.url;
    this.server = createServer({
      maxHeaderSize: limits.headers,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      joinDuplicateHeaders: false,
      requireHostHeader: false,
    }, this.onRequest.bind(this));
    this.server.maxConnections = limits.connections;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.server, host, port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    // The body is never read: the connection ends with this answer.
    res.shouldKeepAlive = false;
    const host = req.headers.host;
    const url = req.url ?? '';
    // Only an origin-form target and a well-formed Host make a Location; anything else could point elsewhere.
    if (host === undefined || !HOST_RE.test(host) || url.charCodeAt(0) !== 47 /* / */ || url.startsWith('//') || url.length > this.urlLimit) {
      res.writeHead(400, ['content-type', 'text/plain', 'content-length', '12']);
      res.end('Bad Request\n');
      return;
    }
    const location = `https://${hostWithoutPort(host)}${this.portSuffix}${url}`;
    res.writeHead(308, ['location', location, 'content-length', '0', 'cache-control', 'no-store']);
    res.end();
  }
}

function hostWithoutPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
