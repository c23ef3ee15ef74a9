/**
 * The Gateway owns the client listener and the current Runtime. The request handler is the top of the hot
 * path: limits, header scan, path normalization, routing, the route's request hooks, then its backend. A
 * config swap replaces one reference; each request keeps the Runtime it started on until it finishes.
 *
 * The listener is plain HTTP/1.1, or TLS with HTTP/2 offered by ALPN and HTTP/1.1 as the fallback. Node
 * hands HTTP/2 streams to the same handler through its compatibility API (Http2ServerRequest/Response), so
 * both take one path; the few places where a connection and a request differ branch once on the version.
 */
import { createServer, Server as HttpServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import { newRequestId, REQUEST_ID_RE } from './request-id.js';
import { isIPv4, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { listenOn } from '../listen/bind.js';
import type { Logger } from 'pino';
import { Exchange, cutResponse, resetUnfinishedStream, writeAnswer } from './exchange.js';
import { ERRORS, writeRawProblem, type ErrorCode } from './errors.js';
import { parseTarget } from './path.js';
import { scanRequestHeaders } from './headers.js';
import type { Runtime } from './runtime.js';
import type { Duplex } from 'node:stream';
import { Tunnels } from './tunnels.js';
import type { ListenerTls } from '../listen/tls.js';
import { H2Sessions, h2ServerOptions } from '../listen/h2.js';
import type { H2Config } from '../listen/schema.js';
import { RedirectServer } from '../listen/redirect.js';

/** Requests served on a client socket, for `limits.requestsPerConnection`. */
const REQUESTS = Symbol('gatehouse.requests');
/** Set on a client socket once an answer on it closes the connection (see closeConnection). */
const CLOSING = Symbol('gatehouse.closing');
/** ClientSocket is a client connection with the gateway's per-connection marks and Node's current response. */
type ClientSocket = Socket & { [REQUESTS]?: number; [CLOSING]?: boolean; _httpMessage?: ServerResponse | null };
/** Node's own parser limit on all headers; the configured (smaller) limit is enforced by the header scan. */
const PARSER_MAX_HEADER_SIZE = 64 * 1024;

/** ListenerOptions say how the client listener speaks: TLS or not, HTTP/2 or not, and the HTTP/2 limits. */
export interface ListenerOptions {
  /** The TLS material (swapped on reload), or null for a plain HTTP/1.1 listener. */
  readonly tls: ListenerTls | null;
  /** Offer HTTP/2 by ALPN (with TLS only). */
  readonly http2: boolean;
  readonly h2: H2Config;
}

/** Gateway serves clients on one listener with a swappable Runtime. */
export class Gateway {
  runtime: Runtime;
  /**
   * The client listener: an http.Server, an https.Server, or an HTTP/2 secure server with HTTP/1.1 fallback
   * (typed as http.Server: with `allowHTTP1` it carries the same HTTP/1.1 settings and events).
   */
  readonly server: Server;
  readonly log: Logger;
  /** The listener's TLS material, or null when it is plain HTTP. */
  readonly tls: ListenerTls | null;
  /** `http` or `https`: what X-Forwarded-Proto says unless a trusted proxy said otherwise. */
  readonly scheme: string;
  /** The HTTP/2 sessions, or null when the listener does not speak HTTP/2. */
  readonly h2: H2Sessions | null;
  /** The plain listener answering 308 to HTTPS (`listen.redirectHttp`), once started. */
  private redirect: RedirectServer | null;
  /** True once shutdown began: responses carry `Connection: close` and new requests are refused. */
  draining: boolean;
  private readonly perIp: Map<string, number>;
  /** Connections upgraded to WebSocket, closed politely on shutdown. */
  readonly tunnels: Tunnels;
  private readonly upgradeListener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  constructor(runtime: Runtime, log: Logger, listener: ListenerOptions | null = null) {
    this.runtime = runtime;
    this.log = log;
    this.draining = false;
    this.perIp = new Map();
    this.tunnels = new Tunnels();
    this.upgradeListener = this.onUpgrade.bind(this);
    this.redirect = null;
    const tls = listener?.tls ?? null;
    this.tls = tls;
    this.scheme = tls === null ? 'http' : 'https';
    const http1 = {
      maxHeaderSize: PARSER_MAX_HEADER_SIZE,
      // Checked every second rather than Node's default 30 s, so headersTimeout/requestTimeout are honoured.
      connectionsCheckingInterval: 1000,
      joinDuplicateHeaders: false,
      // Node's own answer to a missing Host is a bare 400; the header scan refuses it as a problem document.
      requireHostHeader: false,
    };
    if (tls === null) {
      this.server = createServer(http1);
      this.h2 = null;
    } else {
      // A TLS handshake is bounded like the request headers that follow it (Node's default is 120 s).
      const handshakeTimeout = runtime.limits.headersTimeoutMs;
      if (listener!.http2) {
        const h2 = new H2Sessions(listener!.h2, runtime.limits.keepAliveTimeoutMs, log);
        const server = createSecureServer({
          ...tls.serverOptions(),
          ...h2ServerOptions(listener!.h2, runtime.limits.headerCount),
          allowHTTP1: true,
          handshakeTimeout,
          // Small writes (one server-sent event) go out at once rather than wait for Nagle's algorithm.
          noDelay: true,
        } as Parameters<typeof createSecureServer>[0]);
        // With allowHTTP1 Node serves HTTP/1.1 connections with its HTTP server code, which reads these
        // settings from the server object; createSecureServer takes none of them as options.
        Object.assign(server, http1);
        server.on('session', (session: ServerHttp2Session) => h2.onSession(session));
        this.server = server as unknown as Server;
        this.h2 = h2;
      } else {
        this.server = createHttpsServer({ ...http1, ...tls.serverOptions(), handshakeTimeout }) as unknown as Server;
        this.h2 = null;
      }
    }
    this.applyLimits(runtime);
    this.server.on('request', this.onRequest.bind(this));
    // `Expect: 100-continue`: the 100 is sent only when the request is forwarded with its body (see proxy).
    this.server.on('checkContinue', this.onRequest.bind(this));
    this.server.on('connection', this.onConnection.bind(this));
    this.server.on('clientError', this.onClientError.bind(this));
    this.server.on('connect', this.onConnect.bind(this));
  }

  /** listen starts accepting connections. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.server as unknown as NetServer, host, port);
  }

  /**
   * listenRedirect starts the plain listener of `listen.redirectHttp`: 308 to the same host and path on
   * `httpsPort`. Closed with the gateway.
   */
  async listenRedirect(host: string, port: number, httpsPort: number): Promise<AddressInfo> {
    const r = new RedirectServer(httpsPort, this.runtime.limits);
    const address = await r.listen(host, port);
    this.redirect = r;
    return address;
  }

  /** swap makes `next` serve new requests and retires the previous runtime once its requests finish. */
  swap(next: Runtime, drainMs: number): Promise<void> {
    const prev = this.runtime;
    next.start();
    this.applyLimits(next);
    this.runtime = next;
    return prev.retire(drainMs);
  }

  /** shutdown stops accepting, lets requests in flight finish up to `deadlineMs`, then closes everything. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // HTTP/2 sessions are told GOAWAY: streams under way finish, new ones go elsewhere.
    this.h2?.closeAll();
    const redirect = this.redirect?.close();
    const rt = this.runtime;
    await Promise.all([rt.retire(deadlineMs), this.tunnels.closeAll(deadlineMs)]);
    // http.Server's own method, called on whichever server this is: the HTTP/2 server (allowHTTP1) tracks its
    // HTTP/1.1 connections the same way but does not expose the method.
    HttpServer.prototype.closeAllConnections.call(this.server);
    this.h2?.destroyAll();
    await Promise.all([closed, redirect]);
  }

  private applyLimits(rt: Runtime): void {
    const l = rt.limits;
    const s = this.server;
    if (this.h2 !== null) this.h2.idleMs = l.keepAliveTimeoutMs;
    s.headersTimeout = l.headersTimeoutMs;
    s.requestTimeout = l.requestTimeoutMs;
    s.keepAliveTimeout = l.keepAliveTimeoutMs;
    // Node's own maxRequestsPerSocket answers a bare 503 to a client that keeps sending past the limit; the
    // gateway counts requests per socket itself and closes after the last one (see handle()).
    s.maxRequestsPerSocket = 0;
    s.maxConnections = l.connections;
    // Node hands a request to 'upgrade' listeners only while there is one: a config without WebSocket routes
    // keeps Node's plain handling (an `Upgrade: h2c` request is served as HTTP/1.1 on its keep-alive connection).
    const wants = rt.routes.some((r) => r.websocket !== null);
    if (wants && s.listenerCount('upgrade') === 0) s.on('upgrade', this.upgradeListener);
    else if (!wants) s.removeListener('upgrade', this.upgradeListener);
  }

  /**
   * onUpgrade takes a request that asks to switch protocols. It runs the same path as any request, on a
   * response bound to the socket, so a refusal (401, 403, 429, no route) is an ordinary HTTP answer, after which
   * the connection is closed. Only a route with `websocket:` takes the socket over, once every hook passed.
   */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Pipelined behind an answer that closes the connection: not processed (see handle), and nobody else will end it.
    if ((socket as ClientSocket)[CLOSING] === true) { socket.destroy(); return; }
    // Node removed its own error listener when it handed the socket over: a client that resets the connection
    // while an asynchronous hook runs (introspection, JWKS, a Redis limit) would be an uncaught exception.
    socket.on('error', destroyOnError);
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once('finish', endUpgradeSocket);
    (req as UpgradeCarrier)[UPGRADE] = { socket, head, tunnels: this.tunnels };
    this.onRequest(req, res);
  }

  private onConnection(socket: Socket): void {
    const ip = socket.remoteAddress ?? '';
    const n = (this.perIp.get(ip) ?? 0) + 1;
    if (n > this.runtime.limits.connectionsPerIp) {
      socket.destroy();
      return;
    }
    this.perIp.set(ip, n);
    socket.once('close', () => {
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip); else this.perIp.set(ip, left);
    });
  }

  /** Errors of Node's parser and timeouts, answered as problem documents where the socket still allows it. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const pending = (socket as ClientSocket)._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
      socket.destroy();
      return;
    }
    let code: ErrorCode = 'GH_BAD_REQUEST';
    if (err.code === 'HPE_HEADER_OVERFLOW') code = 'GH_HEADERS_TOO_LARGE';
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') code = 'GH_REQUEST_TIMEOUT';
    else if (err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || err.code === 'HPE_INVALID_TRANSFER_ENCODING' || err.code === 'HPE_INVALID_CONTENT_LENGTH') code = 'GH_BAD_FRAMING';
    // A timeout or bad chunk in a body cuts a request that already has an id (watchBody set the gateway's):
    // answer with it, so the 408 matches the request the upstream and the logs saw.
    const prior = pending ? pending.req.headers['x-request-id'] : undefined;
    const requestId = typeof prior === 'string' && REQUEST_ID_RE.test(prior) ? prior : newRequestId();
    const bytes = writeRawProblem(socket, code, requestId);
    // A request already under way is reported when its response closes; one the parser refused never got that far.
    if (!pending || (pending as LoggedResponse)[EXCHANGE] === undefined) this.reportRaw(socket, '-', code, requestId, bytes);
  }

  /** CONNECT asks for a tunnel; a gateway routes requests, it does not open tunnels. */
  private onConnect(req: IncomingMessage, socket: Socket): void {
    const requestId = newRequestId();
    if (req.httpVersionMajor === 2) {
      // On HTTP/2, Node hands a CONNECT stream over as (request, response): an answer on that stream only.
      const res = socket as unknown as ServerResponse;
      this.reportRaw(req.socket, 'CONNECT', code405, requestId, writeAnswer(res, code405, requestId));
      return;
    }
    this.reportRaw(socket, 'CONNECT', code405, requestId, writeRawProblem(socket, code405, requestId));
  }

  /**
   * reportRaw tells the sink and the tracer of an answer written straight on the socket (no request object
   * exists): an exchange with no route and an empty path, so it is logged and counted like any refusal.
   */
  private reportRaw(socket: Socket, method: string, code: ErrorCode, requestId: string, bytes: number): void {
    const rt = this.runtime;
    if (rt.sink === null && rt.tracer === null) return;
    const req = { method, headers: {}, socket } as unknown as IncomingMessage;
    const res = { writableFinished: true, req, getHeader: () => undefined } as unknown as ServerResponse;
    const ex = new Exchange(req, res, rt, requestId, unmapped(socket.remoteAddress ?? ''), performance.now());
    ex.path = '';
    ex.errorCode = code;
    ex.status = ERRORS[code].status;
    ex.bytesOut = bytes;
    try {
      rt.tracer?.startServer(ex);
      rt.sink?.onEnd(ex);
      if (rt.tracer !== null && ex.trace !== null) rt.tracer.endServer(ex);
    } catch { /* observers never break the listener */ }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const rt = this.runtime;
    rt.inflight++;
    let p: Promise<void> | undefined;
    try {
      p = this.handle(req, res, rt);
    } catch (err) {
      // A feature hook or a backend that throws synchronously: answered like a rejected promise would be.
      this.onHandlerError(err, res, rt);
      return;
    }
    if (p !== undefined) p.then(finish.bind(null, rt), (err: unknown) => this.onHandlerError(err, res, rt));
    else rt.done();
  }

  private onHandlerError(err: unknown, res: ServerResponse, rt: Runtime): void {
    this.log.error({ event: 'handler_error', err }, 'unexpected error while handling a request');
    const ex = (res as LoggedResponse)[EXCHANGE];
    // Through the exchange when there is one, so the answer keeps the request's id and is logged as a 500.
    if (ex !== undefined && !res.headersSent) ex.fail('GH_INTERNAL');
    else if (!res.headersSent) writeAnswer(res, 'GH_INTERNAL', newRequestId());
    else cutResponse(res);
    rt.done();
  }

  /** handle returns a promise only when the request goes asynchronous (a feature or the backend). */
  private handle(req: IncomingMessage, res: ServerResponse, rt: Runtime): Promise<void> | undefined {
    const start = performance.now();
    const limits = rt.limits;
    // The one branch on the protocol: an HTTP/2 request is a stream of a session, whose `req.socket` is a
    // proxy of the session's socket shared by every stream, so per-connection marks live on the session.
    const h2 = req.httpVersionMajor === 2;
    if (h2) {
      if (!this.h2!.admit(req as unknown as Http2ServerRequest, this.draining, limits.requestsPerConnection)) return undefined;
    } else {
      const counted = req.socket as ClientSocket;
      // A request pipelined behind an answer that closes the connection would never get its own answer, and
      // behind a refused request its bytes are not to be trusted: it is not processed at all.
      if (counted[CLOSING] === true) return undefined;
      const served = (counted[REQUESTS] = (counted[REQUESTS] ?? 0) + 1);
      if (this.draining || (limits.requestsPerConnection > 0 && served >= limits.requestsPerConnection)) closeConnection(res);
    }
    const url = req.url ?? '';
    const scan = scanRequestHeaders(req, limits, h2);
    const incomingId = scan.requestId;
    const requestId = incomingId !== undefined && REQUEST_ID_RE.test(incomingId) ? incomingId : newRequestId();
    const observed = rt.sink !== null || rt.tracer !== null;
    if (url.length > limits.url) return refuse(req, res, rt, 'GH_URI_TOO_LONG', requestId, start, observed);
    if (scan.error !== null) return refuse(req, res, rt, scan.error, requestId, start, observed);
    const target = parseTarget(url);
    if (typeof target === 'string') return refuse(req, res, rt, target, requestId, start, observed);
    // An HTTP/2 request names its host in `:authority`; code that reads `req.headers.host` finds it there too.
    if (h2 && req.headers.host === undefined && scan.host !== '') req.headers.host = scan.host;
    const upgrade = (req as UpgradeCarrier)[UPGRADE] ?? null;
    const websocket = upgrade !== null && scan.upgrade !== undefined && scan.upgrade.toLowerCase() === 'websocket' && req.method === 'GET' && scan.bodyLength === 0;
    if (scan.upgrade !== undefined && scan.upgrade.toLowerCase() !== 'h2c' && !websocket) return refuse(req, res, rt, 'GH_UPGRADE_NOT_ALLOWED', requestId, start, observed);

    const socket = req.socket;
    const peer = unmapped(socket.remoteAddress ?? '');
    const trusted = rt.trusted !== null && rt.trusted.check(peer, isIPv4(peer) ? 'ipv4' : 'ipv6');
    const clientIp = trusted && scan.forwardedFor !== undefined ? clientFromForwarded(scan.forwardedFor, peer, rt) : peer;
    const hostHeader = scan.host;
    const fwd = scan.forward;
    fwd.push(
      'x-forwarded-for', trusted && scan.forwardedFor !== undefined ? `${scan.forwardedFor}, ${peer}` : peer,
      'x-forwarded-proto', trusted && scan.forwardedProto !== undefined ? scan.forwardedProto : this.scheme,
      'x-forwarded-host', trusted && scan.forwardedHost !== undefined ? scan.forwardedHost : hostHeader,
      'x-request-id', requestId,
    );
    const ex = new Exchange(req, res, rt, requestId, clientIp, start);
    ex.path = target.path;
    ex.query = target.query;
    ex.upstreamHeaders = fwd;
    ex.bodyLength = scan.bodyLength;
    if (websocket) ex.upgrade = upgrade;
    const tls = this.tls;
    // A fresh list: features append to it (addResponseHeaders).
    if (tls !== null && tls.settings.hsts !== null) ex.responseHeaders = ['strict-transport-security', tls.settings.hsts];
    if (observed) watchEnd(res, ex);

    const host = routingHost(hostHeader);
    let found = rt.router.find(req.method!, host, target.path, req.headers, target.query);
    // A CORS preflight is routed by the method it asks about, so a GET-only route with `cors` can answer it;
    // a route without a preflight handler sees it as the plain OPTIONS request it is.
    const asked = req.method === 'OPTIONS' && req.headers.origin !== undefined ? req.headers['access-control-request-method'] : undefined;
    if (asked !== undefined && /^[A-Z]{1,16}$/.test(asked)) {
      const pre = rt.router.find(asked, host, target.path, req.headers, target.query);
      if (pre !== null && !Array.isArray(pre) && pre.route.handlesPreflight) { found = pre; ex.preflight = true; }
    }
    if (found === null) { rt.tracer?.startServer(ex); ex.fail('GH_ROUTE_NOT_FOUND'); return undefined; }
    if (Array.isArray(found)) { rt.tracer?.startServer(ex); ex.fail('GH_METHOD_NOT_ALLOWED', { headers: ['allow', found.join(', ')] }); return undefined; }
    const route = found.route;
    ex.route = route;
    ex.params = found.params;
    if (websocket && route.websocket === null) { rt.tracer?.startServer(ex); closeConnection(res); ex.fail('GH_UPGRADE_NOT_ALLOWED'); return undefined; }
    if (!observed && route.onLog !== null) watchEnd(res, ex);
    if (rt.tracer !== null) rt.tracer.startServer(ex);
    ex.upstreamPath = target.path;
    // The connection is closed after the 413 rather than kept alive: draining a refused body to reach the next
    // request would cost whatever length the client declared. What arrives before the close is discarded.
    if (ex.bodyLength > route.bodyLimit) { closeConnection(res); ex.fail('GH_BODY_TOO_LARGE'); req.resume(); return undefined; }
    if (ex.bodyLength !== 0) watchBody(req, res, limits.bodyIdleTimeoutMs, requestId);
    const hooks = route.onRequest;
    if (hooks !== null) return runHooks(ex, hooks, 0);
    const r = ex.upgrade === null ? route.backend.handle(ex) : route.websocket!.handle(ex);
    return r === undefined ? undefined : r;
  }
}

const UPGRADE = Symbol('gatehouse.upgrade');
type UpgradeCarrier = IncomingMessage & { [UPGRADE]?: Exchange['upgrade'] };

/** After an HTTP answer to an upgrade request (a refusal, or h2c served as HTTP/1.1), the connection ends. */
function endUpgradeSocket(this: ServerResponse): void {
  const socket = this.socket;
  if (socket !== null) { socket.end(); socket.destroySoon?.(); }
}

function finish(rt: Runtime): void { rt.done(); }

function destroyOnError(this: Duplex): void { this.destroy(); }

const EXCHANGE = Symbol('gatehouse.exchange');
const code405: ErrorCode = 'GH_METHOD_NOT_ALLOWED';
type LoggedResponse = ServerResponse & { [EXCHANGE]?: Exchange };

/** watchEnd has the response report the exchange when it closes; one shared listener, no closure per request. */
function watchEnd(res: ServerResponse, ex: Exchange): void {
  (res as LoggedResponse)[EXCHANGE] = ex;
  // `on`, not `once`: a response closes once, and once() would wrap the listener in a new function each time.
  res.on('close', onResponseClosed);
}

/**
 * onResponseClosed runs once the response is over ('close' fires after the last byte is handed to the
 * socket, or when the client went away first): the route's onLog hooks, then the request sink (access log,
 * metrics) and the end of the server span. A hook that throws is logged and the others run.
 */
function onResponseClosed(this: LoggedResponse): void {
  const ex = this[EXCHANGE]!;
  this[EXCHANGE] = undefined;
  const hooks = ex.route === null ? null : ex.route.onLog;
  if (hooks !== null) {
    for (let i = 0; i < hooks.length; i++) {
      try { hooks[i]!.onLog!(ex); } catch (err) { ex.runtime.log.error({ event: 'log_hook_failed', feature: hooks[i]!.name, err }, 'an onLog hook threw'); }
    }
  }
  const rt = ex.runtime;
  if (rt.sink !== null) rt.sink.onEnd(ex);
  if (rt.tracer !== null && ex.trace !== null) rt.tracer.endServer(ex);
}

/**
 * refuse answers a request refused before routing (see reply) and, when requests are observed, reports it
 * like any other: an exchange with no route and an empty path (the target was not trusted enough to log).
 */
function refuse(req: IncomingMessage, res: ServerResponse, rt: Runtime, code: ErrorCode, requestId: string, start: number, observed: boolean): undefined {
  if (!observed) return reply(res, code, requestId);
  const ex = new Exchange(req, res, rt, requestId, unmapped(req.socket.remoteAddress ?? ''), start);
  ex.path = '';
  ex.errorCode = code;
  ex.status = ERRORS[code].status;
  watchEnd(res, ex);
  rt.tracer?.startServer(ex);
  closeConnection(res);
  ex.bytesOut = writeAnswer(res, code, requestId);
  return undefined;
}

/**
 * Answers a request refused before routing, and closes the connection: after bad framing, a refused upgrade
 * or a malformed target, where the next request starts on the wire is not to be trusted (RFC 9112 §6.3).
 */
function reply(res: ServerResponse, code: ErrorCode, requestId: string): undefined {
  closeConnection(res);
  writeAnswer(res, code, requestId);
  return undefined;
}

/**
 * closeConnection makes `res` the last answer on its connection; requests pipelined behind it are dropped.
 * On HTTP/2 the connection is shared by other requests and framing errors are per stream, so only the
 * stream ends: once the answer is out, an unread request body is refused with RST_STREAM (NO_ERROR).
 */
function closeConnection(res: ServerResponse): void {
  const req = res.req;
  if (req.httpVersionMajor === 2) { resetUnfinishedStream(res); return; }
  res.shouldKeepAlive = false;
  (req.socket as ClientSocket)[CLOSING] = true;
}

/**
 * Runs request hooks from index `i`, then the backend. It stays synchronous until a hook returns a promise,
 * so a route whose hooks are all synchronous (an API key, allow rules) pays no async frame for them.
 */
function runHooks(ex: Exchange, hooks: NonNullable<Exchange['route']>['onRequest'] & object, i: number): Promise<void> | undefined {
  for (; i < hooks.length; i++) {
    const r = hooks[i]!.onRequest!(ex);
    if (r !== undefined) return r.then(() => (ex.replied ? undefined : runHooks(ex, hooks, i + 1)));
    if (ex.replied) return undefined;
  }
  const route = ex.route!;
  const b = ex.upgrade === null ? route.backend.handle(ex) : route.websocket!.handle(ex);
  return b === undefined ? undefined : b;
}

/** Lower-case host without port, for routing (`API.example.com:8080` → `api.example.com`, `[::1]:80` → `[::1]`). */
function routingHost(host: string): string {
  if (host === '') return '';
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) end = host.indexOf(']') + 1 || host.length;
  else { const colon = host.indexOf(':'); if (colon !== -1) end = colon; }
  const h = end === host.length ? host : host.slice(0, end);
  return h.toLowerCase();
}

function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

/** The client is the rightmost address in X-Forwarded-For that is not a trusted proxy. */
function clientFromForwarded(xff: string, peer: string, rt: Runtime): string {
  const parts = xff.split(',');
  let client = peer;
  for (let i = parts.length - 1; i >= 0; i--) {
    const ip = unmapped(parts[i]!.trim());
    const v4 = isIPv4(ip);
    if (!v4 && !/^[0-9a-fA-F:]+$/.test(ip)) return client; // garbage: stop at the last address we can vouch for
    client = ip;
    if (!rt.trusted!.check(ip, v4 ? 'ipv4' : 'ipv6')) return ip;
  }
  return client;
}

/** Where onBodyIdle finds the response of an HTTP/2 request (an HTTP/1.1 socket names its current one). */
const RESPONSE = Symbol('gatehouse.response');
type ResponseCarrier = IncomingMessage & { [RESPONSE]?: ServerResponse };

/** A request body that stops arriving for `ms` is answered with 408 and the connection closed. */
function watchBody(req: IncomingMessage, res: ServerResponse, ms: number, requestId: string): void {
  // onBodyIdle answers with the gateway's id: the client's own header may be the malformed one it replaced.
  req.headers['x-request-id'] = requestId;
  if (req.httpVersionMajor === 2) (req as ResponseCarrier)[RESPONSE] = res;
  req.setTimeout(ms);
  req.on('timeout', onBodyIdle);
  req.once('end', onBodyEnd);
}

/**
 * The body stopped arriving: answer 408 (unless the response already started) and close. Once the answer is
 * out the request is destroyed, which aborts the upstream request streaming it: left alone, that request
 * would wait for bytes that never come and hold an upstream connection and the runtime's drain.
 */
function onBodyIdle(this: IncomingMessage): void {
  const res = this.httpVersionMajor === 2 ? (this as ResponseCarrier)[RESPONSE] : (this.socket as ClientSocket)._httpMessage;
  if (res && res.req === this && !res.headersSent) {
    closeConnection(res);
    res.once('finish', abortRequest);
    const ex = (res as LoggedResponse)[EXCHANGE];
    if (ex !== undefined) ex.fail('GH_REQUEST_TIMEOUT');
    else writeAnswer(res, 'GH_REQUEST_TIMEOUT', String(this.headers['x-request-id']));
  } else {
    this.destroy();
  }
}

function abortRequest(this: ServerResponse): void {
  this.req.destroy();
}

function onBodyEnd(this: IncomingMessage): void {
  this.setTimeout(0);
}
