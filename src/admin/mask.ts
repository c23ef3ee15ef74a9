/**
 * Secrets never leave the admin API: API key hashes are shown as `sha256:` and their first 12 hex digits,
 * everything secret (password hashes, shared secrets, client secrets, tokens, private key material, passwords
 * inside URLs, tracing headers) as `[REDACTED]`. A `${VAR}` reference alone is shown as written: it names
 * where a secret comes from, not the secret. unmask undoes the masking of a value sent back unchanged, so an
 * element read, edited and written back keeps its secrets.
 */
import { isPlainObject } from '../config/edit.js';

/** REDACTED replaces a secret value. */
export const REDACTED = '[REDACTED]';
/** KEY_ID_HEX is how many hex digits of a key hash identify it in the API. */
export const KEY_ID_HEX = 12;

/** Keys whose value is secret wherever they appear. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'secret', 'clientSecret', 'token', 'privateKey', 'passphrase']);
const ENV_ONLY = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
const KEY_HASH = /^sha256:([0-9a-f]{64})$/;
const MASKED_KEY = /^sha256:([0-9a-f]{12})…$/;

/** maskKeyHash shows a key hash as its id: `sha256:2c26b46b68ff…`. */
export function maskKeyHash(hash: string): string {
  const m = KEY_HASH.exec(hash);
  return m === null ? REDACTED : `sha256:${m[1]!.slice(0, KEY_ID_HEX)}…`;
}

/** maskConfig returns a deep copy of a config (or part of one, at `path`) with every secret masked. */
export function maskConfig(value: unknown, path: readonly (string | number)[] = []): unknown {
  return walk(value, [...path]);
}

function walk(v: unknown, path: (string | number)[]): unknown {
  const key = path[path.length - 1];
  if (typeof v === 'string') return maskString(v, path);
  if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...path, k]);
    return out;
  }
  // Numbers and booleans are never secret, except under a secret key.
  return typeof key === 'string' && SECRET_KEYS.has(key) && v !== undefined && v !== null ? REDACTED : v;
}

function maskString(s: string, path: readonly (string | number)[]): string {
  if (ENV_ONLY.test(s)) return s;
  const key = path[path.length - 1];
  // consumers.<id>.keys[i] or consumers.<id>.keys[i].hash
  if (path[0] === 'consumers' && path[2] === 'keys' && (path.length === 4 || key === 'hash')) return maskKeyHash(s);
  if (typeof key === 'string' && SECRET_KEYS.has(key)) return REDACTED;
  // tracing.headers.<name>: an exporter's API key, typically.
  if (path[0] === 'tracing' && path[1] === 'headers' && path.length === 3) return REDACTED;
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s)) return REDACTED;
  return maskUrlPassword(s);
}

/** maskUrlPassword hides the password of a URL with credentials (`redis://:pw@host` → `redis://:[REDACTED]@host`). */
export function maskUrlPassword(s: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(s)) return s;
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/i, `$1:${REDACTED}@`);
}

/**
 * unmask restores, in a submitted element, the secrets that are still masked as the API showed them: a value
 * equal to the masked form of the current value at the same path is the current value, and a masked key id
 * is the current key hash it identifies. `path` is where the element sits in the config (for the rules of
 * maskConfig).
 */
export function unmask(submitted: unknown, current: unknown, path: readonly (string | number)[]): unknown {
  const hashes: string[] = [];
  collectKeyHashes(current, hashes);
  return restore(submitted, current, [...path], hashes);
}

function restore(v: unknown, cur: unknown, path: (string | number)[], hashes: readonly string[]): unknown {
  if (typeof v === 'string') {
    const k = MASKED_KEY.exec(v);
    if (k !== null) {
      const found = hashes.filter((h) => h.startsWith(`sha256:${k[1]}`));
      if (found.length === 1) return found[0];
    }
    if (typeof cur === 'string' && cur !== v && maskString(cur, path) === v) return cur;
    if ((typeof cur === 'number' || typeof cur === 'boolean') && v === REDACTED) return cur;
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => restore(x, Array.isArray(cur) ? cur[i] : undefined, [...path, i], hashes));
  if (isPlainObject(v)) {
    const c = isPlainObject(cur) ? cur : {};
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = restore(x, c[k], [...path, k], hashes);
    return out;
  }
  return v;
}

function collectKeyHashes(v: unknown, out: string[]): void {
  if (typeof v === 'string') { if (KEY_HASH.test(v)) out.push(v); return; }
  if (Array.isArray(v)) { for (const x of v) collectKeyHashes(x, out); return; }
  if (isPlainObject(v)) for (const x of Object.values(v)) collectKeyHashes(x, out);
}
