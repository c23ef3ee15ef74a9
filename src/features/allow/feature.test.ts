/**
 * `allow` and `deny` built from YAML through the real loader and compiler, run on hand-built identities
 * against an in-memory exchange: every rule kind, any-of and all-of semantics, claim matching on scalars,
 * lists and nested claims, deny winning, anonymous refused, and the config errors.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import type { Exchange } from '../../core/exchange.js';
import type { Feature } from '../../core/feature.js';
import type { Consumer, Identity } from '../../identity/types.js';
import { AccessRule, ClaimCondition } from './rules.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

const CONSUMERS = `consumers:
  acme: { groups: [partners, beta] }
  globex: { groups: [internal] }
  initech: {}
`;

/** Compiles one route with `features` (YAML lines under the route) and returns its request hooks. */
function route(features: string): readonly Feature[] {
  const yaml = `${CONSUMERS}services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - name: r
    match: { path: /r }
    service: s
${features.split('\n').map((l) => `    ${l}`).join('\n')}
`;
  const rt = compile(loadConfigText(yaml, 'gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  return rt.routes[0]!.onRequest ?? [];
}

function problems(features: string): string[] {
  try { route(features); return []; } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

function consumer(id: string, groups: string[] = []): Consumer {
  return { id, groups, plan: null, metadata: {} };
}

function identity(c: Consumer | null, opts: { scopes?: string[]; claims?: Record<string, unknown> | null } = {}): Identity {
  return {
    consumer: c, subject: c?.id ?? 'sub-1', method: 'test', claims: opts.claims ?? null,
    scopes: new Set(opts.scopes ?? []), expiresAt: null, upstreamHeaders: [],
  };
}

/** Runs the request hooks on an in-memory exchange (only the fields the features read); returns the refusal code or 'passed'. */
function run(hooks: readonly Feature[], id: Identity | null): string {
  const ex = {
    identity: id, failed: null as string | null, replied: false, requestId: 'req-1', route: { name: 'r' },
    runtime: { log: silentLogger() },
    fail(code: string) { this.failed = code; this.replied = true; },
  };
  for (const h of hooks) {
    void h.onRequest!(ex as unknown as Exchange);
    if (ex.replied) break;
  }
  return ex.failed ?? 'passed';
}

const ACME = consumer('acme', ['partners', 'beta']);
const GLOBEX = consumer('globex', ['internal']);
const INITECH = consumer('initech');

describe('allow', () => {
  test('consumers: any of the listed ids', () => {
    const hooks = route('allow: { consumers: [acme, globex] }');
    assert.equal(run(hooks, identity(ACME)), 'passed');
    assert.equal(run(hooks, identity(GLOBEX)), 'passed');
    assert.equal(run(hooks, identity(INITECH)), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(null)), 'GH_FORBIDDEN', 'a token without a consumer is no listed consumer');
  });

  test('groups: any of the listed groups (Kong ACL)', () => {
    const hooks = route('allow: { groups: [partners, internal] }');
    assert.equal(run(hooks, identity(ACME)), 'passed');
    assert.equal(run(hooks, identity(GLOBEX)), 'passed');
    assert.equal(run(hooks, identity(INITECH)), 'GH_FORBIDDEN', 'no groups at all');
    assert.equal(run(hooks, identity(consumer('x', ['partner']))), 'GH_FORBIDDEN', 'exact group names only');
  });

  test('scopes: all of the listed scopes are required', () => {
    const hooks = route('allow: { scopes: [users:read, users:write] }');
    assert.equal(run(hooks, identity(null, { scopes: ['users:read', 'users:write', 'other'] })), 'passed');
    assert.equal(run(hooks, identity(null, { scopes: ['users:read'] })), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(null, { scopes: [] })), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(ACME)), 'GH_FORBIDDEN', 'an API key grants no scopes');
  });

  test('claims: equality, list membership, list claims, text comparison, all claims required', () => {
    const hooks = route('allow: { claims: { tenant: t1, roles: [admin, ops] } }');
    assert.equal(run(hooks, identity(null, { claims: { tenant: 't1', roles: 'admin' } })), 'passed');
    assert.equal(run(hooks, identity(null, { claims: { tenant: 't1', roles: ['viewer', 'ops'] } })), 'passed', 'list claim containing one of the values');
    assert.equal(run(hooks, identity(null, { claims: { tenant: ['t0', 't1'], roles: 'ops' } })), 'passed', 'scalar condition on a list claim: contains');
    assert.equal(run(hooks, identity(null, { claims: { tenant: 't2', roles: 'admin' } })), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(null, { claims: { tenant: 't1', roles: ['viewer'] } })), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(null, { claims: { tenant: 't1' } })), 'GH_FORBIDDEN', 'a missing claim fails');
    assert.equal(run(hooks, identity(null, { claims: { tenant: { id: 't1' }, roles: 'admin' } })), 'GH_FORBIDDEN', 'object claims never match');
    assert.equal(run(hooks, identity(ACME)), 'GH_FORBIDDEN', 'no claims at all (API key)');
    const typed = route('allow: { claims: { level: 3, admin: true } }');
    assert.equal(run(typed, identity(null, { claims: { level: 3, admin: true } })), 'passed');
    assert.equal(run(typed, identity(null, { claims: { level: '3', admin: 'true' } })), 'passed', 'compared as text');
    assert.equal(run(typed, identity(null, { claims: { level: 4, admin: true } })), 'GH_FORBIDDEN');
  });

  test('claims: a dotted name reads a top-level claim first, then nested claims', () => {
    const hooks = route('allow: { claims: { realm_access.roles: admin, "https://example.com/tier": gold } }');
    assert.equal(run(hooks, identity(null, { claims: { realm_access: { roles: ['user', 'admin'] }, 'https://example.com/tier': 'gold' } })), 'passed');
    assert.equal(run(hooks, identity(null, { claims: { 'realm_access.roles': 'admin', 'https://example.com/tier': 'gold' } })), 'passed');
    assert.equal(run(hooks, identity(null, { claims: { realm_access: { roles: ['user'] }, 'https://example.com/tier': 'gold' } })), 'GH_FORBIDDEN');
  });

  test('a nested claim path never reaches into prototypes', () => {
    const c = new ClaimCondition('constructor.name', 'Object');
    assert.equal(c.matches({}), false);
    assert.equal(new ClaimCondition('a.toString', 'x').matches({ a: {} }), false);
  });

  test('within a rule every condition must hold; across rules any one suffices', () => {
    const one = route('allow: { groups: [partners], scopes: [users:read] }');
    assert.equal(run(one, identity(ACME, { scopes: ['users:read'] })), 'passed');
    assert.equal(run(one, identity(ACME)), 'GH_FORBIDDEN', 'group without scope');
    assert.equal(run(one, identity(GLOBEX, { scopes: ['users:read'] })), 'GH_FORBIDDEN', 'scope without group');
    const either = route('allow:\n  - { groups: [partners] }\n  - { consumers: [globex] }');
    assert.equal(run(either, identity(ACME)), 'passed');
    assert.equal(run(either, identity(GLOBEX)), 'passed');
    assert.equal(run(either, identity(INITECH)), 'GH_FORBIDDEN');
  });

  test('a request without an identity fails every allow rule', () => {
    assert.equal(run(route('allow: { groups: [partners] }'), null), 'GH_FORBIDDEN');
    assert.equal(run(route('allow: [ { consumers: [acme] }, { scopes: [a] }, { claims: { x: y } } ]'), null), 'GH_FORBIDDEN');
  });
});

describe('deny', () => {
  test('a caller matching any deny rule is refused; others pass', () => {
    const hooks = route('deny: [ { groups: [beta] }, { claims: { blocked: true } } ]');
    assert.equal(run(hooks, identity(ACME)), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(null, { claims: { blocked: true } })), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(GLOBEX)), 'passed');
    assert.equal(run(hooks, identity(null, { claims: { blocked: false } })), 'passed');
  });

  test('deny scopes are all-of like allow: list one scope per rule to refuse any of them', () => {
    const all = route('deny: { scopes: [a, b] }');
    assert.equal(run(all, identity(null, { scopes: ['a'] })), 'passed');
    assert.equal(run(all, identity(null, { scopes: ['a', 'b'] })), 'GH_FORBIDDEN');
    const any = route('deny: [ { scopes: [a] }, { scopes: [b] } ]');
    assert.equal(run(any, identity(null, { scopes: ['b'] })), 'GH_FORBIDDEN');
  });

  test('deny wins over allow', () => {
    const hooks = route('allow: { groups: [partners] }\ndeny: { consumers: [acme] }');
    assert.deepEqual(hooks.map((h) => h.name), ['deny', 'allow']);
    assert.equal(run(hooks, identity(ACME)), 'GH_FORBIDDEN');
    assert.equal(run(hooks, identity(consumer('other', ['partners']))), 'passed');
  });

  test('a request without an identity matches no deny rule', () => {
    assert.equal(run(route('deny: { groups: [beta] }'), null), 'passed');
  });
});

describe('allow and deny config', () => {
  test('unknown consumer ids are config errors naming the key path', () => {
    assert.deepEqual(problems('allow: { consumers: [acme, acmee] }'), ['routes[0].allow.consumers[1]: unknown consumer "acmee"; define it under consumers:']);
    assert.deepEqual(problems('deny: [ { groups: [x] }, { consumers: [nobody] } ]'), ['routes[0].deny[1].consumers[0]: unknown consumer "nobody"; define it under consumers:']);
  });

  test('an empty rule, an empty list and a scope with spaces are refused', () => {
    assert.deepEqual(problems('allow: {}'), ['routes[0].allow: needs at least one condition: consumers, groups, scopes or claims']);
    assert.deepEqual(problems('allow: { groups: [] }'), ['routes[0].allow.groups: must have at least 1 item']);
    assert.deepEqual(problems('allow: { scopes: ["a b"] }'), ['routes[0].allow.scopes[0]: must be one scope, without spaces']);
    // The loader also reports the union itself when a variant fails only by an unknown key (see the report).
    assert.equal(problems('allow: { group: [partners] }')[0], 'routes[0].allow: unknown key "group" (did you mean "groups"?)');
    assert.deepEqual(problems('allow: yes'), ['routes[0].allow: must be a rule (a mapping of consumers, groups, scopes, claims) or a list of rules']);
  });

  test('rules are precomputed into sets at load', () => {
    const r = new AccessRule({ consumers: ['a', 'a'], groups: ['g'], scopes: ['s', 's'], claims: { c: [1, 'x'] } });
    assert.ok(r.consumers instanceof Set && r.groups instanceof Set);
    assert.deepEqual(r.scopes, ['s']);
    assert.deepEqual([...r.claims![0]!.values], ['1', 'x']);
  });
});
