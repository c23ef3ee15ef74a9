/**
 * The one HTTP call shape of the identity methods (JWKS documents, token introspection): through a
 * dedicated undici Agent (never a route's pool), bounded in time (one deadline for connect, headers and
 * body) and in size (the body is read chunk by chunk and the request aborted past the cap), redirects not
 * followed. Failures come back as short reasons for logs, never as library messages for clients.
 */
import { Agent, request } from 'undici';

/** FetchFailure is a failed call; `reason` is short and safe to log (no secrets, no response body). */
export class FetchFailure extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/** FetchedText is a response read whole. */
export interface FetchedText {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** FetchOptions bound one call. */
export interface FetchOptions {
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** Deadline for the whole call, in ms. */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Aborts the call early (the owner is closing). */
  readonly signal?: AbortSignal;
}

/** newIdentityAgent makes the small dedicated Agent of one identity client. */
export function newIdentityAgent(timeoutMs: number): Agent {
  return new Agent({ connections: 4, keepAliveTimeout: 30_000, connect: { timeout: timeoutMs } });
}

/** fetchText makes one bounded call; it rejects with FetchFailure. */
export async function fetchText(agent: Agent, url: string, o: FetchOptions): Promise<FetchedText> {
  const deadline = new AbortController();
  const timer = setTimeout(abortDeadline, o.timeoutMs, deadline);
  timer.unref();
  const signal = o.signal === undefined ? deadline.signal : AbortSignal.any([deadline.signal, o.signal]);
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: o.method,
      headers: o.headers,
      body: o.body ?? null,
      signal,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    });
    const declared = Number(res.headers['content-length'] ?? -1);
    if (declared > o.maxBytes) {
      res.body.destroy();
      throw new FetchFailure(`response larger than ${o.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > o.maxBytes) {
        res.body.destroy();
        throw new FetchFailure(`response larger than ${o.maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    const ct = res.headers['content-type'];
    return { status: res.statusCode, contentType: typeof ct === 'string' ? ct : '', text: Buffer.concat(chunks, size).toString('utf8') };
  } catch (err) {
    if (err instanceof FetchFailure) throw err;
    if (deadline.signal.aborted) throw new FetchFailure(`no answer within ${o.timeoutMs} ms`);
    if (o.signal?.aborted) throw new FetchFailure('closed');
    const code = (err as { code?: unknown }).code;
    throw new FetchFailure(typeof code === 'string' ? `request failed (${code})` : 'request failed');
  } finally {
    clearTimeout(timer);
  }
}

function abortDeadline(c: AbortController): void { c.abort(); }

/** safeUrl is a URL for logs: origin and path only (no user info, no query that might carry a secret). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** isSafeUrl: https, or http to a loopback host (tests, sidecars). */
export function isSafeUrl(url: string): boolean {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol === 'https:') return true;
  const h = u.hostname;
  return u.protocol === 'http:' && (h === 'localhost' || h === '[::1]' || h.startsWith('127.'));
}
