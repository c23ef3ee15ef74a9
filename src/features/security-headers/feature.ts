/**
 * `security-headers`: adds the standard browser-protection headers to the service's responses. The header
 * list is built once at config load. By default a header the service sends itself is kept; with `override`
 * the service's copy is dropped and the gateway's sent instead.
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { parseDuration } from '../../config/units.js';
import { SecurityHeadersSchema, type SecurityHeadersConfig } from './schema.js';

/** securityHeaderList builds the flat [name, value, ...] list a config asks for. */
export function securityHeaderList(config: SecurityHeadersConfig): string[] {
  if (config === false) return [];
  const c = config === true ? {} as Partial<Exclude<SecurityHeadersConfig, boolean>> : config;
  const out: string[] = [];
  if (c.contentTypeOptions ?? true) out.push('x-content-type-options', 'nosniff');
  const frame = c.frameOptions ?? 'DENY';
  if (frame !== false) out.push('x-frame-options', frame);
  const referrer = c.referrerPolicy ?? 'no-referrer';
  if (referrer !== false) out.push('referrer-policy', referrer);
  if (c.hsts !== undefined) {
    let v = `max-age=${Math.floor(parseDuration(c.hsts.maxAge) / 1000)}`;
    if (c.hsts.includeSubDomains) v += '; includeSubDomains';
    if (c.hsts.preload) v += '; preload';
    out.push('strict-transport-security', v);
  }
  if (c.contentSecurityPolicy !== undefined) out.push('content-security-policy', c.contentSecurityPolicy);
  if (c.crossOriginOpenerPolicy !== undefined) out.push('cross-origin-opener-policy', c.crossOriginOpenerPolicy);
  if (c.crossOriginResourcePolicy !== undefined) out.push('cross-origin-resource-policy', c.crossOriginResourcePolicy);
  return out;
}

/**
 * SecurityHeadersFeature hands its headers to the proxy. With `override` it adds them to every response and
 * names them in `removeResponseHeaders` (the service's copies are dropped); without, it offers them as
 * `defaultResponseHeaders`, which the proxy adds only where the service's response lacks them.
 */
export class SecurityHeadersFeature implements Feature {
  readonly name = 'security-headers';
  /** The headers, flat [name, value, ...], built once. */
  readonly headers: readonly string[];
  readonly override: boolean;
  readonly removeResponseHeaders: ReadonlySet<string> | undefined;
  readonly defaultResponseHeaders: readonly string[] | undefined;
  readonly onResponse: ((ex: Exchange) => void) | undefined;

  constructor(config: SecurityHeadersConfig) {
    this.headers = securityHeaderList(config);
    this.override = typeof config === 'object' && config.override === true;
    const names = new Set<string>();
    for (let i = 0; i < this.headers.length; i += 2) names.add(this.headers[i]!);
    const any = this.headers.length > 0;
    this.removeResponseHeaders = any && this.override ? names : undefined;
    this.defaultResponseHeaders = any && !this.override ? this.headers : undefined;
    this.onResponse = any && this.override ? this.addHeaders : undefined;
  }

  /** addHeaders queues the prebuilt list (override mode). */
  addHeaders(this: SecurityHeadersFeature, ex: Exchange): void {
    ex.addResponseHeaders(this.headers);
  }
}

/** securityHeaders is the feature definition registered in src/features/index.ts. */
export const securityHeaders = defineFeature({
  key: 'security-headers',
  stage: 'transform',
  schema: SecurityHeadersSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const problems: [string, string][] = [];
    if (typeof config === 'object' && config.contentSecurityPolicy !== undefined && /[^\t\x20-\x7e]/.test(config.contentSecurityPolicy)) {
      problems.push(['.contentSecurityPolicy', 'must not contain CR, LF or other control characters']);
    }
    if (typeof config === 'object' && config.hsts?.preload === true && (!config.hsts.includeSubDomains || parseDuration(config.hsts.maxAge) < 365 * 86_400_000)) {
      problems.push(['.hsts.preload', 'needs includeSubDomains: true and a maxAge of at least 365d (the preload list refuses less)']);
    }
    return problems;
  },
  create: (config) => new SecurityHeadersFeature(config),
});
