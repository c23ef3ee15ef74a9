// The benchmark's function backend: a Lambda-style handler answering 64 bytes, as `GET /64b` does upstream,
// so `gh-function` measures the cost of an invocation (event built, worker round trip, result mapped).
const BODY = 'a'.repeat(64);
export const handler = async () => ({ statusCode: 200, headers: { 'content-type': 'application/octet-stream' }, body: BODY });
