/**
 * Reading a request body whole, for the few features that must see it (validation). Bounded by the route's
 * body limit as bytes arrive, so a client cannot make the gateway hold more than that.
 */
import type { Exchange } from './exchange.js';

/** readRequestBody collects the body into `ex.body`; on overflow or a broken body it answers and resolves null. */
export function readRequestBody(ex: Exchange): Promise<Buffer | null> {
  if (ex.bodyLength === 0) {
    ex.body = Buffer.alloc(0);
    return Promise.resolve(ex.body);
  }
  const limit = ex.route!.bodyLimit;
  const req = ex.req;
  if (req.headers.expect !== undefined) ex.res.writeContinue();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Buffer | null): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        ex.fail('GH_BODY_TOO_LARGE');
        finish(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      ex.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      finish(ex.body);
    };
    const onError = (): void => {
      if (!ex.res.headersSent && !ex.res.destroyed) ex.fail('GH_BAD_REQUEST');
      finish(null);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
