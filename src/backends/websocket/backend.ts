/**
 * The WebSocket backend: takes an upgrade that passed the route's features, opens a WebSocket to one target
 * of the route's service, and only once that target answered 101 completes the client's handshake and
 * relays messages both ways. Everything before that is an ordinary HTTP answer (problem+json), so a refused
 * or failed upgrade never tunnels a byte.
 *
 * The gateway terminates WebSocket on both sides (with `ws`) rather than splicing bytes: that is what lets it
 * bound message sizes, count messages, ping, and close with meaningful codes. A message is relayed as the
 * Buffer `ws` delivered, with its text/binary flag, and nothing else is allocated for it.
 *
 * Time-based limits (handshake timeout, idle, lifetime, credential expiry) are checked by one coarse interval
 * per backend that runs only while the backend has connections, not by timers per connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { Backend } from '../../core/route.js';
import type { Exchange } from '../../core/exchange.js';
import type { ErrorCode } from '../../core/errors.js';
import type { Tunnel, Tunnels } from '../../core/tunnels.js';
import type { Service } from '../../upstreams/service.js';
import type { Target } from '../../upstreams/target.js';
import type { ClientSpan } from '../../observability/types.js';
import { hashKeyOf } from '../proxy.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { OriginList } from '../../features/cors/origins.js';
import type { WebSocketConfig } from './schema.js';
import { closeCodeFor, parseProtocols, validKey } from './handshake.js';

/** The error code of an upgrade refused because its caller already holds `maxConnectionsPerConsumer` connections. */
const TOO_MANY_CONNECTIONS: ErrorCode = 'GH_TOO_MANY_CONNECTIONS';

/**
 * Bytes waiting to be written to one side above which the other side is no longer read, until they are
 * written: a slow reader holds at most about this much (plus one message) in the gateway, per direction.
 */
const HIGH_WATER_MARK = 1024 * 1024;

/** Fragments one message may arrive in: a flood of empty fragments is refused (1008) rather than collected. */
const MAX_FRAGMENTS = 4096;

/** The shortest and longest period of the backend's interval (ms); see WebSocketBackend.tickMs. */
const MIN_TICK_MS = 50;
const MAX_TICK_MS = 1000;
/** The message-rate window (ms). */
const WINDOW_MS = 1000;

/** Options of ws's send(), shared (ws copies them): the flag says whether the message is binary or text. */
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

/** Where a tunnel is found from the objects whose events it listens to (no closure per connection). */
const TUNNEL = Symbol('gatehouse.wsTunnel');
type Carrier = { [TUNNEL]?: WsTunnel };

/** Connections held per caller key, per gateway (its Tunnels), per route: counts that survive a reload. */
const HELD = new WeakMap<Tunnels, Map<string, number>>();

const enum State { Connecting, Open, Closing, Done }
/** Sides of a tunnel, as bits, to know when both are closed. */
const CLIENT = 1;
const UPSTREAM = 2;

/** WebSocketBackend tunnels a route's WebSocket connections to its service. */
export class WebSocketBackend implements Backend {
  readonly service: Service;
  readonly route: string;
  readonly log: Logger;
  readonly maxMessage: number;
  readonly messagesPerSecond: number;
  readonly idleMs: number;
  readonly lifetimeMs: number;
  readonly closeOnExpiry: boolean;
  readonly handshakeMs: number;
  readonly maxPerConsumer: number;
  /** Subprotocols a client may ask for, or null: any. */
  readonly subprotocols: ReadonlySet<string> | null;
  /** Allowed browser origins, or null: not checked. */
  readonly origins: OriginList | null;
  /** Completes client handshakes (one per backend; it tracks no clients and listens on nothing). */
  readonly server: WebSocketServer;
  /** Connections of this backend, from the upstream handshake to the last close. */
  readonly live: Set<WsTunnel>;
  /** Period of the interval that checks the time-based limits. */
  readonly tickMs: number;
  private ticker: NodeJS.Timeout | null;
  /** Start of the current message-rate window (monotonic ms). */
  private windowStart: number;

  constructor(cfg: WebSocketConfig, service: Service, route: string, log: Logger) {
    this.service = service;
    this.route = route;
    this.log = log;
    this.maxMessage = parseSize(cfg.maxMessage);
    this.messagesPerSecond = cfg.messagesPerSecond;
    this.idleMs = parseDuration(cfg.idle);
    this.lifetimeMs = parseDuration(cfg.maxLifetime);
    this.closeOnExpiry = cfg.closeOnExpiry;
    this.handshakeMs = parseDuration(cfg.handshakeTimeout);
    this.maxPerConsumer = cfg.maxConnectionsPerConsumer;
    this.subprotocols = cfg.subprotocols === undefined ? null : new Set(cfg.subprotocols);
    this.origins = cfg.origins === undefined ? null : new OriginList(cfg.origins);
    // A quarter of the shortest limit, so a limit fires at most a quarter late; at most a second, which is
    // also the resolution of credential expiry (JWT `exp` is in seconds anyway).
    this.tickMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(Math.min(this.idleMs, this.lifetimeMs, this.handshakeMs) / 4)));
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: this.maxMessage,
      maxFragments: MAX_FRAGMENTS,
      // Compression is per hop and costs CPU and memory per message; inflating is where compression bombs live.
      perMessageDeflate: false,
      handleProtocols: chosenProtocol,
    });
    this.server.on('headers', addRequestId);
    this.live = new Set();
    this.ticker = null;
    this.windowStart = 0;
  }

  /**
   * handle runs on an upgrade request that every request hook let through. The returned promise settles once
   * the handshake is over (tunnelled or refused), so the config generation stays alive for the handshake but
   * not for the connection's life: a connection finishes on the backend it started with.
   */
  handle(ex: Exchange): Promise<void> | void {
    const up = ex.upgrade!;
    const socket = up.socket as Duplex & Carrier;
    // Until ws takes the socket over, nobody else listens for its errors: a reset would otherwise throw.
    socket.on('error', ignoreError);
    // The client left while the request hooks ran: nobody to answer, and no reason to dial the service.
    if (socket.destroyed) return;
    const req = ex.req;
    const h = req.headers;
    // ws would answer a bad handshake itself with a bare 400; checked first, it is a problem document.
    if (!validKey(h['sec-websocket-key'])) return ex.fail('GH_BAD_REQUEST', { detail: 'The WebSocket handshake needs a valid Sec-WebSocket-Key.' });
    if (h['sec-websocket-version'] !== '13') return ex.fail('GH_BAD_REQUEST', { detail: 'Only WebSocket version 13 is supported.', headers: ['sec-websocket-version', '13'] });
    let protocols = parseProtocols(h['sec-websocket-protocol']);
    if (protocols === null) return ex.fail('GH_BAD_REQUEST', { detail: 'The Sec-WebSocket-Protocol header is not a list of distinct subprotocol names.' });
    if (this.subprotocols !== null && protocols.length > 0) {
      protocols = protocols.filter(isAllowed, this.subprotocols);
      if (protocols.length === 0) return ex.fail('GH_BAD_REQUEST', { detail: 'None of the offered subprotocols is accepted on this route.' });
    }
    const origin = h.origin;
    if (this.origins !== null && origin !== undefined && !this.origins.matches(origin)) return ex.fail('GH_CORS_REJECTED');

    let key: string | null = null;
    if (this.maxPerConsumer > 0) {
      const id = ex.identity;
      key = this.route + (id === null ? '\u0000ip\u0000' + ex.clientIp : '\u0000id\u0000' + (id.consumer?.id ?? id.subject));
      if (heldBy(up.tunnels, key) >= this.maxPerConsumer) {
        this.log.info({ event: 'websocket_refused', reason: 'connections per consumer', requestId: ex.requestId }, 'too many WebSocket connections for one caller');
        return ex.fail(TOO_MANY_CONNECTIONS, { headers: ['retry-after', '1'] });
      }
    }
    const service = this.service;
    const breaker = service.breaker;
    if (breaker !== null && !breaker.allow()) return ex.fail('GH_CIRCUIT_OPEN', { headers: ['retry-after', String(breaker.retryAfterSeconds())] });
    let target = service.balancer.pick(hashKeyOf(ex, service), null);
    let panic = false;
    if (target === null) { target = service.panicPick(null); panic = target !== null; }
    if (target === null) {
      breaker?.release();
      return ex.fail('GH_NO_HEALTHY_TARGET', { headers: ['retry-after', '1'] });
    }
    return new Promise<void>((resolve) => {
      new WsTunnel(this, ex, socket, target, panic, key, protocols, resolve).connect();
    });
  }

  /** adopt starts watching a tunnel's limits. */
  adopt(t: WsTunnel): void {
    this.live.add(t);
    if (this.ticker === null) {
      this.windowStart = performance.now();
      this.ticker = setInterval(tickBackend, this.tickMs, this);
      this.ticker.unref();
    }
  }

  /** release stops watching a tunnel; the interval stops with the last one. */
  release(t: WsTunnel): void {
    this.live.delete(t);
    if (this.live.size === 0 && this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  /** tick checks every connection's time-based limits, and starts a new message-rate window each second. */
  tick(): void {
    const now = performance.now();
    const wall = Date.now();
    // Half a tick of slack: interval timers drift a little either way, and a skipped reset would double the window.
    const newWindow = now - this.windowStart >= WINDOW_MS - this.tickMs / 2;
    if (newWindow) this.windowStart = now;
    for (const t of this.live) t.check(now, wall, newWindow);
  }
}

function tickBackend(b: WebSocketBackend): void { b.tick(); }

/** One WebSocket connection through the gateway: the client's side, the service's side, and their limits. */
class WsTunnel implements Tunnel {
  readonly backend: WebSocketBackend;
  readonly ex: Exchange;
  readonly socket: Duplex & Carrier;
  readonly target: Target;
  readonly panic: boolean;
  /** The caller key counted against `maxConnectionsPerConsumer`, or null when there is no cap. */
  readonly key: string | null;
  readonly protocols: readonly string[];
  private resolve: (() => void) | null;
  state: State;
  upstream: (WebSocket & Carrier) | null;
  client: (WebSocket & Carrier) | null;
  /** Sides whose connection has closed (CLIENT | UPSTREAM bits). */
  private closed: number;
  /** When the upstream handshake started (monotonic ms). */
  private readonly started: number;
  /** When both handshakes were done (monotonic ms; 0 before). */
  private opened: number;
  /** When the credential expires (Unix ms), or Infinity. */
  private readonly expiresAt: number;
  /** Set by any message, ping or pong from a side; the interval turns it into `quietSince`. */
  clientSeen: boolean;
  upstreamSeen: boolean;
  private clientQuietSince: number;
  private upstreamQuietSince: number;
  private clientPinged: boolean;
  private upstreamPinged: boolean;
  /** Messages from the client in the current window. */
  messages: number;
  private span: ClientSpan | null;
  /** Whether the upstream handshake got a verdict for passive health and the breaker. */
  private judged: boolean;
  private finished: boolean;
  /** Whether the service answered the handshake with 101 (ws may still refuse that answer). */
  answered: boolean;

  constructor(backend: WebSocketBackend, ex: Exchange, socket: Duplex & Carrier, target: Target, panic: boolean, key: string | null, protocols: readonly string[], resolve: () => void) {
    this.backend = backend;
    this.ex = ex;
    this.socket = socket;
    this.target = target;
    this.panic = panic;
    this.key = key;
    this.protocols = protocols;
    this.resolve = resolve;
    this.state = State.Connecting;
    this.upstream = null;
    this.client = null;
    this.closed = 0;
    this.started = performance.now();
    this.opened = 0;
    const exp = ex.identity?.expiresAt ?? null;
    this.expiresAt = backend.closeOnExpiry && exp !== null ? exp : Infinity;
    this.clientSeen = false;
    this.upstreamSeen = false;
    this.clientQuietSince = 0;
    this.upstreamQuietSince = 0;
    this.clientPinged = false;
    this.upstreamPinged = false;
    this.messages = 0;
    this.span = null;
    this.judged = false;
    this.finished = false;
    this.answered = false;
  }

  /** connect opens the upstream WebSocket; the client's handshake waits for its 101. */
  connect(): void {
    const b = this.backend;
    const ex = this.ex;
    const target = this.target;
    if (this.key !== null) hold(ex.upgrade!.tunnels, this.key, 1);
    ex.upgrade!.tunnels.add(this);
    b.adopt(this);
    // A connection counts as a request in flight to its target for its whole life: least-connections then
    // spreads long-lived connections rather than handshakes.
    target.active++;
    target.passive.onDispatch();
    this.socket[TUNNEL] = this;
    this.socket.on('close', onClientSocketClose);
    ex.attempts = 1;
    ex.target = target.id;
    ex.upstreamStart = this.started;
    const tracer = ex.runtime.tracer;
    if (tracer !== null) this.span = tracer.startClient(ex, b.service.name, target.id);
    const query = ex.query;
    const url = (target.id.charCodeAt(4) === 115 /* https */ ? 'wss' + target.id.slice(5) : 'ws' + target.id.slice(4))
      + ex.upstreamPath + (query === '' ? '' : '?' + query);
    let upstream: WebSocket & Carrier;
    try {
      upstream = new WebSocket(url, this.protocols as string[], {
        headers: upstreamHeaders(ex, b.service, this.span),
        maxPayload: b.maxMessage,
        maxFragments: MAX_FRAGMENTS,
        perMessageDeflate: false,
        followRedirects: false,
        // wss:// targets: the service's `tls` settings (CA, SNI name, insecureSkipVerify), as for its pool.
        ...target.tls,
      });
    } catch (err) {
      b.log.warn({ event: 'websocket_upstream_failed', requestId: ex.requestId, err: String(err) }, 'the upstream WebSocket could not be created');
      this.failHandshake('GH_UPSTREAM_ERROR');
      return;
    }
    upstream[TUNNEL] = this;
    this.upstream = upstream;
    upstream.on('upgrade', onUpstreamAnswered);
    upstream.on('open', onUpstreamOpen);
    upstream.on('unexpected-response', onUnexpectedResponse);
    upstream.on('error', onUpstreamError);
    upstream.on('close', onUpstreamClose);
    upstream.on('message', onUpstreamMessage);
    upstream.on('ping', onUpstreamHeard);
    upstream.on('pong', onUpstreamHeard);
  }

  /** upstreamOpened: the service answered 101. Now, and only now, the client gets its own 101. */
  upstreamOpened(): void {
    if (this.state !== State.Connecting) return;
    const ex = this.ex;
    const upstream = this.upstream!;
    this.judge(true);
    ex.upstreamMs = performance.now() - ex.upstreamStart;
    const req = ex.req as HandshakeRequest;
    req[CHOSEN] = upstream.protocol;
    req[REQUEST_ID] = ex.requestId;
    req[TUNNEL] = this;
    // Synchronous: the client is set (or the socket found dead) before any upstream message can arrive.
    this.backend.server.handleUpgrade(req, this.socket, ex.upgrade!.head, onClientUpgraded);
    if (this.client === null) {
      // The client left while the service was answering: ws destroyed the socket instead of answering.
      this.state = State.Closing;
      this.closed |= CLIENT;
      this.endSpan(101, null);
      upstream.close(1001, 'client went away');
      this.settle();
    }
  }

  /** clientOpened: the client got its 101; messages flow from here. */
  clientOpened(client: WebSocket & Carrier): void {
    const ex = this.ex;
    client[TUNNEL] = this;
    this.client = client;
    client.on('message', onClientMessage);
    client.on('ping', onClientPing);
    client.on('pong', onClientHeard);
    client.on('error', onClientError);
    client.on('close', onClientClose);
    this.state = State.Open;
    const now = performance.now();
    this.opened = now;
    this.clientQuietSince = now;
    this.upstreamQuietSince = now;
    ex.status = 101;
    this.endSpan(101, null);
    this.settle();
  }

  /**
   * failHandshake answers the client with an HTTP error; nothing was, or will be, tunnelled. A caller with
   * a verdict on the target gives it first; otherwise there is none.
   */
  failHandshake(code: ErrorCode): void {
    if (this.state !== State.Connecting) return;
    this.state = State.Done;
    this.judge(null);
    this.ex.fail(code);
    this.endSpan(0, code);
    this.upstream?.terminate();
    this.finish();
  }

  /** unexpected: the service answered the handshake with something else than 101. */
  unexpected(status: number): void {
    if (this.state !== State.Connecting) return;
    this.backend.log.debug({ event: 'websocket_upstream_refused', requestId: this.ex.requestId, target: this.target.id, status }, `the upstream answered the WebSocket handshake with ${status}`);
    // A 5xx says something about the target's health; a 4xx (its own refusal, a wrong path) does not.
    this.judge(status >= 500 ? !this.backend.service.passiveStatuses.has(status) : true);
    this.failHandshake('GH_UPSTREAM_ERROR');
  }

  /** clientGone: the client's socket closed; before the handshake ended, the upstream one is abandoned. */
  clientGone(): void {
    if (this.state === State.Connecting) {
      this.state = State.Done;
      this.judge(null);
      this.endSpan(0, null);
      this.upstream?.terminate();
      this.finish();
    }
  }

  /** upstreamError: an error of the upstream side; before 101 it fails the handshake. */
  upstreamError(err: Error & { code?: string }): void {
    if (this.state === State.Connecting) {
      const code = err.code;
      if (this.answered) {
        // A 101 that ws refused (no subprotocol among those offered, a wrong Sec-WebSocket-Accept): the target
        // is up, and the client chose the subprotocols, so this is no verdict on the target's health.
        this.backend.log.debug({ event: 'websocket_upstream_refused', requestId: this.ex.requestId, target: this.target.id, reason: err.message }, 'the upstream WebSocket handshake answer was not acceptable');
        this.failHandshake('GH_UPSTREAM_ERROR');
        return;
      }
      const unreachable = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
      this.backend.log.warn({ event: 'websocket_upstream_failed', requestId: this.ex.requestId, target: this.target.id, code }, 'the upstream WebSocket handshake failed');
      this.judge(false);
      this.failHandshake(unreachable ? 'GH_UPSTREAM_UNAVAILABLE' : 'GH_UPSTREAM_ERROR');
      return;
    }
    // After 101, ws reports protocol errors of the service's side (an oversized or malformed frame) and closes
    // that side with the matching code; the client learns that its service failed.
    if (this.state === State.Open) {
      this.state = State.Closing;
      this.backend.log.info({ event: 'websocket_closed', reason: 'upstream protocol error', code: err.code, requestId: this.ex.requestId }, 'the upstream broke the WebSocket protocol');
      this.client!.close(1014, 'upstream error');
    }
  }

  /** clientError: ws refused a frame of the client (too big: 1009; malformed: 1002/1007; too fragmented: 1008). */
  clientError(err: Error & { code?: string }): void {
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    this.backend.log.info({ event: 'websocket_closed', reason: 'client protocol error', code: err.code, requestId: this.ex.requestId }, 'a WebSocket client broke a limit or the protocol');
    this.upstream!.close(1001, 'client closed');
  }

  /** A side closed: the other is closed with the same code and reason, unless the gateway is closing both. */
  sideClosed(side: number, code: number, reason: Buffer): void {
    this.closed |= side;
    if (this.state === State.Open) {
      this.state = State.Closing;
      const fromClient = side === CLIENT;
      const other = fromClient ? this.upstream! : this.client!;
      const out = closeCodeFor(code, fromClient);
      if (out === undefined) other.close();
      else if (out === code) other.close(out, reason);
      else other.close(out, fromClient ? 'client went away' : 'upstream went away');
    }
    if (this.closed === (CLIENT | UPSTREAM)) this.finish();
  }

  /** relay sends a message on, and stops reading its sender while the receiver's side is backed up. */
  relay(from: WebSocket, to: WebSocket, data: Buffer, isBinary: boolean): void {
    if (to.readyState !== 1 /* OPEN */) return;
    if (to.bufferedAmount < HIGH_WATER_MARK) {
      to.send(data, isBinary ? BINARY : TEXT);
      return;
    }
    // Rare (a slow reader): one callback, which resumes the sender once this message is written out.
    from.pause();
    to.send(data, isBinary ? BINARY : TEXT, () => from.resume());
  }

  /** rateExceeded: the client sent more messages in a window than the route allows. */
  rateExceeded(): void {
    this.backend.log.info({ event: 'websocket_closed', reason: 'message rate', requestId: this.ex.requestId }, 'a WebSocket client exceeded the message rate');
    this.closeBoth(1008, 'message rate exceeded', 1001, 'client closed');
  }

  /** check applies the time-based limits (called by the backend's interval). */
  check(now: number, wall: number, newWindow: boolean): void {
    const b = this.backend;
    if (this.state === State.Connecting) {
      if (now - this.started >= b.handshakeMs) {
        this.judge(false);
        this.failHandshake('GH_UPSTREAM_TIMEOUT');
      }
      return;
    }
    if (this.state !== State.Open) return;
    if (newWindow) this.messages = 0;
    if (wall >= this.expiresAt) { this.closeBoth(1008, 'credential expired', 1008, 'credential expired'); return; }
    if (now - this.opened >= b.lifetimeMs) { this.closeBoth(1001, 'connection lifetime reached', 1001, 'connection lifetime reached'); return; }
    // A side is idle when nothing came from it, not even a pong to the ping sent at half the idle time.
    if (this.clientSeen) { this.clientSeen = false; this.clientQuietSince = now; this.clientPinged = false; }
    if (this.upstreamSeen) { this.upstreamSeen = false; this.upstreamQuietSince = now; this.upstreamPinged = false; }
    const idle = b.idleMs;
    if (now - this.clientQuietSince >= idle || now - this.upstreamQuietSince >= idle) {
      this.closeBoth(1001, 'idle timeout', 1001, 'idle timeout');
      return;
    }
    if (!this.clientPinged && now - this.clientQuietSince >= idle / 2) { this.clientPinged = true; this.client!.ping(); }
    if (!this.upstreamPinged && now - this.upstreamQuietSince >= idle / 2) { this.upstreamPinged = true; this.upstream!.ping(); }
  }

  /** closeBoth closes both sides for a reason of the gateway's own. */
  closeBoth(clientCode: number, clientReason: string, upstreamCode: number, upstreamReason: string): void {
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    this.client!.close(clientCode, clientReason);
    this.upstream!.close(upstreamCode, upstreamReason);
  }

  /** goingAway: the gateway shuts down; connections close with 1001, handshakes are refused with 503. */
  goingAway(): void {
    if (this.state === State.Connecting) { this.failHandshake('GH_SHUTTING_DOWN'); return; }
    this.closeBoth(1001, 'gateway shutting down', 1001, 'gateway shutting down');
  }

  /** destroy cuts both sides now (the shutdown deadline passed). */
  destroy(): void {
    this.client?.terminate();
    this.upstream?.terminate();
    this.socket.destroy();
    if (this.state === State.Connecting) { this.state = State.Done; this.judge(null); }
    this.finish();
  }

  /** judge gives passive health and the breaker their verdict on the handshake, once (null: no verdict). */
  private judge(ok: boolean | null): void {
    if (this.judged) return;
    this.judged = true;
    const passive = this.target.passive;
    const breaker = this.backend.service.breaker;
    if (ok === true) {
      if (this.panic) passive.readmit(); else passive.onSuccess();
      breaker?.onSuccess();
    } else if (ok === false) {
      passive.onFailure();
      breaker?.onFailure();
    } else {
      passive.release();
      breaker?.release();
    }
  }

  private endSpan(status: number, error: string | null): void {
    const span = this.span;
    if (span === null) return;
    this.span = null;
    this.ex.runtime.tracer?.endClient(this.ex, span, status, error);
  }

  /** settle ends the handshake's part of the request (the runtime may retire; the connection lives on). */
  private settle(): void {
    const r = this.resolve;
    this.resolve = null;
    if (r !== null) r();
  }

  /** finish releases what the connection held; idempotent. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.state = State.Done;
    const ex = this.ex;
    this.target.active--;
    if (this.key !== null) hold(ex.upgrade!.tunnels, this.key, -1);
    ex.upgrade!.tunnels.delete(this);
    this.backend.release(this);
    this.settle();
  }
}

/** The subprotocol the service chose, answered to the client (`false`: none). */
const CHOSEN = Symbol('gatehouse.wsProtocol');
const REQUEST_ID = Symbol('gatehouse.wsRequestId');
/** The client's request, carrying to ws's callbacks what they need. */
type HandshakeRequest = IncomingMessage & Carrier & { [CHOSEN]?: string; [REQUEST_ID]?: string };

function chosenProtocol(_offered: Set<string>, req: IncomingMessage): string | false {
  const p = (req as IncomingMessage & { [CHOSEN]?: string })[CHOSEN];
  return p === undefined || p === '' ? false : p;
}

/** The client's 101 carries the request id, like every other answer of the gateway. */
function addRequestId(headers: string[], req: IncomingMessage): void {
  const id = (req as IncomingMessage & { [REQUEST_ID]?: string })[REQUEST_ID];
  if (id !== undefined) headers.push(`X-Request-Id: ${id}`);
}

function onClientUpgraded(client: WebSocket, req: IncomingMessage): void {
  const t = (req as HandshakeRequest)[TUNNEL];
  if (t !== undefined) t.clientOpened(client as WebSocket & Carrier);
  else client.terminate();
}

function ignoreError(): void { /* the 'close' that follows is what counts */ }

function onClientSocketClose(this: Carrier): void { this[TUNNEL]?.clientGone(); }

function onUpstreamAnswered(this: WebSocket & Carrier): void { this[TUNNEL]!.answered = true; }

function onUpstreamOpen(this: WebSocket & Carrier): void { this[TUNNEL]!.upstreamOpened(); }

function onUnexpectedResponse(this: WebSocket & Carrier, _req: unknown, res: IncomingMessage): void {
  // Nothing of the answer reaches the client (its headers and body may say anything about the service).
  res.resume();
  this[TUNNEL]!.unexpected(res.statusCode ?? 0);
}

function onUpstreamError(this: WebSocket & Carrier, err: Error): void { this[TUNNEL]!.upstreamError(err); }

function onUpstreamClose(this: WebSocket & Carrier, code: number, reason: Buffer): void {
  const t = this[TUNNEL]!;
  if (t.state === State.Connecting || t.state === State.Done) return;
  t.sideClosed(UPSTREAM, code, reason);
}

function onUpstreamMessage(this: WebSocket & Carrier, data: Buffer, isBinary: boolean): void {
  const t = this[TUNNEL]!;
  t.upstreamSeen = true;
  const client = t.client;
  if (client === null) return;
  t.ex.bytesOut += data.length;
  t.relay(this, client, data, isBinary);
}

function onUpstreamHeard(this: WebSocket & Carrier): void { this[TUNNEL]!.upstreamSeen = true; }

function onClientMessage(this: WebSocket & Carrier, data: Buffer, isBinary: boolean): void {
  const t = this[TUNNEL]!;
  t.clientSeen = true;
  const limit = t.backend.messagesPerSecond;
  if (limit !== 0 && ++t.messages > limit) { t.rateExceeded(); return; }
  t.relay(this, t.upstream!, data, isBinary);
}

/** A ping costs the gateway a pong: pings count against the message rate like messages. */
function onClientPing(this: WebSocket & Carrier): void {
  const t = this[TUNNEL]!;
  t.clientSeen = true;
  const limit = t.backend.messagesPerSecond;
  if (limit !== 0 && ++t.messages > limit) t.rateExceeded();
}

function onClientHeard(this: WebSocket & Carrier): void { this[TUNNEL]!.clientSeen = true; }

function onClientError(this: WebSocket & Carrier, err: Error): void { this[TUNNEL]!.clientError(err); }

function onClientClose(this: WebSocket & Carrier, code: number, reason: Buffer): void {
  const t = this[TUNNEL]!;
  if (t.state === State.Done) return;
  t.sideClosed(CLIENT, code, reason);
}

/**
 * The headers of the upstream handshake: what the gateway forwards for any request (X-Forwarded-*, the
 * request id, consumer headers, the client's headers minus hop-by-hop and credentials), without the
 * client's own handshake headers, which ws writes afresh for its own handshake with the service.
 */
function upstreamHeaders(ex: Exchange, service: Service, span: ClientSpan | null): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const h = ex.upstreamHeaders;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name.startsWith('sec-websocket-') || name === 'content-length' || name === 'traceparent') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = h[i + 1]!;
    else if (typeof prev === 'string') out[name] = [prev, h[i + 1]!];
    else prev.push(h[i + 1]!);
  }
  const mode = service.hostMode;
  if (mode.kind === 'fixed') out.host = mode.host;
  else if (mode.kind === 'preserve' && ex.req.headers.host !== undefined) out.host = ex.req.headers.host;
  if (span !== null) out.traceparent = span.traceparent;
  return out;
}

function isAllowed(this: ReadonlySet<string>, p: string): boolean { return this.has(p); }

function heldBy(tunnels: Tunnels, key: string): number {
  return HELD.get(tunnels)?.get(key) ?? 0;
}

function hold(tunnels: Tunnels, key: string, delta: number): void {
  let m = HELD.get(tunnels);
  if (m === undefined) { m = new Map(); HELD.set(tunnels, m); }
  const n = (m.get(key) ?? 0) + delta;
  if (n <= 0) m.delete(key); else m.set(key, n);
}
