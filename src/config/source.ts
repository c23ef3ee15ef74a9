/**
 * Where the config text lives and how a change is stored: the file the gateway started from, or Redis (shared
 * by every instance on it). Both keep numbered versions so a change can be checked against the version it was
 * made on (compare-and-set) and rolled back. The admin API writes through a ConfigSource; main.ts reads the
 * initial text from one and is told when another writer changed it.
 */

/** ConfigVersion is one stored version of the config text. */
export interface ConfigVersion {
  /** 1 for the first text seen (the file at start, or the first commit to Redis), then +1 per change. */
  readonly version: number;
  readonly text: string;
  /** When it was stored (ISO 8601). */
  readonly at: string;
  /** Who stored it: `admin-token@10.0.0.7`, `file` (edited by hand), `start`. */
  readonly actor: string;
  /** One line on what changed (`update route users-v1`). */
  readonly summary: string;
}

/** CommitMeta says who made a change and what it was, for the version history. */
export interface CommitMeta {
  readonly actor: string;
  readonly summary: string;
}

/** ConfigConflictError is thrown by commit when the stored version is no longer `base` (another writer won). */
export class ConfigConflictError extends Error {
  readonly current: number;
  constructor(current: number) {
    super(`the config changed meanwhile (now version ${current})`);
    this.current = current;
  }
}

/** ConfigReadonlyError is thrown by commit when the source cannot be written; `reason` is shown to the operator. */
export class ConfigReadonlyError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/** ConfigSource is where the config text lives (see the file comment). */
export interface ConfigSource {
  readonly kind: 'file' | 'redis';
  /** Names the source in messages: the file's path, or `redis://host:port/<prefix>config`. */
  readonly label: string;
  /** The file the gateway was started with: relative paths in the config resolve against its folder. */
  readonly file: string;
  /** read returns the current version. */
  read(): Promise<ConfigVersion>;
  /** writable says whether commit can succeed, and if not why (shown in the API's 409 answers). */
  writable(): { ok: true } | { ok: false; reason: string };
  /**
   * commit stores `text` as the next version if the current one is still `base`; throws ConfigConflictError
   * when it is not, ConfigReadonlyError when the source cannot be written.
   */
  commit(text: string, base: number, meta: CommitMeta): Promise<ConfigVersion>;
  /** history returns up to `limit` versions, newest first. */
  history(limit: number): Promise<readonly ConfigVersion[]>;
  /** watch calls `onChange` when another writer changed the config (a hand edit, another instance's commit). */
  watch(onChange: () => void): void;
  close(): Promise<void>;
}

/** HISTORY_LIMIT is how many versions a source keeps (older ones cannot be rolled back to), in a file or in Redis. */
export const HISTORY_LIMIT = 50;
