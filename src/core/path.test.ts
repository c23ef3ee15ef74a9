/**
 * Tests for parseTarget: a table of the attacks and normal forms from SECURITY.md ("Paths"), then random
 * targets checked for the properties the router relies on (never throws, fixed point, no dot or empty
 * segments) and against a slow, obviously-correct reference built on TextDecoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, type ErrorCode } from './errors.js';
import { parseTarget, type ParsedTarget, type PathErrorCode } from './path.js';

type Expected = string | ParsedTarget | PathErrorCode;

// A string expectation that starts with `/` is the expected path with an empty query; GH_* is a refusal.
const CASES: ReadonlyArray<readonly [string, Expected]> = [
  // the brief's list
  ['/%61dmin', '/admin'],
  ['//admin', '/admin'],
  ['/public/../admin', '/admin'],
  ['/public/%2e%2e/admin', '/admin'],
  ['/public/%2E%2E%2Fadmin', 'GH_BAD_PATH_ENCODING'],
  ['/a%5cb', 'GH_BAD_PATH_ENCODING'],
  ['/a%5Cb', 'GH_BAD_PATH_ENCODING'],
  ['/a\\b', 'GH_BAD_PATH'],
  ['/a%00', 'GH_BAD_PATH_ENCODING'],
  ['/a#frag', 'GH_BAD_PATH'],
  ['http://evil/x', 'GH_ABSOLUTE_FORM'],
  ['//evil.com/x', '/evil.com/x'],
  ['/%zz', 'GH_BAD_PATH_ENCODING'],
  ['/%C3%A9', '/%C3%A9'],
  ['/%c3%a9', '/%C3%A9'],
  ['/%C3', 'GH_BAD_PATH_ENCODING'],
  ['/%FF', 'GH_BAD_PATH_ENCODING'],
  ['/a/b/../../../c', '/c'],
  ['/a/.', '/a/'],
  ['/', '/'],
  ['/x?a=%2F&b=..', { path: '/x', query: 'a=%2F&b=..' }],
  ['/users/%7Ejoe', '/users/~joe'],
  // non-origin forms
  ['', 'GH_ABSOLUTE_FORM'],
  ['*', 'GH_ABSOLUTE_FORM'],
  ['example.com:443', 'GH_ABSOLUTE_FORM'],
  ['?x=1', 'GH_ABSOLUTE_FORM'],
  ['HTTP://evil/x', 'GH_ABSOLUTE_FORM'],
  ['\\\\evil\\x', 'GH_ABSOLUTE_FORM'],
  // clean paths come back untouched (fast path), query split at the first '?'
  ['/api/v1/users/123', '/api/v1/users/123'],
  ['/api/v1/users/123?x=1', { path: '/api/v1/users/123', query: 'x=1' }],
  ['/a/', '/a/'],
  ['/.well-known/acme-challenge/x', '/.well-known/acme-challenge/x'],
  ['/a/..b/.c/c.', '/a/..b/.c/c.'],
  ['/a/...', '/a/...'],
  ['/x?', { path: '/x', query: '' }],
  ['/?', { path: '/', query: '' }],
  ['/x?a?b', { path: '/x', query: 'a?b' }],
  ['/x?/../admin', { path: '/x', query: '/../admin' }],
  ['/x?q=%zz%00\\', { path: '/x', query: 'q=%zz%00\\' }],
  ['/x?q=caf\u00e9', { path: '/x', query: 'q=caf\u00e9' }],
  ["/a-b_c~d!$&'()*+,;=:@", "/a-b_c~d!$&'()*+,;=:@"],
  // slashes and dot segments
  ['/a//b', '/a/b'],
  ['///a///b///', '/a/b/'],
  ['/a/b/..', '/a/'],
  ['/a/b/../', '/a/'],
  ['/a/./b/../c', '/a/c'],
  ['/../x', '/x'],
  ['/..', '/'],
  ['/.', '/'],
  ['/./', '/'],
  ['//', '/'],
  ['/a/..', '/'],
  ['/a/..?q', { path: '/', query: 'q' }],
  ['/a/.?q', { path: '/a/', query: 'q' }],
  ['//?q', { path: '/', query: 'q' }],
  ['/a/%2e', '/a/'],
  ['/a/.%2E/b', '/b'],
  ['/a/%2e./b', '/b'],
  ['/%2e%2e/%2e%2e/etc/passwd', '/etc/passwd'],
  ['/public/%2e%2e%2fadmin', 'GH_BAD_PATH_ENCODING'],
  ['/a/%2e%2e%2e', '/a/...'],
  // unreserved decoded, everything else kept and uppercased
  ['/%41%5a%61%7a%30%39%2d%2e%5f%7e', '/AZaz09-._~'],
  ['/a%20b', '/a%20b'],
  ['/a%3fb%23c%25d', '/a%3Fb%23c%25d'],
  ['/%252e%252e/admin', '/%252e%252e/admin'],
  ['/%2525', '/%2525'],
  ['/%3b/%40', '/%3B/%40'],
  ['/%21', '/%21'],
  ['/a%2Db', '/a-b'],
  ['/%C3%A9/%c3%a9/%20', '/%C3%A9/%C3%A9/%20'],
  ['/%20%2e%2E/x', '/%20../x'],
  ['/%2E/x', '/x'],
  ['/a/%2E%2E', '/'],
  ['/a/%2E%2E/', '/'],
  ['/a/b%2e%2e', '/a/b..'],
  ['/a/..%2fb', 'GH_BAD_PATH_ENCODING'],
  // raw refusals in the path
  ['/a b', 'GH_BAD_PATH'],
  ['/a\tb', 'GH_BAD_PATH'],
  ['/a\u0000b', 'GH_BAD_PATH'],
  ['/a\rb', 'GH_BAD_PATH'],
  ['/a\nb', 'GH_BAD_PATH'],
  ['/a\u007fb', 'GH_BAD_PATH'],
  ['/caf\u00e9', 'GH_BAD_PATH'],
  ['/caf\u00c3\u00a9', 'GH_BAD_PATH'],
  ['/\u2028', 'GH_BAD_PATH'],
  ['/#', 'GH_BAD_PATH'],
  ['/a/..\\admin', 'GH_BAD_PATH'],
  ['/%41\\', 'GH_BAD_PATH'],
  // raw refusals in the query
  ['/x?a=\u0000', 'GH_BAD_PATH'],
  ['/x?a=\r\nX-Evil: 1', 'GH_BAD_PATH'],
  ['/x?a=1#frag', 'GH_BAD_PATH'],
  ['/x?a b', 'GH_BAD_PATH'],
  ['/x?a=\u007f', 'GH_BAD_PATH'],
  ['/x?a=\u2028', 'GH_BAD_PATH'],
  // malformed escapes
  ['/%', 'GH_BAD_PATH_ENCODING'],
  ['/%4', 'GH_BAD_PATH_ENCODING'],
  ['/a%4?x', 'GH_BAD_PATH_ENCODING'],
  ['/a%?41', 'GH_BAD_PATH_ENCODING'],
  ['/%g0', 'GH_BAD_PATH_ENCODING'],
  ['/%0g', 'GH_BAD_PATH_ENCODING'],
  ['/%%41', 'GH_BAD_PATH_ENCODING'],
  ['/%/', 'GH_BAD_PATH_ENCODING'],
  ['/%+1', 'GH_BAD_PATH_ENCODING'],
  // control characters, encoded
  ['/%01', 'GH_BAD_PATH_ENCODING'],
  ['/%0a', 'GH_BAD_PATH_ENCODING'],
  ['/%0D%0A', 'GH_BAD_PATH_ENCODING'],
  ['/%1F', 'GH_BAD_PATH_ENCODING'],
  ['/%7f', 'GH_BAD_PATH_ENCODING'],
  ['/%C2%80', 'GH_BAD_PATH_ENCODING'], // U+0080, a C1 control
  ['/%C2%9F', 'GH_BAD_PATH_ENCODING'], // U+009F, a C1 control
  ['/%C2%A0', '/%C2%A0'], // U+00A0 is the first non-control
  // UTF-8
  ['/%E2%82%AC', '/%E2%82%AC'],
  ['/%f0%9f%98%80/x', '/%F0%9F%98%80/x'],
  ['/%F4%8F%BF%BF', '/%F4%8F%BF%BF'], // U+10FFFF
  ['/%EF%BF%BF', '/%EF%BF%BF'], // a noncharacter, but well-formed
  ['/%80', 'GH_BAD_PATH_ENCODING'], // continuation without a lead
  ['/%BF', 'GH_BAD_PATH_ENCODING'],
  ['/%C0%AF', 'GH_BAD_PATH_ENCODING'], // overlong '/'
  ['/%C1%9C', 'GH_BAD_PATH_ENCODING'], // overlong '\'
  ['/%E0%80%AF', 'GH_BAD_PATH_ENCODING'], // overlong '/'
  ['/%E0%9F%BF', 'GH_BAD_PATH_ENCODING'], // overlong
  ['/%E0%A0%80', '/%E0%A0%80'], // U+0800, shortest form
  ['/%ED%A0%80', 'GH_BAD_PATH_ENCODING'], // surrogate U+D800
  ['/%ED%BF%BF', 'GH_BAD_PATH_ENCODING'], // surrogate U+DFFF
  ['/%ED%9F%BF', '/%ED%9F%BF'], // U+D7FF
  ['/%F0%80%80%AF', 'GH_BAD_PATH_ENCODING'], // overlong
  ['/%F0%8F%BF%BF', 'GH_BAD_PATH_ENCODING'], // overlong
  ['/%F4%90%80%80', 'GH_BAD_PATH_ENCODING'], // past U+10FFFF
  ['/%F5%80%80%80', 'GH_BAD_PATH_ENCODING'],
  ['/%F8%88%80%80%80', 'GH_BAD_PATH_ENCODING'],
  ['/%C3%A9%A9', 'GH_BAD_PATH_ENCODING'], // stray continuation
  ['/%C3a', 'GH_BAD_PATH_ENCODING'], // lead then a raw character
  ['/%C3/%A9', 'GH_BAD_PATH_ENCODING'], // split by a slash
  ['/%E2%82', 'GH_BAD_PATH_ENCODING'], // truncated
  ['/%E2%82?%AC', 'GH_BAD_PATH_ENCODING'], // truncated by the query
  ['/%C3%41', 'GH_BAD_PATH_ENCODING'], // ASCII where a continuation belongs
  ['/%C3%2e', 'GH_BAD_PATH_ENCODING'],
  ['/%C3%zz', 'GH_BAD_PATH_ENCODING'],
];

function normalizeExpected(e: Expected): ParsedTarget | PathErrorCode {
  if (typeof e !== 'string') return e;
  return e.startsWith('GH_') ? (e as PathErrorCode) : { path: e, query: '' };
}

test('parseTarget: table of attacks and normal forms', () => {
  for (const [input, expected] of CASES) {
    assert.deepEqual(parseTarget(input), normalizeExpected(expected), `parseTarget(${JSON.stringify(input)})`);
  }
});

test('parseTarget: every refusal is a 400 of the error catalogue', () => {
  // Compile-time half: this stops building if PathErrorCode gains a code the catalogue lacks.
  const inCatalogue = (code: PathErrorCode): ErrorCode => code;
  const codes = ['GH_BAD_PATH', 'GH_BAD_PATH_ENCODING', 'GH_ABSOLUTE_FORM'] as const satisfies readonly PathErrorCode[];
  for (const code of codes) assert.equal(ERRORS[inCatalogue(code)].status, 400, code);
});

test('parseTarget: a clean target comes back as given, in the one result shape', () => {
  const url = '/api/v1/users/123';
  const r = parseTarget(url);
  assert.ok(typeof r !== 'string');
  assert.equal(r.path, url);
  assert.equal(r.query, '');
  // Results always have the same two keys in the same order, so callers see one object shape.
  assert.deepEqual(Object.keys(r), ['path', 'query']);
  const slow = parseTarget('/a/../b?q');
  assert.ok(typeof slow !== 'string');
  assert.deepEqual(Object.keys(slow), ['path', 'query']);
});

test('parseTarget: every normalized path of the table is a fixed point', () => {
  for (const [input] of CASES) {
    const r = parseTarget(input);
    if (typeof r === 'string') continue;
    assert.deepEqual(parseTarget(r.path), { path: r.path, query: '' }, `fixed point of ${JSON.stringify(input)}`);
  }
});

test('parseTarget: long inputs stay linear and never throw', () => {
  const deep = '/..'.repeat(20_000) + '/x';
  assert.deepEqual(parseTarget(deep), { path: '/x', query: '' });
  const escapes = '/' + '%41'.repeat(20_000);
  assert.deepEqual(parseTarget(escapes), { path: '/' + 'A'.repeat(20_000), query: '' });
  assert.equal(parseTarget('/' + '%'.repeat(20_000)), 'GH_BAD_PATH_ENCODING');
  assert.deepEqual(parseTarget('/'.repeat(20_000)), { path: '/', query: '' });
});

/** A small seeded generator (mulberry32) so a failure can be replayed from the seed in its message. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTarget(next: () => number, alphabet: readonly string[], maxLength: number): string {
  const n = Math.floor(next() * maxLength);
  // Mostly origin-form, so the interesting part (the path) is what gets exercised.
  let s = next() < 0.9 ? '/' : '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
  return s;
}

// '/' and '.' weighted up so dot segments and empty segments are common.
const PROPERTY_ALPHABET = [
  '/', '/', '/', '.', '.', '.', '%', '%', '2', 'e', 'E', 'f', 'F', 'a', 'A', '5', 'c', 'C', '0', '?', '#', '\\',
];

test('parseTarget: 2,000 random targets never throw and give fixed points without // /./ /../', () => {
  const seed = 0x9a7e;
  const next = rng(seed);
  let accepted = 0;
  for (let k = 0; k < 2000; k++) {
    const url = randomTarget(next, PROPERTY_ALPHABET, 24);
    let r: ParsedTarget | PathErrorCode;
    try {
      r = parseTarget(url);
    } catch (err) {
      assert.fail(`parseTarget(${JSON.stringify(url)}) threw ${String(err)} (seed ${seed}, case ${k})`);
    }
    if (typeof r === 'string') {
      assert.ok(r === 'GH_BAD_PATH' || r === 'GH_BAD_PATH_ENCODING' || r === 'GH_ABSOLUTE_FORM');
      continue;
    }
    accepted++;
    const where = `${JSON.stringify(url)} -> ${JSON.stringify(r.path)} (seed ${seed}, case ${k})`;
    assert.ok(r.path.startsWith('/'), where);
    assert.ok(!r.path.includes('//'), where);
    assert.ok(!r.path.includes('/./'), where);
    assert.ok(!r.path.includes('/../'), where);
    assert.ok(!r.path.endsWith('/.') && !r.path.endsWith('/..'), where);
    assert.deepEqual(parseTarget(r.path), { path: r.path, query: '' }, `fixed point: ${where}`);
    const q = url.indexOf('?');
    assert.equal(r.query, q < 0 ? '' : url.slice(q + 1), `query byte-for-byte: ${where}`);
  }
  // Guard against a generator that only ever produces refusals.
  assert.ok(accepted > 300, `only ${accepted} of 2000 random targets were accepted`);
});

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * referenceParse is the slow, obvious reading of the rules: regexes for the raw checks, whole runs of escapes
 * decoded with a fatal TextDecoder (WHATWG: no overlongs, no surrogates), re-encoded byte by byte, then
 * split and resolved with an array. It shares no code with path.ts.
 */
function referenceParse(url: string): ParsedTarget | PathErrorCode {
  if (!url.startsWith('/')) return 'GH_ABSOLUTE_FORM';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (/[^\x21-\x7e]|[\\#]/.test(rawPath)) return 'GH_BAD_PATH';
  if (/[\x00-\x20\x7f#]|[^\x00-\xff]/.test(query)) return 'GH_BAD_PATH';
  if (/%(?![0-9A-Fa-f]{2})/.test(rawPath)) return 'GH_BAD_PATH_ENCODING';
  let bad = false;
  const decoded = rawPath.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(3 * i + 1, 3 * i + 3), 16);
    let text: string;
    try {
      text = STRICT_UTF8.decode(bytes);
    } catch {
      bad = true;
      return '';
    }
    let out = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || ch === '/' || ch === '\\') bad = true;
      if (UNRESERVED.test(ch)) out += ch;
      else for (const b of new TextEncoder().encode(ch)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
    return out;
  });
  if (bad) return 'GH_BAD_PATH_ENCODING';
  const parts = decoded.split('/').slice(1);
  const stack: string[] = [];
  for (const p of parts) {
    if (p === '..') stack.pop();
    else if (p !== '.' && p !== '') stack.push(p);
  }
  const last = parts[parts.length - 1];
  const trailing = last === '' || last === '.' || last === '..';
  return { path: stack.length === 0 ? '/' : '/' + stack.join('/') + (trailing ? '/' : ''), query };
}

// Escapes picked to hit every UTF-8 branch: leads of each length, their edge continuations, and ASCII.
const DIFFERENTIAL_ALPHABET = [
  '/', '/', '/', '.', '.', 'a', 'Z', '~', '-', '?', '#', '\\', ' ', '%', '%4', '%zz',
  '%2e', '%2E', '%2f', '%5C', '%00', '%1f', '%7F', '%7e', '%41', '%61', '%20', '%25', '%3F', '%3b',
  '%C2', '%c3', '%DF', '%E0', '%e2', '%ED', '%EF', '%F0', '%F4', '%F5', '%C0', '%c1', '%FF',
  '%80', '%8F', '%90', '%9F', '%A0', '%a9', '%BF', '%82', '%AC', '%98',
  '\u00e9', '\u0000', '\r',
];

test('parseTarget: agrees with a reference implementation on 20,000 random targets', () => {
  const seed = 0x5eed;
  const next = rng(seed);
  let accepted = 0;
  for (let k = 0; k < 20_000; k++) {
    const url = randomTarget(next, DIFFERENTIAL_ALPHABET, 12);
    const got = parseTarget(url);
    if (typeof got !== 'string') accepted++;
    assert.deepEqual(got, referenceParse(url), `parseTarget(${JSON.stringify(url)}) (seed ${seed}, case ${k})`);
  }
  assert.ok(accepted > 1000, `only ${accepted} of 20000 random targets were accepted`);
});
