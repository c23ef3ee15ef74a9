/**
 * TLS termination: the certificates of `listen.tls` turned into secure contexts, chosen per connection by
 * the name the client asks for (SNI), and swapped on reload without touching open connections (a TLS
 * connection keeps the context it was handshaken with; only new handshakes see the new one).
 *
 * Everything here runs at config load or once per TLS handshake, never per request.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError, pathToString, type ConfigProblem } from '../config/errors.js';
import { parseDuration } from '../config/units.js';
import type { TlsPairConfig } from './schema.js';

/** TlsSettings is one generation of the listener's TLS material, read and checked whole. */
export interface TlsSettings {
  /** Options of the default context (the first certificate), for `setSecureContext`. */
  readonly defaultOptions: SecureContextOptions;
  /** Contexts by exact lower-case host name. */
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** Contexts by the parent domain of a wildcard (`*.example.com` → `example.com`). */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
  /** Whether client certificates are asked for, and whether the handshake requires a verified one. */
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  /** The `Strict-Transport-Security` value, or null when `listen.hsts` is not set. */
  readonly hsts: string | null;
}

/**
 * loadTlsSettings reads the certificate files of `listen.tls` (and `clientCerts.ca`) and builds their
 * contexts. Returns null when the listener is plain; throws ConfigError naming the entry that cannot be used.
 */
export function loadTlsSettings(loaded: LoadedConfig): TlsSettings | null {
  const listen = loaded.config.listen;
  if (listen.tls === undefined) return null;
  const pairs: readonly TlsPairConfig[] = Array.isArray(listen.tls) ? listen.tls : [listen.tls];
  const problems: ConfigProblem[] = [];
  const problem = (path: (string | number)[], message: string): void => {
    problems.push({ path: pathToString(path), message, file: loaded.file, line: loaded.lineOf(path) });
  };
  const list = Array.isArray(listen.tls);
  let ca: Buffer | undefined;
  if (listen.clientCerts !== undefined) {
    try { ca = readFileSync(resolve(loaded.dir, listen.clientCerts.ca)); } catch (err) { problem(['listen', 'clientCerts', 'ca'], unreadable(err)); }
  }
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  let defaultOptions: SecureContextOptions | null = null;
  pairs.forEach((pair, i) => {
    const at = list ? ['listen', 'tls', i] : ['listen', 'tls'];
    let cert: Buffer, key: Buffer;
    try { cert = readFileSync(resolve(loaded.dir, pair.cert)); } catch (err) { problem([...at, 'cert'], unreadable(err)); return; }
    try { key = readFileSync(resolve(loaded.dir, pair.key)); } catch (err) { problem([...at, 'key'], unreadable(err)); return; }
    const options: SecureContextOptions = { cert, key, ...(pair.passphrase !== undefined ? { passphrase: pair.passphrase } : {}), ...(ca !== undefined ? { ca } : {}) };
    let ctx: SecureContext;
    let names: readonly string[];
    try {
      ctx = createSecureContext(options);
      names = pair.names ?? certificateNames(new X509Certificate(cert));
    } catch (err) {
      problem(at, unusable(err));
      return;
    }
    if (i === 0) defaultOptions = options;
    for (const raw of names) {
      const name = raw.toLowerCase();
      // The first certificate listed for a name keeps it: list order is the operator's precedence.
      if (name.startsWith('*.')) { if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), ctx); }
      else if (!exact.has(name)) exact.set(name, ctx);
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  const hsts = listen.hsts;
  return {
    defaultOptions: defaultOptions!,
    exact,
    wildcard,
    requestCert: listen.clientCerts !== undefined,
    rejectUnauthorized: listen.clientCerts?.required === true,
    hsts: hsts === undefined ? null : `max-age=${Math.floor(parseDuration(hsts.maxAge) / 1000)}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`,
  };
}

/** certificateNames lists the DNS names of a certificate: its subjectAltName DNS entries, else its CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const out: string[] = [];
  const san = cert.subjectAltName;
  if (san !== undefined) {
    for (const part of san.split(', ')) if (part.startsWith('DNS:')) out.push(part.slice(4));
  }
  if (out.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject);
    if (cn !== null) out.push(cn[1]!);
  }
  return out;
}

function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'file not found (relative to the config file)' : `cannot be read${code ? ` (${code})` : ''}`;
}

/** The operator reads this, not a client: say what is wrong in words, with the OpenSSL code for a search. */
function unusable(err: unknown): string {
  const code = String((err as NodeJS.ErrnoException).code ?? '');
  if (code.includes('KEY_VALUES_MISMATCH')) return 'the key does not match the certificate';
  if (code.includes('BAD_DECRYPT')) return 'the key cannot be decrypted (wrong or missing passphrase)';
  if (code.includes('NO_START_LINE') || code.includes('PEM')) return `a file is not PEM of the expected kind${code ? ` (${code})` : ''}`;
  return `the certificate or key cannot be used${code ? ` (${code})` : ''}`;
}

/**
 * ListenerTls holds the live TLS settings of a listener and answers SNI from them. `update` swaps them for
 * new handshakes; a connection already open keeps the context it was established with.
 */
export class ListenerTls {
  settings: TlsSettings;
  /** The server's SNICallback (bound once). */
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

  constructor(settings: TlsSettings) {
    this.settings = settings;
    this.sniCallback = this.sni.bind(this);
  }

  /** serverOptions are the TLS options a server is created with. */
  serverOptions(): SecureContextOptions & { SNICallback: ListenerTls['sniCallback']; requestCert: boolean; rejectUnauthorized: boolean } {
    const s = this.settings;
    return { ...s.defaultOptions, SNICallback: this.sniCallback, requestCert: s.requestCert, rejectUnauthorized: s.rejectUnauthorized };
  }

  /** update makes `next` serve every handshake from now on. */
  update(server: TlsServer, next: TlsSettings): void {
    server.setSecureContext(next.defaultOptions);
    // Read by Node for each new connection (tls.Server passes them to every TLSSocket it creates).
    const s = server as TlsServer & { requestCert: boolean; rejectUnauthorized: boolean };
    s.requestCert = next.requestCert;
    s.rejectUnauthorized = next.rejectUnauthorized;
    this.settings = next;
  }

  private sni(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    const s = this.settings;
    const name = servername.toLowerCase();
    let ctx = s.exact.get(name);
    if (ctx === undefined) {
      const dot = name.indexOf('.');
      if (dot > 0) ctx = s.wildcard.get(name.slice(dot + 1));
    }
    // No match: undefined makes Node use the server's default context (the first certificate).
    cb(null, ctx);
  }
}
