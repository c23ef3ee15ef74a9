/**
 * Small HTTP helpers of the admin listener: JSON answers, problem documents like the gateway's (catalogue
 * codes, never an exception's text), and bounded JSON bodies (size, depth, no prototype keys).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** MAX_BODY_BYTES bounds an admin request body (a whole route or consumer fits easily). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** MAX_JSON_DEPTH bounds the nesting of a submitted JSON body. */
export const MAX_JSON_DEPTH = 64;

/** json writes a JSON answer (not cached); `headers` is a flat [name, value, ...] list. */
export function json(res: ServerResponse, status: number, body: unknown, headers: readonly string[] = []): void {
  const text = JSON.stringify(body);
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text)), 'cache-control', 'no-store', ...headers]);
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** ProblemOptions are the optional members of an admin problem answer. */
export interface ProblemOptions {
  detail?: string;
  errors?: readonly { in: string; field: string; message: string }[];
  headers?: readonly string[];
}

/** problem writes an application/problem+json answer with a catalogue code. */
export function problem(res: ServerResponse, status: number, code: string, title: string, o: ProblemOptions = {}): void {
  const doc: Record<string, unknown> = { type: `https://gatehouse.dev/errors/${code.toLowerCase().replace(/_/g, '-')}`, title, status, code };
  if (o.detail !== undefined) doc.detail = o.detail;
  if (o.errors !== undefined) doc.errors = o.errors;
  const text = JSON.stringify(doc);
  res.writeHead(status, ['content-type', 'application/problem+json', 'content-length', String(Buffer.byteLength(text)), 'cache-control', 'no-store', ...(o.headers ?? [])]);
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** BodyError says why a request body was refused. */
export class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** readJson reads a JSON body (undefined when empty); throws BodyError for a body too large, not JSON or too deep. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  if (type !== undefined && !/^application\/(?:[a-z0-9.+-]+\+)?json\b/i.test(type)) throw new BodyError(415, 'the body must be JSON (Content-Type: application/json)');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BodyError(400, 'the body is not valid JSON');
  }
  checkShape(value, 0);
  return value;
}

function checkShape(v: unknown, depth: number): void {
  if (depth > MAX_JSON_DEPTH) throw new BodyError(400, `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(v)) { for (const x of v) checkShape(x, depth + 1); return; }
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') throw new BodyError(400, `the key "${k}" is not accepted`);
      checkShape(x, depth + 1);
    }
  }
}
