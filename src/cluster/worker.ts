/**
 * What one cluster worker runs (`gatehouse start --workers N`, forked by src/cluster/primary.ts): the same
 * gateway as a single process (startGateway: load, compile, listen, hot reload on file change, graceful
 * shutdown on SIGTERM), with three differences. Its listening sockets are shared through the primary, which
 * hands each new connection to a worker in turn. `store: memory` is the primary's one store, reached over IPC
 * (src/cluster/ipc-store.ts, chosen by createStore). Worker 1 alone binds the admin listener, whose /metrics
 * merges every worker's (src/cluster/metrics.ts). Every log and access line (on stdout) says which worker
 * wrote it: `"worker":N`.
 *
 * Once listening it tells the primary it is ready (the rolling restart waits for that before stopping the
 * worker it replaces). A config that cannot start makes it exit 1, having printed why, like a single process.
 *
 * The primary stops a worker with a `stop` message rather than SIGTERM: the worker first stops accepting
 * without closing idle connections, and waits (up to FRESH_WAIT_MS) for the connections the primary has just
 * handed it to send their request, which then is served. http.Server.close() closes every connection without
 * a request under way, including one accepted a moment ago whose request is still on the wire: under load,
 * each rolling restart would reset a few clients. Then the ordinary graceful shutdown runs. SIGTERM from
 * elsewhere (a signal to the whole process group) still shuts down as a single process does.
 */
import cluster from 'node:cluster';
import { Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type DestinationStream } from 'pino';
import { startGateway, type RunningGateway } from '../main.js';
import { PROCESS_CHANNEL } from './ipc-store.js';
import { ClusterMetricsSource } from './metrics.js';
import { WORKER_MESSAGE, type ReadyMessage, type StopMessage } from './messages.js';

/** FRESH_WAIT_MS bounds how long a stopping worker waits for connections that have not sent a request yet. */
const FRESH_WAIT_MS = 1000;

/** ADMIN_WORKER is the index of the worker that binds the admin listener (its replacement gets it again). */
export const ADMIN_WORKER = 1;

/** WorkerOptions are the `start` flags a worker honours. */
export interface WorkerOptions {
  configFile: string;
  watch: boolean;
  /** The rendering stream of `--pretty`, or null for JSON lines. */
  pretty: DestinationStream | null;
}

/** workerIndex is this process's worker number (1..N), or null outside a gatehouse cluster worker. */
export function workerIndex(): number | null {
  const n = Number(process.env.GATEHOUSE_WORKER);
  return cluster.isWorker && Number.isInteger(n) && n > 0 && process.send !== undefined ? n : null;
}

/**
 * runWorker starts this worker's gateway and reports it ready; it throws (ConfigError and the like) when the
 * gateway cannot start, for the CLI to print and exit 1. Signals end it as they end a single process.
 */
export async function runWorker(index: number, opts: WorkerOptions): Promise<void> {
  const gw = await startGateway({
    configFile: opts.configFile,
    signals: true,
    watch: opts.watch,
    logDestination: new WorkerLines(opts.pretty ?? pino.destination({ dest: 1, sync: false }), index),
    accessDestination: new WorkerLines(opts.pretty ?? pino.destination({ dest: 1, sync: false }), index),
    cluster: { adminListener: index === ADMIN_WORKER, metrics: (local) => new ClusterMetricsSource(local, PROCESS_CHANNEL) },
  });
  const server = gw.gateway.server;
  // On TLS, the socket requests arrive on is the TLS one (known once the handshake is done).
  if (gw.gateway.tls !== null) server.on('secureConnection', onSecureConnection);
  else server.on('connection', onConnection);
  server.on('request', onRequest);
  server.on('upgrade', onRequest);
  PROCESS_CHANNEL.on('message', (message: unknown) => {
    const m = message as Partial<StopMessage> | null;
    if (m !== null && typeof m === 'object' && m.gh === WORKER_MESSAGE && m.op === 'stop') void stop(gw);
  });
  PROCESS_CHANNEL.send({ gh: WORKER_MESSAGE, op: 'ready', url: gw.url, shutdownTimeoutMs: gw.shutdownTimeoutMs } satisfies ReadyMessage);
}

/** Connections accepted that have not sent a request (or an upgrade) yet. */
const fresh = new Set<Socket>();
// Listeners shared by every connection (no closure per connection): `this` is the socket.
function onConnection(socket: Socket): void { fresh.add(socket); socket.once('close', forgetSocket); }
function forgetSocket(this: Socket): void { fresh.delete(this); }
// HTTP/2 sessions are not waited for: shutdown sends them GOAWAY, and their streams under way finish.
function onSecureConnection(socket: TLSSocket): void { if (socket.alpnProtocol !== 'h2') onConnection(socket); }
function onRequest(req: IncomingMessage): void { if (fresh.size > 0) fresh.delete(req.socket); }

let stopping = false;

/** Stops accepting, lets just-accepted connections send their request, then shuts down gracefully and exits. */
async function stop(gw: RunningGateway): Promise<void> {
  if (stopping) return;
  stopping = true;
  // net.Server's close, not http.Server's: stop accepting, keep the connections without a request yet.
  NetServer.prototype.close.call(gw.gateway.server);
  const deadline = performance.now() + FRESH_WAIT_MS;
  while (fresh.size > 0 && performance.now() < deadline) await sleep(5);
  await gw.close();
  process.exit(0);
}

/**
 * WorkerLines puts `"worker":N` first in every JSON line written through it, then hands the line on: one
 * string concatenation per line, no parsing. Lines that are not JSON objects pass unchanged.
 */
export class WorkerLines implements DestinationStream {
  readonly #inner: DestinationStream;
  readonly #head: string;

  constructor(inner: DestinationStream, index: number) {
    this.#inner = inner;
    this.#head = `{"worker":${index},`;
  }

  write(line: string): void {
    this.#inner.write(line.charCodeAt(0) === 123 /* { */ && line.charCodeAt(1) !== 125 /* } */ ? this.#head + line.slice(1) : line);
  }

  /** flush is pino's logger.flush(cb), passed to the destination underneath. */
  flush(cb?: (err?: Error) => void): void {
    const inner = this.#inner as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
    if (typeof inner.flush === 'function') inner.flush(cb);
    else cb?.();
  }

  /** on forwards listeners ('error' of a destination that cannot be written) to the destination underneath. */
  on(event: string, listener: (...args: unknown[]) => void): this {
    (this.#inner as unknown as { on?: (e: string, l: (...args: unknown[]) => void) => unknown }).on?.(event, listener);
    return this;
  }
}
