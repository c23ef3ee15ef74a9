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
import { mkdirSync } from 'node:fs';
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
  readonly #sample: number;
  readonly #slowMs: number;
  readonly #redact: ReadonlySet<string>;
  /** The redaction set of the last runtime seen (its authenticators' query parameters added), by generation. */
  #forGeneration = -1;
  #redactNow: ReadonlySet<string>;

  constructor(config: AccessLogConfig, destination: DestinationStream) {
    // No pid/hostname on every line: an access line is about a request. `time` is ISO 8601 for humans and tools.
    this.#out = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: () => ({ type: 'access' }) } }, destination);
    this.#sample = config.sample;
    this.#slowMs = parseDuration(config.slow);
    this.#redact = new Set(config.redactQuery);
    this.#redactNow = this.#redact;
  }

  onEnd(ex: Exchange): void {
    try {
      const durationMs = performance.now() - ex.start;
      const slow = durationMs > this.#slowMs;
      const status = ex.status;
      if (this.#sample < 1 && !slow && status < 400 && ex.errorCode === null && status !== 0 && Math.random() >= this.#sample) return;
      const route = ex.route;
      this.#out.info({
        requestId: ex.requestId,
        method: ex.req.method,
        path: ex.path,
        query: ex.query === '' ? undefined : this.#redactQuery(ex.runtime, ex.query),
        status,
        route: route === null ? null : route.name,
        service: route?.service?.name ?? null,
        target: ex.target,
        consumer: ex.identity?.consumer?.id ?? null,
        clientIp: ex.clientIp,
        bytesIn: bytesIn(ex),
        bytesOut: bytesOut(ex),
        durationMs: round(durationMs),
        upstreamMs: ex.upstreamMs < 0 ? null : round(ex.upstreamMs),
        attempts: ex.attempts,
        limit: ex.limitOutcome,
        cache: ex.cacheOutcome,
        error: ex.errorCode,
        traceId: ex.trace === null ? undefined : ex.trace.traceId,
        slow: slow ? true : undefined,
        aborted: status === 0 || !ex.res.writableFinished ? true : undefined,
      });
    } catch {
      // The log must never break a request; a line lost to a bug here is preferable.
    }
  }

  /** flush writes out what is buffered (shutdown); resolves once it reached the file or stdout. */
  flush(): Promise<void> {
    return new Promise((resolve) => { this.#out.flush(() => resolve()); });
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

/** accessLogDestination opens where access lines go: a file (created with its folder), or stdout. */
export function accessLogDestination(config: AccessLogConfig, configDir: string, stdout: DestinationStream): DestinationStream {
  if (config.file === undefined) return stdout;
  const file = resolve(configDir, config.file);
  mkdirSync(dirname(file), { recursive: true });
  return pino.destination({ dest: file, sync: false, mkdir: true, minLength: 4096 });
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

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
