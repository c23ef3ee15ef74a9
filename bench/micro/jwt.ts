/**
 * Why the `jwt` method keeps a cache of verified tokens (`verifiedCache`): the cost of one JWT check per
 * request, RS256 and ES256, on the paths the authenticator can take:
 *   - jose jwtVerify alone, key imported once (the floor of verification through jose/WebCrypto);
 *   - the authenticator with the cache off (peek at `iss` + jwtVerify + claims mapping);
 *   - the authenticator with the cache on, the same tokens seen again (one Map lookup, no promise);
 * each sequential (latency of one check) and with 64 checks in flight (throughput, since WebCrypto runs
 * verifications on libuv's thread pool). A plain proxied route costs roughly 50-100 µs of CPU per request
 * on a laptop core, so a check of tens of µs on the event loop is the difference between ~95% and ~60% of
 * the plain route's throughput.
 *
 * Run after a build: `node dist/bench/micro/jwt.js`.
 *
 * One run on a 2-core VM (Node 20): RS256 jwtVerify 177 µs sequential / 19,000 checks/s in flight, ES256
 * 257 µs / 13,000; a cache hit 1-2 µs / over 600,000. Through the whole gateway (autocannon, 50 connections,
 * GET of 64 bytes, one token reused, bench/lib/jwt-variant.ts): plain route 11,400 req/s; JWT with the cache
 * 0.92x (RS256) and 0.93x (ES256); RS256 with `verifiedCache: 0b` 0.31x-0.39x. The cache is what keeps a
 * JWT route within the 80% target.
 */
import { pino } from 'pino';
import { Value } from '@sinclair/typebox/value';
import { jwtVerify, type KeyObject } from 'jose';
import { createPublicKey } from 'node:crypto';
import { JwtAuthenticator } from '../../src/identity/jwt/authenticator.js';
import { JwtSchema, type JwtConfig } from '../../src/identity/jwt/schema.js';
import { JOSE } from '../../src/identity/jwt/jose.js';
import { ConsumerIndex } from '../../src/identity/consumers.js';
import type { Exchange } from '../../src/core/exchange.js';
import { makeKey, sign } from '../../test/helpers/idp.js';

// jose is loaded lazily (src/core/lazy.ts); the gateway preloads it for configs with a jwt entry.
await JOSE.load();

const ISS = 'https://id.example.com/';
const TOKENS = 256;
const N = 20_000;
const IN_FLIGHT = 64;

const consumers = new ConsumerIndex({ acme: { groups: ['partners'], metadata: {}, keys: [], jwt: { subject: 'acme-client' } } });

function authenticator(alg: string, pem: string, cache: string): JwtAuthenticator {
  const config = Value.Default(JwtSchema, { issuer: ISS, audience: 'api', algorithms: [alg], publicKey: pem, verifiedCache: cache, claimsToHeaders: { email: 'x-user-email' } }) as JwtConfig;
  return new JwtAuthenticator(config, { name: 'bench', consumers, now: Date.now, configDir: '.', log: pino({ level: 'silent' }) });
}

function exchanges(tokens: string[]): Exchange[] {
  return tokens.map((t) => ({ upstreamHeaders: ['host', 'api.example.com', 'accept', '*/*', 'authorization', `Bearer ${t}`] }) as unknown as Exchange);
}

type Check = (i: number) => unknown;

async function sequential(check: Check): Promise<number> {
  for (let i = 0; i < 2000; i++) await check(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const r = check(i);
    if (r instanceof Promise) await r;
  }
  return ((performance.now() - t0) * 1000) / N;
}

async function concurrent(check: Check): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const r = check(next++);
      if (r instanceof Promise) await r;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return N / ((performance.now() - t0) / 1000);
}

async function scenario(alg: 'RS256' | 'ES256'): Promise<void> {
  const key = await makeKey(alg, 'k1');
  const tokens = await Promise.all(Array.from({ length: TOKENS }, (_, i) => sign(key, { iss: ISS, aud: 'api', sub: 'acme-client', email: `user${i}@acme.test`, scope: 'users:read users:write', exp: Math.floor(Date.now() / 1000) + 3600 })));
  const exs = exchanges(tokens);
  const keyObject = createPublicKey(key.pem) as unknown as KeyObject;
  const joseOnly: Check = (i) => jwtVerify(tokens[i % TOKENS]!, keyObject, { issuer: ISS, audience: 'api', algorithms: [alg], requiredClaims: ['exp'] });
  const noCache = authenticator(alg, key.pem, '0b');
  const cached = authenticator(alg, key.pem, '4mb');
  const viaNoCache: Check = (i) => noCache.authenticate(exs[i % TOKENS]!);
  const viaCache: Check = (i) => cached.authenticate(exs[i % TOKENS]!);
  const rows: [string, Check][] = [['jose jwtVerify', joseOnly], ['authenticator, no cache', viaNoCache], ['authenticator, cache hit', viaCache]];
  for (const [name, check] of rows) {
    const us = await sequential(check);
    const ops = await concurrent(check);
    console.log(`${alg}  ${name.padEnd(26)} ${us.toFixed(2).padStart(8)} µs/check sequential   ${Math.round(ops).toLocaleString('en').padStart(10)} checks/s with ${IN_FLIGHT} in flight`);
  }
  await noCache.close();
  await cached.close();
}

await scenario('RS256');
await scenario('ES256');
