/**
 * The dashboard's static shell on the admin listener: `/` (index.html), `/dashboard/app.js` and
 * `/dashboard/app.css`, bundled at build time (scripts/build-dashboard.mjs, from dashboard/src) into
 * dist/dashboard. The shell holds no data and needs no token; everything it shows comes from /api/*, which
 * does. Files are read once, on first use, and kept in memory with an ETag, so a reload costs a 304.
 *
 * Headers: a strict Content-Security-Policy (only this origin's script, style and fetches; no inline script,
 * no framing, no form posts elsewhere), nosniff, no referrer, and `no-cache` so a new build is picked up.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** DASHBOARD_CSP is the Content-Security-Policy of every dashboard file. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** One built file, ready to send. */
interface Asset {
  readonly body: Buffer;
  readonly etag: string;
}

/** The URL paths served, and the built file of each. */
const FILES: Record<string, readonly [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/dashboard/app.css': ['app.css', 'text/css; charset=utf-8'],
};

/** DASHBOARD_DIR is where the build puts the bundle: dist/dashboard, next to dist/src. */
const DASHBOARD_DIR = new URL('../../dashboard/', import.meta.url);

const cache = new Map<string, Asset | null>();

function asset(file: string): Asset | null {
  let a = cache.get(file);
  if (a !== undefined) return a;
  try {
    const body = readFileSync(new URL(file, DASHBOARD_DIR));
    a = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  } catch {
    a = null;
  }
  cache.set(file, a);
  return a;
}

/**
 * serveDashboard answers `path` when it is a dashboard file and returns true; returns false for any other
 * path (the caller goes on routing). Only GET and HEAD reach here. When the bundle was not built it answers
 * 503 with a plain explanation, since nothing else on the page could work.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const entry = FILES[path];
  if (entry === undefined) return false;
  const [file, type] = entry;
  const a = asset(file);
  const headers: Record<string, string | number> = {
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-cache',
  };
  if (a === null) {
    const text = 'The dashboard was not built: run `npm run build`.\n';
    res.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
    // Not cached as missing for good: a build may land while the gateway runs.
    cache.delete(file);
    return true;
  }
  headers.etag = a.etag;
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  headers['content-type'] = type;
  headers['content-length'] = a.body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : a.body);
  return true;
}
