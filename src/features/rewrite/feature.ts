/**
 * `rewrite`: builds the upstream path from a template and the route's path parameters. The template is
 * split into literal and parameter parts once at config load; per request it is a join over that list.
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { RewriteSchema } from './schema.js';

/** RewriteFeature fills its template with the matched parameters. */
export class RewriteFeature implements Feature {
  readonly name = 'rewrite';
  /** Alternating literal and parameter names: even indexes are literals, odd ones parameter names. */
  readonly parts: readonly string[];
  constructor(template: string) {
    const parts: string[] = [];
    let lit = '';
    const re = /:([A-Za-z_][A-Za-z0-9_]*)|\*/g;
    let last = 0;
    for (let m = re.exec(template); m !== null; m = re.exec(template)) {
      lit += template.slice(last, m.index);
      parts.push(lit, m[1] ?? '*');
      lit = '';
      last = m.index + m[0].length;
    }
    parts.push(lit + template.slice(last));
    this.parts = parts;
  }

  /** paramNames lists the parameters the template uses, for the config check against the route's path. */
  paramNames(): string[] {
    return this.parts.filter((_, i) => i % 2 === 1);
  }

  onRequest(ex: Exchange): void {
    const params = ex.params;
    let out = this.parts[0]!;
    for (let i = 1; i < this.parts.length; i += 2) {
      const value = params?.[this.parts[i]!] ?? '';
      // An empty rest (`/files/a` for `/files/:b/*`) must not leave a dangling slash: `/x/*` → `/x`.
      if (value === '' && out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
      out += value + this.parts[i + 1]!;
    }
    ex.upstreamPath = out === '' ? '/' : out;
  }
}

/** rewrite is the feature definition registered in src/features/index.ts. */
export const rewrite = defineFeature({
  key: 'rewrite',
  stage: 'transform',
  schema: RewriteSchema,
  scopes: ['route'],
  create: (template) => new RewriteFeature(template),
});
