/**
 * Mirroring: a sampled share of a route's requests is also sent to a shadow service (a new version under
 * real traffic). The copy leaves after the request passed every check and before the real call; its answer
 * is read and thrown away. The client never waits for the shadow, and a slow or dead shadow costs it
 * nothing: copies in flight are capped, and past the cap a copy is skipped rather than queued.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Backend } from '../core/route.js';
import type { Exchange } from '../core/exchange.js';
import type { Service } from '../upstreams/service.js';
import { callService } from '../upstreams/call.js';
import { Duration, parseDuration } from '../config/units.js';

/** MirrorSchema is a route's `mirror:` block. */
export const MirrorSchema = Type.Object({
  service: Type.String({ description: 'Shadow service that receives the copies; its answers are discarded.' }),
  percent: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 100, description: 'Share of the route\'s requests copied, in percent. Default 100.' }),
  timeout: Duration('Time a copy may take before it is abandoned. Default 5s.', '5s'),
  maxInFlight: Type.Integer({ minimum: 1, default: 100, description: 'Copies in flight at once; past it, requests are not copied. Default 100.' }),
}, { additionalProperties: false, description: 'Copy requests to a shadow service whose answers are discarded and whose slowness or failure never reaches the client.' });

/** MirrorConfig is a validated `mirror:` block. */
export type MirrorConfig = Static<typeof MirrorSchema>;

/** MIRROR_HEADER marks a copy, so the shadow (and its logs) can tell copies from real requests. */
export const MIRROR_HEADER = 'x-gatehouse-mirror';

/** Largest shadow answer read (and discarded) before the copy is cut. */
const MAX_SHADOW_ANSWER = 1024 * 1024;

/** MirrorBackend sends sampled copies to the shadow, then hands the request to the route's backend. */
export class MirrorBackend implements Backend {
  readonly #inner: Backend;
  readonly #shadow: Service;
  readonly #ratio: number;
  readonly #timeoutMs: number;
  readonly #max: number;
  readonly #log: Logger;
  #inFlight: number;
  #position: number;
  /** Copies skipped because the cap was reached (for tests and logs). */
  skipped: number;

  constructor(cfg: MirrorConfig, inner: Backend, shadow: Service, log: Logger) {
    this.#inner = inner;
    this.#shadow = shadow;
    this.#ratio = cfg.percent / 100;
    this.#timeoutMs = parseDuration(cfg.timeout);
    this.#max = cfg.maxInFlight;
    this.#log = log;
    this.#inFlight = 0;
    this.#position = 0;
    this.skipped = 0;
  }

  handle(ex: Exchange): void | Promise<void> {
    if (!this.#sampled()) return this.#inner.handle(ex);
    if (this.#inFlight >= this.#max) { this.skipped++; return this.#inner.handle(ex); }
    if (ex.bodyLength === 0 || ex.body !== null) { this.#copy(ex, ex.body); return this.#inner.handle(ex); }
    // The copy needs the body too: read it (bounded by the route's limit); the real call then sends the same bytes.
    return ex.readBody().then((body) => {
      if (body === null) return undefined;
      this.#copy(ex, body);
      return this.#inner.handle(ex);
    });
  }

  #sampled(): boolean {
    if (this.#ratio >= 1) return true;
    // Evenly spread, like split: a 10% mirror copies 10 of every 100 requests.
    const before = this.#position;
    this.#position = (this.#position + this.#ratio) % 1;
    return this.#position < before || this.#ratio >= 1;
  }

  #copy(ex: Exchange, body: Buffer | null): void {
    const headers = ex.upstreamHeaders.slice();
    headers.push(MIRROR_HEADER, '1');
    this.#inFlight++;
    const path = ex.query === '' ? ex.upstreamPath : `${ex.upstreamPath}?${ex.query}`;
    callService(this.#shadow, { method: ex.req.method!, path, headers, body: body !== null && body.length > 0 ? body : null, timeoutMs: this.#timeoutMs, maxBytes: MAX_SHADOW_ANSWER }, null)
      .then((r) => { if (!r.ok) this.#log.debug({ event: 'mirror_failed', service: this.#shadow.name, code: r.code }, 'a mirrored request failed'); },
        () => { /* callService does not reject; nothing a copy does may reach the client */ })
      .finally(() => { this.#inFlight--; });
  }
}
