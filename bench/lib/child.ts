// Server processes of the benchmark (upstream, yardstick, gatehouse): start one, wait for its
// `listening on http://...` line, stop it, and make sure none outlives the harness.
//
// A child's stdout and stderr go to files, not pipes: a gateway that logs every request would otherwise
// make the harness (which is also the load generator) spend its CPU reading logs, and a pipe nobody reads
// would block the child once full. The file is polled for the listening line until it shows up.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** LISTENING_RE finds the URL in a server's startup line, e.g. `gatehouse listening on http://127.0.0.1:4000`.
 * Quotes also end the URL, so the line may be a JSON log record (`"msg":"listening on http://..."`). */
export const LISTENING_RE = /listening on (https?:\/\/[^\s"'<>]+)/;

/** EXIT_WITH_PARENT is the module preloaded into every child (see exit-with-parent.ts). */
const EXIT_WITH_PARENT = new URL('./exit-with-parent.js', import.meta.url).href;
/** POLL_MS is how often the stdout file is read while waiting for the listening line. */
const POLL_MS = 20;
/** STOP_GRACE_MS is how long a child gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3000;

/** LIVE holds every child not yet seen to exit, for stopAll and killAllSync. */
const LIVE = new Set<ChildServer>();

/** ChildStartOptions describes one server process to start. */
export interface ChildStartOptions {
  /** Short name, used for log file names and messages. */
  name: string;
  /** Arguments after `node` (and the preload). */
  args: string[];
  cwd: string;
  /** Folder for the child's stdout and stderr files. */
  logDir: string;
  /** How long to wait for the listening line, in milliseconds. */
  timeoutMs: number;
}

/** ChildStartError is a child that exited or stayed silent before listening; it carries the child's stderr. */
export class ChildStartError extends Error {
  readonly stderr: string;
  constructor(message: string, stderr: string) {
    super(message);
    this.name = 'ChildStartError';
    this.stderr = stderr;
  }
}

/** ChildServer is one started server process and the URL it listens on. */
export class ChildServer {
  readonly name: string;
  readonly process: ChildProcess;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  url: string;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  exited: boolean;
  readonly #exitedPromise: Promise<void>;

  private constructor(name: string, child: ChildProcess, stdoutPath: string, stderrPath: string) {
    this.name = name;
    this.process = child;
    this.stdoutPath = stdoutPath;
    this.stderrPath = stderrPath;
    this.url = '';
    this.exitCode = null;
    this.exitSignal = null;
    this.exited = false;
    this.#exitedPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        LIVE.delete(this);
        resolve();
      });
    });
  }

  /** start spawns `node <args>` and resolves once its stdout shows LISTENING_RE; rejects with a
   * ChildStartError (and kills the child) if it exits first or the timeout passes. */
  static async start(opts: ChildStartOptions): Promise<ChildServer> {
    const stdoutPath = join(opts.logDir, `${opts.name}.stdout.log`);
    const stderrPath = join(opts.logDir, `${opts.name}.stderr.log`);
    const outFd = openSync(stdoutPath, 'w');
    const errFd = openSync(stderrPath, 'w');
    let child: ChildProcess;
    try {
      // stdin stays a pipe held by the harness, and exit-with-parent.js (preloaded) exits when it closes:
      // no server outlives the harness, even one killed by SIGKILL.
      child = spawn(process.execPath, ['--import', EXIT_WITH_PARENT, ...opts.args], {
        cwd: opts.cwd,
        stdio: ['pipe', outFd, errFd],
      });
    } finally {
      closeSync(outFd);
      closeSync(errFd);
    }
    child.stdin?.on('error', () => { /* the child is gone; its exit is handled below */ });
    const server = new ChildServer(opts.name, child, stdoutPath, stderrPath);
    LIVE.add(server);
    child.once('error', () => { /* spawn failures also show up as an exit */ });

    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      // stdout is where the line belongs; stderr is read too, so a server logging there still starts.
      const m = LISTENING_RE.exec(readText(stdoutPath)) ?? LISTENING_RE.exec(readText(stderrPath));
      if (m !== null) {
        try {
          // The origin only: drops a trailing slash or sentence punctuation after the port.
          server.url = new URL(m[1]!.replace(/[.,;:)]+$/, '')).origin;
        } catch {
          await server.stop();
          throw new ChildStartError(`${opts.name} printed an unusable URL: ${m[1]}`, server.stderrTail());
        }
        return server;
      }
      if (server.exited) {
        const how = server.exitSignal !== null ? `signal ${server.exitSignal}` : `code ${server.exitCode}`;
        throw new ChildStartError(`${opts.name} exited with ${how} before listening`, server.stderrTail());
      }
      if (Date.now() >= deadline) {
        await server.stop();
        throw new ChildStartError(
          `${opts.name} printed no "listening on http://..." line within ${opts.timeoutMs / 1000} s`,
          server.stderrTail(),
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** pid is the child's process id. */
  get pid(): number {
    return this.process.pid ?? -1;
  }

  /** stderrTail returns the last `maxBytes` of the child's stderr (its whole stderr, usually). */
  stderrTail(maxBytes = 16 * 1024): string {
    const text = readText(this.stderrPath);
    return text.length > maxBytes ? `...${text.slice(-maxBytes)}` : text;
  }

  /** stdoutBytes is how much the child has written to stdout so far (its logs, mostly). */
  stdoutBytes(): number {
    try {
      return statSync(this.stdoutPath).size;
    } catch {
      return 0;
    }
  }

  /** stop sends SIGTERM, then SIGKILL after STOP_GRACE_MS, and resolves once the child has exited. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => { if (!this.exited) this.process.kill('SIGKILL'); }, STOP_GRACE_MS);
    await this.#exitedPromise;
    clearTimeout(timer);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** stopAll stops every live child, in parallel. */
export async function stopAll(): Promise<void> {
  await Promise.all([...LIVE].map((c) => c.stop()));
}

/** killAllSync SIGKILLs every live child; for process 'exit', where nothing asynchronous runs any more. */
export function killAllSync(): void {
  for (const c of LIVE) {
    try {
      c.process.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  LIVE.clear();
}
