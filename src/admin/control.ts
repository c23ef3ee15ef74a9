/**
 * ConfigControl is the one place config changes go through, whatever their origin: an admin API change, a
 * rollback, a hand edit of the file, another instance's commit to Redis, SIGHUP. It owns the ConfigSource
 * (where the text lives), the audit log, and the order of changes: one at a time, each validated with the
 * same loader (schema, messages) and compile as the file, applied by main.ts's swap (atomic, nothing
 * dropped), then stored; a store that fails puts the previous config back. main.ts builds it before the
 * first compile (in Redis mode the text comes from Redis) and binds its apply step once the gateway runs.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile, loadConfigText, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem, splitRelative, type ConfigProblem } from '../config/errors.js';
import { ConfigConflictError, ConfigReadonlyError, HISTORY_LIMIT, type ConfigSource, type ConfigVersion } from '../config/source.js';
import { FileConfigSource } from '../config/file-source.js';
import { ConfigEditor, type KeyPath } from '../config/edit.js';
import { MemoryAuditLog, RedisAuditLog, type AuditAction, type AuditLog, type ElementKind } from './audit.js';

/** ApplyMeta tells main.ts's apply step where a config comes from (for its log lines). */
export interface ApplyMeta {
  readonly actor: string;
  readonly summary: string;
  /** `admin`: an API change or rollback; `source`: the file or Redis changed; `signal`: SIGHUP or reload(); `undo`: putting back the previous config after a store failed. */
  readonly origin: 'admin' | 'source' | 'signal' | 'undo';
}

/** ApplyResult is what main.ts's apply step answers. */
export type ApplyResult = { ok: true; generation: number } | { ok: false; problems: readonly ConfigProblem[] };

/** ControlHooks are main.ts's side: the config live now, and the step that makes a new one live. */
export interface ControlHooks {
  loaded(): LoadedConfig;
  /**
   * apply calls `load` (which throws ConfigError for a bad text), then does what a reload does: preload,
   * counters, compile, swap. It never throws: a refused config is `{ ok: false, problems }` (and logged as
   * `reload_refused`), and the previous one keeps serving.
   */
  apply(load: () => LoadedConfig, meta: ApplyMeta): Promise<ApplyResult>;
}

/** FieldError is one entry of a 422's `errors`: a JSON pointer relative to the element sent. */
export interface FieldError { readonly in: 'body'; readonly field: string; readonly message: string }

/** ChangeError is a refused change, rendered by the API as a problem document. */
export class ChangeError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: readonly FieldError[] | undefined;
  constructor(status: number, code: string, detail: string, errors?: readonly FieldError[]) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = errors;
  }
}

/** ChangeRequest is one change of one element. */
export interface ChangeRequest {
  readonly action: AuditAction;
  readonly kind: ElementKind;
  readonly name: string;
  readonly actor: string;
  /** The version the client read (`If-Match`), or null. */
  readonly ifMatch: number | null;
  /**
   * edit changes the document; returns the path of the element edited (problems under it are reported
   * relative to it) and, when it depends on what was there, the action done. Throws ChangeError for a
   * missing or existing element.
   */
  edit(doc: ConfigEditor): { path: KeyPath; action?: AuditAction };
}

/** RefusedConfig is the last text from the source that could not be applied (a bad hand edit, say). */
export interface RefusedConfig {
  readonly at: string;
  readonly version: number;
  readonly problems: readonly ConfigProblem[];
  readonly text: string;
}

/** ConfigControl orders and applies config changes (see the file comment). */
export class ConfigControl {
  readonly source: ConfigSource;
  readonly audit: AuditLog;
  readonly startedAt: string;
  readonly #log: Logger;
  readonly #env: NodeJS.ProcessEnv;
  readonly #initial: LoadedConfig;
  #hooks: ControlHooks | null = null;
  #applied: ConfigVersion;
  #editor: { version: number; text: string; editor: ConfigEditor } | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #pendingReload: Promise<boolean> | null = null;
  #refused: RefusedConfig | null = null;

  private constructor(source: ConfigSource, audit: AuditLog, initial: LoadedConfig, applied: ConfigVersion, log: Logger, env: NodeJS.ProcessEnv) {
    this.source = source;
    this.audit = audit;
    this.#initial = initial;
    this.#applied = applied;
    this.#log = log;
    this.#env = env;
    this.startedAt = new Date().toISOString();
  }

  /**
   * open reads the config file and picks where changes live (`admin.changes`); in Redis mode the config in
   * Redis wins over the file's (the file's is stored as version 1 when Redis has none). Throws ConfigError
   * for a bad config, Error when Redis cannot be reached.
   */
  static async open(file: string, env: NodeJS.ProcessEnv, log: Logger): Promise<ConfigControl> {
    const path = resolve(file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      loadConfigFile(path, env); // throws the loader's own "file not found" error
      throw new Error(`cannot read ${path}`);
    }
    const loaded = loadConfigText(text, path, env);
    const changes = loaded.config.admin?.changes ?? 'file';
    if (changes !== 'redis') {
      const source = new FileConfigSource(path, text, changes === 'readonly');
      return new ConfigControl(source, new MemoryAuditLog(), loaded, await source.read(), log, env);
    }
    const store = loaded.config.store;
    if (store === 'memory') {
      throw new ConfigError([{ path: 'admin.changes', message: 'redis needs `store: { redis: { url } }`: the config is kept in that Redis', file: basename(path), line: loaded.lineOf(['admin', 'changes']) }]);
    }
    // ioredis is loaded only when the config lives in Redis (as the stores load it only for a Redis store).
    const [{ RedisConfigSource }, { redisTarget }] = await Promise.all([import('../config/redis-source.js'), import('../stores/redis-connect.js')]);
    const source = await RedisConfigSource.open({ url: store.redis.url, target: redisTarget(store.redis), keyPrefix: store.redis.keyPrefix, file: path, log }, text);
    try {
      const v = await source.read();
      const control = new ConfigControl(source, new RedisAuditLog(source.client, source.auditKey), v.text === text ? loaded : relabel(source, () => loadConfigText(v.text, path, env)), v, log, env);
      return control;
    } catch (err) {
      await source.close();
      throw err;
    }
  }

  /** initial is the config to start with. */
  get initial(): LoadedConfig { return this.#initial; }
  /** version is the number of the version live now. */
  get version(): number { return this.#applied.version; }
  /** refused is the last source text that could not be applied, until one is. */
  get refused(): RefusedConfig | null { return this.#refused; }

  /** bind connects main.ts's apply step; call once the first config is live. */
  bind(hooks: ControlHooks): void {
    this.#hooks = hooks;
  }

  /** start watches the source: always in Redis mode, for a file only when `watchFile`. */
  start(watchFile: boolean): void {
    if (this.source.kind === 'redis' || watchFile) this.source.watch(() => { void this.reload('source'); });
  }

  /** current returns the live config text as an editable document (the config "as written", `${VAR}` kept). */
  current(): ConfigEditor {
    if (this.#editor === null || this.#editor.version !== this.#applied.version || this.#editor.text !== this.#applied.text) {
      this.#editor = { version: this.#applied.version, text: this.#applied.text, editor: ConfigEditor.parse(this.#applied.text) };
    }
    return this.#editor.editor;
  }

  /** loaded is the validated config live now. */
  loaded(): LoadedConfig {
    return this.#hooks?.loaded() ?? this.#initial;
  }

  /**
   * reload reads the source and applies it. From the watcher (`source`) an unchanged version is not applied
   * again (our own write seen coming back); from a signal it always is (certificates may have been renewed).
   * Requests made while one waits join it.
   */
  reload(origin: 'source' | 'signal'): Promise<boolean> {
    if (this.#pendingReload !== null) return this.#pendingReload;
    const p = this.#serial(() => { this.#pendingReload = null; return this.#reloadNow(origin); });
    this.#pendingReload = p;
    return p;
  }

  /** change validates, applies, stores and audits one change; throws ChangeError when refused. */
  change(req: ChangeRequest): Promise<{ version: number; action: AuditAction }> {
    return this.#serial(async () => {
      const cur = await this.#prepare(req.ifMatch, true);
      let doc: ConfigEditor;
      try {
        doc = ConfigEditor.parse(cur.text);
      } catch (err) {
        throw new ChangeError(409, 'GH_CONFIG_CONFLICT', `the stored config cannot be parsed: ${(err as Error).message}`);
      }
      const { path, action = req.action } = req.edit(doc);
      const text = doc.toString();
      const summary = `${action} ${req.kind} ${req.name}`;
      const r = await this.#commit(text, cur, path, { action, kind: req.kind, name: req.name, actor: req.actor, summary });
      return { version: r.version, action };
    });
  }

  /** rollback makes an earlier version (`to`, default the one before the current) live again, as a new version. */
  rollback(to: number | null, actor: string, ifMatch: number | null): Promise<{ version: number }> {
    return this.#serial(async () => {
      // A refused hand edit in the file is exactly what a rollback is for: do not require it to apply first.
      const cur = await this.#prepare(ifMatch, false);
      const history = await this.source.history(HISTORY_LIMIT);
      const target = to === null ? history.find((v) => v.version < cur.version && v.text !== cur.text) : history.find((v) => v.version === to);
      if (target === undefined) {
        throw new ChangeError(404, 'GH_CONFIG_NOT_FOUND', to === null ? 'there is no earlier version to roll back to' : `version ${to} is not in the history (the last ${history.length} versions are kept)`);
      }
      if (target.text === cur.text) throw new ChangeError(409, 'GH_CONFIG_CONFLICT', `version ${target.version} is the config live now`);
      return this.#commit(target.text, cur, [], { action: 'rollback', kind: 'config', name: `v${target.version}`, actor, summary: `rollback to version ${target.version}` });
    });
  }

  /** history returns stored versions, newest first. */
  history(limit: number): Promise<readonly ConfigVersion[]> {
    return this.source.history(limit);
  }

  close(): Promise<void> {
    return this.source.close();
  }

  /** Reads the source, makes sure what it holds is live (or refuses), and checks If-Match. */
  async #prepare(ifMatch: number | null, needLive: boolean): Promise<ConfigVersion> {
    const w = this.source.writable();
    if (!w.ok) throw new ChangeError(409, 'GH_CONFIG_READONLY', w.reason);
    let cur: ConfigVersion;
    try {
      cur = await this.source.read();
    } catch {
      throw new ChangeError(503, 'GH_CONFIG_UNAVAILABLE', `the config cannot be read from ${this.source.label}`);
    }
    if (ifMatch !== null && ifMatch !== cur.version) {
      throw new ChangeError(412, 'GH_CONFIG_VERSION_MISMATCH', `the config is at version ${cur.version}, not ${ifMatch}: read it again`);
    }
    if (needLive && cur.text !== this.#applied.text) {
      // Another writer's change (a hand edit, another instance) not applied yet: apply it first, then edit on it.
      if (!(await this.#reloadNow('source'))) {
        const first = this.#refused?.problems[0];
        throw new ChangeError(409, 'GH_CONFIG_CONFLICT', `version ${cur.version} of the config (by ${cur.actor}) cannot be applied${first === undefined ? '' : `: ${formatProblem(first)}`}; fix it or roll back first`);
      }
    }
    return cur;
  }

  async #commit(text: string, cur: ConfigVersion, path: KeyPath, a: { action: AuditAction; kind: ElementKind; name: string; actor: string; summary: string }): Promise<{ version: number }> {
    const hooks = this.#need();
    let next: LoadedConfig;
    try {
      next = relabel(this.source, () => loadConfigText(text, this.source.file, this.#env));
    } catch (err) {
      if (err instanceof ConfigError) throw invalid(err.problems, path);
      throw err;
    }
    const before = hooks.loaded();
    const meta: ApplyMeta = { actor: a.actor, summary: a.summary, origin: 'admin' };
    const r = await hooks.apply(() => next, meta);
    if (!r.ok) throw invalid(r.problems, path);
    let v: ConfigVersion;
    try {
      v = await this.source.commit(text, cur.version, meta);
    } catch (err) {
      // Live but not stored would be lost on the next restart or reload: put the previous config back.
      await hooks.apply(() => before, { actor: a.actor, summary: `undo ${a.summary}`, origin: 'undo' });
      if (err instanceof ConfigConflictError) throw new ChangeError(409, 'GH_CONFIG_CONFLICT', `${err.message}: read it again and retry`);
      if (err instanceof ConfigReadonlyError) throw new ChangeError(409, 'GH_CONFIG_READONLY', err.reason);
      this.#log.error({ event: 'config_store_failed', source: this.source.label, err: String((err as Error).message) }, 'the config change could not be stored; the previous config is live again');
      throw new ChangeError(503, 'GH_CONFIG_UNAVAILABLE', `the change could not be stored in ${this.source.kind === 'file' ? 'the config file' : 'Redis'}; nothing changed`);
    }
    this.#applied = v;
    this.#refused = null;
    await this.#audit({ version: v.version, at: v.at, actor: a.actor, action: a.action, kind: a.kind, name: a.name, summary: a.summary });
    return { version: v.version };
  }

  async #reloadNow(origin: 'source' | 'signal'): Promise<boolean> {
    const hooks = this.#need();
    let v: ConfigVersion;
    try {
      v = await this.source.read();
    } catch (err) {
      this.#log.warn({ event: 'config_read_failed', source: this.source.label, err: String((err as Error).message) }, `cannot read the config from ${this.source.label}; the current config keeps serving`);
      return false;
    }
    const same = v.text === this.#applied.text;
    if (same && origin === 'source') {
      this.#applied = v;
      return true;
    }
    // A version already refused is not tried again on every poll.
    if (origin === 'source' && this.#refused !== null && this.#refused.version === v.version && this.#refused.text === v.text) return false;
    const r = await hooks.apply(() => relabel(this.source, () => loadConfigText(v.text, this.source.file, this.#env)), { actor: v.actor, summary: v.summary, origin });
    if (!r.ok) {
      this.#refused = { at: new Date().toISOString(), version: v.version, problems: r.problems, text: v.text };
      return false;
    }
    this.#applied = v;
    this.#refused = null;
    // Another instance's change is already in the shared audit log; a hand edit of the file is recorded here.
    if (!same && this.source.kind === 'file') {
      await this.#audit({ version: v.version, at: v.at, actor: v.actor, action: 'reload', kind: 'config', name: '', summary: v.summary });
    }
    return true;
  }

  async #audit(e: Parameters<AuditLog['append']>[0]): Promise<void> {
    this.#log.info({ event: 'config_changed', ...e }, `config version ${e.version}: ${e.summary} (by ${e.actor})`);
    try {
      await this.audit.append(e);
    } catch (err) {
      this.#log.warn({ event: 'audit_failed', err: String((err as Error).message) }, 'the audit entry could not be stored (it is in this log)');
    }
  }

  #need(): ControlHooks {
    if (this.#hooks === null) throw new Error('ConfigControl used before bind()');
    return this.#hooks;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Problems of a Redis-held config name the Redis key, not the file the gateway was started with. */
function relabel(source: ConfigSource, load: () => LoadedConfig): LoadedConfig {
  if (source.kind === 'file') return load();
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems.map((p) => ({ ...p, file: source.label })));
    throw err;
  }
}

/**
 * invalid turns problems into a 422: those under the element's path get a JSON pointer relative to it; the
 * others (a route left naming a deleted service) field "" and the full key path in the message.
 */
function invalid(problems: readonly ConfigProblem[], element: KeyPath): ChangeError {
  const errors = problems.map((p) => fieldError(p, element));
  return new ChangeError(422, 'GH_CONFIG_INVALID', errors[0]?.message ?? 'the change is not valid', errors);
}

function fieldError(p: ConfigProblem, element: KeyPath): FieldError {
  const prefix = element.length === 0 ? null : pathString(element);
  if (prefix !== null && p.path.startsWith(prefix)) {
    const rest = p.path.slice(prefix.length);
    if (rest === '' || rest[0] === '.' || rest[0] === '[') {
      const segs = splitRelative(rest);
      return { in: 'body', field: segs.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join(''), message: p.message };
    }
  }
  return { in: 'body', field: '', message: p.path === '' ? p.message : `${p.path}: ${p.message}` };
}

function pathString(path: KeyPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}
