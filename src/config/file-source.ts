/**
 * The config file as a ConfigSource. Versions are kept in memory from the start of the process (the file's
 * text at start is version 1; each admin change and each hand edit seen adds one). A change is written
 * atomically: a temporary file in the same folder, fsync, rename over the original, so a crash leaves either
 * the old file or the new one, never half of one. A read-only file (no write permission bits), or
 * `admin.changes: readonly`, refuses changes.
 */
import { accessSync, chmodSync, closeSync, constants, fsyncSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigConflictError, ConfigReadonlyError, HISTORY_LIMIT, type CommitMeta, type ConfigSource, type ConfigVersion } from './source.js';

/** FileConfigSource keeps the config in its file (see the file comment). */
export class FileConfigSource implements ConfigSource {
  readonly kind = 'file' as const;
  readonly label: string;
  readonly file: string;
  readonly #readonly: boolean;
  /** Newest first. */
  readonly #versions: ConfigVersion[];
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;

  /** `text` is the file's content as the gateway loaded it at start; `readonly` is `admin.changes: readonly`. */
  constructor(file: string, text: string, readonly: boolean) {
    this.file = resolve(file);
    this.label = this.file;
    this.#readonly = readonly;
    this.#versions = [{ version: 1, text, at: new Date().toISOString(), actor: 'start', summary: 'config at start' }];
  }

  /** read re-reads the file: a text changed by hand since the last version becomes a new version. */
  async read(): Promise<ConfigVersion> {
    const current = this.#versions[0]!;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      // A file being replaced or briefly missing: the last known version stands.
      return current;
    }
    if (text === current.text) return current;
    return this.#push(text, { actor: 'file', summary: 'the file was changed on disk' });
  }

  writable(): { ok: true } | { ok: false; reason: string } {
    if (this.#readonly) return { ok: false, reason: 'admin.changes is readonly: change the config file instead' };
    try {
      const real = realpathSync(this.file);
      if ((statSync(real).mode & 0o222) === 0) return { ok: false, reason: 'the config file is read-only' };
      accessSync(real, constants.W_OK);
      accessSync(dirname(real), constants.W_OK);
    } catch (err) {
      return { ok: false, reason: `the config file or its folder cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    return { ok: true };
  }

  async commit(text: string, base: number, meta: CommitMeta): Promise<ConfigVersion> {
    const w = this.writable();
    if (!w.ok) throw new ConfigReadonlyError(w.reason);
    // A hand edit since the change was prepared is a conflict, not something to overwrite.
    const current = await this.read();
    if (current.version !== base) throw new ConfigConflictError(current.version);
    writeAtomically(realpathSync(this.file), text);
    return this.#push(text, meta);
  }

  async history(limit: number): Promise<readonly ConfigVersion[]> {
    return this.#versions.slice(0, Math.max(0, limit));
  }

  watch(onChange: () => void): void {
    if (this.#watcher !== null) return;
    const name = basename(this.file);
    // Editors replace files by rename, so the folder is watched and events filtered by name.
    this.#watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => { this.#timer = null; onChange(); }, 150);
    });
    this.#watcher.unref();
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #push(text: string, meta: CommitMeta): ConfigVersion {
    const v: ConfigVersion = { version: this.#versions[0]!.version + 1, text, at: new Date().toISOString(), actor: meta.actor, summary: meta.summary };
    this.#versions.unshift(v);
    if (this.#versions.length > HISTORY_LIMIT) this.#versions.length = HISTORY_LIMIT;
    return v;
  }
}

/** writeAtomically replaces `file` with `text`: temp file in the same folder, fsync, rename, fsync of the folder. */
export function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let mode: number | null = null;
  try { mode = statSync(file).mode & 0o7777; } catch { /* a new file gets the default mode */ }
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  try {
    if (mode !== null) chmodSync(tmp, mode);
    renameSync(tmp, file);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  // The rename itself is durable only once the folder is synced (best effort: not every platform allows it).
  try {
    const dfd = openSync(dirname(file), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* not supported here */ }
}
