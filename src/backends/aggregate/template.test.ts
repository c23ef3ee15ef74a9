/**
 * Path templates: the forms a placeholder takes, what literal text is refused and why, and the encoding of
 * values, hostile ones above all (SECURITY.md, SSRF: one segment per value, never `..`, `/`, `@`, `//`).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SourceKind, decodeParam, encodeValue, parseTemplate, render, type ParsedTemplate } from './template.js';

const PARAMS = new Set(['id', 'user-id', '*']);

function parsed(text: string): ParsedTemplate {
  const t = parseTemplate(text, PARAMS);
  assert.ok(typeof t !== 'string', `${text}: ${String(t)}`);
  return t;
}

describe('parsing', () => {
  test('placeholders of every source, between literals', () => {
    const t = parsed('/u/{id}/x-{user-id}.json?q={query.page.size}&h={header.X-Tenant}&c={consumer.id}&m={consumer.metadata.tier}&k={claims.org.id}&s={profile.orders.0.id}');
    assert.deepEqual(t.literals, ['/u/', '/x-', '.json?q=', '&h=', '&c=', '&m=', '&k=', '&s=', '']);
    assert.deepEqual(t.placeholders.map((p) => [p.kind, p.name, p.path]), [
      [SourceKind.Param, 'id', []],
      [SourceKind.Param, 'user-id', []],
      [SourceKind.Query, 'page.size', []],
      [SourceKind.Header, 'x-tenant', []],
      [SourceKind.ConsumerId, '', []],
      [SourceKind.ConsumerMeta, 'tier', []],
      [SourceKind.Claim, '', ['org', 'id']],
      [SourceKind.Step, 'profile', ['orders', '0', 'id']],
    ]);
    assert.equal(t.placeholders[2]!.text, '{query.page.size}');
  });

  test('a template without placeholders', () => {
    assert.deepEqual(parsed('/health?full=1'), { literals: ['/health?full=1'], placeholders: [] });
  });

  test('what is refused, with the reason', () => {
    const cases: [string, string][] = [
      ['users/{id}', 'must start with /'],
      ['{id}', 'must start with /'],
      ['//evil.example/{id}', 'has "//" (an empty segment, or a host where a path should be)'],
      ['/a//{id}', 'has "//" (an empty segment, or a host where a path should be)'],
      ['/a/../{id}', 'has a ".." segment'],
      ['/a/./b', 'has a "." segment'],
      ['/a/..', 'has a ".." segment'],
      ['/a/%2e%2e/b', 'has an encoded "/", "\\", "." or control character; write paths plainly'],
      ['/a%2Fb', 'has an encoded "/", "\\", "." or control character; write paths plainly'],
      ['/a%5cb', 'has an encoded "/", "\\", "." or control character; write paths plainly'],
      ['/a%00', 'has an encoded "/", "\\", "." or control character; write paths plainly'],
      ['/a%zz', 'has a "%" that starts no escape (%XX)'],
      ['/a b', 'has a character that must be percent-encoded: " "'],
      ['/a\\b', 'has a character that must be percent-encoded: "\\\\"'],
      ['/a#frag', 'has a character that must be percent-encoded: "#"'],
      ['/a/{id', 'has a "{" without its "}" at character 4'],
      ['/a/id}', 'has a "}" without its "{" at character 6'],
      ['/a/{x{id}}', 'has a "{" inside a placeholder at character 4'],
      ['/a/{}', 'has an empty placeholder {}'],
      ['/a/{*}', 'uses {*}, which is not supported: the rest of a path may hold `/`; capture single segments with parameters (`:id`)'],
      ['/a/{nope}', 'has a placeholder {nope}, but the route\'s path has no parameter :nope'],
      ['/a/{query}', 'has a placeholder {query} that needs a name: {query.name}'],
      ['/a/{consumer}', 'has a placeholder {consumer} that needs a name: {consumer.id}'],
      ['/a/{consumer.name}', 'has a placeholder {consumer.name}; a consumer gives {consumer.id} and {consumer.metadata.<key>}'],
      ['/a/{header.authorization}', 'has a placeholder {header.authorization}: a credential never goes into a path'],
      ['/a/{header.Cookie}', 'has a placeholder {header.Cookie}: a credential never goes into a path'],
      ['/a/{header.a(b)}', 'has a placeholder {header.a(b)} that is not a header name'],
      ['/a/{profile..id}', 'has a placeholder {profile..id} with an empty name between dots'],
      ['/a/{profile.__proto__}', 'has a placeholder {profile.__proto__} that names __proto__, which is never read'],
      ['/a/{claims.constructor}', 'has a placeholder {claims.constructor} that names constructor, which is never read'],
      ['/a/{id/x}', 'has a placeholder {id/x} with a character that no name may hold'],
      ['/a/{query.a b}', 'has a placeholder {query.a b} with a character that no name may hold'],
    ];
    for (const [text, message] of cases) assert.equal(parseTemplate(text, PARAMS), message, text);
  });

  test('what stays allowed: the query part may hold //, and literals may use sub-delimiters', () => {
    parsed('/a/{id}?next=http://x/y');
    parsed("/a/b;v=1/c:d/@me/(x)!*'+,$&=~_-.");
    parsed('/a/%C3%A9/{id}');
  });
});

describe('encoding values', () => {
  test('accepted values become one encoded segment', () => {
    const cases: [unknown, string][] = [
      ['42', '42'], [42, '42'], [-1.5, '-1.5'], [true, 'true'], [false, 'false'],
      ['a b', 'a%20b'], ['a?b#c&d=e', 'a%3Fb%23c%26d%3De'], ['100%', '100%25'], ['é', '%C3%A9'],
      ['...', '...'], ['.a', '.a'], ['%2e%2e', '%252e%252e'], ['%2F', '%252F'], ['a:b', 'a%3Ab'], ['日本', '%E6%97%A5%E6%9C%AC'],
    ];
    for (const [value, out] of cases) assert.equal(encodeValue(value), out, String(value));
  });

  test('missing and hostile values are refused, never encoded', () => {
    const refused: unknown[] = [
      undefined, null, {}, [], ['a'], { toString: () => 'x' }, NaN, Infinity,
      '', '.', '..', '/', 'a/b', '//evil.example', '../admin', '\\', 'a\\b', '@', '@evil.example', 'user@host',
      'a\nb', 'a\rb', '\u0000', 'a\u007fb', '\ud800',
    ];
    for (const v of refused) assert.equal(encodeValue(v), null, JSON.stringify(v) ?? String(v));
  });

  test('path parameters are judged decoded', () => {
    assert.equal(decodeParam('plain'), 'plain');
    assert.equal(decodeParam('%40evil.example'), '@evil.example');
    assert.equal(encodeValue(decodeParam('%40evil.example')), null);
    assert.equal(decodeParam('%E0%A4%A'), null);
    assert.equal(decodeParam('a%20b'), 'a b');
  });

  test('render puts values between literals', () => {
    const t = parsed('/u/{id}/o/{profile.x}?q={query.q}');
    assert.equal(render(t.literals, ['x', 'y', '42', 'o%2F1', 'a%20b'], 2), '/u/42/o/o%2F1?q=a%20b');
    assert.equal(render(['/health'], [], 0), '/health');
  });
});
