/**
 * One pass over the raw request headers that does every header job of the core at once: counts and sizes
 * (431), framing checks against smuggling (400), underscore, hop-by-hop and client-sent identity header
 * removal, `Connection`-listed removal, and the list forwarded upstream. The result goes into a scratch object that is reused, because the
 * scan is synchronous and runs once per request: no allocation besides the forwarded list.
 */
import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from './errors.js';
import type { Limits } from './runtime.js';

/** HeaderScan is the outcome of scanRequestHeaders (a reused scratch object: copy what you keep). */
export interface HeaderScan {
  error: ErrorCode | null;
  /** Headers to forward, flat [lower-case name, value, ...], without host and the gateway's own headers. */
  forward: string[];
  host: string;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  requestId: string | undefined;
  upgrade: string | undefined;
  /** Declared body length; -1 for chunked; 0 for none. */
  bodyLength: number;
}

const SCAN: HeaderScan = {
  error: null, forward: [], host: '', forwardedFor: undefined, forwardedProto: undefined, forwardedHost: undefined,
  requestId: undefined, upgrade: undefined, bodyLength: 0,
};

/**
 * Headers never forwarded as the client sent them: hop-by-hop ones (RFC 9110 §7.6.1), framing (Node
 * re-frames the upstream request), and those the gateway sets itself (a client must not choose them).
 */
const enum H { Drop, Host, ContentLength, TransferEncoding, Authorization, Connection, Upgrade, Xff, Xfp, Xfh, RequestId, Authority }
const SPECIAL = new Map<string, H>([
  ['host', H.Host], ['content-length', H.ContentLength], ['transfer-encoding', H.TransferEncoding],
  ['authorization', H.Authorization], ['connection', H.Connection], ['upgrade', H.Upgrade],
  ['x-forwarded-for', H.Xff], ['x-forwarded-proto', H.Xfp], ['x-forwarded-host', H.Xfh], ['x-request-id', H.RequestId],
  ['keep-alive', H.Drop], ['proxy-connection', H.Drop], ['te', H.Drop], ['trailer', H.Drop], ['expect', H.Drop],
  ['proxy-authorization', H.Drop], ['forwarded', H.Drop], ['x-real-ip', H.Drop], ['http2-settings', H.Drop],
  // Identity headers the gateway sets itself after authentication (x-consumer-* are dropped by prefix).
  ['x-authenticated-subject', H.Drop],
  // HTTP/2 pseudo-headers (in `rawHeaders` of an HTTP/2 request): the method and path are the request's own,
  // and `:authority` is its Host. None is ever forwarded as a header.
  [':authority', H.Authority], [':method', H.Drop], [':path', H.Drop], [':scheme', H.Drop], [':protocol', H.Drop],
]);

/** Room left in the header count for the four pseudo-headers of an HTTP/2 request (two array slots each). */
const H2_PSEUDO_SLOTS = 8;

/** Prefix of the identity headers the gateway adds for an authenticated consumer (SECURITY.md, "Headers"). */
const CONSUMER_PREFIX = 'x-consumer-';

const PLAIN_CONNECTION = new Set(['keep-alive', 'close']);

/**
 * scanRequestHeaders checks and filters `req.rawHeaders` in one pass. `h2` says the request came on HTTP/2
 * (an Http2ServerRequest): pseudo-headers are then expected, and a body may come without Content-Length.
 */
export function scanRequestHeaders(req: IncomingMessage, limits: Limits, h2 = false): HeaderScan {
  const raw = req.rawHeaders;
  const s = SCAN;
  s.error = null;
  s.forward = [];
  s.host = '';
  s.forwardedFor = undefined;
  s.forwardedProto = undefined;
  s.forwardedHost = undefined;
  s.requestId = undefined;
  s.upgrade = undefined;
  s.bodyLength = 0;
  if (raw.length > limits.headerCount * 2 + (h2 ? H2_PSEUDO_SLOTS : 0)) { s.error = 'GH_HEADERS_TOO_LARGE'; return s; }
  let hosts = 0, lengths = 0, encodings = 0, auths = 0;
  let authority: string | undefined;
  let total = 0;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  const fwd = s.forward;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const size = name.length + value.length + 4;
    total += size;
    if (size > limits.header || total > limits.headers) { s.error = 'GH_HEADERS_TOO_LARGE'; return s; }
    const lower = name.toLowerCase();
    // `X_Forwarded_For` must not become a twin of `X-Forwarded-For` in a CGI-style upstream: drop them all.
    if (lower.includes('_')) continue;
    const kind = SPECIAL.get(lower);
    if (kind === undefined) {
      // Identity headers are the gateway's to set (authentication adds them); a client's copy is never believed.
      if (!lower.startsWith(CONSUMER_PREFIX)) fwd.push(lower, value);
      continue;
    }
    switch (kind) {
      case H.Host: hosts++; s.host = value; break;
      case H.ContentLength: lengths++; contentLength = value; fwd.push(lower, value); break;
      case H.TransferEncoding: encodings++; transferEncoding = value; break;
      case H.Authorization: auths++; fwd.push(lower, value); break;
      case H.Connection: connection = connection === undefined ? value : `${connection}, ${value}`; break;
      case H.Upgrade: s.upgrade = value; break;
      case H.Xff: s.forwardedFor = s.forwardedFor === undefined ? value : `${s.forwardedFor}, ${value}`; break;
      case H.Xfp: s.forwardedProto = value; break;
      case H.Xfh: s.forwardedHost = value; break;
      case H.RequestId: s.requestId = value; break;
      case H.Authority: authority = value; break;
      default: break; // H.Drop
    }
  }
  if (hosts > 1 || lengths > 1 || auths > 1) { s.error = 'GH_DUPLICATE_HEADER'; return s; }
  if (authority !== undefined) {
    // RFC 9113 §8.3.1: a Host that disagrees with :authority makes the target ambiguous.
    if (hosts === 1 && s.host !== authority) { s.error = 'GH_DUPLICATE_HEADER'; return s; }
    s.host = authority;
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400 (Node's own check is off: see Gateway).
  if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) { s.error = 'GH_BAD_REQUEST'; return s; }
  if (encodings > 0) {
    // Only exactly `chunked`, only on HTTP/1.1, never with Content-Length: anything else is a smuggling vector.
    if (encodings > 1 || req.httpVersionMinor === 0 || req.httpVersionMajor !== 1 || transferEncoding!.trim().toLowerCase() !== 'chunked' || lengths > 0) {
      s.error = 'GH_BAD_FRAMING';
      return s;
    }
    s.bodyLength = -1;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) { s.error = 'GH_BAD_FRAMING'; return s; }
    s.bodyLength = Number(contentLength);
  } else if (h2 && !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders) {
    // HTTP/2 frames the body itself: a stream whose HEADERS did not end it carries a body of unknown
    // length (gRPC always), which is counted against the limit as it arrives, like a chunked one.
    s.bodyLength = -1;
  }
  // Most clients send only `keep-alive` or `close`: nothing to remove, so skip the token parsing.
  if (connection !== undefined && !PLAIN_CONNECTION.has(connection.toLowerCase())) removeConnectionListed(fwd, connection);
  if (h2) joinCookies(fwd);
  return s;
}

/**
 * HTTP/2 clients may split Cookie into one header per cookie (RFC 9113 §8.2.3); an HTTP/1.1 upstream must
 * get one Cookie header, the crumbs joined with `; `. Joined in place, at the first Cookie's position.
 */
function joinCookies(fwd: string[]): void {
  let first = -1;
  let w = 0;
  for (let r = 0; r < fwd.length; r += 2) {
    if (fwd[r] === 'cookie') {
      if (first === -1) first = w;
      else { fwd[first + 1] = `${fwd[first + 1]}; ${fwd[r + 1]}`; continue; }
    }
    fwd[w++] = fwd[r]!;
    fwd[w++] = fwd[r + 1]!;
  }
  fwd.length = w;
}

/** Removes the headers a `Connection` header lists (except framing, which is handled above). */
function removeConnectionListed(fwd: string[], connection: string): void {
  const tokens = connection.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
  if (tokens.length === 0) return;
  let w = 0;
  for (let r = 0; r < fwd.length; r += 2) {
    if (tokens.includes(fwd[r]!) && fwd[r] !== 'content-length') continue;
    fwd[w++] = fwd[r]!;
    fwd[w++] = fwd[r + 1]!;
  }
  fwd.length = w;
}
