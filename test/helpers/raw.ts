/**
 * Reading raw HTTP/1.1 answers and holding a raw socket open, for the security tests: requests no well-behaved
 * client would send, sent in pieces or pipelined, with the answers parsed here rather than by a client that
 * would hide what went over the wire. Also `assertProblem`, the one check of a gateway error answer.
 */
import { connect, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import type { Reply } from './http.js';
import { startUpstream, type Upstream } from './upstream.js';
import { startTestGateway, type TestGateway } from './gateway.js';

/** RawReply is one response parsed from raw bytes; `rest` is whatever followed it on the wire. */
export interface RawReply extends Reply {
  /** The header block as sent (for absence checks of names and values). */
  head: string;
  rest: string;
  /** Whether the whole body arrived (a body read until close is complete only once the connection closed). */
  complete: boolean;
}

/** parseRaw parses the first response of `raw` (content-length, chunked, or read-until-close bodies). */
export function parseRaw(raw: string): RawReply {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { status: 0, headers: {}, body: '', json: undefined, head: raw, rest: '', complete: false };
  const head = raw.slice(0, end);
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  const headers: Record<string, string | string[] | undefined> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  let pos = end + 4;
  let body = '';
  let complete = false;
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  const status = m ? Number(m[1]) : 0;
  if (status < 200 || status === 204 || status === 304) {
    complete = true; // no body (a HEAD answer is not parsed here)
  } else if (typeof te === 'string' && te.toLowerCase() === 'chunked') {
    for (;;) {
      const eol = raw.indexOf('\r\n', pos);
      if (eol === -1) { pos = raw.length; break; }
      const size = parseInt(raw.slice(pos, eol), 16);
      pos = eol + 2;
      if (!(size > 0)) { complete = size === 0 && raw.startsWith('\r\n', pos); pos = Math.min(raw.length, pos + 2); break; }
      body += raw.slice(pos, pos + size);
      pos += size + 2;
    }
  } else if (typeof cl === 'string') {
    body = raw.slice(pos, pos + Number(cl));
    complete = body.length === Number(cl);
    pos += Number(cl);
  } else {
    body = raw.slice(pos);
    pos = raw.length;
  }
  let json: unknown;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status, headers, body, json, head, rest: raw.slice(pos), complete };
}

/** parseAll parses every response in `raw` (pipelining). */
export function parseAll(raw: string): RawReply[] {
  const out: RawReply[] = [];
  let text = raw;
  while (/^HTTP\/1\.[01] \d{3}/.test(text)) {
    const r = parseRaw(text);
    out.push(r);
    text = r.rest;
  }
  return out;
}

/** header reads one header of a reply as a single string ('' when absent). */
export function header(r: Reply, name: string): string {
  const v = r.headers[name];
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

/**
 * assertProblem checks a gateway error answer: status, `application/problem+json`, the stable code, and the
 * same request id in the `x-request-id` header and the body.
 */
export function assertProblem(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, `status of ${JSON.stringify(r.body).slice(0, 300)}`);
  assert.equal(header(r, 'content-type'), 'application/problem+json');
  assert.ok(r.json !== undefined && typeof r.json === 'object', `problem body is JSON: ${r.body}`);
  assert.equal(r.json.code, code);
  assert.equal(r.json.status, status);
  const id = header(r, 'x-request-id');
  assert.match(id, /^[A-Za-z0-9._:-]{1,128}$/);
  assert.equal(r.json.requestId, id);
}

/** RawClient is one raw TCP connection kept open across steps (slow senders, keep-alive sequences). */
export class RawClient {
  readonly socket: Socket;
  data: string;
  closed: boolean;
  private readonly waiters: Set<() => void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.data = '';
    this.closed = false;
    this.waiters = new Set();
    this.socket.on('data', (c: Buffer) => { this.data += c.toString('latin1'); this.wake(); });
    this.socket.on('end', () => { this.closed = true; this.wake(); });
    this.socket.on('close', () => { this.closed = true; this.wake(); });
    this.socket.on('error', () => { this.closed = true; this.wake(); });
  }

  /** connected resolves once the TCP connection is open (or failed). */
  connected(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket.connecting) { resolve(); return; }
      this.socket.once('connect', () => resolve());
      this.socket.once('error', () => resolve());
    });
  }

  write(text: string | Buffer): void {
    if (!this.closed) this.socket.write(text);
  }

  /** until waits for `cond` (checked on every event) or `ms`; returns whether it held. */
  until(cond: (c: RawClient) => boolean, ms: number): Promise<boolean> {
    if (cond(this)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!cond(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => { this.waiters.delete(check); resolve(cond(this)); }, ms);
      this.waiters.add(check);
    });
  }

  /** responses waits until `n` whole responses arrived (or the connection closed, or `ms`). */
  async responses(n: number, ms: number): Promise<RawReply[]> {
    await this.until((c) => c.closed || parseAll(c.data).filter((r) => r.complete && r.status >= 200).length >= n, ms);
    return parseAll(this.data).filter((r) => r.status >= 200);
  }

  close(): void { this.socket.destroy(); }

  private wake(): void { for (const w of [...this.waiters]) w(); }
}

/**
 * exchange sends `text` on a fresh connection and returns the final (non-1xx) answers once `n` are complete,
 * the connection closed, or `ms` passed: faster than waiting for a keep-alive connection to close.
 */
export async function exchange(port: number, text: string | Buffer, n = 1, ms = 1500): Promise<RawReply[]> {
  const c = new RawClient(port);
  c.write(text);
  const replies = await c.responses(n, ms);
  c.close();
  return replies;
}

/** sleep waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * LEAK_PATTERNS match what must never appear in a gateway error: upstream addresses, library error codes and
 * messages, stack frames.
 */
export const LEAK_PATTERNS: readonly RegExp[] = [
  /127\.0\.0\.1/, /localhost/i, /ECONN/, /EPIPE/, /UND_ERR/, /HPE_/, /undici/i, /other side closed/i,
  /socket hang up/i, /\bat .+:\d+:\d+/, /node:internal/, /Error:/, /stack/i,
];

/** LISTEN is the listen block of test configs: port 0, and a short drain so `after` never waits long. */
export const LISTEN = 'listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 1s }';

/**
 * startApiGateway starts the common fixture of the security suites: one recording upstream `a` and a gateway
 * with a single route `/api/*` to it, no retries.
 */
export async function startApiGateway(): Promise<{ up: Upstream; gw: TestGateway }> {
  const up = await startUpstream('a');
  const gw = await startTestGateway(`${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
routes:
  - { name: api, match: { path: /api/* }, service: a }
`);
  return { up, gw };
}
