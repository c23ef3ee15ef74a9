/**
 * `deny`: refuses callers that match any of the route's access rules, with 403, before they are forwarded.
 * Runs in the authorize stage before `allow` (either refusal is final, so deny wins).
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import type { AccessRulesConfig } from '../allow/schema.js';
import { anyRuleMatches, checkRules, compileRules, type AccessRule } from '../allow/rules.js';
import { forbid } from '../allow/feature.js';
import { DenySchema } from './schema.js';

/** DenyFeature refuses callers that match one of its rules. */
export class DenyFeature implements Feature {
  readonly name = 'deny';
  readonly rules: readonly AccessRule[];

  constructor(config: AccessRulesConfig) {
    this.rules = compileRules(config);
  }

  onRequest(ex: Exchange): void {
    if (anyRuleMatches(this.rules, ex.identity)) forbid(ex, 'deny');
  }
}

/** deny is the feature definition registered in src/features/index.ts. */
export const deny = defineFeature({
  key: 'deny',
  stage: 'authorize',
  schema: DenySchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config, ctx) => checkRules(config as AccessRulesConfig, ctx),
  create: (config) => new DenyFeature(config as AccessRulesConfig),
});
