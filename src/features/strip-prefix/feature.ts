/** `strip-prefix`: forwards the normalized path without a leading prefix. */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { StripPrefixSchema } from './schema.js';

/** StripPrefixFeature removes its prefix at a segment boundary; paths without it pass unchanged. */
export class StripPrefixFeature implements Feature {
  readonly name = 'strip-prefix';
  readonly prefix: string;
  readonly caseSensitive: boolean;
  constructor(prefix: string, caseSensitive: boolean) {
    this.caseSensitive = caseSensitive;
    this.prefix = caseSensitive ? prefix : prefix.toLowerCase();
  }

  onRequest(ex: Exchange): void {
    const p = ex.upstreamPath;
    const n = this.prefix.length;
    // Compared as the route matched it (case-insensitively if so configured); normalized paths are ASCII.
    const head = this.caseSensitive ? p.slice(0, n) : p.slice(0, n).toLowerCase();
    // Only at a segment boundary: `/v1` strips `/v1/x` and `/v1`, never `/v1x`.
    if (head === this.prefix && (p.length === n || p.charCodeAt(n) === 47 /* / */)) {
      ex.upstreamPath = p.length === n ? '/' : p.slice(n);
    }
  }
}

/** stripPrefix is the feature definition registered in src/features/index.ts. */
export const stripPrefix = defineFeature({
  key: 'strip-prefix',
  stage: 'transform',
  schema: StripPrefixSchema,
  scopes: ['route'],
  create: (prefix, ctx) => new StripPrefixFeature(prefix, ctx.caseSensitive),
});
