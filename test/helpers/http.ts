/**
 * Clients for tests: `request` (undici, one call, body read as text) and `rawRequest` (a raw TCP socket, for
 * requests no well-behaved client would send: smuggling, bad framing, malformed paths).
 */
import { connect } from 'node:net';
import { request as undiciRequest, Agent } from 'undici';

/** Reply is a response read whole. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** body parsed as JSON when it is JSON, else undefined. */
  json: any;
}

const agent = new Agent({ keepAliveTimeout: 1000, connections: 64 });

/** request sends one request through undici and reads the whole answer. */
export async function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer | NodeJS.ReadableStream } = {}): Promise<Reply> {
  const res = await undiciRequest(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body as string | undefined,
    dispatcher: agent,
  });
  const body = await res.body.text();
  let json: unknown;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status: res.statusCode, headers: res.headers as Reply['headers'], body, json };
}

/** rawRequest writes `text` on a fresh TCP connection and returns everything read until close or `waitMs`. */
export function rawRequest(port: number, text: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => { clearTimeout(timer); socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', done);
    socket.on('error', done);
    socket.write(text);
  });
}

/** statusOf reads the status code of the first response in a raw reply (0 when none). */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}
