/**
 * `ip` built from YAML through the real loader and compiler, run on in-memory exchanges: IPv4 and IPv6
 * addresses and ranges, IPv4-mapped addresses, deny winning over allow, the allow list refusing everyone
 * else, and the config errors with their key paths.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import { Exchange } from '../../core/exchange.js';
import type { Runtime } from '../../core/runtime.js';
import { IpFeature, parseIpRange } from './feature.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function compileRoute(features: string, defaults = ''): Runtime {
  const yaml = `${defaults}services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - name: r
    match: { path: /r }
    service: s
${features.split('\n').map((l) => `    ${l}`).join('\n')}
`;
  const rt = compile(loadConfigText(yaml, 'gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  return rt;
}

function problems(features: string): string[] {
  try { compileRoute(features); return []; } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
}

/** Runs the route's request hooks for a client address; returns the status answered (0: passed on). */
function statusFor(rt: Runtime, clientIp: string): number {
  let status = 0;
  const res = { headersSent: false, shouldKeepAlive: true, writeHead(s: number) { status = s; }, end() { /* body not needed */ } };
  const req = { method: 'GET', headers: {}, complete: true };
  const ex = new Exchange(req as unknown as IncomingMessage, res as unknown as ServerResponse, rt, 'req-1', clientIp, 0);
  ex.route = rt.routes[0]!;
  for (const f of rt.routes[0]!.onRequest ?? []) {
    void f.onRequest!(ex);
    if (ex.replied) break;
  }
  if (status !== 0) assert.equal(ex.errorCode, 'GH_IP_DENIED');
  return status;
}

describe('ip rules', () => {
  test('an allow list admits its ranges and single addresses, and refuses everyone else', () => {
    const rt = compileRoute('ip: { allow: [10.0.0.0/8, 192.168.1.7, "2001:db8::/32", "::1"] }');
    for (const ok of ['10.0.0.1', '10.255.255.255', '192.168.1.7', '2001:db8::1', '2001:db8:ffff::9', '::1', '2001:0DB8::5']) assert.equal(statusFor(rt, ok), 0, ok);
    for (const no of ['11.0.0.1', '192.168.1.8', '9.255.255.255', '2001:db9::1', '::2', 'fe80::1', '127.0.0.1']) assert.equal(statusFor(rt, no), 403, no);
  });

  test('deny wins over allow', () => {
    const rt = compileRoute('ip: { allow: [203.0.113.0/24], deny: [203.0.113.7] }');
    assert.equal(statusFor(rt, '203.0.113.6'), 0);
    assert.equal(statusFor(rt, '203.0.113.7'), 403);
  });

  test('a deny list alone lets everyone else through', () => {
    const rt = compileRoute('ip: { deny: [203.0.113.0/24, "2001:db8::/48"] }');
    assert.equal(statusFor(rt, '203.0.113.200'), 403);
    assert.equal(statusFor(rt, '2001:db8:0:1::1'), 403);
    assert.equal(statusFor(rt, '198.51.100.1'), 0);
    assert.equal(statusFor(rt, '2001:db8:1::1'), 0);
  });

  test('IPv4-mapped IPv6 addresses count as their IPv4 address, both ways', () => {
    const v4rules = new IpFeature({ allow: ['10.0.0.0/8'], deny: ['10.9.9.9'] });
    assert.equal(v4rules.allows('::ffff:10.1.2.3'), true);
    assert.equal(v4rules.allows('::ffff:10.9.9.9'), false);
    assert.equal(v4rules.allows('::ffff:11.1.2.3'), false);
    const mappedRules = new IpFeature({ deny: ['::ffff:203.0.113.7'] });
    assert.equal(mappedRules.allows('203.0.113.7'), false);
  });

  test('something that is not an address never passes an allow list', () => {
    const f = new IpFeature({ allow: ['0.0.0.0/0', '::/0'] });
    assert.equal(f.allows('10.0.0.1'), true);
    assert.equal(f.allows(''), false);
    assert.equal(f.allows('not-an-ip'), false);
    assert.equal(new IpFeature({ deny: ['10.0.0.0/8'] }).allows(''), true);
  });

  test('a route\'s own rules replace the defaults', () => {
    const rt = compileRoute('ip: { allow: [10.0.0.0/8] }', 'defaults:\n  ip: { deny: [10.0.0.0/8] }\n');
    assert.equal(statusFor(rt, '10.0.0.1'), 0);
    const inherited = compileRoute('', 'defaults:\n  ip: { deny: [10.0.0.0/8] }\n');
    assert.equal(statusFor(inherited, '10.0.0.1'), 403);
  });
});

describe('ip config errors', () => {
  test('parseIpRange explains what is wrong', () => {
    assert.deepEqual(parseIpRange('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseIpRange('::1'), { address: '::1', prefix: null, family: 'ipv6' });
    assert.equal(parseIpRange('10.0.0.0/33'), 'has a prefix length out of range (0-32 for IPv4)');
    assert.equal(parseIpRange('2001:db8::/129'), 'has a prefix length out of range (0-128 for IPv6)');
    assert.equal(parseIpRange('10.0.0'), 'is not a valid IP address or CIDR range');
    assert.equal(parseIpRange('10.0.0.256'), 'is not a valid IP address or CIDR range');
  });

  test('bad entries are reported with key path and line', () => {
    assert.deepEqual(problems('ip:\n  allow: [10.0.0.0/8, 10.0.0.0/40]\n  deny:\n    - 1.2.3\n    - "2001:db8::/200"'), [
      'routes[0].ip.allow[1]: has a prefix length out of range (0-32 for IPv4) (gatehouse.yaml:8)',
      'routes[0].ip.deny[0]: is not a valid IP address or CIDR range (gatehouse.yaml:10)',
      'routes[0].ip.deny[1]: has a prefix length out of range (0-128 for IPv6) (gatehouse.yaml:11)',
    ]);
  });

  test('the schema refuses what is not an address at all, an empty rule and empty lists', () => {
    assert.deepEqual(problems('ip: { allow: [example.com] }'), [
      'routes[0].ip.allow[0]: must be an IP address or a CIDR range (203.0.113.7, 10.0.0.0/8, 2001:db8::/32) (gatehouse.yaml:7)',
    ]);
    assert.deepEqual(problems('ip: {}'), ['routes[0].ip: needs `allow`, `deny` or both (gatehouse.yaml:7)']);
    assert.deepEqual(problems('ip: { allow: [] }'), ['routes[0].ip.allow: must have at least 1 item (gatehouse.yaml:7)']);
  });
});
