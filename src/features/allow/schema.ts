/**
 * Schemas of `allow` and `deny`: access rules on the authenticated caller. Both keys take one rule or a
 * list of rules; a rule lists conditions on the caller's consumer, groups, token scopes and token claims.
 */
import { Type, type Static } from '@sinclair/typebox';

const Id = Type.String({ minLength: 1 });

const ClaimScalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

/** AccessRuleSchema is one rule: every condition it gives must hold for the rule to match. */
export const AccessRuleSchema = Type.Object({
  consumers: Type.Optional(Type.Array(Id, {
    minItems: 1,
    description: 'Consumer ids (keys under `consumers:`). Holds when the caller is one of them (any of). An id that names no consumer is a config error.',
  })),
  groups: Type.Optional(Type.Array(Id, {
    minItems: 1,
    description: 'Consumer groups. Holds when the caller\'s consumer belongs to at least one of them (any of), as Kong ACL groups. A caller without a consumer (an accepted token whose subject is no consumer) is in no group.',
  })),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^\\S+$', errorMessage: 'must be one scope, without spaces' }), {
    minItems: 1,
    description: 'OAuth scopes. Holds when the caller\'s token grants every one of them (all of). Scopes come from the `scope` claim (space-separated) or `scp` (a list or a string); a credential without scopes (an API key) grants none.',
  })),
  claims: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Union([ClaimScalar, Type.Array(ClaimScalar, { minItems: 1 })]), {
    minProperties: 1,
    errorMessage: 'must name at least one claim',
    description: 'Token claim conditions; every claim named must match (all of). A single value matches a claim equal to it, or a list claim containing it; a list of values matches a claim equal to any of them, or a list claim containing any of them. Values are compared as text (`42` matches 42 and "42"); object claims never match. A name is looked up as a top-level claim first; if there is none and the name has dots, as a path into nested claims (`realm_access.roles`). A credential without claims (an API key) matches no claim condition.',
  })),
}, {
  additionalProperties: false,
  minProperties: 1,
  errorMessage: 'needs at least one condition: consumers, groups, scopes or claims',
  description: 'One access rule. It matches when every condition it gives holds (consumers any of, groups any of, scopes all of, every claim). A request without an authenticated caller matches no rule.',
});

/** AccessRulesSchema is the value of `allow:` or `deny:`: one rule or a list of rules. */
export function accessRulesSchema(description: string) {
  return Type.Union([AccessRuleSchema, Type.Array(AccessRuleSchema, { minItems: 1 })], {
    errorMessage: 'must be a rule (a mapping of consumers, groups, scopes, claims) or a list of rules',
    description,
  });
}

/** AllowSchema is the value of `allow:`. */
export const AllowSchema = accessRulesSchema(
  'Who may use the route: one rule or a list of rules (any one rule suffices). Within a rule every condition must hold. A caller that matches no rule, or a request without an authenticated caller, is refused with 403 `GH_FORBIDDEN` and never forwarded. Runs after `auth`; `deny` wins over `allow`.',
);

/** AccessRuleConfig is one validated rule. */
export type AccessRuleConfig = Static<typeof AccessRuleSchema>;
/** AccessRulesConfig is the validated value of `allow:` or `deny:`. */
export type AccessRulesConfig = AccessRuleConfig | AccessRuleConfig[];
