/**
 * The format of Gatehouse API keys, shared by the `apiKey` authenticator and `gatehouse keys`:
 *
 *   <prefix><43 random base62 characters><6 base62 characters of CRC-32>
 *   gh_live_4b2XkV0yQ8...                (57 characters with the default prefix)
 *
 * - The prefix (default `gh_live_`) makes leaked keys easy to find for secret scanners and people: 2 to 24
 *   characters of a-z, 0-9 and `_`, starting with a letter and ending with `_`.
 * - 43 base62 characters carry 256 bits of randomness (43 × log2 62 ≈ 256.03).
 * - The checksum is the CRC-32 of prefix + random part, so a scanner can tell a real key from a look-alike
 *   without asking anyone. The gateway checks the shape before it spends a SHA-256 on a key; it leaves the
 *   checksum to the lookup (see hasKeyShape).
 * Only the SHA-256 of the whole key is stored (`sha256:<hex>`); the key itself is shown once.
 */
import { randomBytes, hash } from 'node:crypto';

/** DEFAULT_KEY_PREFIX is the prefix `gatehouse keys new` uses unless told otherwise. */
export const DEFAULT_KEY_PREFIX = 'gh_live_';
/** KEY_RANDOM_CHARS is the length of the random part (256 bits in base62). */
export const KEY_RANDOM_CHARS = 43;
/** KEY_CHECKSUM_CHARS is the length of the checksum (62^6 > 2^32). */
export const KEY_CHECKSUM_CHARS = 6;
const BODY_CHARS = KEY_RANDOM_CHARS + KEY_CHECKSUM_CHARS;
const PREFIX_MIN = 2;
const PREFIX_MAX = 24;
/** Bounds of a key in the `any` format (keys issued by another system). */
export const OPAQUE_KEY_MIN = 16;
export const OPAQUE_KEY_MAX = 256;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** CRC-32 (IEEE) table, built once; the checksum is computed over char codes, with no string→bytes encoding. */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** crc32 of the first `end` characters of `s` (all ASCII, checked by the caller). */
function crc32(s: string, end: number): number {
  let c = -1;
  for (let i = 0; i < end; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** BASE62[code] is the value of an ASCII character in ALPHABET, or -1 (a table: no branches per character). */
const BASE62 = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) BASE62[ALPHABET.charCodeAt(i)] = i;

function encodeChecksum(n: number): string {
  let out = '';
  for (let i = 0; i < KEY_CHECKSUM_CHARS; i++) {
    out = ALPHABET[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** validKeyPrefix says whether `prefix` may start a key (2–24 chars of a-z0-9_, a letter first, `_` last). */
export function validKeyPrefix(prefix: string): boolean {
  if (prefix.length < PREFIX_MIN || prefix.length > PREFIX_MAX) return false;
  const first = prefix.charCodeAt(0);
  if (first < 97 || first > 122 || prefix.charCodeAt(prefix.length - 1) !== 95) return false;
  for (let i = 1; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) return false;
  }
  return true;
}

/** newApiKey makes a fresh key with `prefix` from the system's CSPRNG. */
export function newApiKey(prefix: string = DEFAULT_KEY_PREFIX): string {
  if (!validKeyPrefix(prefix)) throw new Error(`invalid key prefix "${prefix}": use 2 to 24 characters of a-z, 0-9 and _, starting with a letter and ending with _ (e.g. gh_live_)`);
  let body = '';
  // Rejection sampling: bytes ≥ 248 (= 4 × 62) are skipped so every character is equally likely.
  while (body.length < KEY_RANDOM_CHARS) {
    for (const b of randomBytes(64)) {
      if (b < 248 && body.length < KEY_RANDOM_CHARS) body += ALPHABET[b % 62];
    }
  }
  const head = prefix + body;
  return head + encodeChecksum(crc32(head, head.length));
}

/**
 * hasKeyShape checks the shape of a key, which is what the gateway checks before hashing: a valid prefix
 * followed by exactly 49 base62 characters. One pass, no regex, no allocation. The checksum is not verified
 * here: a key of the right shape is as cheap to look up as to checksum (a guesser can compute a CRC anyway),
 * and the common case, a good key, would pay for it on every request (bench/micro/api-key.ts).
 */
export function hasKeyShape(key: string): boolean {
  const len = key.length;
  if (len < PREFIX_MIN + BODY_CHARS || len > PREFIX_MAX + BODY_CHARS) return false;
  const prefixEnd = len - BODY_CHARS;
  const first = key.charCodeAt(0);
  if (first < 97 || first > 122 || key.charCodeAt(prefixEnd - 1) !== 95) return false;
  for (let i = 1; i < prefixEnd; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) return false;
  }
  for (let i = prefixEnd; i < len; i++) {
    const c = key.charCodeAt(i);
    if (c > 127 || BASE62[c]! < 0) return false;
  }
  return true;
}

/**
 * isGatehouseKey checks shape and checksum: whether `key` was made by newApiKey (or is a copy of one
 * without a typo). For the CLI and for scanners; the gateway itself checks only hasKeyShape.
 */
export function isGatehouseKey(key: string): boolean {
  if (!hasKeyShape(key)) return false;
  const len = key.length;
  let sum = 0;
  for (let i = len - KEY_CHECKSUM_CHARS; i < len; i++) sum = sum * 62 + BASE62[key.charCodeAt(i)]!;
  return sum === crc32(key, len - KEY_CHECKSUM_CHARS);
}

/** isOpaqueKey accepts keys issued elsewhere (`format: any`): 16 to 256 visible ASCII characters. */
export function isOpaqueKey(key: string): boolean {
  const len = key.length;
  if (len < OPAQUE_KEY_MIN || len > OPAQUE_KEY_MAX) return false;
  for (let i = 0; i < len; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** keyDigest is the SHA-256 hex digest of a key, the index of `consumers.byKeyHash`. */
export function keyDigest(key: string): string {
  // crypto.hash (one shot) costs about half of createHash().update().digest(): see bench/micro/api-key.ts.
  return hash('sha256', key, 'hex');
}

/** hashApiKey is the form stored in the config: `sha256:<64 hex digits>`. */
export function hashApiKey(key: string): string {
  return `sha256:${keyDigest(key)}`;
}
