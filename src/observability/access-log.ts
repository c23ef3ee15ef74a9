/**
 * The access log: one JSON line per request, written by pino (asynchronously, to stdout or a file) when the
 * response is over. What it never writes is as important as what it writes: no header (so no
 * `Authorization`, cookie or API key), no body, and query parameters that carry credentials (`auth:` methods'
 * own, plus `log.access.redactQuery`) are written as `[REDACTED]`. The path is the normalized one the router
 * saw; a request refused before its target could be trusted is logged with an empty path.
 *
 * Sampling keeps the volume down on busy gateways without losing what matters: errors and slow requests are
 * always written, ordinary ones with probability `sample`.
 */
import { mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { Exchange } from '../core/exchange.js';
import type { Runtime } from '../core/runtime.js';
import type { RequestSink } from './types.js';
import type { AccessLogConfig } from './log-schema.js';
import { parseDuration } from '../config/units.js';

const REDACTED = '[REDACTED]';

/** AccessLog writes the access line of each finished request. */
export class AccessLog implements RequestSink {
  readonly #out: Logger;
  readonly #dest: DestinationStream;
  readonly #sample: number;
  readonly #slowMs: number;
  readonly #redact: ReadonlySet<string>;
  /** The redaction set of the last runtime seen (its authenticators' query parameters added), by generation. */
  #forGeneration = -1;
  #redactNow: ReadonlySet<string>;

  readonly #flushTimer: NodeJS.Timeout;
  /** Lines not yet handed to the destination, when lines are batched (a file); see BATCH_BYTES. */
  #pending: string;
  readonly #batchBytes: number;
  /** The ISO time of the last line and the millisecond it is for: lines of one millisecond share it. */
  #timeMs: number;
  #timeIso: string;

  /**
   * `batchBytes` above 0 hands lines to the destination in chunks of about that size (and at least once a
   * second); 0 hands over each line as it is written.
   */
  constructor(config: AccessLogConfig, destination: DestinationStream, events: Logger, batchBytes = 0) {
    // A write error (a full disk) must not crash the gateway: it is logged once and lines are dropped meanwhile.
    let failed = false;
    (destination as unknown as NodeJS.EventEmitter).on?.('error', (err: Error) => {
      if (failed) return;
      failed = true;
      events.error({ event: 'access_log_failed', err: String(err.message) }, 'the access log cannot be written');
    });
    // pino's logger is kept for flushing its destination; lines are written to the destination directly.
    this.#out = pino({ base: null }, destination);
    this.#dest = destination;
    this.#sample = config.sample;
    this.#slowMs = parseDuration(config.slow);
    this.#redact = new Set(config.redactQuery);
    this.#redactNow = this.#redact;
    this.#pending = '';
    this.#batchBytes = batchBytes;
    this.#timeMs = 0;
    this.#timeIso = '';
    // A quiet gateway's lines still reach the file within a second.
    this.#flushTimer = setInterval(() => { try { this.#handOver(); this.#out.flush(); } catch { /* retried next tick */ } }, 1000);
    this.#flushTimer.unref();
  }

  onEnd(ex: Exchange): void {
    try {
      const durationMs = performance.now() - ex.start;
      const slow = durationMs > this.#slowMs;
      const status = ex.status;
      if (this.#sample < 1 && !slow && status < 400 && ex.errorCode === null && status !== 0 && Math.random() >= this.#sample) return;
      const route = ex.route;
      // The line is built by hand, not by pino's generic serializer: a fixed shape written in one pass costs
      // about a fifth as much (bench/micro/access-log.ts), and it still goes out through pino's destination.
      // Strings a client influences (path, query, method) go through JSON.stringify, so they are escaped.
      const now = Date.now();
      if (now !== this.#timeMs) { this.#timeMs = now; this.#timeIso = new Date(now).toISOString(); }
      let line = '{"type":"access","time":"' + this.#timeIso + '","requestId":' + JSON.stringify(ex.requestId) +
        ',"method":' + JSON.stringify(ex.req.method ?? '') + ',"path":' + JSON.stringify(ex.path);
      if (ex.query !== '') line += ',"query":' + JSON.stringify(this.#redactQuery(ex.runtime, ex.query));
      line += ',"status":' + status +
        ',"route":' + str(route === null ? null : route.name) +
        ',"service":' + str(route?.service?.name ?? null) +
        ',"target":' + str(ex.target) +
        ',"consumer":' + str(ex.identity?.consumer?.id ?? null) +
        ',"clientIp":' + JSON.stringify(ex.clientIp) +
        ',"bytesIn":' + bytesIn(ex) + ',"bytesOut":' + bytesOut(ex) +
        ',"durationMs":' + round(durationMs) +
        ',"upstreamMs":' + (ex.upstreamMs < 0 ? 'null' : round(ex.upstreamMs)) +
        ',"attempts":' + ex.attempts +
        ',"limit":' + str(ex.limitOutcome) + ',"cache":' + str(ex.cacheOutcome) + ',"error":' + str(ex.errorCode);
      if (ex.trace !== null) line += ',"traceId":"' + ex.trace.traceId + '"';
      if (slow) line += ',"slow":true';
      // A WebSocket tunnel (101) never finishes its HTTP response: it ends when the connection closes.
      if (status === 0 || (!ex.res.writableEnded && status !== 101)) line += ',"aborted":true';
      // With batchBytes 0 every line is handed over at once.
      this.#pending += line + '}\n';
      if (this.#pending.length >= this.#batchBytes) this.#handOver();
    } catch {
      // The log must never break a request; a line lost to a bug here is preferable.
    }
  }

  /** flush writes out what is buffered (shutdown); resolves once it reached the file or stdout. */
  flush(): Promise<void> {
    clearInterval(this.#flushTimer);
    return new Promise((resolve) => { try { this.#handOver(); this.#out.flush(() => resolve()); } catch { resolve(); } });
  }

  /** Hands the batched lines to the destination, which writes them out asynchronously. */
  #handOver(): void {
    if (this.#pending === '') return;
    const chunk = this.#pending;
    this.#pending = '';
    this.#dest.write(chunk);
  }

  #redactQuery(rt: Runtime, query: string): string {
    if (rt.generation !== this.#forGeneration) {
      this.#forGeneration = rt.generation;
      const names = new Set(this.#redact);
      for (const a of rt.authenticators.values()) for (const q of a.credentialQuery) names.add(q);
      this.#redactNow = names;
    }
    const names = this.#redactNow;
    if (names.size === 0) return query;
    let out = '';
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const rawName = eq === -1 ? part : part.slice(0, eq);
      let name = rawName;
      try { name = decodeURIComponent(rawName.replace(/\+/g, ' ')); } catch { /* keep it raw */ }
      out += (out === '' ? '' : '&') + (names.has(name) ? `${rawName}=${REDACTED}` : part);
    }
    return out;
  }
}

/**
 * BATCH_BYTES is the size of the chunks in which access lines are handed to a file: one asynchronous write per
 * chunk. At 4 KiB (pino's buffering, before) the writes cost about a quarter of the access log's CPU on the
 * bench's gh-observe target. A crash loses at most this much, or a second's worth of lines.
 */
export const BATCH_BYTES = 16 * 1024;

/**
 * accessLogDestination opens where access lines go: a file (created with its folder), or stdout; `batchBytes`
 * is how AccessLog should batch lines for it (files are written in chunks, stdout line by line, so that a
 * terminal or a log collector reading the pipe sees each request at once).
 */
export function accessLogDestination(config: AccessLogConfig, configDir: string, stdout: DestinationStream): { destination: DestinationStream; batchBytes: number } {
  if (config.file === undefined) return { destination: stdout, batchBytes: 0 };
  const file = resolve(configDir, config.file);
  // Opened here, synchronously, so a path that cannot be written refuses to start instead of failing later.
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  // The chunks AccessLog hands over are written as they come: sonic-boom's own buffering would only add copies.
  return { destination: pino.destination({ dest: fd, sync: false, maxWrite: 2 * BATCH_BYTES }), batchBytes: BATCH_BYTES };
}

function bytesIn(ex: Exchange): number {
  if (ex.body !== null) return ex.body.length;
  return ex.bodyLength > 0 ? ex.bodyLength : 0;
}

function bytesOut(ex: Exchange): number {
  if (ex.bytesOut > 0) return ex.bytesOut;
  const len = ex.res.getHeader('content-length');
  return typeof len === 'string' || typeof len === 'number' ? Number(len) || 0 : 0;
}

/** str renders a string or null as JSON. */
function str(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
