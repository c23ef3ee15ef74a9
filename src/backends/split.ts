/**
 * Traffic splitting: a route's requests go to its own service or to others, by rule (a header, a consumer
 * group) or by a weighted share (canary, blue/green). Rules are tried in order, then the shares. Without
 * `sticky`, shares follow a low-discrepancy sequence, so 10% means 10 of every 100 requests, not 10% on
 * average; with `sticky`, a consumer or an address always lands on the same side.
 */
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../config/units.js';
import { hash32 } from '../upstreams/balancers/consistent-hash.js';
import type { Backend } from '../core/route.js';
import type { Exchange } from '../core/exchange.js';

const HEADER_NAME = HEADER_NAME_PATTERN;

/** SplitSchema is a route's `split:` block. */
export const SplitSchema = Type.Object({
  to: Type.Array(Type.Object({
    service: Type.String({ description: 'Service that takes the requests this entry selects.' }),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'Share of the route\'s requests (not taken by a rule) sent to this service, in percent. The route\'s own `service` gets what the entries leave.' })),
    header: Type.Optional(Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String(), { description: 'Send requests carrying every one of these headers with exactly this value (`*`: any value).' })),
    groups: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Send requests whose consumer belongs to one of these groups (needs `auth` on the route).' })),
  }, { additionalProperties: false }), { minItems: 1, description: 'Where requests go instead of the route\'s `service`. Each entry gives exactly one of `percent`, `header` or `groups`.' }),
  sticky: Type.Optional(Type.Union([Type.Literal('consumer'), Type.Literal('ip')], {
    description: 'Keep a caller on one side of a percentage split: by consumer (the client IP for anonymous requests) or by client IP. Default: none, requests are spread evenly.',
  })),
}, { additionalProperties: false, description: 'Split the route\'s traffic between its `service` and others: canary releases, blue/green, beta groups.' });

/** SplitConfig is a validated `split:` block. */
export type SplitConfig = Static<typeof SplitSchema>;

/** checkSplit returns problems of a `split:` block the schema cannot express. */
export function checkSplit(cfg: SplitConfig, services: ReadonlySet<string>): [string, string][] {
  const out: [string, string][] = [];
  let total = 0;
  cfg.to.forEach((t, i) => {
    if (!services.has(t.service)) out.push([`to[${i}].service`, `unknown service "${t.service}"`]);
    const kinds = [t.percent, t.header, t.groups].filter((x) => x !== undefined).length;
    if (kinds !== 1) out.push([`to[${i}]`, 'needs exactly one of percent, header or groups']);
    total += t.percent ?? 0;
  });
  if (total > 100) out.push(['to', `percentages add up to ${total}; at most 100`]);
  return out;
}

/** A rule of the split: a header condition or a group condition, and the backend it selects. */
interface Rule { readonly header: readonly (readonly [string, string])[] | null; readonly groups: ReadonlySet<string> | null; readonly backend: Backend }

/** The golden ratio's fractional part: steps of it spread any run of requests evenly over [0, 1). */
const GOLDEN = 0.6180339887498949;

/** SplitBackend picks the backend of each request, then hands the request to it. */
export class SplitBackend implements Backend {
  readonly #primary: Backend;
  readonly #rules: readonly Rule[];
  /** Cumulative upper bounds in [0, 1) of the percentage entries, and their backends. */
  readonly #bounds: readonly number[];
  readonly #shares: readonly Backend[];
  readonly #sticky: 'consumer' | 'ip' | null;
  #position: number;

  constructor(cfg: SplitConfig, primary: Backend, backendOf: (service: string) => Backend) {
    this.#primary = primary;
    const rules: Rule[] = [];
    const bounds: number[] = [];
    const shares: Backend[] = [];
    let acc = 0;
    for (const t of cfg.to) {
      if (t.percent !== undefined) {
        acc += t.percent / 100;
        bounds.push(acc);
        shares.push(backendOf(t.service));
      } else {
        rules.push({
          header: t.header === undefined ? null : Object.entries(t.header).map(([k, v]) => [k.toLowerCase(), v] as const),
          groups: t.groups === undefined ? null : new Set(t.groups),
          backend: backendOf(t.service),
        });
      }
    }
    this.#rules = rules;
    this.#bounds = bounds;
    this.#shares = shares;
    this.#sticky = cfg.sticky ?? null;
    this.#position = 0;
  }

  handle(ex: Exchange): void | Promise<void> {
    return this.choose(ex).handle(ex);
  }

  /** choose returns the backend that takes `ex`. */
  choose(ex: Exchange): Backend {
    for (const r of this.#rules) if (matches(r, ex)) return r.backend;
    if (this.#bounds.length === 0) return this.#primary;
    let x: number;
    if (this.#sticky === null) {
      this.#position = (this.#position + GOLDEN) % 1;
      x = this.#position;
    } else {
      x = unitHash(this.#sticky === 'consumer' && ex.identity !== null ? ex.identity.subject : ex.clientIp);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) if (x < bounds[i]!) return this.#shares[i]!;
    return this.#primary;
  }

  close(): void { /* the backends it chooses from are closed with their routes' services */ }
}

function matches(r: Rule, ex: Exchange): boolean {
  if (r.header !== null) {
    for (const [name, value] of r.header) {
      const v = ex.req.headers[name];
      if (typeof v !== 'string' || (value !== '*' && v !== value)) return false;
    }
    return true;
  }
  const groups = ex.identity?.consumer?.groups;
  if (groups === undefined) return false;
  for (const g of groups) if (r.groups!.has(g)) return true;
  return false;
}

/** unitHash maps a string to [0, 1) with the consistent-hash balancer's hash: stable across processes, so every instance agrees. */
function unitHash(s: string): number {
  return hash32(s) / 0x100000000;
}
