/**
 * Request ids for requests that arrive without a usable one. A random per-process prefix and a counter are
 * unique across processes and restarts without drawing randomness per request; crypto.randomUUID refills its
 * entropy pool every 128 ids, which showed as ~1% of the gateway's CPU under load (bench/micro/request-id.ts).
 */
import { randomBytes } from 'node:crypto';

const PREFIX = randomBytes(8).toString('hex');
let seq = 0;

/** newRequestId returns an id like `4f1c0a9e2b7d3e61-1a2b`: 16 hex digits of process prefix, a base-36 counter. */
export function newRequestId(): string {
  seq = (seq + 1) % Number.MAX_SAFE_INTEGER;
  return `${PREFIX}-${seq.toString(36)}`;
}

/** REQUEST_ID_RE is the form of a client-sent X-Request-Id that the gateway accepts and passes on. */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
