/** Schema of `security-headers`: the standard browser-protection headers added to responses. */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../../config/units.js';

const Off = Type.Literal(false);

/** SecurityHeadersOptionsSchema is the object form of `security-headers:`. */
export const SecurityHeadersOptionsSchema = Type.Object({
  contentTypeOptions: Type.Optional(Type.Boolean({ default: true, description: 'Send `X-Content-Type-Options: nosniff`. Default true.' })),
  frameOptions: Type.Optional(Type.Union([Type.Literal('DENY'), Type.Literal('SAMEORIGIN'), Off], {
    default: 'DENY', errorMessage: 'must be DENY, SAMEORIGIN or false', description: '`X-Frame-Options`: `DENY`, `SAMEORIGIN`, or false to leave it out. Default `DENY`.',
  })),
  referrerPolicy: Type.Optional(Type.Union([
    ...['no-referrer', 'no-referrer-when-downgrade', 'origin', 'origin-when-cross-origin', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin', 'unsafe-url']
      .map((v) => Type.Literal(v)),
    Off,
  ], { default: 'no-referrer', errorMessage: 'must be a Referrer-Policy value (no-referrer, same-origin, strict-origin-when-cross-origin, ...) or false', description: '`Referrer-Policy` value, or false to leave it out. Default `no-referrer`.' })),
  hsts: Type.Optional(Type.Object({
    maxAge: Duration('How long browsers keep to HTTPS, sent in seconds as `max-age` (`365d`).'),
    includeSubDomains: Type.Optional(Type.Boolean({ default: false, description: 'Add `includeSubDomains`. Default false.' })),
    preload: Type.Optional(Type.Boolean({ default: false, description: 'Add `preload` (only with a max-age of at least 365d and includeSubDomains, as the preload list requires). Default false.' })),
  }, { additionalProperties: false, description: '`Strict-Transport-Security`, sent only when set. Browsers honour it only on HTTPS responses (the gateway behind a TLS-terminating load balancer still sends it). Default: not sent.' })),
  contentSecurityPolicy: Type.Optional(Type.String({ minLength: 1, description: '`Content-Security-Policy` value (`default-src \'none\'; frame-ancestors \'none\'` suits a JSON API). Default: not sent.' })),
  crossOriginOpenerPolicy: Type.Optional(Type.Union(['same-origin', 'same-origin-allow-popups', 'noopener-allow-popups', 'unsafe-none'].map((v) => Type.Literal(v)), {
    errorMessage: 'must be same-origin, same-origin-allow-popups, noopener-allow-popups or unsafe-none',
    description: '`Cross-Origin-Opener-Policy` value. Default: not sent.',
  })),
  crossOriginResourcePolicy: Type.Optional(Type.Union(['same-origin', 'same-site', 'cross-origin'].map((v) => Type.Literal(v)), {
    errorMessage: 'must be same-origin, same-site or cross-origin',
    description: '`Cross-Origin-Resource-Policy` value. Default: not sent.',
  })),
  override: Type.Optional(Type.Boolean({
    default: false,
    description: 'When the service sends one of these headers itself: false keeps the service\'s value (the gateway fills in only what is missing); true replaces it with the gateway\'s. Default false.',
  })),
}, { additionalProperties: false });

/** SecurityHeadersSchema is the value of `security-headers:`. */
export const SecurityHeadersSchema = Type.Union([Type.Boolean(), SecurityHeadersOptionsSchema], {
  description: 'Standard security headers on responses from the service: `true` sends `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`; the object form tunes them and adds `Strict-Transport-Security`, `Content-Security-Policy`, `Cross-Origin-Opener-Policy` and `Cross-Origin-Resource-Policy`. `false` turns them off on a route when `defaults` turns them on.',
});

/** SecurityHeadersConfig is the validated value of `security-headers:`. */
export type SecurityHeadersConfig = Static<typeof SecurityHeadersSchema>;
