/**
 * `ip`: allow and deny lists on the trusted client address (`ex.clientIp`: the socket's address, or the one
 * from `X-Forwarded-For` only when the socket is a trusted proxy). Both lists are compiled once into Node's
 * BlockList, which matches IPv4 and IPv6 ranges and treats IPv4-mapped IPv6 addresses as IPv4. Deny wins over
 * allow; with an allow list, every address not on it is refused.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Static } from '@sinclair/typebox';
import { defineFeature, type Feature } from '../../core/feature.js';
import type { Exchange } from '../../core/exchange.js';
import { IpSchema } from './schema.js';

type IpConfig = Static<typeof IpSchema>;

/** IpRange is one parsed entry of an allow or deny list. */
export interface IpRange {
  readonly address: string;
  readonly prefix: number | null;
  readonly family: 'ipv4' | 'ipv6';
}

/** parseIpRange reads `203.0.113.7`, `10.0.0.0/8` or `2001:db8::/32`; returns a message when it is not one. */
export function parseIpRange(text: string): IpRange | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (family === null) return 'is not a valid IP address or CIDR range';
  if (slash === -1) return { address, prefix: null, family };
  const bits = text.slice(slash + 1);
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || prefix > max) return `has a prefix length out of range (0-${max} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`;
  return { address, prefix, family };
}

/** buildBlockList compiles parsed ranges into one BlockList (null for no list). */
export function buildBlockList(entries: readonly string[] | undefined): BlockList | null {
  if (entries === undefined) return null;
  const list = new BlockList();
  for (const e of entries) {
    const r = parseIpRange(e);
    if (typeof r === 'string') throw new Error(`${e} ${r}`); // check() reported it first; never reached
    if (r.prefix === null) list.addAddress(r.address, r.family);
    else list.addSubnet(r.address, r.prefix, r.family);
  }
  return list;
}

/** IpFeature refuses clients by address before anything else looks at the request. */
export class IpFeature implements Feature {
  readonly name = 'ip';
  private readonly allow: BlockList | null;
  private readonly deny: BlockList | null;

  constructor(config: IpConfig) {
    this.allow = buildBlockList(config.allow);
    this.deny = buildBlockList(config.deny);
  }

  /** allows says whether a client address passes the lists. */
  allows(ip: string): boolean {
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
    // Not an address (the gateway never sets one, but a list must not fail open): only a deny-only rule lets it by.
    if (family === null) return this.allow === null;
    if (this.deny !== null && this.deny.check(ip, family)) return false;
    return this.allow === null || this.allow.check(ip, family);
  }

  onRequest(ex: Exchange): void {
    if (!this.allows(ex.clientIp)) ex.fail('GH_IP_DENIED');
  }
}

/** ip is the feature definition registered in src/features/index.ts. */
export const ip = defineFeature({
  key: 'ip',
  stage: 'screen',
  schema: IpSchema,
  scopes: ['route', 'service', 'defaults'],
  check: (config) => {
    const problems: [string, string][] = [];
    for (const key of ['allow', 'deny'] as const) {
      config[key]?.forEach((e, i) => {
        const r = parseIpRange(e);
        if (typeof r === 'string') problems.push([`.${key}[${i}]`, r]);
      });
    }
    return problems;
  },
  create: (config) => new IpFeature(config),
});
