/** Schema of `ip`: allow and deny lists of client addresses (IPv4 and IPv6, single addresses or CIDR ranges). */
import { Type } from '@sinclair/typebox';

const Address = Type.String({
  pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$',
  errorMessage: 'must be an IP address or a CIDR range (203.0.113.7, 10.0.0.0/8, 2001:db8::/32)',
});

/** IpSchema is the value of `ip:` on a route, a service or under `defaults`. */
export const IpSchema = Type.Object({
  allow: Type.Optional(Type.Array(Address, {
    minItems: 1,
    description: 'Client addresses or CIDR ranges that may use the route; any other client gets 403 `GH_IP_DENIED`. Default: every address (no allow list).',
  })),
  deny: Type.Optional(Type.Array(Address, {
    minItems: 1,
    description: 'Client addresses or CIDR ranges refused with 403 `GH_IP_DENIED`, even when `allow` also lists them (deny wins). Default: none.',
  })),
}, {
  additionalProperties: false,
  minProperties: 1,
  errorMessage: 'needs `allow`, `deny` or both',
  description: 'IP rules on the trusted client address (the socket\'s, or from `X-Forwarded-For` only when the socket is in `trustedProxies`). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) count as their IPv4 address. Checked before authentication.',
});
