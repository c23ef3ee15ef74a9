/**
 * gRPC answers for the gateway's own errors. A gRPC client reads the call's outcome from `grpc-status` and
 * `grpc-message`, not from the HTTP status or a JSON body, so a refusal of a gRPC request (401, 429, no
 * route, upstream down) is written as HTTP 200 with those two as trailers: the client sees UNAUTHENTICATED,
 * RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE... with the catalogue title as the message.
 */
import type { ServerResponse } from 'node:http';

/** gRPC status codes (grpc/doc/statuscodes.md) that gateway errors map to. */
export const GRPC_STATUS = {
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INVALID_ARGUMENT: 3,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * By catalogue code where the meaning is sharper than the HTTP status; otherwise by status as gRPC's own
 * HTTP mapping does (doc/http-grpc-status-mapping.md), except 429 → RESOURCE_EXHAUSTED and 504 →
 * DEADLINE_EXCEEDED, which say more than UNAVAILABLE.
 */
const BY_CODE: Readonly<Record<string, number>> = {
  GH_VALIDATION_FAILED: GRPC_STATUS.INVALID_ARGUMENT,
  GH_UNPROCESSABLE: GRPC_STATUS.INVALID_ARGUMENT,
  GH_BODY_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  GH_HEADERS_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  GH_RESPONSE_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  GH_REQUEST_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  GH_METHOD_NOT_ALLOWED: GRPC_STATUS.UNIMPLEMENTED,
};

/** grpcStatusOf maps a gateway error (catalogue code and HTTP status) to a gRPC status code. */
export function grpcStatusOf(code: string, httpStatus: number): number {
  const byCode = BY_CODE[code];
  if (byCode !== undefined) return byCode;
  switch (httpStatus) {
    case 401: return GRPC_STATUS.UNAUTHENTICATED;
    case 403: return GRPC_STATUS.PERMISSION_DENIED;
    case 404: return GRPC_STATUS.UNIMPLEMENTED;
    case 429: return GRPC_STATUS.RESOURCE_EXHAUSTED;
    case 502: case 503: return GRPC_STATUS.UNAVAILABLE;
    case 504: return GRPC_STATUS.DEADLINE_EXCEEDED;
    default: return GRPC_STATUS.INTERNAL;
  }
}

/**
 * isGrpcRequest says whether `res` answers a gRPC call: HTTP/2 and `content-type: application/grpc` (or
 * `application/grpc+proto`, `application/grpc;...`). gRPC-Web (`application/grpc-web`) carries its status
 * in the body and is not one.
 */
export function isGrpcRequest(res: ServerResponse): boolean {
  const req = res.req;
  if (req === undefined || req.httpVersionMajor !== 2) return false;
  const type = req.headers['content-type'];
  if (type === undefined || !type.startsWith('application/grpc')) return false;
  const next = type.charCodeAt(16);
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

/**
 * writeGrpcError answers a gRPC call with a gateway error: status 200, `content-type: application/grpc`,
 * no message, and `grpc-status` / `grpc-message` as trailers (the form every gRPC client reads; Node's
 * HTTP/2 compatibility API always sends the trailers in their own HEADERS frame). `headers` (flat) are added
 * to the response headers (request id, Retry-After, WWW-Authenticate). Returns 0: no body bytes.
 */
export function writeGrpcError(res: ServerResponse, code: string, httpStatus: number, title: string, headers: readonly string[]): number {
  res.writeHead(200, ['content-type', 'application/grpc', ...headers]);
  // gRPC clients hand an error's trailers to the caller (not its headers): the request id goes there too.
  res.addTrailers({ 'grpc-status': String(grpcStatusOf(code, httpStatus)), 'grpc-message': percentEncode(title), 'x-request-id': requestIdOf(headers) });
  res.end();
  return 0;
}

function requestIdOf(headers: readonly string[]): string {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'x-request-id') return headers[i + 1]!;
  return '';
}

/** grpc-message is percent-encoded outside printable ASCII and `%` (gRPC PROTOCOL-HTTP2). */
function percentEncode(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : encodeURIComponent(text);
}
