/**
 * The dashboard's only way to the gateway: same-origin fetches to the admin API with the operator's token
 * as `Authorization: Bearer`. The token lives in sessionStorage (gone when the tab closes, never in a cookie,
 * so no other page can ride on it). A 401 anywhere ends the session and brings back the login form.
 * The document types mirror the admin API's answers.
 */

const TOKEN_KEY = 'gatehouse.admin-token';

/** Overview is GET /api/overview. */
export interface Overview {
  version: number;
  generation: number;
  source: 'file' | 'redis';
  writable: boolean;
  readonlyReason?: string;
  routes: number;
  services: number;
  consumers: number;
  plans: number;
  startedAt: string;
}

/** RouteInfo is one element of GET /api/routes. */
export interface RouteInfo {
  name: string;
  match: { path?: string; methods?: string[]; host?: string; [k: string]: unknown };
  backend: { kind: string; service?: string };
  features: string[];
  websocket: boolean;
  status: string;
}

/** TargetInfo is one target of a service in GET /api/services. */
export interface TargetInfo {
  url: string;
  weight: number;
  healthy: boolean;
  ejected: boolean;
  available: boolean;
  active: number;
}

/** ServiceInfo is one element of GET /api/services. */
export interface ServiceInfo {
  name: string;
  status: string;
  routes: string[];
  critical: boolean;
  circuit: 'closed' | 'open' | 'half-open' | null;
  targets: TargetInfo[];
}

/** ConsumerInfo is one element of GET /api/consumers. */
export interface ConsumerInfo {
  id: string;
  groups?: string[];
  plan?: string | null;
  metadata?: Record<string, unknown>;
  credentials: {
    keys: { id: string; expires: string | null }[];
    jwt: Record<string, unknown> | null;
    basic: { username: string } | null;
  };
}

/** GET /api/stats: the server's own declarations (type-only: nothing of the server is bundled). */
export type { StatsJson as Stats, RouteStatsJson as RouteStats } from '../../src/admin/stats-types.js';

/** AuditEntry is one element of GET /api/audit. */
export interface AuditEntry {
  version: number;
  at: string;
  actor: string;
  action: string;
  kind: string;
  name: string;
  summary: string;
}

/** UsageRow is one row of GET /api/consumers/:id/usage (as `gatehouse usage --json`). */
export interface UsageRow {
  hour: string;
  consumer: string;
  route: string;
  status: string;
  count: number;
}

/** Statement is the part of GET /api/consumers/:id/statement the dashboard shows. */
export interface Statement {
  period: { id: string };
  plan: string;
  currency: string;
  calls: number;
  billableCalls: number;
  total: string;
}

/** FieldError is one entry of a 422 problem's `errors`. */
export interface FieldError {
  in?: string;
  field: string;
  message: string;
}

/** ApiError is any answer that is not 2xx: its status and problem document (when it sent one). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly errors: FieldError[];
  constructor(status: number, message: string, code: string | null, errors: FieldError[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
  }
}

let token: string | null = sessionStorage.getItem(TOKEN_KEY);
let onUnauthorized: () => void = () => {};

/** getToken is the stored token, or null when not signed in. */
export function getToken(): string | null {
  return token;
}

/** setToken stores the token for this tab (null: sign out). */
export function setToken(t: string | null): void {
  token = t;
  if (t === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
}

/** whenUnauthorized sets what a 401 does (the app shows the login form). */
export function whenUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

/**
 * api calls the admin API and returns the parsed JSON. Throws ApiError for non-2xx answers (after ending
 * the session on a 401) and for network failures (status 0). `useToken` overrides the stored token (login).
 */
export async function api<T>(path: string, init: { method?: string; body?: unknown; useToken?: string | null } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = init.useToken !== undefined ? init.useToken : token;
  if (t !== null && t !== '') headers.authorization = `Bearer ${t}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The gateway cannot be reached', null, []);
  }
  const text = await res.text();
  let doc: unknown = null;
  try { doc = text === '' ? null : JSON.parse(text); } catch { /* not JSON: handled below */ }
  if (res.ok) return doc as T;
  const p = (doc ?? {}) as { detail?: string; title?: string; code?: string; errors?: FieldError[] };
  if (res.status === 401 && init.useToken === undefined) onUnauthorized();
  throw new ApiError(res.status, p.detail ?? p.title ?? `HTTP ${res.status}`, p.code ?? null, Array.isArray(p.errors) ? p.errors : []);
}
