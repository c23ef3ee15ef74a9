/**
 * `allow`: lets through only callers that match one of the route's access rules (consumer, group, scopes,
 * claims); everyone else, and every request without an authenticated caller, gets 403 and is not forwarded.
 * Runs in the authorize stage, after `auth` has set `ex.identity`.
 */
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { AllowSchema, type AccessRulesConfig } from './schema.js';
import { anyRuleMatches, checkRules, compileRules, type AccessRule } from './rules.js';

/** AllowFeature refuses callers that match none of its rules. */
export class AllowFeature implements Feature {
  readonly name = 'allow';
  readonly rules: readonly AccessRule[];

  constructor(config: AccessRulesConfig) {
    this.rules = compileRules(config);
  }

  onRequest(ex: Exchange): void {
    if (anyRuleMatches(this.rules, ex.identity)) return;
    forbid(ex, 'allow');
  }
}

/** forbid answers 403 without saying which rule failed, and logs who was refused (an id, never a secret). */
export function forbid(ex: Exchange, by: 'allow' | 'deny'): void {
  ex.runtime.log.debug({ event: 'access_denied', route: ex.route?.name, by, subject: ex.identity?.subject ?? null, requestId: ex.requestId }, 'access denied');
  ex.fail('GH_FORBIDDEN');
}

/** allow is the feature definition registered in src/features/index.ts. */
export const allow = defineFeature({
  key: 'allow',
  stage: 'authorize',
  schema: AllowSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config, ctx) => checkRules(config as AccessRulesConfig, ctx),
  create: (config) => new AllowFeature(config as AccessRulesConfig),
});
