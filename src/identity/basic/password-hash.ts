/**
 * Password hashes for Basic auth, as stored in `consumers.<id>.basic.password`:
 *
 * - bcrypt: `$2a$`, `$2b$` or `$2y$` + cost + 53 characters (as made by htpasswd -B, bcrypt libraries),
 *   checked with bcryptjs. bcryptjs is plain JavaScript: a check runs on the event loop (in slices).
 * - scrypt: `scrypt$<N>$<r>$<p>$<salt>$<hash>`, salt and hash in base64url without padding, e.g.
 *   `scrypt$32768$8$1$<22 chars: 16-byte salt>$<43 chars: 32-byte hash>` (what `gatehouse keys
 *   hash-password` prints). Checked with node:crypto scrypt, which runs in libuv's thread pool, off the
 *   event loop, and compared with crypto.timingSafeEqual.
 *
 * Passwords are normalised to Unicode NFC before hashing and checking (RFC 8265's OpaqueString profile), so
 * the same password typed on two systems gives the same bytes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { LazyModule } from '../../core/lazy.js';

/** BCRYPT is bcryptjs, loaded only for configs that use Basic auth (see src/core/lazy.ts). */
export const BCRYPT = new LazyModule('bcryptjs', () => import('bcryptjs'));

/** PasswordHash is a stored hash, parsed once. */
export type PasswordHash =
  | { readonly kind: 'bcrypt'; readonly cost: number; readonly text: string }
  | { readonly kind: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly hash: Buffer };

/** SCRYPT_DEFAULTS are the parameters `gatehouse keys hash-password` uses: 32 MiB and some 50–130 ms per check. */
export const SCRYPT_DEFAULTS = Object.freeze({ N: 32768, r: 8, p: 1, saltBytes: 16, hashBytes: 32 });

/** Bounds on scrypt parameters a config may use: a hash must not let one request take a gigabyte. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;

/**
 * PASSWORD_HASH_PATTERN is the shape of an accepted hash, for a schema `pattern` (the parameters are checked
 * by parsePasswordHash).
 */
export const PASSWORD_HASH_PATTERN = '^(\\$2[aby]\\$\\d{2}\\$[./A-Za-z0-9]{53}|scrypt\\$\\d{1,8}\\$\\d{1,3}\\$\\d{1,3}\\$[A-Za-z0-9_-]{11,}\\$[A-Za-z0-9_-]{22,})$';

const BCRYPT_RE = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
const SCRYPT_RE = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** parsePasswordHash reads a stored hash; a string result is the problem, for a config error. */
export function parsePasswordHash(text: string): PasswordHash | string {
  const b = BCRYPT_RE.exec(text);
  if (b !== null) {
    const cost = Number(b[1]);
    if (cost < 4 || cost > 31) return 'bcrypt cost must be between 04 and 31';
    return { kind: 'bcrypt', cost, text };
  }
  const s = SCRYPT_RE.exec(text);
  if (s !== null) {
    const N = Number(s[1]), r = Number(s[2]), p = Number(s[3]);
    if (N < 2 || (N & (N - 1)) !== 0) return 'scrypt N must be a power of 2';
    if (r < 1 || p < 1 || p > 16) return 'scrypt r must be ≥ 1 and p between 1 and 16';
    if (128 * N * r > SCRYPT_MAX_MEMORY) return 'scrypt parameters need more than 256 MiB per check (128 × N × r)';
    const salt = Buffer.from(s[4]!, 'base64url');
    const hash = Buffer.from(s[5]!, 'base64url');
    if (salt.length < 8) return 'scrypt salt must be at least 8 bytes';
    if (hash.length < 16 || hash.length > 64) return 'scrypt hash must be 16 to 64 bytes';
    return { kind: 'scrypt', N, r, p, salt, hash };
  }
  return 'must be a bcrypt hash ($2b$...) or an scrypt hash (scrypt$N$r$p$salt$hash, from `gatehouse keys hash-password`), never the password itself';
}

function scryptOptions(N: number, r: number, p: number): ScryptOptions {
  // Node refuses scrypt runs above `maxmem` (32 MiB by default), which N = 32768, r = 8 just reaches.
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
}

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** verifyPassword checks a password against a parsed hash, in time that does not depend on where they differ. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const pw = password.normalize('NFC');
  if (stored.kind === 'bcrypt') return BCRYPT.get().compare(pw, stored.text);
  const derived = await scryptAsync(pw, stored.salt, stored.hash.length, scryptOptions(stored.N, stored.r, stored.p));
  return timingSafeEqual(derived, stored.hash);
}

/** hashPassword makes an scrypt hash string for `basic.password`, with a fresh random salt. */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SCRYPT_DEFAULTS.saltBytes);
  const hash = await scryptAsync(password.normalize('NFC'), salt, SCRYPT_DEFAULTS.hashBytes, scryptOptions(params.N, params.r, params.p));
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/**
 * dummyLike returns a hash with the same algorithm and cost as `h` that no password matches (random salt
 * and hash bytes), made without running the hash. Checking a password against it costs what checking it
 * against `h` costs: unknown user names take as long as known ones.
 */
export function dummyLike(h: PasswordHash): PasswordHash {
  if (h.kind === 'bcrypt') {
    const salt = BCRYPT.get().genSaltSync(h.cost); // `$2b$NN$` + 22 salt characters; cheap, it only draws random bytes
    return { kind: 'bcrypt', cost: h.cost, text: salt + 'O'.repeat(31) };
  }
  return { kind: 'scrypt', N: h.N, r: h.r, p: h.p, salt: randomBytes(h.salt.length), hash: randomBytes(h.hash.length) };
}

/** costKey identifies a hash's algorithm and cost (hashes with equal keys take equal time to check). */
export function costKey(h: PasswordHash): string {
  return h.kind === 'bcrypt' ? `bcrypt/${h.cost}` : `scrypt/${h.N}/${h.r}/${h.p}/${h.hash.length}`;
}
