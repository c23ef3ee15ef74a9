/**
 * Schema of the TLS side of `listen:`: certificates (several, chosen by SNI), HTTP/2 and its limits, the
 * plain-HTTP redirect listener, HSTS and client certificates. Descriptions here are the user documentation.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../config/units.js';

const HOST_NAME = '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$';

/** TlsPairSchema is one certificate with its key. */
export const TlsPairSchema = Type.Object({
  cert: Type.String({ minLength: 1, description: 'PEM file with the certificate, followed by its intermediate certificates (relative to the config file).' }),
  key: Type.String({ minLength: 1, description: 'PEM file with the certificate\'s private key (relative to the config file).' }),
  passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key; write it as `${VAR}` rather than in the file. Default: the key is not encrypted.' })),
  names: Type.Optional(Type.Array(Type.String({ pattern: HOST_NAME, errorMessage: 'must be a host name, or *. and a host name' }), {
    minItems: 1,
    description: 'Host names (SNI) this certificate is chosen for; `*.example.com` matches one label. Default: the DNS names of the certificate (its subjectAltName, else its CN). An exact name wins over a wildcard; between two certificates claiming the same name, the first listed wins.',
  })),
}, { additionalProperties: false });

/** ListenTlsSchema is `listen.tls`: one pair, or a list whose first entry is the default. */
export const ListenTlsSchema = Type.Union([TlsPairSchema, Type.Array(TlsPairSchema, { minItems: 1 })], {
  description: 'Serve HTTPS: one certificate `{ cert, key }`, or a list of them chosen by the name the client asks for (SNI); the first is used when no name matches or none is sent. The files are read again on every config reload (SIGHUP or a change of the config file), so a renewed certificate is picked up without dropping a connection: open connections keep the certificate they started with. Default: plain HTTP.',
});

/** ClientCertsSchema is `listen.clientCerts`. */
export const ClientCertsSchema = Type.Object({
  ca: Type.String({ minLength: 1, description: 'PEM file of the CA(s) whose client certificates are accepted (relative to the config file).' }),
  required: Type.Boolean({ default: false, description: 'true: a client without a certificate signed by `ca` fails the TLS handshake. false (default): certificates are asked for but optional, and routes decide with an `mtls` authenticator.' }),
}, { additionalProperties: false, description: 'Ask clients for certificates (mutual TLS). A verified certificate is what an `auth:` entry of kind `mtls` maps to a consumer. Needs `tls`. Default: no client certificates are asked for.' });

/** HstsSchema is `listen.hsts`. */
export const HstsSchema = Type.Object({
  maxAge: Duration('How long browsers keep to HTTPS, sent in seconds as `max-age` (`365d`). Required.'),
  includeSubDomains: Type.Boolean({ default: false, description: 'Add `includeSubDomains`. Default false.' }),
  preload: Type.Boolean({ default: false, description: 'Add `preload` (the preload list requires includeSubDomains and at least 365d). Default false.' }),
}, { additionalProperties: false, description: '`Strict-Transport-Security` on every HTTPS answer of the gateway (proxied or its own). Needs `tls`. Default: not sent. (The `security-headers` feature can send it per route instead; do not use both on one route.)' });

/** RedirectHttpSchema is `listen.redirectHttp`. */
export const RedirectHttpSchema = Type.Object({
  host: Type.Optional(Type.String({ description: 'Address of the plain listener. Default: `listen.host`.' })),
  port: Type.Integer({ minimum: 0, maximum: 65535, description: 'Port of the plain listener (80 in production; 0: any free port). Required.' }),
}, { additionalProperties: false, description: 'A second, plain-HTTP listener that answers every request with `308 Permanent Redirect` to the same host and path over HTTPS (on `listen.port`). Needs `tls`. Default: none.' });

/** H2Schema is `listen.h2`. */
export const H2Schema = Type.Object({
  maxConcurrentStreams: Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Requests (streams) a client may have open at once on one HTTP/2 connection; more are refused with REFUSED_STREAM, and a client that keeps opening them past that is disconnected. Default 100.' }),
  maxHeaderListSize: Size('Largest header block a client may send on one HTTP/2 request (HPACK-decoded size: names, values and 32 bytes per header); larger → the stream is reset. `limits.headers` still answers 431 below it. Default 64kb.', '64kb'),
  resets: Type.Object({
    limit: Type.Integer({ minimum: 1, default: 200, description: 'Streams a client may cancel (RST_STREAM) within `per` before its connection is closed with GOAWAY ENHANCE_YOUR_CALM. Default 200.' }),
    per: Duration('Window over which cancelled streams are counted. Default 10s.', '10s'),
  }, { additionalProperties: false, default: {}, description: 'Bound on stream cancellations per connection: the "rapid reset" flood (CVE-2023-44487) opens and cancels streams faster than any concurrency limit sees them. Default 200 per 10s.' }),
}, { additionalProperties: false, default: {}, description: 'HTTP/2 limits per client connection. The idle connection timeout is `limits.keepAliveTimeout` and the requests per connection `limits.requestsPerConnection` (then GOAWAY); header size and count limits apply as on HTTP/1.1.' });

/** ListenTlsConfig is the validated `listen.tls`. */
export type ListenTlsConfig = Static<typeof ListenTlsSchema>;
/** TlsPairConfig is one validated certificate entry. */
export type TlsPairConfig = Static<typeof TlsPairSchema>;
/** H2Config is the validated `listen.h2`. */
export type H2Config = Static<typeof H2Schema>;
/** HstsConfig is the validated `listen.hsts`. */
export type HstsConfig = Static<typeof HstsSchema>;
/** ClientCertsConfig is the validated `listen.clientCerts`. */
export type ClientCertsConfig = Static<typeof ClientCertsSchema>;
