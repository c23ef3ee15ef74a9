/**
 * The entry of a function's worker thread: import the user's module once, then run one invocation at a time
 * as the AWS Lambda Node.js runtime would (async handlers, callback handlers, the legacy context.done /
 * succeed / fail), and send each result back as a checked response (toWireResponse) rather than as the raw
 * value, so a huge or odd result is measured and refused here, in the worker, not in the gateway.
 *
 * Messages to the gateway: `ready` or `init-error` once, then per invocation one of `ok` (status, headers,
 * body bytes transferred, not copied), `error` (the handler threw, rejected or reported an error), `invalid`
 * (the result is no response) and `too-large`. Texts sent are for the gateway's log, never for a client.
 * Uncaught errors and rejections outside an invocation's reach end the thread; the gateway replaces it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { toWireResponse } from './lambda.js';
import type { WorkerSetup, InvokeMessage } from './pool.js';

/** Longest error text sent to the gateway's log. */
const MAX_ERROR_TEXT = 4096;

const setup = workerData as WorkerSetup;
const port = parentPort!;

type Handler = (event: unknown, context: unknown, callback: (err?: unknown, result?: unknown) => void) => unknown;

let handler: Handler | null = null;
try {
  const mod = await import(pathToFileURL(setup.file).href) as Record<string, unknown>;
  // A CommonJS module's exports are the ES module's default; named exports are found only when Node can
  // see them statically, so look in both.
  const fn = mod[setup.handler] ?? (mod.default as Record<string, unknown> | undefined)?.[setup.handler];
  if (typeof fn === 'function') handler = fn as Handler;
  else port.postMessage({ kind: 'init-error', reason: `the module exports no function named "${setup.handler}"` });
} catch (err) {
  port.postMessage({ kind: 'init-error', reason: errorText(err) });
}
if (handler !== null) {
  port.on('message', invoke);
  port.postMessage({ kind: 'ready' });
}

/** Runs one invocation; exactly one answer is sent, whichever of return, callback or context.done comes first. */
function invoke(msg: InvokeMessage): void {
  const seq = msg.seq;
  let settled = false;
  const succeed = (result?: unknown): void => {
    if (settled) return;
    settled = true;
    answer(seq, result);
  };
  const fail = (err: unknown): void => {
    if (settled) return;
    settled = true;
    port.postMessage({ kind: 'error', seq, reason: errorText(err) });
  };
  const callback = (err?: unknown, result?: unknown): void => {
    if (err !== undefined && err !== null) fail(err); else succeed(result);
  };
  const deadline = msg.deadline;
  // A plain object with its own functions, like the Lambda runtime's: handlers destructure it.
  const context = {
    functionName: setup.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: setup.functionArn,
    memoryLimitInMB: String(setup.memoryMb),
    awsRequestId: msg.requestId,
    logGroupName: setup.logGroupName,
    logStreamName: setup.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: (): number => Math.max(0, deadline - Date.now()),
    done: callback,
    succeed,
    fail,
  };
  let returned: unknown;
  try {
    returned = handler!(msg.event, context, callback);
  } catch (err) {
    fail(err);
    return;
  }
  if (returned !== null && (typeof returned === 'object' || typeof returned === 'function') && typeof (returned as { then?: unknown }).then === 'function') {
    (returned as PromiseLike<unknown>).then(succeed, fail);
  } else if (returned !== undefined && handler!.length < 3) {
    // Lambda ignores a plain return value; taking it as the result serves handlers written for it just
    // the same (they return a promise or call back), and makes a plain synchronous handler work too.
    succeed(returned);
  }
  // Otherwise the answer comes by callback or context.done/succeed/fail (or the timeout ends it).
}

/** Checks the result and sends it: the body's bytes are moved to the gateway's thread, not copied. */
function answer(seq: number, result: unknown): void {
  let v;
  try {
    v = toWireResponse(result, setup.maxResponse);
  } catch (err) {
    // A getter or a toJSON of the result threw while it was read.
    port.postMessage({ kind: 'invalid', seq, reason: `reading the result failed: ${errorText(err)}` });
    return;
  }
  if (!v.ok) {
    port.postMessage({ kind: v.tooLarge ? 'too-large' : 'invalid', seq, reason: v.reason });
    return;
  }
  const r = v.response;
  const body = ownBuffer(r.body);
  port.postMessage({ kind: 'ok', seq, status: r.status, headers: r.headers, body }, body === null ? [] : [body.buffer as ArrayBuffer]);
}

/** The bytes in an ArrayBuffer of their own, which can be transferred (a small Buffer shares Node's pool). */
function ownBuffer(b: Uint8Array | null): Uint8Array | null {
  if (b === null) return null;
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b;
  return new Uint8Array(b);
}

/** An error as text for the log: its stack when it has one, bounded. Never throws. */
function errorText(err: unknown): string {
  let text: string;
  try {
    if (err instanceof Error) text = err.stack ?? `${err.name}: ${err.message}`;
    else if (typeof err === 'string') text = err;
    else text = JSON.stringify(err) ?? String(err);
  } catch {
    text = 'an error that cannot be shown';
  }
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}
