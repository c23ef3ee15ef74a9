/**
 * /metrics of a cluster: one scrape covers every worker. The admin listener runs in one worker; its /metrics
 * asks the primary (ClusterMetricsSource), the primary asks every worker for its registry as JSON
 * (MetricsCollector; each worker answers through the responder ClusterMetricsSource installed) and merges them
 * with prom-client's AggregatorRegistry: counters and histograms are summed, so request counts and latency
 * buckets are the machine's; each gauge says how it merges (below). prom-client is loaded in the primary only
 * when a scrape comes.
 *
 * A worker that does not answer within COLLECT_TIMEOUT_MS (starting, stopping, killed) is left out of that
 * scrape, and the counts of a worker that exits leave the sums with it: Prometheus reads the drop as a counter
 * reset, as it does for a restarted single process.
 */
import type { Registry } from 'prom-client';
import type { MetricsSource } from '../admin/server.js';
import type { IpcChannel } from './ipc-store.js';

/** METRICS_MESSAGE tags scrape requests and their answers on the cluster channel. */
export const METRICS_MESSAGE = 'gatehouse:metrics';

/** COLLECT_TIMEOUT_MS is how long the primary waits for the workers' metrics. */
export const COLLECT_TIMEOUT_MS = 2000;
/** SCRAPE_TIMEOUT_MS is how long the admin worker waits for the primary's merged text. */
const SCRAPE_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1000;

/**
 * GAUGE_AGGREGATORS says how the gateway's gauges merge across workers (by name suffix: the prefix is the
 * config's); the others are summed (websocket_connections: the machine's connections). Each worker judges
 * targets and the store by itself: healthy only if every worker says so, the worst circuit state.
 */
const GAUGE_AGGREGATORS: readonly [string, string][] = [['store_up', 'min'], ['upstream_target_healthy', 'min'], ['circuit_state', 'max']];

/** MetricsMessage is one message of the scrape protocol. */
export type MetricsMessage = { readonly gh: typeof METRICS_MESSAGE; readonly id: number } & (
  | { readonly op: 'scrape' }
  | { readonly op: 'text'; readonly text: string | null }
  | { readonly op: 'collect' }
  | { readonly op: 'collected'; readonly metrics: unknown[] }
);

/** LocalMetrics is what a worker's own metrics offer (GatewayMetrics). */
export interface LocalMetrics {
  readonly registry: Registry;
  readonly contentType: string;
}

/**
 * ClusterMetricsSource is a worker's side: it answers the primary's collect requests with its own registry,
 * and, in the worker that has the admin listener, renders /metrics from the primary's merged text.
 */
export class ClusterMetricsSource implements MetricsSource {
  readonly contentType: string;
  readonly #registry: Registry;
  readonly #channel: IpcChannel;
  readonly #waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  #nextId = 1;

  constructor(local: LocalMetrics, channel: IpcChannel) {
    this.contentType = local.contentType;
    this.#registry = local.registry;
    this.#channel = channel;
    channel.on('message', (message) => { this.#receive(message); });
  }

  /** metricsText asks the primary for every worker's metrics, merged. */
  metricsText(): Promise<string> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#waiting.delete(id); reject(new Error('the primary did not answer')); }, SCRAPE_TIMEOUT_MS);
      this.#waiting.set(id, { resolve, reject, timer });
      this.#channel.send({ gh: METRICS_MESSAGE, id, op: 'scrape' } satisfies MetricsMessage);
    });
  }

  #receive(message: unknown): void {
    if (!isMetricsMessage(message)) return;
    const m = message as MetricsMessage;
    if (m.op === 'collect') {
      void collectLocal(this.#registry).then((metrics) => { this.#channel.send({ gh: METRICS_MESSAGE, id: m.id, op: 'collected', metrics } satisfies MetricsMessage); });
    } else if (m.op === 'text') {
      const w = this.#waiting.get(m.id);
      if (w === undefined) return;
      this.#waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.text === null) w.reject(new Error('the primary could not merge the metrics'));
      else w.resolve(m.text);
    }
  }
}

/** This worker's registry as JSON, each gateway gauge marked with how it merges. */
async function collectLocal(registry: Registry): Promise<unknown[]> {
  let metrics: { name: string; type: string; aggregator?: string }[];
  try {
    metrics = await registry.getMetricsAsJSON() as unknown as { name: string; type: string; aggregator?: string }[];
  } catch {
    return [];
  }
  for (const m of metrics) {
    if (m.type !== 'gauge') continue;
    for (const [suffix, aggregator] of GAUGE_AGGREGATORS) if (m.name.endsWith(suffix)) m.aggregator = aggregator;
  }
  return metrics;
}

/** WorkerLink is how the primary reaches one worker. */
export interface WorkerLink {
  send(message: unknown): void;
}

/** One scrape under way in the primary. */
class Collection {
  readonly from: WorkerLink;
  readonly scrapeId: number;
  readonly parts: unknown[][] = [];
  pending: number;
  timer: NodeJS.Timeout | null = null;
  constructor(from: WorkerLink, scrapeId: number, pending: number) {
    this.from = from;
    this.scrapeId = scrapeId;
    this.pending = pending;
  }
}

/** MetricsCollector is the primary's side: it answers a worker's scrape with every live worker's metrics merged. */
export class MetricsCollector {
  readonly #workers: () => readonly WorkerLink[];
  readonly #collections = new Map<number, Collection>();
  #nextId = 1;

  /** `workers` lists the workers to ask (those that are ready). */
  constructor(workers: () => readonly WorkerLink[]) {
    this.#workers = workers;
  }

  /** handle takes one message from `from`; returns whether it was part of the scrape protocol. */
  handle(message: unknown, from: WorkerLink): boolean {
    if (!isMetricsMessage(message)) return false;
    const m = message as MetricsMessage;
    if (m.op === 'scrape') this.#start(from, m.id);
    else if (m.op === 'collected') {
      const c = this.#collections.get(m.id);
      if (c === undefined) return true;
      c.parts.push(m.metrics);
      if (--c.pending === 0) void this.#finish(m.id, c);
    }
    return true;
  }

  #start(from: WorkerLink, scrapeId: number): void {
    const workers = this.#workers();
    const id = this.#nextId++;
    const c = new Collection(from, scrapeId, workers.length);
    this.#collections.set(id, c);
    for (const w of workers) w.send({ gh: METRICS_MESSAGE, id, op: 'collect' } satisfies MetricsMessage);
    c.timer = setTimeout(() => { void this.#finish(id, c); }, COLLECT_TIMEOUT_MS);
    if (workers.length === 0) void this.#finish(id, c);
  }

  async #finish(id: number, c: Collection): Promise<void> {
    if (!this.#collections.delete(id)) return;
    if (c.timer !== null) clearTimeout(c.timer);
    let text: string | null;
    try {
      const { AggregatorRegistry } = await import('prom-client');
      text = await AggregatorRegistry.aggregate(c.parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
    } catch {
      text = null;
    }
    c.from.send({ gh: METRICS_MESSAGE, id: c.scrapeId, op: 'text', text } satisfies MetricsMessage);
  }
}

function isMetricsMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { gh?: unknown }).gh === METRICS_MESSAGE;
}
