/**
 * The function backend: a route answered by a local JavaScript module written as an AWS Lambda handler
 * behind an API Gateway HTTP API (payload format 2.0). The request becomes the event (lambda.ts), runs on
 * the route's worker pool (pool.ts), and the answer is written with sendResponse, so the route's response
 * hooks, header removals, request id and cache tap apply as to any held response.
 *
 * What a client gets when the function fails: 502 when it throws, rejects, crashes its worker (out of
 * memory, exit) or returns something that is no response; 504 past its timeout; 503 with Retry-After when
 * its queue is full. The function's own error text goes to the log with the request id, never to the client.
 *
 * Reload: each config generation builds its own pool, so an edited module takes effect with the reload
 * (the new workers import it afresh); the old pool finishes its invocations and is terminated when its
 * generation retires (close()).
 */
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { defineBackend } from '../types.js';
import type { Backend } from '../../core/route.js';
import { clientGone, cutResponse, type Exchange } from '../../core/exchange.js';
import type { ErrorCode } from '../../core/errors.js';
import { sendResponse } from '../respond.js';
import { FunctionSchema, checkFunction, functionSettings, type FunctionSettings } from './schema.js';
import { buildEvent, routeShape, type RouteShape, type WireResponse } from './lambda.js';
import { FunctionPool, type InvokeMessage, type Outcome, type PoolJob } from './pool.js';

/**
 * FUNCTION_ERRORS are the catalogue codes of a function's failures: codes of their own, so dashboards and
 * clients can tell a function from a service.
 */
export const FUNCTION_ERRORS: { readonly failed: ErrorCode; readonly timeout: ErrorCode; readonly busy: ErrorCode; readonly tooLarge: ErrorCode } = {
  failed: 'GH_FUNCTION_FAILED',
  timeout: 'GH_FUNCTION_TIMEOUT',
  busy: 'GH_FUNCTION_BUSY',
  tooLarge: 'GH_RESPONSE_TOO_LARGE',
};

/** Seconds a client is told to wait (Retry-After) when the function's queue is full. */
const RETRY_AFTER = ['retry-after', '1'];

/** FunctionBackend turns each request into an invocation of the route's function. */
export class FunctionBackend implements Backend {
  readonly settings: FunctionSettings;
  readonly pool: FunctionPool;
  readonly log: Logger;
  /** `function:hello.mjs`, the access log's target. */
  readonly target: string;
  /** The route in API Gateway's terms, worked out on the first request (the route is fixed for this backend). */
  private shape: RouteShape | null;

  constructor(settings: FunctionSettings, routeName: string, log: Logger) {
    this.settings = settings;
    this.log = log;
    this.pool = new FunctionPool(settings, routeName, log);
    this.target = `function:${basename(settings.file)}`;
    this.shape = null;
  }

  /** handle invokes the function for one request; the promise settles once the answer is written. */
  handle(ex: Exchange): Promise<void> | undefined {
    ex.target = this.target;
    // Refused before the body is read: an overwhelmed function should not cost the gateway request buffers.
    const refused = this.pool.refusal(performance.now());
    if (refused !== null) { this.answer(ex, refused, null, null); return undefined; }
    if (ex.bodyLength !== 0) return this.withBody(ex);
    return this.invoke(ex, null);
  }

  /** start starts the workers now rather than at the first request (a config going live may call it). */
  start(): void {
    this.pool.start();
  }

  /** close ends the workers once their invocations are answered (the config generation retires). */
  close(): Promise<void> {
    return this.pool.close();
  }

  private async withBody(ex: Exchange): Promise<void> {
    const body = await ex.readBody();
    if (body === null) return; // already answered (413, timeout)
    return this.invoke(ex, body);
  }

  private invoke(ex: Exchange, body: Buffer | null): Promise<void> {
    const route = ex.route!;
    const shape = this.shape ??= routeShape(route.matcher.pathPattern, route.matcher.methods);
    const call = new FunctionCall(this, ex, { seq: 0, requestId: ex.requestId, deadline: 0, event: buildEvent(ex, shape, body, Date.now()) });
    const done = call.promise();
    this.pool.submit(call, performance.now());
    return done;
  }

  /** answer writes the outcome of an invocation (or of its refusal) to the client and logs a failure. */
  answer(ex: Exchange, outcome: Outcome, response: WireResponse | null, detail: string | null): void {
    switch (outcome) {
      case 'ok': {
        const r = response!;
        const body = r.body === null ? null : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
        try {
          sendResponse(ex, r.status, r.headers, body);
        } catch (err) {
          // Node refused a header (a name or value a checked response cannot have unless the worker was tampered with).
          this.failed(ex, 'invalid', `the response could not be written: ${(err as Error).message}`);
          if (!ex.res.headersSent) ex.fail(FUNCTION_ERRORS.failed); else cutResponse(ex.res);
        }
        return;
      }
      case 'gone':
        return;
      case 'busy':
        // Debug only: under overload a line per refusal would flood the log (the access log has each 503).
        this.log.debug({ event: 'function_busy', requestId: ex.requestId, queued: this.pool.queued }, `function ${this.pool.name} is busy: request refused`);
        ex.fail(FUNCTION_ERRORS.busy, { headers: RETRY_AFTER });
        return;
      case 'unavailable':
        // The failed start was logged once, with its reason.
        this.log.debug({ event: 'function_unavailable', requestId: ex.requestId }, `function ${this.pool.name} cannot start: request refused`);
        ex.fail(FUNCTION_ERRORS.failed);
        return;
      case 'timeout':
        this.failed(ex, outcome, detail);
        ex.fail(FUNCTION_ERRORS.timeout);
        return;
      case 'too-large':
        this.failed(ex, outcome, detail);
        ex.fail(FUNCTION_ERRORS.tooLarge);
        return;
      default:
        this.failed(ex, outcome, detail);
        ex.fail(FUNCTION_ERRORS.failed);
    }
  }

  private failed(ex: Exchange, outcome: Outcome, detail: string | null): void {
    this.log.warn({ event: 'function_failed', requestId: ex.requestId, outcome, err: detail ?? undefined },
      `function ${this.pool.name} failed (${outcome})${detail === null ? '' : `: ${firstLine(detail)}`}`);
  }
}

// promise() makes the call's promise without a closure per request: the executor is one shared function
// that hands its resolve to the call being made (an executor runs synchronously, so nothing interleaves).
let making: FunctionCall | null = null;
function takeResolve(resolve: () => void): void { making!.resolve = resolve; }
function noop(): void { /* until promise() is called */ }

/** FunctionCall is one request's invocation: the pool's job, answered through the backend. */
class FunctionCall implements PoolJob {
  readonly backend: FunctionBackend;
  readonly ex: Exchange;
  readonly message: InvokeMessage;
  queuedAt: number;
  resolve: () => void;

  constructor(backend: FunctionBackend, ex: Exchange, message: InvokeMessage) {
    this.backend = backend;
    this.ex = ex;
    this.message = message;
    this.queuedAt = 0;
    this.resolve = noop;
  }

  promise(): Promise<void> {
    making = this;
    const p = new Promise<void>(takeResolve);
    making = null;
    return p;
  }

  abandoned(): boolean {
    return clientGone(this.ex.res);
  }

  started(now: number): void {
    const ex = this.ex;
    ex.attempts = 1;
    ex.upstreamStart = now;
  }

  settle(outcome: Outcome, response: WireResponse | null, detail: string | null): void {
    const ex = this.ex;
    if (ex.upstreamStart !== 0) ex.upstreamMs = performance.now() - ex.upstreamStart;
    // settle runs in a worker's event listener: what throws here must end here, not as an uncaught error.
    try {
      this.backend.answer(ex, outcome, response, detail);
    } catch (err) {
      this.backend.log.error({ event: 'function_answer_failed', requestId: ex.requestId, err }, 'writing a function\'s answer failed');
      if (!ex.res.writableEnded) cutResponse(ex.res);
    } finally {
      this.resolve();
    }
  }
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl === -1 ? text : text.slice(0, nl);
}

/** functionBackend is the `function:` backend's definition. */
export const functionBackend = defineBackend({
  key: 'function',
  schema: FunctionSchema,
  check(cfg, ctx) {
    return checkFunction(cfg, ctx.configDir);
  },
  create(cfg, ctx) {
    return new FunctionBackend(functionSettings(cfg, ctx.configDir), ctx.routeName, ctx.log);
  },
});
