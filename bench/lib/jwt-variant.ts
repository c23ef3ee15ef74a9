// The JWT targets of the macro benchmark: a key pair made when the harness starts, its public key in the
// config (`publicKey`, so no JWKS server is needed and the key is imported once, as it would be from a
// cached JWKS), and one token signed with it that every request carries. The route therefore measures the
// steady state of a real client: the same token again and again, answered from the cache of verified tokens
// after its first check. Use in bench/lib/targets.ts:
//   gatehouse('gh-jwt-rs256', jwtVariant('RS256')),
//   gatehouse('gh-jwt-es256', jwtVariant('ES256')),
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { GatehouseVariant } from './targets.js';

const ISSUER = 'https://id.bench.test/';

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function signJwt(alg: 'RS256' | 'ES256', key: KeyObject): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url({ alg, typ: 'JWT', kid: 'bench' })}.${b64url({ iss: ISSUER, aud: 'bench', sub: 'bench-client', iat: now, exp: now + 86_400, scope: 'read write' })}`;
  // ES256 signatures in JWS are the raw r||s pair (IEEE P1363), not DER.
  const sig = sign('sha256', Buffer.from(input), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${sig.toString('base64url')}`;
}

/** jwtVariant is a gatehouse target whose route requires a JWT of `alg`, with the token to send. */
export function jwtVariant(alg: 'RS256' | 'ES256'): GatehouseVariant {
  const { privateKey, publicKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = (publicKey.export({ type: 'spki', format: 'pem' }) as string).trim();
  return {
    description: `plain route + JWT check (${alg}, PEM key, one token reused)`,
    route: 'auth: [bench-jwt]',
    top: [
      'consumers:',
      '  bench: { jwt: { subject: bench-client } }',
      'auth:',
      '  bench-jwt:',
      '    jwt:',
      `      issuer: ${ISSUER}`,
      '      audience: bench',
      `      algorithms: [${alg}]`,
      '      publicKey: |',
      ...pem.split('\n').map((l) => `        ${l}`),
    ].join('\n'),
    headers: { authorization: `Bearer ${signJwt(alg, privateKey)}` },
  };
}
