/**
 * The messages between the cluster primary and a worker about the worker itself: ready (worker to primary,
 * once it listens) and stop (primary to worker: stop gracefully). Apart from worker.ts, so the primary does
 * not load the gateway. Store calls and scrapes have their own (ipc-store.ts, metrics.ts).
 */

/** WORKER_MESSAGE tags the messages between the primary and a worker about the worker itself (ready, stop). */
export const WORKER_MESSAGE = 'gatehouse:worker';

/** ReadyMessage tells the primary a worker is listening. */
export interface ReadyMessage {
  readonly gh: typeof WORKER_MESSAGE;
  readonly op: 'ready';
  readonly url: string;
  /** The worker's `listen.shutdownTimeout` in ms: how long the primary lets it drain before killing it. */
  readonly shutdownTimeoutMs: number;
}

/** StopMessage asks a worker to stop gracefully (primary to worker). */
export interface StopMessage {
  readonly gh: typeof WORKER_MESSAGE;
  readonly op: 'stop';
}
