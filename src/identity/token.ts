/**
 * Finding a bearer token in a request (the `Authorization: Bearer` header, another header, or a cookie) and
 * reading a JWT's issuer before it is verified, so that a `jwt` entry can leave tokens of other issuers to
 * the next method. All of it scans strings with indexOf: no regex, no closure, no allocation but the slices.
 */

/** headerOf returns the first value of header `name` (lower-case) in a flat [name, value, ...] list. */
export function headerOf(h: readonly string[], name: string): string | undefined {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

const BEARER = 'bearer';

/**
 * bearerToken reads `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1): the token, or null when the
 * value uses another scheme or carries nothing.
 */
export function bearerToken(value: string): string | null {
  if (value.length < 8 || value.charCodeAt(6) !== 0x20) return null;
  // Compared char by char with the ASCII case bit set: no lower-cased copy of the header.
  for (let i = 0; i < 6; i++) if ((value.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return null;
  let start = 7;
  while (start < value.length && value.charCodeAt(start) === 0x20) start++;
  let end = value.length;
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--;
  return end > start ? value.slice(start, end) : null;
}

/** cookieValue finds cookie `name` in the `cookie` headers of a flat list: its value, or null. */
export function cookieValue(h: readonly string[], name: string): string | null {
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'cookie') continue;
    const v = h[i + 1]!;
    let start = 0;
    while (start < v.length) {
      let end = v.indexOf(';', start);
      if (end === -1) end = v.length;
      while (start < end && v.charCodeAt(start) === 0x20) start++;
      if (end - start > name.length && v.charCodeAt(start + name.length) === 0x3d /* = */ && v.startsWith(name, start)) {
        let value = v.slice(start + name.length + 1, end).trim();
        if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
        return value === '' ? null : value;
      }
      start = end + 1;
    }
  }
  return null;
}

/** NOT_A_JWT is what peekIssuer returns for a token that is not a signed JWT with a string `iss`. */
export const NOT_A_JWT = null;

/**
 * peekIssuer reads the `iss` claim of a compact JWS (header.payload.signature) WITHOUT verifying anything.
 * Used only to route the token to the entry of its issuer; the verification that follows checks `iss` again
 * from the verified payload. Returns null for opaque tokens, JWEs (five parts), and payloads that are not a
 * JSON object with a string `iss`.
 */
export function peekIssuer(token: string): string | null {
  const d1 = token.indexOf('.');
  if (d1 <= 0) return NOT_A_JWT;
  const d2 = token.indexOf('.', d1 + 1);
  if (d2 === -1 || d2 === d1 + 1 || token.indexOf('.', d2 + 1) !== -1) return NOT_A_JWT;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString('utf8'));
  } catch {
    return NOT_A_JWT;
  }
  if (typeof payload !== 'object' || payload === null) return NOT_A_JWT;
  const iss = (payload as { iss?: unknown }).iss;
  return typeof iss === 'string' ? iss : NOT_A_JWT;
}
