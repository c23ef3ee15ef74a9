/**
 * `gatehouse keys` as users run it: a fresh key and its hash, hashing a key from the argument or stdin,
 * hashing a password from stdin; exit codes; and what it prints working in a real config.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUpstream } from './helpers/upstream.js';
import { startTestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { LISTEN } from './helpers/raw.js';
import { isGatehouseKey } from '../src/identity/api-key/key-format.js';
import { parsePasswordHash, verifyPassword } from '../src/identity/basic/password-hash.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repo, 'bin', 'gatehouse.js');
const run = (args: string[], input?: string) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: repo, input: input ?? '' });
const sha256 = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** Parses the two lines `key: ...` and `hash: ...` of `keys new`. */
function parseNew(stdout: string): { key: string; hash: string } {
  const m = /^key: {2}(\S+)\nhash: (sha256:[0-9a-f]{64})\n$/.exec(stdout);
  assert.ok(m, `output of keys new: ${stdout}`);
  return { key: m[1]!, hash: m[2]! };
}

describe('gatehouse keys', () => {
  test('keys new: a fresh key with the default prefix, once, and its hash', () => {
    const a = run(['keys', 'new']);
    assert.equal(a.status, 0, a.stderr);
    const { key, hash } = parseNew(a.stdout);
    assert.match(key, /^gh_live_[0-9A-Za-z]{49}$/);
    assert.ok(isGatehouseKey(key));
    assert.equal(hash, sha256(key));
    assert.match(a.stderr, /cannot be shown again/);
    const b = parseNew(run(['keys', 'new']).stdout);
    assert.notEqual(b.key, key);
  });

  test('keys new --prefix and --json', () => {
    const r = run(['keys', 'new', '--prefix', 'acme_test_', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { key: string; hash: string };
    assert.ok(out.key.startsWith('acme_test_') && isGatehouseKey(out.key));
    assert.equal(out.hash, sha256(out.key));
    assert.equal(r.stderr, '');
    const bad = run(['keys', 'new', '--prefix', 'Bad-Prefix']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid --prefix "Bad-Prefix"/);
    assert.equal(bad.stdout, '');
  });

  test('keys hash KEY and keys hash - (stdin, one trailing newline dropped)', () => {
    const key = parseNew(run(['keys', 'new']).stdout).key;
    const a = run(['keys', 'hash', key]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, `${sha256(key)}\n`);
    assert.equal(a.stderr, '');
    const b = run(['keys', 'hash', '-'], `${key}\n`);
    assert.equal(b.stdout, `${sha256(key)}\n`);
    // A key from another system is hashed too, with a note on `format: any`.
    const c = run(['keys', 'hash', '-'], 'foo');
    assert.equal(c.stdout, 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n');
    assert.match(c.stderr, /format: any/);
    assert.equal(run(['keys', 'hash', '-'], '\n').status, 1);
    assert.equal(run(['keys', 'hash']).status, 2);
  });

  test('keys hash-password: an scrypt hash of the password read from stdin', async () => {
    const r = run(['keys', 'hash-password'], 'correct horse battery staple\n');
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.trim();
    assert.match(text, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    const parsed = parsePasswordHash(text);
    assert.ok(typeof parsed !== 'string');
    assert.equal(await verifyPassword('correct horse battery staple', parsed), true);
    assert.equal(await verifyPassword('correct horse battery staple\n', parsed), false);
    assert.equal(run(['keys', 'hash-password'], '').status, 1);
    const arg = run(['keys', 'hash-password', 'secret']);
    assert.equal(arg.status, 2);
    assert.match(arg.stderr, /read from stdin/);
  });

  test('usage errors: exit 2 with the keys help', () => {
    for (const args of [['keys'], ['keys', 'rotate'], ['keys', 'new', 'extra']]) {
      const r = run(args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /gatehouse keys new/);
    }
    const help = run(['--help']);
    assert.match(help.stdout, /gatehouse keys new/);
    assert.match(help.stdout, /gatehouse keys hash-password/);
  });

  test('what it prints works: a config from its output validates, and the gateway accepts the key and password', async () => {
    const { key, hash } = parseNew(run(['keys', 'new']).stdout);
    const pwHash = run(['keys', 'hash-password'], 's3cret\n').stdout.trim();
    const up = await startUpstream('a');
    const yaml = `${LISTEN}
services:
  a: { targets: ['${up.url}'], retries: 0 }
consumers:
  acme: { keys: [${hash}], basic: { username: acme, password: '${pwHash}' } }
auth:
  api-key: { apiKey: {} }
  users: { basic: {} }
routes:
  - { name: r, match: { path: /r }, service: a, auth: [api-key, users] }
`;
    const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-cli-')), 'gatehouse.yaml');
    writeFileSync(file, yaml);
    const v = run(['validate', '-c', file]);
    assert.equal(v.status, 0, v.stderr);
    const gw = await startTestGateway(yaml);
    try {
      const base = `http://127.0.0.1:${gw.port}/r`;
      const byKey = await request(base, { headers: { 'x-api-key': key } });
      assert.equal(byKey.status, 200, byKey.body);
      const byPw = await request(base, { headers: { authorization: `Basic ${Buffer.from('acme:s3cret').toString('base64')}` } });
      assert.equal(byPw.status, 200, byPw.body);
      assert.deepEqual(up.received.map((r) => r.headers['x-consumer-id']), ['acme', 'acme']);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
