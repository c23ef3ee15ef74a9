/**
 * `request-rules`: cheap refusals before authentication — a method allow-list (405), required and forbidden
 * headers, a user-agent deny list (substrings, no patterns), and the switchable hostile-request signatures
 * of ./signatures.ts. Everything is lower-cased and laid out in arrays at config load; a refusal never
 * echoes the request's own text, it names the rule.
 */
import type { Static } from '@sinclair/typebox';
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { MAX_INSPECTED, Part, SignatureScanner, type SignatureCategory } from './signatures.js';
import { RequestRulesSchema } from './schema.js';

type RequestRulesConfig = Static<typeof RequestRulesSchema>;

/** Shortest `denyUserAgents` entry: anything shorter matches far more agents than anyone means. */
const MIN_AGENT = 3;
/** The value of a `denyHeaders` entry that matches any value. */
const ANY = '*';

/** RequestRulesFeature applies one route's request rules. */
export class RequestRulesFeature implements Feature {
  readonly name = 'request-rules';
  private readonly methods: ReadonlySet<string> | null;
  /** `['allow', 'GET, HEAD, POST']`, the extra headers of a 405. */
  private readonly allowHeader: readonly string[];
  private readonly required: readonly string[] | null;
  /** Lower-case header name → lower-case value to refuse, or ANY. */
  private readonly denied: ReadonlyMap<string, string> | null;
  private readonly agents: readonly string[] | null;
  private readonly scanner: SignatureScanner | null;
  private readonly inspected: ReadonlySet<string> | null;

  constructor(config: RequestRulesConfig) {
    const methods = config.methods === undefined ? null : new Set(config.methods.includes('GET') ? [...config.methods, 'HEAD'] : config.methods);
    this.methods = methods;
    this.allowHeader = methods === null ? [] : ['allow', [...methods].sort().join(', ')];
    this.required = config.requireHeaders?.map((h) => h.toLowerCase()) ?? null;
    this.denied = config.denyHeaders === undefined ? null
      : new Map(Object.entries(config.denyHeaders).map(([k, v]) => [k.toLowerCase(), v === ANY ? ANY : v.trim().toLowerCase()]));
    this.agents = config.denyUserAgents?.map((a) => a.toLowerCase()) ?? null;
    this.scanner = config.block === undefined ? null : new SignatureScanner(config.block);
    this.inspected = this.scanner === null || config.inspectHeaders === undefined ? null : new Set(config.inspectHeaders.map((h) => h.toLowerCase()));
  }

  onRequest(ex: Exchange): void {
    const req = ex.req;
    if (this.methods !== null && !this.methods.has(req.method!)) {
      ex.fail('GH_METHOD_NOT_ALLOWED', { headers: this.allowHeader });
      return;
    }
    const headers = req.headers;
    if (this.required !== null) {
      for (let i = 0; i < this.required.length; i++) {
        if (headers[this.required[i]!] === undefined) { ex.fail('GH_REQUEST_BLOCKED', { detail: `the header ${this.required[i]} is required` }); return; }
      }
    }
    if (this.denied !== null) {
      // What reaches the service is checked: every occurrence of a repeated header, as forwarded.
      const h = ex.upstreamHeaders;
      for (let i = 0; i < h.length; i += 2) {
        const rule = this.denied.get(h[i]!);
        if (rule !== undefined && (rule === ANY || h[i + 1]!.trim().toLowerCase() === rule)) {
          ex.fail('GH_REQUEST_BLOCKED', { detail: `the header ${h[i]} is not allowed${rule === ANY ? '' : ' with this value'}` });
          return;
        }
      }
    }
    if (this.agents !== null) {
      const ua = headers['user-agent'];
      if (ua !== undefined && ua !== '') {
        const lower = ua.toLowerCase();
        for (let i = 0; i < this.agents.length; i++) {
          if (lower.includes(this.agents[i]!)) { ex.fail('GH_REQUEST_BLOCKED', { detail: 'the user agent is not allowed' }); return; }
        }
      }
    }
    if (this.scanner !== null) this.screen(ex, this.scanner);
  }

  /** Inspects the path, the query and the chosen headers; the first signature found refuses the request. */
  private screen(ex: Exchange, scanner: SignatureScanner): void {
    if (inspect(ex, scanner, ex.path, Part.Path, '')) return;
    if (ex.query !== '' && inspect(ex, scanner, ex.query, Part.Query, '')) return;
    if (this.inspected !== null) {
      const h = ex.upstreamHeaders;
      for (let i = 0; i < h.length; i += 2) {
        if (this.inspected.has(h[i]!) && inspect(ex, scanner, h[i + 1]!, Part.Header, h[i]!)) return;
      }
    }
  }
}

/** Scans one value (of header `name`); refuses the request (true) when it carries a signature or is too long to inspect. */
function inspect(ex: Exchange, scanner: SignatureScanner, value: string, part: Part, name: string): boolean {
  let found: SignatureCategory | 'too-long' | null;
  if (value.length > MAX_INSPECTED) found = 'too-long';
  else found = scanner.scan(value, part);
  if (found === null) return false;
  const where = part === Part.Path ? 'path' : part === Part.Query ? 'query' : `header ${name}`;
  ex.runtime.log.debug({ event: 'request_blocked', route: ex.route?.name, rule: found, where, requestId: ex.requestId }, 'request blocked by a signature');
  ex.fail('GH_REQUEST_BLOCKED', { detail: found === 'too-long' ? `the ${where} is too long to inspect` : `${found} signature in the ${where}` });
  return true;
}

/** requestRules is the feature definition registered in src/features/index.ts. */
export const requestRules = defineFeature({
  key: 'request-rules',
  stage: 'screen',
  schema: RequestRulesSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const problems: [string, string][] = [];
    config.denyUserAgents?.forEach((a, i) => {
      if (a.trim().length < MIN_AGENT) problems.push([`.denyUserAgents[${i}]`, `is too short: a substring under ${MIN_AGENT} characters matches far more user agents than intended`]);
    });
    if (config.inspectHeaders !== undefined && config.block === undefined) problems.push(['.inspectHeaders', 'has no effect without `block`']);
    return problems;
  },
  create: (config) => new RequestRulesFeature(config),
});
