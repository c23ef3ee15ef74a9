/**
 * The worker threads of one function, for one config generation. Each worker runs one invocation at a time,
 * so a hung invocation holds only its own worker; requests wait in a bounded queue for a free one.
 *
 * Isolation: every worker has a V8 heap limit (resourceLimits) and every invocation a deadline. An
 * invocation past its deadline gets its worker terminated (V8 stops even a busy loop); a worker that runs out
 * of memory, exits or throws outside an invocation dies alone. Either way the worker is dropped and a new one
 * is started for the next request that needs it: the module is imported afresh in the new thread. A module
 * that cannot even start (syntax error, no such export, its top level throws) is retried with a backoff, and
 * meanwhile requests are refused at once rather than queued behind a start that will fail again.
 *
 * Workers start on first use (or with start()), so compiling a config that is never served (`gatehouse
 * validate`, a refused reload) starts no thread; a served config's threads end with close(). Their console output is read line by line into the event
 * log with the request id of the invocation running on that worker.
 *
 * Hot path: one message each way per invocation (the event is structured-cloned, the response body
 * transferred), one re-armed timer per worker instead of a timer per request, no closure per request.
 */
import { Worker } from 'node:worker_threads';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import type { FunctionSettings } from './schema.js';
import { ACCOUNT_ID, checkWire, type LambdaEventV2, type WireResponse } from './lambda.js';

/** INIT_TIMEOUT_MS bounds a worker's start (its module's import), as Lambda bounds its init phase. */
export const INIT_TIMEOUT_MS = 10_000;
/** Backoff after a failed start: doubles from the first to the last. */
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** Longest line of a function's console output kept in the log. */
const MAX_LOG_LINE = 8192;

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** WorkerSetup is the workerData of a function's worker. */
export interface WorkerSetup {
  readonly file: string;
  readonly handler: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryMb: number;
  readonly maxResponse: number;
  readonly logGroupName: string;
  readonly logStreamName: string;
}

/** InvokeMessage is what the gateway sends a worker per invocation. */
export interface InvokeMessage {
  /** Number of this invocation on its worker; the answer carries it back. */
  seq: number;
  readonly requestId: string;
  /** Wall clock (Unix ms) of the deadline, for context.getRemainingTimeInMillis(). */
  deadline: number;
  readonly event: LambdaEventV2;
}

/**
 * Outcome is how an invocation ended: `ok` (a response), `error` (the handler threw or reported an error),
 * `invalid` (its result is no response), `too-large`, `timeout`, `crashed` (its worker died: out of memory,
 * exit, an uncaught error), `busy` (queue full, or waited longer than the timeout), `unavailable` (the
 * function cannot start, or the pool is closed), `gone` (the client left before it ran).
 */
export type Outcome = 'ok' | 'error' | 'invalid' | 'too-large' | 'timeout' | 'crashed' | 'busy' | 'unavailable' | 'gone';

/** PoolJob is one invocation as the pool sees it. */
export interface PoolJob {
  readonly message: InvokeMessage;
  /** Monotonic ms since when the job waits in the queue. */
  queuedAt: number;
  /** Whether nobody waits for the answer any more (it is then dropped rather than run). */
  abandoned(): boolean;
  /** started is told when a worker takes the job (monotonic ms). */
  started(now: number): void;
  /** settle is called exactly once; `detail` is log text (the function's error), never for a client. */
  settle(outcome: Outcome, response: WireResponse | null, detail: string | null): void;
}

/** FunctionPool runs a function's invocations on its workers. */
export class FunctionPool {
  readonly settings: FunctionSettings;
  readonly name: string;
  readonly log: Logger;
  private readonly workers: (FunctionWorker | null)[];
  private readonly setup: WorkerSetup;
  private readonly env: Record<string, string>;
  /** FIFO of waiting jobs: `queue[head..]`; the array is compacted when the dead front grows. */
  private queue: PoolJob[];
  private head: number;
  /** Workers started and not yet ready. */
  private starting: number;
  private ready: number;
  /** Whether a worker has ever become ready. */
  private warm: boolean;
  private closed: boolean;
  private drained: (() => void) | null;
  private failures: number;
  /** Monotonic ms before which no start is tried after a failed one (while no worker is ready). */
  private retryAt: number;

  constructor(settings: FunctionSettings, name: string, log: Logger) {
    this.settings = settings;
    this.name = name;
    this.log = log;
    this.workers = new Array<FunctionWorker | null>(settings.workers).fill(null);
    const logGroupName = `/aws/lambda/${name}`;
    this.setup = {
      file: settings.file,
      handler: settings.handler,
      functionName: name,
      functionArn: `arn:aws:lambda:local:${ACCOUNT_ID}:function:${name}`,
      memoryMb: settings.memoryMb,
      maxResponse: settings.maxResponse,
      logGroupName,
      logStreamName: '',
    };
    // The gateway's environment holds its secrets: a function sees only its own, and what Lambda sets.
    this.env = {
      ...(process.env.PATH === undefined ? {} : { PATH: process.env.PATH }),
      AWS_LAMBDA_FUNCTION_NAME: name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(settings.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: logGroupName,
      ...settings.env,
    };
    this.queue = [];
    this.head = 0;
    this.starting = 0;
    this.ready = 0;
    this.warm = false;
    this.closed = false;
    this.drained = null;
    this.failures = 0;
    this.retryAt = 0;
  }

  /** queued is the number of jobs waiting for a worker. */
  get queued(): number { return this.queue.length - this.head; }

  /** running is the number of invocations on workers now. */
  get running(): number {
    let n = 0;
    for (const w of this.workers) if (w !== null && w.job !== null) n++;
    return n;
  }

  /** threads is the number of live worker threads (started or starting). */
  get threads(): number { return this.ready + this.starting; }

  /** start starts every worker now rather than on first use (warm-up when a config goes live). */
  start(): void {
    if (this.closed) return;
    for (let i = 0; i < this.workers.length; i++) if (this.workers[i] === null) this.spawn(i);
  }

  /**
   * refusal says what submit would answer at once (`busy` or `unavailable`), or null when the job would run
   * or wait: the backend asks before it reads a request body it could not use.
   */
  refusal(now: number): Outcome | null {
    if (this.closed) return 'unavailable';
    if (this.idleWorker() !== null) return null;
    // A start that failed a moment ago would fail again: answer now instead of queueing behind it.
    if (this.ready === 0 && now < this.retryAt) return 'unavailable';
    // Workers being started, or to be started in empty slots, are capacity about to come: a job may wait
    // for each of them beyond maxQueue (so even `maxQueue: 0` serves a cold function).
    const coming = this.workers.length - this.ready;
    if (this.queued >= this.settings.maxQueue + coming) return 'busy';
    return null;
  }

  /** submit runs `job` on an idle worker, queues it, or settles it at once (busy, unavailable). */
  submit(job: PoolJob, now: number): void {
    if (!this.closed && this.queued === 0) {
      const idle = this.idleWorker();
      if (idle !== null) { idle.run(job, now); return; }
    }
    const refused = this.refusal(now);
    if (refused !== null) { job.settle(refused, null, null); return; }
    job.queuedAt = now;
    this.queue.push(job);
    this.pump(now);
  }

  /**
   * close refuses new jobs, lets those running or queued finish (each is bounded by the timeout), then
   * terminates every worker. Called when the config generation retires.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.queued === 0 && this.running === 0) return this.terminateAll();
    return new Promise<void>((resolve) => { this.drained = resolve; }).then(() => this.terminateAll());
  }

  private terminateAll(): Promise<void> {
    const ends: Promise<number>[] = [];
    for (let i = 0; i < this.workers.length; i++) {
      const w = this.workers[i];
      if (w === null) continue;
      this.drop(w);
      ends.push(w.worker.terminate());
    }
    return Promise.allSettled(ends).then(() => undefined);
  }

  private idleWorker(): FunctionWorker | null {
    const list = this.workers;
    for (let i = 0; i < list.length; i++) {
      const w = list[i];
      if (w !== null && w.ready && w.job === null) return w;
    }
    return null;
  }

  /** pump hands queued jobs to idle workers and starts workers for those still waiting. */
  pump(now: number): void {
    const limit = this.settings.timeoutMs;
    while (this.queued > 0) {
      const w = this.idleWorker();
      if (w === null) break;
      const job = this.shift();
      if (job.abandoned()) { job.settle('gone', null, null); continue; }
      // Waiting longer than an invocation may run means the function is overwhelmed: answer, do not pile up.
      if (now - job.queuedAt > limit) { job.settle('busy', null, null); continue; }
      w.run(job, now);
    }
    if (this.queued > this.starting && !(this.ready === 0 && now < this.retryAt)) {
      for (let i = 0; i < this.workers.length && this.queued > this.starting; i++) if (this.workers[i] === null) this.spawn(i);
    }
    this.checkDrained();
  }

  private shift(): PoolJob {
    const job = this.queue[this.head]!;
    (this.queue as (PoolJob | undefined)[])[this.head] = undefined;
    this.head++;
    if (this.head === this.queue.length) { this.queue.length = 0; this.head = 0; }
    else if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0; }
    return job;
  }

  private spawn(index: number): void {
    const logStreamName = `gatehouse/${this.name}/${index}`;
    let w: FunctionWorker;
    try {
      w = new FunctionWorker(this, index, { ...this.setup, logStreamName }, { ...this.env, AWS_LAMBDA_LOG_STREAM_NAME: logStreamName });
    } catch (err) {
      // Node could not make a thread (out of memory, too many threads): as a failed start, with its backoff.
      this.startFailed(`the worker thread could not be created: ${(err as Error).message}`, performance.now());
      return;
    }
    this.starting++;
    this.workers[index] = w;
  }

  /** onReady: a worker imported the module. The pool's first one restarts the queue's wait clock. */
  onReady(w: FunctionWorker, now: number): void {
    this.starting--;
    if (!this.warm) {
      // The wait for the first start is not the function's slowness: queued jobs' waits count from here.
      // (Behind a replacement they keep counting: a function that keeps hanging must not pile requests up.)
      this.warm = true;
      for (let i = this.head; i < this.queue.length; i++) this.queue[i]!.queuedAt = now;
    }
    this.ready++;
    this.failures = 0;
    w.ready = true;
    this.pump(now);
  }

  /** onInitFailed: the module could not be imported, or exports no handler, or its start timed out. */
  onInitFailed(w: FunctionWorker, reason: string, now: number): void {
    if (this.workers[w.index] !== w) return;
    this.drop(w);
    void w.worker.terminate();
    this.startFailed(reason, now);
    this.pump(now);
  }

  /** startFailed sets the backoff, logs the reason once, and refuses the queue if no worker can serve it. */
  private startFailed(reason: string, now: number): void {
    this.failures++;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
    this.retryAt = now + backoff;
    this.log.error({ event: 'function_start_failed', file: this.settings.file, err: reason, retryInMs: backoff }, `function ${this.name} could not start: ${firstLine(reason)}`);
    if (this.ready === 0 && this.starting === 0) {
      while (this.queued > 0) this.shift().settle('unavailable', null, null);
    }
  }

  /** onFinished: the worker's invocation ended (it may take the next job). */
  onFinished(now: number): void {
    this.pump(now);
  }

  /** onDead: a worker ended (timeout, crash, exit); its job, if any, was settled by the worker. */
  onDead(w: FunctionWorker, now: number): void {
    if (this.workers[w.index] !== w) return;
    this.drop(w);
    this.pump(now);
  }

  /** Takes a worker out of its slot and the counts. */
  private drop(w: FunctionWorker): void {
    if (this.workers[w.index] !== w) return;
    this.workers[w.index] = null;
    if (w.ready) this.ready--; else this.starting--;
    w.dead = true;
    w.stopTimers();
  }

  private checkDrained(): void {
    if (this.drained !== null && this.queued === 0 && this.running === 0) {
      const done = this.drained;
      this.drained = null;
      done();
    }
  }

  /** logLine writes one line of a function's console output to the event log. */
  logLine(stream: 'stdout' | 'stderr', line: string, requestId: string | null, worker: number): void {
    const text = line.length > MAX_LOG_LINE ? `${line.slice(0, MAX_LOG_LINE)}…` : line;
    const fields = { event: 'function_log', function: this.name, stream, requestId, worker };
    if (stream === 'stderr') this.log.warn(fields, text); else this.log.info(fields, text);
  }
}

/** One worker thread and the invocation it runs. Listeners are bound once per worker, never per request. */
class FunctionWorker {
  readonly pool: FunctionPool;
  readonly index: number;
  readonly worker: Worker;
  ready: boolean;
  dead: boolean;
  job: PoolJob | null;
  /** Number of the current invocation; answers carrying another are stale and ignored. */
  seq: number;
  /** Monotonic ms when the current invocation was handed over. */
  startedAt: number;
  /** Request id of the latest invocation, for its console output (which may arrive after its answer). */
  requestId: string | null;
  /**
   * The invocation deadline: one timer per worker, re-armed with refresh() for each invocation instead of a
   * new timer per request. Firing with no invocation running (the last one answered in time) does nothing.
   */
  private timer: NodeJS.Timeout | null;
  private initTimer: NodeJS.Timeout | null;
  private readonly out: OutputLines;
  private readonly err: OutputLines;

  constructor(pool: FunctionPool, index: number, setup: WorkerSetup, env: Record<string, string>) {
    this.pool = pool;
    this.index = index;
    this.ready = false;
    this.dead = false;
    this.job = null;
    this.seq = 0;
    this.startedAt = 0;
    this.requestId = null;
    this.timer = null;
    this.worker = new Worker(WORKER_URL, {
      workerData: setup,
      env,
      resourceLimits: { maxOldGenerationSizeMb: setup.memoryMb },
      // Not the gateway's own flags and preloads (--require/--import of an agent, say): a function starts clean.
      execArgv: [],
      // Read here, never passed through: the gateway's stdout carries its own log lines.
      stdout: true,
      stderr: true,
    });
    this.out = new OutputLines(this, 'stdout');
    this.err = new OutputLines(this, 'stderr');
    this.worker.stdout.on('data', this.out.onData.bind(this.out));
    this.worker.stdout.on('end', this.out.onEnd.bind(this.out));
    this.worker.stderr.on('data', this.err.onData.bind(this.err));
    this.worker.stderr.on('end', this.err.onEnd.bind(this.err));
    this.worker.on('message', this.onMessage.bind(this));
    this.worker.on('error', this.onError.bind(this));
    this.worker.on('exit', this.onExit.bind(this));
    this.initTimer = setTimeout(this.onInitTimeout.bind(this), INIT_TIMEOUT_MS);
    this.initTimer.unref();
  }

  /** run hands one invocation to this idle worker. */
  run(job: PoolJob, now: number): void {
    this.job = job;
    this.startedAt = now;
    const m = job.message;
    m.seq = ++this.seq;
    m.deadline = Date.now() + this.pool.settings.timeoutMs;
    this.requestId = m.requestId;
    job.started(now);
    if (this.timer === null) {
      this.timer = setTimeout(this.onTimeout.bind(this), this.pool.settings.timeoutMs);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
    try {
      this.worker.postMessage(m);
    } catch (err) {
      // An event that cannot be cloned cannot happen (plain strings and objects); were it so, only this request fails.
      this.job = null;
      job.settle('invalid', null, `the event could not be sent: ${(err as Error).message}`);
      this.pool.onFinished(performance.now());
    }
  }

  stopTimers(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.initTimer !== null) { clearTimeout(this.initTimer); this.initTimer = null; }
  }

  private onMessage(m: { kind?: unknown; seq?: unknown; reason?: unknown; status?: unknown; headers?: unknown; body?: unknown }): void {
    if (this.dead || m === null || typeof m !== 'object') return;
    const now = performance.now();
    if (m.kind === 'ready') {
      if (this.ready) return;
      if (this.initTimer !== null) { clearTimeout(this.initTimer); this.initTimer = null; }
      this.pool.onReady(this, now);
      return;
    }
    if (m.kind === 'init-error') {
      if (!this.ready) this.pool.onInitFailed(this, typeof m.reason === 'string' ? m.reason : 'unknown', now);
      return;
    }
    const job = this.job;
    if (job === null || m.seq !== this.seq) return;
    this.job = null;
    const reason = typeof m.reason === 'string' ? m.reason : null;
    switch (m.kind) {
      case 'ok': {
        const response = checkWire(m, this.pool.settings.maxResponse);
        if (response === null) job.settle('invalid', null, 'the worker sent a malformed response');
        else job.settle('ok', response, null);
        break;
      }
      case 'error': job.settle('error', null, reason); break;
      case 'too-large': job.settle('too-large', null, reason); break;
      default: job.settle('invalid', null, reason); break;
    }
    this.pool.onFinished(now);
  }

  private onTimeout(): void {
    const job = this.job;
    const now = performance.now();
    // The timer is re-armed by every run(), so while a job runs it stands for that job's deadline.
    if (this.dead || job === null) return;
    this.job = null;
    // terminate() stops the thread even in a busy loop; the next request that needs a worker starts a new one.
    this.pool.onDead(this, now);
    void this.worker.terminate();
    job.settle('timeout', null, `no answer within ${this.pool.settings.timeoutMs}ms; the worker was stopped`);
  }

  private onInitTimeout(): void {
    this.initTimer = null;
    if (!this.ready && !this.dead) this.pool.onInitFailed(this, `the module did not load within ${INIT_TIMEOUT_MS}ms`, performance.now());
  }

  /** An uncaught error in the thread, or its heap limit reached: the thread is gone. */
  private onError(err: Error & { code?: string }): void {
    const reason = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory (the memory limit was reached)' : `uncaught: ${err.stack ?? err.message}`;
    this.died(reason);
  }

  private onExit(code: number): void {
    this.died(`the worker exited with code ${code}`);
  }

  private died(reason: string): void {
    if (this.dead) return;
    const now = performance.now();
    if (!this.ready) { this.pool.onInitFailed(this, reason, now); return; }
    const job = this.job;
    this.job = null;
    this.pool.onDead(this, now);
    if (job !== null) job.settle('crashed', null, reason);
    else this.pool.log.warn({ event: 'function_worker_died', function: this.pool.name, worker: this.index, err: reason }, `a worker of function ${this.pool.name} died between invocations: ${firstLine(reason)}`);
    // The thread may linger after an uncaught error: make sure it is gone.
    void this.worker.terminate();
  }
}

/** OutputLines cuts a worker's stdout or stderr into lines for the log. */
class OutputLines {
  private readonly owner: FunctionWorker;
  private readonly stream: 'stdout' | 'stderr';
  private readonly decoder: StringDecoder;
  private partial: string;

  constructor(owner: FunctionWorker, stream: 'stdout' | 'stderr') {
    this.owner = owner;
    this.stream = stream;
    this.decoder = new StringDecoder('utf8');
    this.partial = '';
  }

  onData(chunk: Buffer): void {
    let text = this.partial + this.decoder.write(chunk);
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      this.emit(text.slice(0, nl));
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    // Output without line breaks is still logged, in pieces, rather than held without bound.
    if (text.length > MAX_LOG_LINE) { this.emit(text); text = ''; }
    this.partial = text;
  }

  onEnd(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.emit(rest);
  }

  private emit(line: string): void {
    const o = this.owner;
    o.pool.logLine(this.stream, line.endsWith('\r') ? line.slice(0, -1) : line, o.requestId, o.index);
  }
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl === -1 ? text : text.slice(0, nl);
}
