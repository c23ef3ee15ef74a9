/**
 * A local identity provider for tests, on 127.0.0.1 port 0: a JWKS server (the key set can be changed,
 * the server slowed down, stopped and started again; every fetch is counted), an RFC 7662 introspection
 * server (answers chosen per token; every call recorded), and helpers to make keys and sign tokens with
 * jose. Keys are generated at test time; nothing touches the network beyond loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** TestKey is a generated key pair with its public JWK (carrying kid and alg) and PEM. */
export interface TestKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
  readonly pem: string;
}

/** makeKey generates a key pair for `alg` (RS256, PS256, ES256, EdDSA, ...) named `kid`. */
export async function makeKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk, pem: await exportSPKI(publicKey) };
}

/** sign makes a JWT: `claims` (iss, aud, sub, exp... as given; exp defaults to +5 min) signed with `key`. */
export async function sign(key: TestKey | { alg: string; secret: Uint8Array }, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const body: JWTPayload = { iat: now, ...claims };
  if (!('exp' in claims)) body.exp = now + 300;
  if (body.exp === undefined) delete body.exp;
  const jwt = new SignJWT(body);
  if ('secret' in key) return jwt.setProtectedHeader({ alg: key.alg, ...header }).sign(key.secret);
  return jwt.setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

/** b64url encodes text or JSON as base64url. */
export function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

/** unsignedToken hand-crafts `alg: none` (or any header) with an empty signature. */
export function unsignedToken(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  return `${b64url(header)}.${b64url(claims)}.`;
}

interface Listening {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, port = 0): Promise<Listening> {
  const server = createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  const p = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${p}`, port: p, server };
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
}

/** JwksServer serves a key set at `/jwks.json`. */
export class JwksServer {
  keys: JWK[];
  /** Number of requests received (every path). */
  fetches = 0;
  /** Delay before answering, in ms. */
  delayMs = 0;
  /** Status to answer with (200 serves the keys). */
  status = 200;
  /** Raw body to serve instead of the key set, when set. */
  body: string | null = null;
  url = '';
  port = 0;
  private server: Server | null = null;
  /** Answers held back by hold(), sent by release(); null when not holding. */
  private held: (() => void)[] | null = null;

  constructor(keys: TestKey[]) { this.keys = keys.map((k) => k.jwk); }

  /** jwksUrl is the key set's address. */
  get jwksUrl(): string { return `${this.url}/jwks.json`; }

  setKeys(keys: TestKey[]): void { this.keys = keys.map((k) => k.jwk); }

  /**
   * hold makes every request wait, unanswered, until release(): an issuer that is slow for exactly as long
   * as the test needs, so no assertion depends on how fast the machine is.
   */
  hold(): void { this.held ??= []; }

  /** release answers the held requests (those whose client has not gone) and stops holding. */
  release(): void {
    const held = this.held;
    this.held = null;
    for (const answer of held ?? []) answer();
  }

  /** start listens (again on the same port when restarted). */
  async start(): Promise<this> {
    const l = await listen((req, res) => this.handle(req, res), this.port);
    this.server = l.server;
    this.url = l.url;
    this.port = l.port;
    return this;
  }

  private handle(_req: IncomingMessage, res: ServerResponse): void {
    this.fetches++;
    const answer = (): void => {
      if (res.destroyed) return;
      const text = this.body ?? JSON.stringify({ keys: this.keys });
      res.writeHead(this.status, { 'content-type': 'application/jwk-set+json' });
      res.end(text);
    };
    if (this.held !== null) this.held.push(answer);
    // Unref'd: a long delay that outlives the test must not keep the process alive.
    else if (this.delayMs > 0) setTimeout(answer, this.delayMs).unref();
    else answer();
  }

  /** stop closes the server (fetches fail with connection refused) and forgets held requests. */
  async stop(): Promise<void> {
    this.held = null;
    if (this.server !== null) await stop(this.server);
    this.server = null;
  }
}

/** IntrospectionCall is one call as the introspection server received it. */
export interface IntrospectionCall {
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly token: string | null;
  readonly hint: string | null;
}

/** IntrospectionServer answers RFC 7662 calls at `/introspect` from a table of token → answer. */
export class IntrospectionServer {
  /** Answers by token; unknown tokens get `{ active: false }`. */
  answers = new Map<string, Record<string, unknown>>();
  calls: IntrospectionCall[] = [];
  status = 200;
  delayMs = 0;
  url = '';
  private server: Server | null = null;

  get endpoint(): string { return `${this.url}/introspect`; }

  async start(): Promise<this> {
    const l = await listen((req, res) => this.handle(req, res));
    this.server = l.server;
    this.url = l.url;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const token = form.get('token');
      this.calls.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], token, hint: form.get('token_type_hint') });
      const answer = (): void => {
        if (res.destroyed) return;
        const doc = (token !== null ? this.answers.get(token) : undefined) ?? { active: false };
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      };
      // Unref'd: a long delay that outlives the test must not keep the process alive.
      if (this.delayMs > 0) setTimeout(answer, this.delayMs).unref();
      else answer();
    });
  }

  async stop(): Promise<void> {
    if (this.server !== null) await stop(this.server);
    this.server = null;
  }
}
