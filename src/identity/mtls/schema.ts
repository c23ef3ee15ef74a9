/** Schema of the `mtls` method of an `auth:` entry: which fields of a verified client certificate name a consumer. */
import { Type, type Static } from '@sinclair/typebox';

/** CERT_FIELDS are the certificate fields a consumer can be found by. */
export const CERT_FIELDS = ['fingerprint', 'san', 'cn'] as const;

/** CertField is one of CERT_FIELDS. */
export type CertField = (typeof CERT_FIELDS)[number];

/** MtlsSchema is the value of `mtls:` inside an `auth:` entry. */
export const MtlsSchema = Type.Object({
  match: Type.Array(Type.Union(CERT_FIELDS.map((f) => Type.Literal(f)), { errorMessage: `must be one of ${CERT_FIELDS.join(', ')}` }), {
    minItems: 1,
    default: [...CERT_FIELDS],
    description: 'Which fields of the certificate are looked up in `consumers.<id>.certificates`, in this order: `fingerprint` (SHA-256 of the certificate: pins one certificate), `san` (a DNS, URI or email subjectAltName, e.g. a SPIFFE ID), `cn` (the subject\'s common name). Default all three, in that order.',
  }),
}, {
  additionalProperties: false,
  description: 'Client certificates (mutual TLS): the certificate the client presented in the TLS handshake, verified against `listen.clientCerts.ca`, is mapped to a consumer by `consumers.<id>.certificates`. No certificate: the next method of the route may try. A certificate that did not verify: 401. A verified one that maps to no consumer: 401 unless the route allows `unknownConsumers` (the subject is then its CN). Needs `listen.tls` and `listen.clientCerts`. Challenge: `ClientCertificate realm="gatehouse"`.',
});

/** MtlsConfig is one validated `mtls:` entry. */
export type MtlsConfig = Static<typeof MtlsSchema>;
