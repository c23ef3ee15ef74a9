/**
 * `deprecation`: adds RFC 9745 `Deprecation`, RFC 8594 `Sunset` and a `Link` to the migration guide to every
 * response of a retiring route. The header values are formatted once at config load.
 */
import type { Static } from '@sinclair/typebox';
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { DeprecationSchema } from './schema.js';

/** DeprecationFeature appends its prebuilt headers to each response. */
export class DeprecationFeature implements Feature {
  readonly name = 'deprecation';
  readonly headers: readonly string[];
  constructor(config: Static<typeof DeprecationSchema>, now: number) {
    const since = config.since === undefined ? now : Date.parse(config.since);
    const h = ['deprecation', `@${Math.floor(since / 1000)}`];
    if (config.sunset !== undefined) h.push('sunset', new Date(Date.parse(config.sunset)).toUTCString());
    if (config.link !== undefined) h.push('link', `<${config.link}>; rel="deprecation"; type="text/html"`);
    this.headers = h;
  }

  onResponse(ex: Exchange): void {
    ex.addResponseHeaders(this.headers);
  }
}

/** deprecation is the feature definition registered in src/features/index.ts. */
export const deprecation = defineFeature({
  key: 'deprecation',
  stage: 'observe',
  schema: DeprecationSchema,
  scopes: ['route', 'service'],
  create: (config) => new DeprecationFeature(config, Date.now()),
});
