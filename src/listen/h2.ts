/**
 * The HTTP/2 client sessions of a TLS listener: what an HTTP/1.1 connection gets from Node's HTTP server
 * (idle timeout, a request budget, a polite close on shutdown) done per session, plus the bound on stream
 * cancellations that answers the "rapid reset" flood (CVE-2023-44487): a client that opens and cancels
 * streams faster than the concurrency limit can see them is disconnected with GOAWAY ENHANCE_YOUR_CALM.
 *
 * Listeners are module functions that find their state through a symbol, so a session or a stream costs
 * no closure; the per-request work is one counter (see H2Sessions.admit).
 */
import { constants, type Http2ServerRequest, type ServerHttp2Session, type ServerHttp2Stream, type SecureServerOptions } from 'node:http2';
import type { Logger } from 'pino';
import { parseDuration, parseSize } from '../config/units.js';
import type { H2Config } from './schema.js';

const STATE = Symbol('gatehouse.h2session');
type Session = ServerHttp2Session & { [STATE]?: SessionState };
/** A stream keeps its session's state: once closed, `stream.session` is gone. */
type Stream = ServerHttp2Stream & { [STATE]?: SessionState };

/** Per-session bookkeeping. */
class SessionState {
  readonly owner: H2Sessions;
  readonly ip: string;
  /** Streams open on the session (for the idle timeout: a session waiting on a slow upstream is not idle). */
  streams: number;
  /** Requests started on the session, for `limits.requestsPerConnection`. */
  requests: number;
  /** Streams the client cancelled in the current window, and when the window began (ms, monotonic). */
  resets: number;
  windowStart: number;
  constructor(owner: H2Sessions, ip: string) {
    this.owner = owner;
    this.ip = ip;
    this.streams = 0;
    this.requests = 0;
    this.resets = 0;
    this.windowStart = performance.now();
  }
}

/** h2ServerOptions are the HTTP/2 options a secure server is created with (SETTINGS and Node's own bounds). */
export function h2ServerOptions(cfg: H2Config, headerCount: number): Pick<SecureServerOptions, 'settings' | 'maxHeaderListPairs' | 'maxSessionRejectedStreams' | 'maxSessionInvalidFrames'> {
  return {
    settings: {
      maxConcurrentStreams: cfg.maxConcurrentStreams,
      maxHeaderListSize: parseSize(cfg.maxHeaderListSize),
      enablePush: false,
      // No WebSocket over HTTP/2 (RFC 8441): such clients fall back to an HTTP/1.1 connection.
      enableConnectProtocol: false,
    },
    // Past Node's pair limit a stream is reset; below it the header scan answers 431 by `limits.headerCount`.
    maxHeaderListPairs: Math.max(128, headerCount * 2),
    // Node's defaults, written out: refused streams and malformed frames past these close the session.
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 1000,
  };
}

/** H2Sessions keeps the listener's HTTP/2 sessions and enforces their per-session bounds. */
export class H2Sessions {
  readonly live: Set<ServerHttp2Session>;
  readonly log: Logger;
  /** Idle time after which a session with no open stream is closed (GOAWAY), in ms; from `limits.keepAliveTimeout`. */
  idleMs: number;
  readonly resetLimit: number;
  readonly resetWindowMs: number;
  /** Sessions closed for cancelling too many streams, since start (for tests and logs). */
  floods: number;

  constructor(cfg: H2Config, idleMs: number, log: Logger) {
    this.live = new Set();
    this.log = log;
    this.idleMs = idleMs;
    this.resetLimit = cfg.resets.limit;
    this.resetWindowMs = parseDuration(cfg.resets.per);
    this.floods = 0;
  }

  /** onSession takes a new session (the server's 'session' event). */
  onSession(session: ServerHttp2Session): void {
    const s = session as Session;
    s[STATE] = new SessionState(this, session.socket?.remoteAddress ?? '');
    this.live.add(session);
    session.setTimeout(this.idleMs);
    session.on('timeout', onSessionTimeout);
    session.on('stream', onSessionStream);
    session.once('close', onSessionClose);
  }

  /**
   * admit counts a request on its session and says GOAWAY once the session's request budget is spent or the
   * gateway drains: the request itself is served, later ones go to a new connection. False when the
   * session is already gone (nobody is left to answer).
   */
  admit(req: Http2ServerRequest, draining: boolean, perSession: number): boolean {
    const session = req.stream.session as Session | undefined;
    if (session === undefined || session.destroyed) return false;
    const st = session[STATE];
    if (st === undefined) return true;
    const n = ++st.requests;
    if (draining || (perSession > 0 && n >= perSession)) {
      if (!session.closed) session.close();
    }
    return true;
  }

  /** closeAll sends GOAWAY on every session: streams under way finish, no new ones start. */
  closeAll(): void {
    for (const s of this.live) if (!s.closed && !s.destroyed) s.close();
  }

  /** destroyAll cuts every session (after the shutdown deadline). */
  destroyAll(): void {
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  /** A client that cancelled more streams than allowed in the window. */
  flood(session: Session, st: SessionState): void {
    this.floods++;
    this.log.warn({ event: 'h2_reset_flood', clientIp: unmapped(st.ip), resets: st.resets, windowMs: this.resetWindowMs }, 'an HTTP/2 client cancelled too many streams; its connection is closed (ENHANCE_YOUR_CALM)');
    // GOAWAY first, then a close: destroy() alone cuts the socket before the GOAWAY frame is flushed, and the
    // client would not learn why. Streams already open are cancelled by the client or end; if the client
    // keeps the connection anyway, it is cut a moment later.
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.close();
    setTimeout(destroySession, FLOOD_GRACE_MS, session).unref();
  }
}

/** How long a flooding client's session may linger after GOAWAY before it is cut. */
const FLOOD_GRACE_MS = 1000;

function destroySession(session: ServerHttp2Session): void {
  if (!session.destroyed) session.destroy();
}

function onSessionStream(this: Session, stream: Stream): void {
  const st = this[STATE]!;
  st.streams++;
  stream[STATE] = st;
  stream.on('aborted', onStreamAborted);
  stream.once('close', onStreamClose);
}

/**
 * A stream ended before its response did. Node emits 'aborted' both when the peer resets the stream and
 * when the gateway destroys it (an upstream cut mid-response); only the peer's reset leaves the stream not
 * yet destroyed at this point, so only those are counted.
 */
function onStreamAborted(this: Stream): void {
  if (this.destroyed) return;
  const session = this.session as Session | undefined;
  const st = this[STATE];
  if (st === undefined || session === undefined) return;
  const now = performance.now();
  const owner = st.owner;
  if (now - st.windowStart > owner.resetWindowMs) { st.windowStart = now; st.resets = 0; }
  // Once told GOAWAY (closed), the session is on its way out: one verdict per session.
  if (++st.resets > owner.resetLimit && !session.closed && !session.destroyed) owner.flood(session, st);
}

function onStreamClose(this: Stream): void {
  const st = this[STATE];
  if (st !== undefined) st.streams--;
}

/** No frame for the idle time: close the session unless a stream is still waiting (on a slow upstream, say). */
function onSessionTimeout(this: Session): void {
  const st = this[STATE];
  if (st !== undefined && st.streams > 0) return;
  if (!this.closed) this.close();
}

function onSessionClose(this: Session): void {
  this[STATE]?.owner.live.delete(this);
}

function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
