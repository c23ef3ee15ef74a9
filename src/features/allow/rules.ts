/**
 * Access rules compiled once at config load into Sets and arrays, and matched against a request's identity
 * with plain loops. Shared by `allow` (some rule must match) and `deny` (no rule may match).
 */
import type { Identity } from '../../identity/types.js';
import type { FeatureContext } from '../../core/feature.js';
import type { AccessRuleConfig, AccessRulesConfig } from './schema.js';

/** ClaimCondition is one `claims:` entry: the accepted values as text, and how to find the claim. */
export class ClaimCondition {
  readonly name: string;
  /** Path into nested claims, used when no top-level claim has the dotted name; null for plain names. */
  readonly path: readonly string[] | null;
  readonly values: ReadonlySet<string>;

  constructor(name: string, values: unknown) {
    this.name = name;
    this.path = name.includes('.') ? name.split('.') : null;
    const list = Array.isArray(values) ? values : [values];
    this.values = new Set(list.map((v) => String(v)));
  }

  /** matches says whether the claims hold an accepted value under this condition's name. */
  matches(claims: Readonly<Record<string, unknown>>): boolean {
    let v: unknown;
    if (Object.hasOwn(claims, this.name)) v = claims[this.name];
    else if (this.path !== null) v = nested(claims, this.path);
    else return false;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (this.accepts(v[i])) return true;
      return false;
    }
    return this.accepts(v);
  }

  private accepts(v: unknown): boolean {
    const t = typeof v;
    if (t === 'string') return this.values.has(v as string);
    // Numbers and booleans compare as text, as written in YAML; objects and null never match.
    if (t === 'number' || t === 'boolean') return this.values.has(String(v));
    return false;
  }
}

/** Follows own properties only: a claim named `constructor.name` must not reach into prototypes. */
function nested(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let cur: unknown = claims;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, path[i]!)) return undefined;
    cur = (cur as Record<string, unknown>)[path[i]!];
  }
  return cur;
}

/** AccessRule is one compiled rule; a null field is a condition the rule does not set. */
export class AccessRule {
  readonly consumers: ReadonlySet<string> | null;
  readonly groups: ReadonlySet<string> | null;
  readonly scopes: readonly string[] | null;
  readonly claims: readonly ClaimCondition[] | null;

  constructor(config: AccessRuleConfig) {
    this.consumers = config.consumers === undefined ? null : new Set(config.consumers);
    this.groups = config.groups === undefined ? null : new Set(config.groups);
    this.scopes = config.scopes === undefined ? null : [...new Set(config.scopes)];
    this.claims = config.claims === undefined ? null : Object.entries(config.claims).map(([k, v]) => new ClaimCondition(k, v));
  }

  /** matches says whether every condition of the rule holds for `id`. */
  matches(id: Identity): boolean {
    const consumer = id.consumer;
    if (this.consumers !== null && (consumer === null || !this.consumers.has(consumer.id))) return false;
    if (this.groups !== null) {
      if (consumer === null) return false;
      const groups = consumer.groups;
      let found = false;
      for (let i = 0; i < groups.length; i++) if (this.groups.has(groups[i]!)) { found = true; break; }
      if (!found) return false;
    }
    if (this.scopes !== null) {
      const granted = id.scopes;
      for (let i = 0; i < this.scopes.length; i++) if (!granted.has(this.scopes[i]!)) return false;
    }
    if (this.claims !== null) {
      const claims = id.claims;
      if (claims === null) return false;
      for (let i = 0; i < this.claims.length; i++) if (!this.claims[i]!.matches(claims)) return false;
    }
    return true;
  }
}

/** compileRules turns `allow:` or `deny:` into rules. */
export function compileRules(config: AccessRulesConfig): readonly AccessRule[] {
  return (Array.isArray(config) ? config : [config]).map((r) => new AccessRule(r));
}

/** anyRuleMatches says whether some rule matches `id`; never true without an identity. */
export function anyRuleMatches(rules: readonly AccessRule[], id: Identity | null): boolean {
  if (id === null) return false;
  for (let i = 0; i < rules.length; i++) if (rules[i]!.matches(id)) return true;
  return false;
}

/** checkRules reports consumer ids that name no consumer, as [relative key path, message] pairs. */
export function checkRules(config: AccessRulesConfig, ctx: FeatureContext): [string, string][] {
  const problems: [string, string][] = [];
  const list = Array.isArray(config) ? config : [config];
  list.forEach((rule, i) => {
    const at = Array.isArray(config) ? `[${i}]` : '';
    rule.consumers?.forEach((id, j) => {
      if (ctx.consumers.byId(id) === undefined) problems.push([`${at}.consumers[${j}]`, `unknown consumer "${id}"; define it under consumers:`]);
    });
  });
  return problems;
}
