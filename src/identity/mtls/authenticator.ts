/**
 * The `mtls` authentication method: the client certificate of the TLS connection, verified in the
 * handshake against `listen.clientCerts.ca`, mapped to a consumer by its fingerprint, a subjectAltName or
 * its CN (`consumers.<id>.certificates`). A connection's certificate never changes, so the verdict is worked
 * out once per connection (and config generation) and kept on the TLS socket: the requests after the first
 * cost a property read and an expiry check.
 */
import type { TLSSocket } from 'node:tls';
import type { Http2ServerRequest } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { AuthMethodDefinition } from '../methods.js';
import { ABSENT, type AuthResult, type Authenticator, type AuthenticatorContext, type ConsumerDirectory, type Consumer } from '../types.js';
import type { Exchange } from '../../core/exchange.js';
import { MtlsSchema, type CertField, type MtlsConfig } from './schema.js';

/** The verdict kept on a TLS socket: whose it is (an authenticator of one generation), and until when it holds. */
const VERDICT = Symbol('gatehouse.mtls');
interface Verdict { readonly owner: MtlsAuthenticator; readonly result: AuthResult; readonly expiresAt: number }
type VerdictCarrier = TLSSocket & { [VERDICT]?: Verdict };

const NO_SCOPES: ReadonlySet<string> = new Set();
const NO_HEADERS: readonly string[] = Object.freeze([]);
const EXPIRED: AuthResult = Object.freeze({ kind: 'invalid', reason: 'client certificate expired' });

/** tlsSocketOf finds the TLS socket of a request (on HTTP/2, the session's), or null on a plain connection. */
export function tlsSocketOf(req: IncomingMessage): TLSSocket | null {
  let socket: unknown;
  if (req.httpVersionMajor === 2) socket = (req as unknown as Http2ServerRequest).stream.session?.socket;
  else socket = req.socket;
  return socket !== undefined && socket !== null && (socket as TLSSocket).encrypted === true ? socket as TLSSocket : null;
}

/** MtlsAuthenticator maps a verified client certificate to a consumer. */
export class MtlsAuthenticator implements Authenticator {
  readonly name: string;
  readonly challenge = 'ClientCertificate realm="gatehouse"';
  readonly credentialHeaders: readonly string[] = Object.freeze([]);
  readonly credentialQuery: readonly string[] = Object.freeze([]);
  private readonly match: readonly CertField[];
  private readonly consumers: ConsumerDirectory;
  private readonly now: () => number;

  constructor(config: MtlsConfig, ctx: Pick<AuthenticatorContext, 'name' | 'consumers' | 'now'>) {
    this.name = ctx.name;
    this.match = config.match;
    this.consumers = ctx.consumers;
    this.now = ctx.now;
  }

  authenticate(ex: Exchange): AuthResult {
    const socket = tlsSocketOf(ex.req) as VerdictCarrier | null;
    if (socket === null) return ABSENT;
    let v = socket[VERDICT];
    if (v === undefined || v.owner !== this) {
      v = this.judge(socket);
      socket[VERDICT] = v;
    }
    // A connection may outlive its certificate: past `valid_to` it no longer authenticates anyone.
    return v.expiresAt <= this.now() ? EXPIRED : v.result;
  }

  /** judge works out the verdict for a connection's certificate. */
  private judge(socket: TLSSocket): Verdict {
    const cert = socket.getPeerCertificate(false);
    // No certificate: Node returns an empty object (or null once the socket is gone).
    if (cert === null || cert === undefined || cert.raw === undefined) return { owner: this, result: ABSENT, expiresAt: Infinity };
    const expiresAt = Date.parse(cert.valid_to);
    if (!socket.authorized) {
      return { owner: this, result: { kind: 'invalid', reason: `client certificate not verified (${String(socket.authorizationError ?? 'unknown')})` }, expiresAt: Infinity };
    }
    const fingerprint = cert.fingerprint256.replaceAll(':', '').toLowerCase();
    const cn = firstOf(cert.subject?.CN);
    const sans = sanValues(cert.subjectaltname);
    let consumer: Consumer | undefined;
    for (let i = 0; i < this.match.length && consumer === undefined; i++) {
      const field = this.match[i]!;
      if (field === 'fingerprint') consumer = this.consumers.byCertificate?.('fingerprint', fingerprint);
      else if (field === 'cn') consumer = cn === undefined ? undefined : this.consumers.byCertificate?.('cn', cn);
      else for (let k = 0; k < sans.length && consumer === undefined; k++) consumer = this.consumers.byCertificate?.('san', sans[k]!);
    }
    const until = Number.isNaN(expiresAt) ? Infinity : expiresAt;
    const identity = {
      consumer: consumer ?? null,
      subject: consumer?.id ?? cn ?? `sha256:${fingerprint}`,
      method: this.name,
      claims: null,
      scopes: NO_SCOPES,
      expiresAt: Number.isFinite(until) ? until : null,
      upstreamHeaders: NO_HEADERS,
    };
    return { owner: this, result: { kind: 'ok', identity }, expiresAt: until };
  }
}

function firstOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** sanValues lists the DNS, URI and email subjectAltName values (`DNS:a.example, URI:spiffe://x` → [a.example, spiffe://x]). */
function sanValues(san: string | undefined): string[] {
  if (san === undefined || san === '') return [];
  const out: string[] = [];
  for (const part of san.split(', ')) {
    const colon = part.indexOf(':');
    if (colon === -1) continue;
    const kind = part.slice(0, colon);
    if (kind === 'DNS' || kind === 'URI' || kind === 'email') out.push(unquote(part.slice(colon + 1)));
  }
  return out;
}

/** Node quotes a SAN value holding a comma or a quote as a JSON string. */
function unquote(v: string): string {
  if (v.startsWith('"')) { try { return JSON.parse(v) as string; } catch { return v; } }
  return v;
}

/** mtls is the method definition registered in src/identity/methods.ts. */
export const mtls: AuthMethodDefinition<typeof MtlsSchema> = {
  key: 'mtls',
  schema: MtlsSchema,
  create: (config, ctx) => new MtlsAuthenticator(config, ctx),
};
