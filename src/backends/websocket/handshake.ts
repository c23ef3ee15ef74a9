/**
 * The small, pure parts of the WebSocket backend: checking the client's handshake headers before anything
 * is sent to the service (so a bad handshake is a problem document, not ws's bare 400 after the service was
 * already dialled), and choosing the close code passed on to the other side.
 */

/** A Sec-WebSocket-Key is 16 random bytes in base64 (RFC 6455 §4.1); the same test ws applies. */
const KEY_RE = /^[+/0-9A-Za-z]{22}==$/;

/** validKey says whether a Sec-WebSocket-Key header is present, single and well formed. */
export function validKey(key: string | undefined): boolean {
  return key !== undefined && KEY_RE.test(key);
}

/** Most subprotocols a client may offer: the header is bounded anyway; this bounds the list passed on. */
export const MAX_PROTOCOLS = 32;

/** HTTP token characters (RFC 9110 §5.6.2): what a subprotocol name is made of. */
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * parseProtocols reads Sec-WebSocket-Protocol: the offered subprotocols in order, [] when the header is
 * absent, or null when it is not a comma-separated list of distinct tokens (at least as strict as ws, which
 * parses it again when it completes the handshake).
 */
export function parseProtocols(header: string | undefined): string[] | null {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const part of header.split(',')) {
    const p = part.trim();
    if (!TOKEN_RE.test(p) || out.includes(p)) return null;
    out.push(p);
  }
  return out.length > MAX_PROTOCOLS ? null : out;
}

/**
 * closeCodeFor is the code that tells one side how the other closed: the same code when it can be sent;
 * undefined for 1005 (no code: an empty close frame, which the other side again sees as 1005); and for a
 * connection that ended without a close frame (1006, 1015, which are never sent), 1001 towards the service
 * (its client went away) or 1014 towards the client (bad gateway: its service failed).
 */
export function closeCodeFor(code: number, fromClient: boolean): number | undefined {
  if (code === 1005) return undefined;
  if (sendable(code)) return code;
  return fromClient ? 1001 : 1014;
}

/** The close codes an endpoint may send (RFC 6455 §7.4, the IANA registry; what ws accepts). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}
