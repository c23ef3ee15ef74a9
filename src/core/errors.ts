/**
 * The error catalogue: every error a client can receive from the gateway itself, with its stable code, HTTP
 * status and title, and the writer that turns one into an RFC 9457 `application/problem+json` answer.
 * Codes are API: clients and dashboards key on them, so a code is never renamed or reused.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** ErrorSpec is one catalogue entry. */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
}

/** ERRORS lists every gateway error code. Add new codes at the end of their group; never rename one. */
export const ERRORS = {
  // Request framing and limits (400-431)
  GH_BAD_REQUEST: { status: 400, title: 'Bad request' },
  GH_BAD_PATH: { status: 400, title: 'The request path is not allowed' },
  GH_BAD_PATH_ENCODING: { status: 400, title: 'The request path has a forbidden or invalid encoding' },
  GH_ABSOLUTE_FORM: { status: 400, title: 'Only origin-form request targets are accepted' },
  GH_BAD_FRAMING: { status: 400, title: 'The request framing is ambiguous' },
  GH_DUPLICATE_HEADER: { status: 400, title: 'A header that must appear once appeared several times' },
  GH_BAD_HEADER_VALUE: { status: 400, title: 'A header value is not allowed' },
  GH_UPGRADE_NOT_ALLOWED: { status: 400, title: 'Protocol upgrade is not allowed on this route' },
  GH_REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  GH_BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  GH_URI_TOO_LONG: { status: 414, title: 'The request URL is too long' },
  GH_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large or too many' },
  // Identity and access
  GH_UNAUTHORIZED: { status: 401, title: 'Authentication is required or the credentials were not accepted' },
  GH_UNKNOWN_CONSUMER: { status: 401, title: 'The credentials are valid but belong to no known consumer' },
  GH_FORBIDDEN: { status: 403, title: 'The caller may not use this route' },
  GH_IP_DENIED: { status: 403, title: 'Requests from this address are not allowed' },
  GH_REQUEST_BLOCKED: { status: 403, title: 'The request was blocked by a protection rule' },
  GH_CORS_REJECTED: { status: 403, title: 'The request origin is not allowed' },
  GH_VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  GH_UNPROCESSABLE: { status: 422, title: 'The request body does not match its schema' },
  GH_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request content type is not accepted' },
  GH_RESPONSE_TOO_LARGE: { status: 502, title: 'The upstream response is too large to process' },
  // Routing
  GH_ROUTE_NOT_FOUND: { status: 404, title: 'No route matches this request' },
  GH_METHOD_NOT_ALLOWED: { status: 405, title: 'The method is not allowed on this route' },
  // Upstreams
  GH_UPSTREAM_UNAVAILABLE: { status: 502, title: 'The upstream service could not be reached' },
  GH_UPSTREAM_ERROR: { status: 502, title: 'The upstream service failed to answer' },
  GH_NO_HEALTHY_TARGET: { status: 503, title: 'No healthy instance of the service is available' },
  GH_CIRCUIT_OPEN: { status: 503, title: 'The service is temporarily unavailable' },
  GH_SHUTTING_DOWN: { status: 503, title: 'The gateway is shutting down' },
  GH_UPSTREAM_TIMEOUT: { status: 504, title: 'The upstream service did not answer in time' },
  GH_AGGREGATE_FAILED: { status: 502, title: 'A backend of the aggregated route failed' },
  GH_DEPENDENCY_FAILED: { status: 424, title: 'Not called: a backend whose answer it needs failed' },
  // Functions
  GH_FUNCTION_FAILED: { status: 502, title: 'The function failed to answer' },
  GH_FUNCTION_BUSY: { status: 503, title: 'The function is busy' },
  GH_FUNCTION_TIMEOUT: { status: 504, title: 'The function did not answer in time' },
  // Rate limits and quotas
  GH_RATE_LIMITED: { status: 429, title: 'Too many requests: a rate limit was reached' },
  GH_QUOTA_EXCEEDED: { status: 429, title: 'The quota for this period is spent' },
  GH_STORE_UNAVAILABLE: { status: 503, title: 'Limits cannot be checked right now' },
  GH_TOO_MANY_CONNECTIONS: { status: 429, title: 'Too many open connections for this caller' },
  // Admin API: configuration changes
  GH_CONFIG_INVALID: { status: 422, title: 'The configuration change is not valid' },
  GH_CONFIG_READONLY: { status: 409, title: 'The configuration cannot be changed through the admin API' },
  GH_CONFIG_CONFLICT: { status: 409, title: 'The change conflicts with the current configuration' },
  GH_CONFIG_VERSION_MISMATCH: { status: 412, title: 'The configuration is not at the version given in If-Match' },
  GH_CONFIG_NOT_FOUND: { status: 404, title: 'No such element in the configuration' },
  GH_CONFIG_UNAVAILABLE: { status: 503, title: 'The configuration store cannot be reached' },
  // Everything else
  GH_INTERNAL: { status: 500, title: 'Internal gateway error' },
} as const satisfies Record<string, ErrorSpec>;

/** ErrorCode is any code of the catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** GatewayError carries a catalogue code through code that throws; its message never reaches a client. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].title);
    this.code = code;
  }
}

/** ProblemExtras are optional members added to the problem document and headers. */
export interface ProblemExtras {
  detail?: string;
  /** Which inputs failed, for validation errors; written as the `errors` member. Never carries input values. */
  errors?: readonly { in: string; field: string; message: string }[];
  /** Extra response headers as a flat [name, value, ...] list (`Allow`, `Retry-After`). */
  headers?: readonly string[];
  /** Extension members of the problem document (RFC 9457 §3.2), JSON values written by gateway code only (`resetAt`). */
  extensions?: Readonly<Record<string, unknown>>;
  /** Status of the answer when it is not the code's own (an aggregate answers with the worst status of its failed parts). */
  status?: number;
}

const PROBLEM_TYPE_BASE = 'https://gatehouse.dev/errors/';

/** problemDocument is the JSON text of a problem: type, title, status, code, requestId and optional detail. */
export function problemDocument(code: ErrorCode, requestId: string, detail?: string, errors?: ProblemExtras['errors'], extensions?: ProblemExtras['extensions'], status?: number): string {
  const spec = ERRORS[code];
  const doc: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replace(/_/g, '-'),
    title: spec.title,
    status: status ?? spec.status,
    code,
    requestId,
  };
  if (detail !== undefined) doc.detail = detail;
  if (errors !== undefined) doc.errors = errors;
  if (extensions !== undefined) for (const k of Object.keys(extensions)) if (!(k in doc)) doc[k] = extensions[k];
  return JSON.stringify(doc);
}

/**
 * writeRawProblem writes a problem straight on a socket that Node's HTTP server no longer drives (parser
 * errors, CONNECT), then closes it.
 */
export function writeRawProblem(socket: Socket, code: ErrorCode, requestId: string): number {
  const spec = ERRORS[code];
  const body = problemDocument(code, requestId);
  socket.end(`HTTP/1.1 ${spec.status} ${spec.title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
  // The server is half-open: end() alone would leave the socket to a client that never closes its side.
  socket.destroySoon();
  return Buffer.byteLength(body);
}

/**
 * writeProblem answers with an RFC 9457 problem document. It is the only way the gateway writes its own
 * errors, so no stack trace, library message or upstream address can slip into one: `detail` is written by
 * gateway code, never copied from an exception. Returns the length of the body written (0 when the response
 * had already started and was cut instead).
 */
export function writeProblem(res: ServerResponse, code: ErrorCode, requestId: string, extras?: ProblemExtras): number {
  const spec = ERRORS[code];
  if (res.headersSent) {
    // The status line is gone: the only honest signal left is to cut the response short.
    res.destroy();
    return 0;
  }
  const body = problemDocument(code, requestId, extras?.detail, extras?.errors, extras?.extensions, extras?.status);
  const headers: string[] = [
    'content-type', 'application/problem+json',
    'content-length', String(Buffer.byteLength(body)),
    'cache-control', 'no-store',
    'x-request-id', requestId,
  ];
  if (extras?.headers) headers.push(...extras.headers);
  res.writeHead(extras?.status ?? spec.status, headers);
  res.end(body);
  // A HEAD answer carries the length of the body it does not send.
  return res.req?.method === 'HEAD' ? 0 : Number(headers[3]);
}
