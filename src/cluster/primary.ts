/**
 * The cluster primary of `gatehouse start --workers N`: it serves no request itself. It forks N workers
 * (src/cluster/worker.ts, each the whole gateway), shares their listening ports (Node's cluster module hands
 * each new connection to the next worker in turn), holds the memory store they all count in
 * (IpcStoreHost) and merges their metrics for /metrics (MetricsCollector). It keeps N workers serving:
 *
 * - A worker that exits unexpectedly is replaced under the same number (worker 1 keeps the admin listener):
 *   at once, then, if replacements keep dying young, after a delay doubling from 200 ms up to 10 s.
 * - SIGHUP (`gatehouse reload`) restarts the workers one at a time: a new worker is forked and, once it is
 *   listening, the one it replaces is stopped gracefully (it stops accepting, finishes its requests, flushes
 *   its usage), so the machine never serves with fewer than N. The new workers read the config afresh, so
 *   this also applies what a hot reload cannot (listen, admin, log settings). If a new worker cannot start
 *   (a bad config), the restart stops there and the other workers keep serving.
 * - SIGTERM or SIGINT stops every worker gracefully (each drains for its `listen.shutdownTimeout`), then the
 *   primary; a second signal kills the workers at once.
 *
 * Hot reload on a file change is each worker's own (each watches the file, as a single process does).
 */
import cluster, { type Worker } from 'node:cluster';
import type { DestinationStream, Logger } from 'pino';
import { createLogger } from '../observability/log.js';
import { IpcStoreHost, type ReplyPort } from './ipc-store.js';
import { MetricsCollector, type WorkerLink } from './metrics.js';
import { WORKER_MESSAGE, type ReadyMessage, type StopMessage } from './messages.js';
import { writePidFile } from './pid-file.js';

/** A worker that dies within this long of its start died young: its replacements back off. */
const YOUNG_MS = 10_000;
const BACKOFF_FIRST_MS = 200;
const BACKOFF_MAX_MS = 10_000;
/** How long past its shutdownTimeout a stopping worker gets (its usage flush, its tracer) before SIGKILL. */
const STOP_MARGIN_MS = 10_000;
/** Assumed until a worker reports its own `listen.shutdownTimeout`. */
const DEFAULT_SHUTDOWN_MS = 10_000;

/** PrimaryOptions configure runPrimary. */
export interface PrimaryOptions {
  /** How many workers to keep serving (>= 2; one worker is a plain single process, not a cluster). */
  workers: number;
  /** Where to write the primary's pid for `gatehouse reload`, or null for nowhere. */
  pidFile: string | null;
  /** The rendering stream of `--pretty`, or null for JSON lines. */
  pretty: DestinationStream | null;
}

/** One forked worker, from fork to exit. */
class WorkerHandle implements WorkerLink, ReplyPort {
  readonly worker: Worker;
  readonly index: number;
  readonly pid: number;
  readonly forkedAt: number;
  ready = false;
  stopping = false;
  exited = false;
  shutdownTimeoutMs = DEFAULT_SHUTDOWN_MS;
  killTimer: NodeJS.Timeout | null = null;
  /** Resolves true when the worker is listening, false when it exits before. */
  readonly started: Promise<boolean>;
  /** Resolves when the worker has exited. */
  readonly gone: Promise<void>;
  settleStarted: (ok: boolean) => void = () => {};
  settleGone: () => void = () => {};

  constructor(worker: Worker, index: number) {
    this.worker = worker;
    this.index = index;
    this.pid = worker.process.pid ?? -1;
    this.forkedAt = performance.now();
    this.started = new Promise((resolve) => { this.settleStarted = resolve; });
    this.gone = new Promise((resolve) => { this.settleGone = resolve; });
  }

  /** send posts a message to the worker; a worker that is gone loses it (the sender's timeout answers). */
  send(message: unknown): void {
    try { this.worker.send(message as object, undefined, undefined, ignoreSendError); } catch { /* gone */ }
  }
}

function ignoreSendError(): void { /* the worker is gone: its exit is handled */ }

/** ClusterPrimary keeps the workers serving (see the file comment). */
class ClusterPrimary {
  readonly #n: number;
  readonly #log: Logger;
  readonly #host: IpcStoreHost;
  readonly #metrics: MetricsCollector;
  /** The worker serving under each number (index 0 unused); null while its replacement is pending. */
  readonly #slots: (WorkerHandle | null)[];
  /** Every worker not yet exited, serving or stopping. */
  readonly #live = new Set<WorkerHandle>();
  /** Consecutive young deaths per number, for the backoff. */
  readonly #young: number[];
  readonly #replaceTimers: (NodeJS.Timeout | null)[];
  /** The worker a rolling restart is starting under a number (not in #slots until ready). */
  readonly #incoming: (WorkerHandle | null)[];
  /** Whether worker 1 has started once (before, a failure is the config's, and ends the primary). */
  #firstReady = false;
  #rolling: Promise<void> | null = null;
  #rollAgain = false;
  #stopping = false;
  #stopped: (code: number) => void = () => {};

  constructor(n: number, log: Logger) {
    this.#n = n;
    this.#log = log;
    this.#host = new IpcStoreHost(log);
    this.#metrics = new MetricsCollector(() => [...this.#live].filter((h) => h.ready && !h.stopping));
    this.#slots = new Array<WorkerHandle | null>(n + 1).fill(null);
    this.#young = new Array<number>(n + 1).fill(0);
    this.#replaceTimers = new Array<NodeJS.Timeout | null>(n + 1).fill(null);
    this.#incoming = new Array<WorkerHandle | null>(n + 1).fill(null);
  }

  /**
   * run starts the workers (worker 1 first: a config that cannot start fails once, with its own message, and
   * the primary exits with its code) and resolves with the exit code once the cluster has stopped.
   */
  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => { this.#stopped = resolve; });
    const first = this.#fork(1);
    this.#slots[1] = first;
    if (!(await first.started)) {
      if (this.#stopping) return done;
      this.#stopping = true;
      await this.#host.close();
      return first.worker.process.exitCode ?? 1;
    }
    this.#firstReady = true;
    const rest: Promise<boolean>[] = [];
    for (let i = 2; i <= this.#n && !this.#stopping; i++) {
      const h = this.#fork(i);
      this.#slots[i] = h;
      rest.push(h.started);
    }
    await Promise.all(rest);
    if (!this.#stopping) {
      this.#log.info({ event: 'cluster_started', workers: this.#n }, `${this.#n} workers serving`);
    }
    return done;
  }

  /** reload restarts the workers one at a time; a reload asked for during one runs once it is over. */
  reload(): void {
    if (this.#stopping) return;
    if (this.#rolling !== null) { this.#rollAgain = true; return; }
    this.#rolling = (async () => {
      do {
        this.#rollAgain = false;
        await this.#roll();
      } while (this.#rollAgain && !this.#stopping);
      this.#rolling = null;
    })();
  }

  /** stop stops every worker gracefully; a second call kills them. */
  stop(signal: string): void {
    if (this.#stopping) {
      this.#log.warn({ event: 'shutdown_forced', signal }, 'stopping the workers now');
      for (const h of this.#live) h.worker.process.kill('SIGKILL');
      return;
    }
    this.#stopping = true;
    this.#log.info({ event: 'shutdown', signal, workers: this.#live.size }, 'shutting down: every worker drains its requests in flight');
    for (let i = 1; i <= this.#n; i++) {
      const t = this.#replaceTimers[i];
      if (t != null) { clearTimeout(t); this.#replaceTimers[i] = null; }
    }
    for (const h of this.#live) this.#stopWorker(h);
    void this.#finishWhenEmpty();
  }

  async #finishWhenEmpty(): Promise<void> {
    await Promise.all([...this.#live].map((h) => h.gone));
    await this.#host.close();
    this.#log.info({ event: 'stopped' }, 'stopped');
    this.#stopped(0);
  }

  /** One rolling restart: each number in turn gets a new worker, and its old one stops once the new one listens. */
  async #roll(): Promise<void> {
    const since = performance.now();
    this.#log.info({ event: 'rolling_restart_started', workers: this.#n }, `restarting ${this.#n} workers one at a time`);
    for (let i = 1; i <= this.#n; i++) {
      if (this.#stopping) return;
      const old = this.#slots[i] ?? null;
      // A worker started since this restart began (a replacement) already runs the current config.
      if (old !== null && old.forkedAt >= since) continue;
      const timer = this.#replaceTimers[i];
      if (timer != null) { clearTimeout(timer); this.#replaceTimers[i] = null; }
      const next = this.#fork(i);
      this.#incoming[i] = next;
      const ok = await next.started;
      this.#incoming[i] = null;
      if (this.#stopping) return;
      if (!ok) {
        this.#log.error({ event: 'rolling_restart_aborted', worker: i }, `rolling restart stopped: the new worker ${i} exited before listening (its lines above say why); the other workers keep serving`);
        if (this.#slots[i] === null) this.#replace(i);
        return;
      }
      const current = this.#slots[i] ?? null;
      this.#slots[i] = next;
      if (current !== null) this.#stopWorker(current);
    }
    this.#log.info({ event: 'rolling_restart_done', workers: this.#n }, `${this.#n} workers restarted`);
  }

  #fork(index: number): WorkerHandle {
    const h = new WorkerHandle(cluster.fork({ GATEHOUSE_WORKER: String(index) }), index);
    this.#live.add(h);
    h.worker.on('message', (message: unknown) => { this.#onMessage(h, message); });
    h.worker.on('exit', (code: number | null, signal: string | null) => { this.#onExit(h, code, signal); });
    h.worker.on('error', (err: Error) => { this.#log.debug({ event: 'worker_channel_error', worker: index, err: err.message }, 'worker channel error'); });
    return h;
  }

  #onMessage(h: WorkerHandle, message: unknown): void {
    if (this.#host.handle(message, h)) return;
    if (this.#metrics.handle(message, h)) return;
    const m = message as Partial<ReadyMessage> | null;
    if (m !== null && typeof m === 'object' && m.gh === WORKER_MESSAGE && m.op === 'ready') {
      h.ready = true;
      if (typeof m.shutdownTimeoutMs === 'number') h.shutdownTimeoutMs = m.shutdownTimeoutMs;
      this.#log.info({ event: 'worker_ready', worker: h.index, pid: h.pid }, `worker ${h.index} (pid ${h.pid}) serving`);
      h.settleStarted(true);
      // A worker asked to stop while it was starting (a rolling restart cut short) goes now.
      if (this.#stopping) this.#stopWorker(h);
    }
  }

  #onExit(h: WorkerHandle, code: number | null, signal: string | null): void {
    h.exited = true;
    this.#live.delete(h);
    if (h.killTimer !== null) clearTimeout(h.killTimer);
    h.settleStarted(false);
    h.settleGone();
    const serving = this.#slots[h.index] === h;
    if (serving) this.#slots[h.index] = null;
    if (h.stopping || this.#stopping) {
      this.#log.info({ event: 'worker_stopped', worker: h.index, pid: h.pid, code, signal }, `worker ${h.index} (pid ${h.pid}) stopped`);
      return;
    }
    if (!this.#firstReady) {
      this.#log.error({ event: 'worker_start_failed', worker: h.index, pid: h.pid, code, signal }, `worker ${h.index} could not start (${signal ?? `code ${code}`}): gatehouse stops`);
      return;
    }
    // A worker that had served a while before dying starts the backoff over.
    const young = !h.ready || performance.now() - h.forkedAt < YOUNG_MS;
    this.#young[h.index] = young ? this.#young[h.index]! + 1 : 0;
    this.#log.warn({ event: 'worker_exited', worker: h.index, pid: h.pid, code, signal }, `worker ${h.index} (pid ${h.pid}) exited unexpectedly (${signal ?? `code ${code}`})`);
    // A rolling restart fills its own number.
    if (serving && this.#incoming[h.index] === null) this.#replace(h.index);
  }

  /** Forks a replacement under `index`, at once or after the backoff of a number whose workers die young. */
  #replace(index: number): void {
    if (this.#stopping || this.#replaceTimers[index] != null) return;
    const young = this.#young[index]!;
    const delay = young <= 1 ? 0 : Math.min(BACKOFF_FIRST_MS * 2 ** (young - 2), BACKOFF_MAX_MS);
    this.#log.info({ event: 'worker_replacing', worker: index, delayMs: delay }, `starting a new worker ${index}${delay > 0 ? ` in ${delay} ms` : ''}`);
    const start = (): void => {
      this.#replaceTimers[index] = null;
      if (this.#stopping || this.#slots[index] !== null) return;
      this.#slots[index] = this.#fork(index);
    };
    if (delay === 0) start();
    else this.#replaceTimers[index] = setTimeout(start, delay);
  }

  /** Asks a worker to stop gracefully (SIGTERM: its own shutdown), and kills it if it outlives its drain. */
  #stopWorker(h: WorkerHandle): void {
    if (h.stopping || h.exited) return;
    h.stopping = true;
    // A worker that listens is asked by message (it stops accepting before it closes idle connections: see
    // worker.ts); one still starting has no handler yet, and SIGTERM ends it. Never worker.kill(), which
    // cuts the IPC channel first: a draining worker still counts in the primary's store.
    if (h.ready) h.send({ gh: WORKER_MESSAGE, op: 'stop' } satisfies StopMessage);
    else h.worker.process.kill('SIGTERM');
    h.killTimer = setTimeout(() => {
      this.#log.warn({ event: 'worker_killed', worker: h.index, pid: h.pid }, `worker ${h.index} (pid ${h.pid}) did not stop within its shutdownTimeout: killed`);
      h.worker.process.kill('SIGKILL');
    }, h.shutdownTimeoutMs + STOP_MARGIN_MS);
  }
}

/**
 * runPrimary runs the cluster until SIGTERM or SIGINT stops it; resolves with the exit code (0 after a
 * graceful stop; the first worker's code when it could not start).
 */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const log = createLogger(opts.pretty === null ? {} : { destination: opts.pretty });
  const primary = new ClusterPrimary(opts.workers, log);
  if (opts.pidFile !== null) {
    const problem = writePidFile(opts.pidFile);
    if (problem !== null) log.warn({ event: 'pid_file_failed', file: opts.pidFile, err: problem }, 'the pid file cannot be written: `gatehouse reload` needs --pid');
  }
  process.on('SIGHUP', () => { primary.reload(); });
  process.on('SIGTERM', () => { primary.stop('SIGTERM'); });
  process.on('SIGINT', () => { primary.stop('SIGINT'); });
  log.info({ event: 'cluster_starting', workers: opts.workers, pid: process.pid }, `starting ${opts.workers} workers (primary pid ${process.pid})`);
  const code = await primary.run();
  log.flush?.();
  return code;
}
