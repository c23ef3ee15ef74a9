/**
 * The schema of a route's `websocket:` block: the route accepts WebSocket upgrades and tunnels them to its
 * service, with limits applied to each connection's life. Descriptions are the user documentation; the
 * defaults follow SECURITY.md (message 1 MiB, idle 10 min, lifetime 2 h).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size, parseDuration, parseSize } from '../../config/units.js';
import { checkOrigin } from '../../features/cors/origins.js';

/** The largest `maxMessage`: ws keeps message sizes in 32-bit integers. */
const MAX_MESSAGE = 1024 ** 3;

/** A subprotocol name is an HTTP token (RFC 6455 §4.1, RFC 9110 §5.6.2). */
const TOKEN = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';

/** WebSocketSchema is a route's `websocket:` block. */
export const WebSocketSchema = Type.Object({
  maxMessage: Size('Largest message accepted from either side, after its fragments are joined; at most 1gb. A larger one closes the side that sent it with 1009 (message too big); the other side gets 1001 when the client sent it, 1014 when the service did. Default 1mb.', '1mb'),
  messagesPerSecond: Type.Integer({
    minimum: 0,
    default: 1000,
    description: 'Messages (pings included) a client may send in each one-second window of the gateway\'s clock. One more closes the connection: the client with 1008 (policy violation), the service with 1001. Messages are never dropped silently. `0` turns the limit off. Default 1000.',
  }),
  idle: Duration('How long a side may stay silent. After half of it without a message or pong from a side, the gateway pings that side; a side that answers nothing (no message, no pong) for the whole `idle` closes the connection with 1001 on both sides. Checked about once a second (more often for short values). Default 10m.', '10m'),
  maxLifetime: Duration('Longest a connection may stay open, whatever it does; then both sides are closed with 1001 and the client reconnects (and authenticates again). Default 2h.', '2h'),
  closeOnExpiry: Type.Boolean({
    default: true,
    description: 'Close the connection, with 1008 on both sides, when the credential it was opened with expires (a JWT\'s `exp`, an API key\'s expiry), checked about once a second. Default true.',
  }),
  handshakeTimeout: Duration('Time for the service to accept the connection and answer its handshake with 101. Exceeded → the client gets 504 and nothing is tunnelled. Default 10s.', '10s'),
  maxConnectionsPerConsumer: Type.Integer({
    minimum: 0,
    default: 100,
    description: 'Connections one caller may hold open on this route at once, on this gateway instance: by consumer (or token subject) when authenticated, else by client IP. One more upgrade is refused with 429 before anything reaches the service. `0` turns the cap off. Default 100.',
  }),
  subprotocols: Type.Optional(Type.Array(Type.String({ pattern: TOKEN, errorMessage: 'must be a subprotocol name (an HTTP token)' }), {
    minItems: 1,
    description: 'Subprotocols (`Sec-WebSocket-Protocol`) a client may ask for. Others are not passed on, and an upgrade that offers only others is refused with 400. Default: every subprotocol the client offers is passed to the service, and the one it chooses is answered to the client.',
  })),
  origins: Type.Optional(Type.Array(Type.String(), {
    minItems: 1,
    description: 'Browser origins allowed to open connections: exact origins (`https://app.example.com`) or patterns with one leading wildcard label (`https://*.example.com`). An upgrade with another `Origin` is refused with 403 (cross-site WebSocket hijacking); one without `Origin` (not a browser) is let through. Set it whenever browsers authenticate to the route with cookies. Default: not checked.',
  })),
}, {
  additionalProperties: false,
  description: 'Accept WebSocket upgrades on this route and tunnel them to its `service` (`http://` targets are reached as `ws://`, `https://` as `wss://`). The upgrade passes the route\'s features like any request (auth, allow, ip, rate-limit), then the service must answer 101 before any byte is tunnelled: any other answer, or a 101 choosing none of the offered subprotocols, is a 502 to the client. Close codes and reasons pass both ways. Messages are relayed as they are (no per-message compression is negotiated on either side). Other requests of the route go to the service as usual. See docs/websocket.md.',
});

/** WebSocketConfig is a validated `websocket:` block. */
export type WebSocketConfig = Static<typeof WebSocketSchema>;

/** checkWebSocket returns problems of a `websocket:` block the schema cannot express, as [relative path, message]. */
export function checkWebSocket(cfg: WebSocketConfig): [string, string][] {
  const out: [string, string][] = [];
  (cfg.origins ?? []).forEach((o, i) => {
    const problem = o === '*' ? 'a wildcard for every origin is the same as leaving `origins` out' : checkOrigin(o);
    if (problem !== null) out.push([`origins[${i}]`, problem]);
  });
  const max = parseSize(cfg.maxMessage);
  if (max < 1) out.push(['maxMessage', 'must be at least 1b']);
  else if (max > MAX_MESSAGE) out.push(['maxMessage', 'must be at most 1gb']);
  for (const k of ['idle', 'maxLifetime', 'handshakeTimeout'] as const) {
    if (parseDuration(cfg[k]) < 100) out.push([k, 'must be at least 100ms']);
  }
  return out;
}
