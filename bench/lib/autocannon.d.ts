// The part of autocannon 9 that the benchmark uses. autocannon ships no types; this declares only what
// bench/lib/load.ts calls, from autocannon's README ("API" and "Results"), so strict mode stays clean.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    /** Options is the subset of autocannon's options the benchmark sets. */
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      pipelining?: number;
      /** Seconds before a request counts as a timeout (and an error). */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      title?: string;
      /** Passed to tls.connect for https:// URLs. */
      tlsOptions?: { rejectUnauthorized?: boolean; servername?: string };
    }

    /** Histogram is one of autocannon's hdr-histogram summaries. */
    interface Histogram {
      min: number;
      max: number;
      average: number;
      stddev: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
    }

    /** Result is what a finished run resolves to. */
    interface Result {
      requests: Histogram & { sent: number };
      latency: Histogram;
      throughput: Histogram;
      /** Seconds the run actually took. */
      duration: number;
      /** Connection errors, timeouts included. */
      errors: number;
      timeouts: number;
      non2xx: number;
      mismatches: number;
      statusCodeStats: Record<string, { count: number }>;
    }

    /** Instance is the running benchmark: an event emitter that is also a promise of its result. */
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
      on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): this;
      on(event: 'done', listener: (result: Result) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
    }
  }

  function autocannon(opts: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
