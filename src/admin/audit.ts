/**
 * The audit log of config changes: who (the admin token or anonymous, the client IP, an optional display
 * name), when, what (action, element kind and name, a one-line summary) and the version it produced. Kept in
 * memory (bounded) with a file config, in Redis (bounded, shared by every instance) with `admin.changes:
 * redis`; every entry is also written to the event log as `config_changed`.
 */
import type { RedisClient } from '../stores/redis-connect.js';

/** AUDIT_LIMIT bounds the audit log (oldest entries are dropped). */
export const AUDIT_LIMIT = 1000;

/** AuditAction is what a change did. */
export type AuditAction = 'create' | 'update' | 'delete' | 'rollback' | 'reload';
/** ElementKind is a kind of config element the admin API edits. */
export type ElementKind = 'route' | 'service' | 'consumer' | 'credential' | 'plan' | 'config';

/** AuditEntry is one change. */
export interface AuditEntry {
  readonly version: number;
  readonly at: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly kind: ElementKind;
  readonly name: string;
  readonly summary: string;
}

/** AuditLog stores audit entries. */
export interface AuditLog {
  append(e: AuditEntry): Promise<void>;
  /** list returns up to `limit` entries, newest first. */
  list(limit: number): Promise<readonly AuditEntry[]>;
}

/** MemoryAuditLog keeps entries in this process, newest first. */
export class MemoryAuditLog implements AuditLog {
  readonly #entries: AuditEntry[] = [];
  async append(e: AuditEntry): Promise<void> {
    this.#entries.unshift(e);
    if (this.#entries.length > AUDIT_LIMIT) this.#entries.length = AUDIT_LIMIT;
  }
  async list(limit: number): Promise<readonly AuditEntry[]> {
    return this.#entries.slice(0, Math.max(0, limit));
  }
}

/** RedisAuditLog keeps entries in one list (`<keyPrefix>config:audit`: the source's auditKey), shared by every instance. */
export class RedisAuditLog implements AuditLog {
  readonly #client: RedisClient;
  readonly #key: string;
  constructor(client: RedisClient, key: string) {
    this.#client = client;
    this.#key = key;
  }
  async append(e: AuditEntry): Promise<void> {
    await this.#client.multi().lpush(this.#key, JSON.stringify(e)).ltrim(this.#key, 0, AUDIT_LIMIT - 1).exec();
  }
  async list(limit: number): Promise<readonly AuditEntry[]> {
    if (limit <= 0) return [];
    const rows = await this.#client.lrange(this.#key, 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as AuditEntry);
  }
}

/** ACTOR_NAME_MAX bounds the display name taken from `X-Gatehouse-Actor`. */
export const ACTOR_NAME_MAX = 64;

/**
 * actorOf names who made a change: `admin-token` when the request carried the token, `anonymous` on a
 * listener without one, then `@` and the client IP; an `X-Gatehouse-Actor` display name (letters, digits,
 * space and `.@_-`, at most 64 characters; anything else is dropped) goes first: `alice (admin-token@10.0.0.7)`.
 */
export function actorOf(withToken: boolean, ip: string, displayName: string | string[] | undefined): string {
  const who = `${withToken ? 'admin-token' : 'anonymous'}@${ip}`;
  const raw = Array.isArray(displayName) ? displayName[0] : displayName;
  const name = (raw ?? '').replace(/[^A-Za-z0-9 .@_-]/g, '').trim().slice(0, ACTOR_NAME_MAX).trim();
  return name === '' ? who : `${name} (${who})`;
}
