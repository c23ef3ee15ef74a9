/**
 * `redact`: removes or masks fields of JSON response bodies by JSON path. Paths are parsed once at config
 * load (src/features/redact/path.ts); per response the proxy hands over the parsed body and each path is
 * applied in place.
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { RedactSchema, type RedactConfig } from './schema.js';
import { applyPath, parseJsonPath, type PathSegment, type Redaction } from './path.js';

/** RedactRule is one compiled entry: where, and what to do. */
export interface RedactRule extends Redaction {
  readonly path: string;
  readonly segments: readonly PathSegment[];
}

/** compileRedactions parses every path; it throws on a bad one (check has reported it before). */
export function compileRedactions(config: RedactConfig): RedactRule[] {
  return config.map((e) => {
    const path = typeof e === 'string' ? e : e.path;
    const segments = parseJsonPath(path);
    if (typeof segments === 'string') throw new Error(`${path}: ${segments}`);
    return { path, segments, keep: typeof e === 'string' ? -1 : e.keep };
  });
}

/** RedactFeature applies its rules to each JSON response body. */
export class RedactFeature implements Feature {
  readonly name = 'redact';
  readonly rules: readonly RedactRule[];

  constructor(config: RedactConfig) {
    this.rules = compileRedactions(config);
  }

  onResponseBody(_ex: Exchange, body: unknown): unknown {
    return this.redact(body);
  }

  /** redact changes `body` in place and returns it. */
  redact(body: unknown): unknown {
    if (body === null || typeof body !== 'object') return body;
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) applyPath(body, rules[i]!.segments, rules[i]!);
    return body;
  }
}

/** redact is the feature definition registered in src/features/index.ts. */
export const redact = defineFeature({
  key: 'redact',
  stage: 'transform',
  schema: RedactSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const problems: [string, string][] = [];
    config.forEach((e, i) => {
      const r = parseJsonPath(typeof e === 'string' ? e : e.path);
      if (typeof r === 'string') problems.push([typeof e === 'string' ? `[${i}]` : `[${i}].path`, `not a valid JSON path: ${r}`]);
    });
    return problems;
  },
  create: (config) => new RedactFeature(config),
});
