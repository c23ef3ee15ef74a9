/**
 * The memory store shared by the workers of one machine (`gatehouse start --workers N`): the primary holds
 * the one MemoryStore (IpcStoreHost), and each worker's store is an IpcStore that sends every call to it over
 * the cluster's IPC channel and waits for the answer. The primary runs calls one at a time on one MemoryStore,
 * so a limit of 10 lets exactly 10 requests through whichever workers they reach, quotas count every worker's
 * requests, and usage is summed in one place. Nothing is batched on consume (exactness is the point); usage
 * arrives already batched by each worker's Meter.
 *
 * A call the primary does not answer within IPC_TIMEOUT_MS rejects with StoreError, as a Redis that does not
 * answer does, and the caller applies its fail mode (open for `store: memory`). A primary that is gone ends
 * its workers anyway (Node's cluster workers exit when their channel closes), so this covers a primary that
 * is only slow. Outages are logged and counted once each, like the Redis store's.
 *
 * The channel is an interface (IpcChannel), so tests run the store conformance suite over an in-process pair.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { StoreError, type ConsumeResult, type LimitCheck, type Store, type StoreHealth, type UsageRecord } from '../stores/types.js';
import { MemoryStore } from '../stores/memory.js';

/** STORE_MESSAGE tags store requests and replies on the cluster channel (other messages share it). */
export const STORE_MESSAGE = 'gatehouse:store';

/**
 * IPC_TIMEOUT_MS is how long a worker waits for the primary's answer before its fail mode applies. An
 * answer normally takes tens of microseconds; this leaves room for a garbage collection in the primary.
 */
export const IPC_TIMEOUT_MS = 500;

/** StoreRequest is one store call, worker to primary. `open` (no answer) names the usage retention. */
export type StoreRequest = { readonly gh: typeof STORE_MESSAGE; readonly id: number } & (
  | { readonly op: 'consume'; readonly checks: readonly LimitCheck[]; readonly now: number; readonly cost: number }
  | { readonly op: 'peek'; readonly checks: readonly LimitCheck[]; readonly now: number }
  | { readonly op: 'addUsage'; readonly records: readonly UsageRecord[]; readonly batchId: string }
  | { readonly op: 'readUsage'; readonly consumer: string; readonly from: number; readonly to: number }
  | { readonly op: 'ping' }
  | { readonly op: 'open'; readonly usageRetentionMs: number | null }
);

/** StoreReply is the primary's answer to one call. `name` is the error's class (RangeError for a bad usage range). */
export type StoreReply = { readonly gh: typeof STORE_MESSAGE; readonly id: number } & (
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly name: string; readonly error: string }
);

/** IpcChannel is one end of a message channel: a worker's `process`, or a test's in-process pair. */
export interface IpcChannel {
  /** send posts one message; it never throws (a message lost on a closed channel is answered by the timeout). */
  send(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** ReplyPort is where the host sends an answer: the worker the request came from. */
export interface ReplyPort {
  send(message: StoreReply): void;
}

/** IpcStoreOptions configure an IpcStore. */
export interface IpcStoreOptions {
  log: Logger;
  /** Longest wait for one answer, in ms (default IPC_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long the primary's store keeps hourly usage, in ms (default 400 days); the first worker to ask sets it. */
  usageRetentionMs?: number;
}

/** One call waiting for its answer. Calls time out in the order they were sent (one timeout for all). */
class Pending {
  resolve: (value: unknown) => void = noop;
  reject: (err: Error) => void = noop;
  readonly deadline: number;
  constructor(deadline: number) { this.deadline = deadline; }
}

function noop(): void { /* replaced by the promise's own functions */ }

/** IpcStore is a worker's view of the primary's memory store (see the file comment). */
export class IpcStore implements Store {
  readonly kind = 'memory' as const;
  readonly #channel: IpcChannel;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  /** Calls sent and not yet answered, by id, in the order sent (so also in deadline order). */
  readonly #pending = new Map<number, Pending>();
  readonly #onMessage: (message: unknown) => void;
  /** One coarse timer for every call's timeout (not one timer per call); it keeps the process up only while a call waits. */
  readonly #timer: NodeJS.Timeout;
  #nextId = 1;
  #up = true;
  #outages = 0;
  /** performance.now() when the current outage began; -1 when none is open. */
  #downSince = -1;
  #closed = false;
  /** Resolves close() once the last call in flight is settled. */
  #drained: (() => void) | null = null;

  constructor(channel: IpcChannel, options: IpcStoreOptions) {
    this.#channel = channel;
    this.#log = options.log;
    this.#timeoutMs = options.timeoutMs ?? IPC_TIMEOUT_MS;
    this.#onMessage = (message) => { this.receive(message); };
    channel.on('message', this.#onMessage);
    this.#timer = setInterval(() => { this.#expire(performance.now()); }, Math.max(5, Math.floor(this.#timeoutMs / 4)));
    this.#timer.unref();
    const open: StoreRequest = { gh: STORE_MESSAGE, id: 0, op: 'open', usageRetentionMs: options.usageRetentionMs ?? null };
    channel.send(open);
  }

  /** health is down from a call the primary did not answer in time until its next answer. */
  get health(): StoreHealth {
    return { up: this.#up, outages: this.#outages };
  }

  /** consume checks and charges the limits in the primary's store: one message each way, nothing batched. */
  consume(checks: readonly LimitCheck[], now: number, cost: number): Promise<ConsumeResult> {
    return this.#call({ gh: STORE_MESSAGE, id: this.#nextId++, op: 'consume', checks, now, cost }) as Promise<ConsumeResult>;
  }

  /** peek returns the states of the checks without charging. */
  peek(checks: readonly LimitCheck[], now: number): Promise<ConsumeResult> {
    return this.#call({ gh: STORE_MESSAGE, id: this.#nextId++, op: 'peek', checks, now }) as Promise<ConsumeResult>;
  }

  /** addUsage adds a batch of usage in the primary's store (at most once per batch id, there). */
  async addUsage(records: readonly UsageRecord[], batchId: string): Promise<void> {
    if (records.length === 0) return;
    await this.#call({ gh: STORE_MESSAGE, id: this.#nextId++, op: 'addUsage', records, batchId });
  }

  /** readUsage reads one consumer's usage, as every worker metered it. */
  readUsage(consumer: string, fromHour: number, toHour: number): Promise<UsageRecord[]> {
    return this.#call({ gh: STORE_MESSAGE, id: this.#nextId++, op: 'readUsage', consumer, from: fromHour, to: toHour }) as Promise<UsageRecord[]>;
  }

  /** ping asks the primary for an answer (readiness); false when it gives none in time. */
  async ping(): Promise<boolean> {
    try {
      await this.#call({ gh: STORE_MESSAGE, id: this.#nextId++, op: 'ping' });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * close stops listening once the calls in flight are settled (answered or timed out). The primary's store
   * lives on: it is every worker's, and a reload that builds a new IpcStore finds its counters there.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending.size > 0) await new Promise<void>((resolve) => { this.#drained = resolve; });
    clearInterval(this.#timer);
    this.#channel.off('message', this.#onMessage);
  }

  /** receive settles the call a reply answers; other messages are ignored. Returns whether it was a reply. */
  receive(message: unknown): boolean {
    if (!isStoreMessage(message)) return false;
    const m = message as StoreReply;
    const p = this.#pending.get(m.id);
    if (p === undefined) return true; // answered after its timeout: the caller has moved on
    this.#pending.delete(m.id);
    if (!this.#up) this.#markUp();
    if (m.ok) p.resolve(m.value);
    else p.reject(m.name === 'RangeError' ? new RangeError(m.error) : new StoreError(m.error));
    this.#settled();
    return true;
  }

  #call(request: StoreRequest): Promise<unknown> {
    if (this.#closed) return Promise.reject(new StoreError('store closed'));
    const p = new Pending(performance.now() + this.#timeoutMs);
    // The executor is the one closure a call costs (Promise.withResolvers is not in Node 20).
    const promise = new Promise<unknown>((resolve, reject) => { p.resolve = resolve; p.reject = reject; });
    if (this.#pending.size === 0) this.#timer.ref();
    this.#pending.set(request.id, p);
    this.#channel.send(request);
    return promise;
  }

  /** Rejects the calls past their deadline: the oldest first, stopping at the first still in time. */
  #expire(now: number): void {
    if (this.#pending.size === 0) return;
    let expired = 0;
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) break;
      this.#pending.delete(id);
      expired++;
      p.reject(new StoreError('store unavailable', { cause: new Error(`the primary process did not answer within ${this.#timeoutMs} ms`) }));
    }
    if (expired > 0) {
      this.#markDown();
      this.#settled();
    }
  }

  #settled(): void {
    if (this.#pending.size === 0) this.#timer.unref();
    if (this.#drained !== null && this.#pending.size === 0) { this.#drained(); this.#drained = null; }
  }

  #markDown(): void {
    if (this.#closed || this.#downSince >= 0) return;
    this.#up = false;
    this.#downSince = performance.now();
    this.#outages++;
    this.#log.warn({ event: 'store_down', store: 'memory', via: 'primary' }, 'the primary process (which holds the memory store) does not answer: limits apply their fail mode until it does');
  }

  #markUp(): void {
    if (this.#up) return;
    this.#up = true;
    const downMs = Math.round(performance.now() - this.#downSince);
    this.#downSince = -1;
    this.#log.info({ event: 'store_recovered', store: 'memory', via: 'primary', downMs }, 'the primary process answers again');
  }
}

/**
 * IpcStoreHost answers the workers' store calls from one MemoryStore, in the primary. The store is made at
 * the first call (a cluster on Redis never makes one), with the usage retention the first `open` names.
 */
export class IpcStoreHost {
  readonly #log: Logger;
  #store: MemoryStore | null = null;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** store is the MemoryStore behind every worker's IpcStore, or null before the first call. */
  get store(): MemoryStore | null {
    return this.#store;
  }

  /**
   * handle answers `message` to `replyTo` when it is a store call, and returns whether it was. consume,
   * peek and addUsage answer synchronously, in the order calls arrive: that order is the atomicity.
   */
  handle(message: unknown, replyTo: ReplyPort): boolean {
    if (!isStoreMessage(message)) return false;
    const m = message as StoreRequest;
    if (m.op === 'open') {
      this.#open(m.usageRetentionMs);
      return true;
    }
    const store = this.#store ?? this.#open(null);
    try {
      switch (m.op) {
        case 'consume': replyTo.send({ gh: STORE_MESSAGE, id: m.id, ok: true, value: store.consume(m.checks, m.now, m.cost) }); return true;
        case 'peek': replyTo.send({ gh: STORE_MESSAGE, id: m.id, ok: true, value: store.peek(m.checks, m.now) }); return true;
        case 'addUsage': store.addUsage(m.records, m.batchId); replyTo.send({ gh: STORE_MESSAGE, id: m.id, ok: true, value: null }); return true;
        case 'ping': replyTo.send({ gh: STORE_MESSAGE, id: m.id, ok: true, value: true }); return true;
        case 'readUsage':
          store.readUsage(m.consumer, m.from, m.to).then(
            (value) => { replyTo.send({ gh: STORE_MESSAGE, id: m.id, ok: true, value }); },
            (err: unknown) => { replyTo.send(failure(m.id, err)); },
          );
          return true;
        default:
          replyTo.send(failure((m as { id: number }).id, new Error('unknown store call')));
          return true;
      }
    } catch (err) {
      replyTo.send(failure(m.id, err));
      return true;
    }
  }

  /** close stops the store's sweep timer (the primary is stopping: every worker has exited). */
  async close(): Promise<void> {
    await this.#store?.close();
  }

  #open(usageRetentionMs: number | null): MemoryStore {
    this.#store ??= new MemoryStore(usageRetentionMs === null ? { log: this.#log } : { log: this.#log, usageRetentionMs });
    return this.#store;
  }
}

/**
 * clusterStore returns the store a cluster worker uses for `store: memory` (an IpcStore on the channel to
 * its primary), or null outside a gatehouse cluster worker, where the store is a plain MemoryStore.
 */
export function clusterStore(log: Logger, usageRetentionMs?: number): Store | null {
  if (!cluster.isWorker || process.env.GATEHOUSE_WORKER === undefined || process.send === undefined) return null;
  return new IpcStore(PROCESS_CHANNEL, usageRetentionMs === undefined ? { log } : { log, usageRetentionMs });
}

/** A send whose channel closed fails here, not as an 'error' event nobody listens to. */
function ignoreSendError(): void { /* the call's timeout answers */ }

/** PROCESS_CHANNEL is a cluster worker's channel to its primary (store calls and scrapes share it). */
export const PROCESS_CHANNEL: IpcChannel = {
  send(message: unknown): void {
    try { process.send?.(message, undefined, undefined, ignoreSendError); } catch { /* as above */ }
  },
  on(event, listener) { return process.on(event, listener); },
  off(event, listener) { return process.off(event, listener); },
};

function isStoreMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { gh?: unknown }).gh === STORE_MESSAGE;
}

function failure(id: number, err: unknown): StoreReply {
  const e = err instanceof Error ? err : new Error(String(err));
  return { gh: STORE_MESSAGE, id, ok: false, name: e.name, error: e.message };
}
