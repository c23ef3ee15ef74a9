/**
 * `redact` on plain objects: the JSONPath subset (parsing and its error messages), removal and masks on
 * nested objects and arrays, recursive descent without recursion limits, paths that do not match, and
 * prototype safety. The proxy side (buffering, non-JSON, the size bound) is in test/redact.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import { RedactFeature } from './feature.js';
import { mask, parseJsonPath, SegmentKind } from './path.js';
import type { RedactConfig } from './schema.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function redact(config: RedactConfig, body: unknown): unknown {
  return new RedactFeature(config).redact(body);
}

function problems(redactYaml: string): string[] {
  const yaml = `services:\n  s: { targets: [http://127.0.0.1:9] }\nroutes:\n  - name: r\n    match: { path: /r }\n    service: s\n    redact: ${redactYaml}\n`;
  try {
    runtimes.push(compile(loadConfigText(yaml, 'gatehouse.yaml', {}), silentLogger()));
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('JSON path parsing', () => {
  test('the supported forms', () => {
    assert.deepEqual(parseJsonPath('$.a.b'), [{ kind: SegmentKind.Key, key: 'a', index: -1 }, { kind: SegmentKind.Key, key: 'b', index: -1 }]);
    assert.deepEqual(parseJsonPath("$['odd key'][\"x.y\"]"), [{ kind: SegmentKind.Key, key: 'odd key', index: -1 }, { kind: SegmentKind.Key, key: 'x.y', index: -1 }]);
    assert.deepEqual(parseJsonPath('$.items[2]'), [{ kind: SegmentKind.Key, key: 'items', index: -1 }, { kind: SegmentKind.Index, key: '', index: 2 }]);
    assert.deepEqual(parseJsonPath('$.a[*].*'), [{ kind: SegmentKind.Key, key: 'a', index: -1 }, { kind: SegmentKind.All, key: '', index: -1 }, { kind: SegmentKind.All, key: '', index: -1 }]);
    assert.deepEqual(parseJsonPath("$..password..['x-y']"), [{ kind: SegmentKind.Deep, key: 'password', index: -1 }, { kind: SegmentKind.Deep, key: 'x-y', index: -1 }]);
    assert.deepEqual(parseJsonPath('$.$ref.a_b-c'), [{ kind: SegmentKind.Key, key: '$ref', index: -1 }, { kind: SegmentKind.Key, key: 'a_b-c', index: -1 }]);
  });

  test('what is refused, with the reason', () => {
    assert.equal(parseJsonPath('ssn'), 'must start with $');
    assert.equal(parseJsonPath('$'), 'must name something inside the body (`$` alone is the whole body)');
    assert.equal(parseJsonPath('$.'), 'expected a name after "." at character 3');
    assert.equal(parseJsonPath('$.1a'), 'expected a name after "." at character 3');
    assert.equal(parseJsonPath('$.a['), 'expected an index, * or a quoted name inside [] at character 4');
    assert.equal(parseJsonPath('$.a[-1]'), 'expected an index, * or a quoted name inside [] at character 4');
    assert.equal(parseJsonPath("$['a"), "unterminated name at character 2: write ['name']");
    assert.equal(parseJsonPath('$..*'), '`..*` is not supported (at character 4); name the key: `..name`');
    assert.equal(parseJsonPath('$.a b'), 'unexpected " " at character 4');
    assert.equal(parseJsonPath('$.a[?(@.x)]'), 'expected an index, * or a quoted name inside [] at character 4');
  });

  test('bad paths are config errors naming the entry', () => {
    assert.deepEqual(problems('[ $.ok, "$.a[", { path: "$", keep: 4 } ]'), [
      'routes[0].redact[1]: not a valid JSON path: expected an index, * or a quoted name inside [] at character 4',
      'routes[0].redact[2].path: not a valid JSON path: must name something inside the body (`$` alone is the whole body)',
    ]);
    assert.deepEqual(problems('[ ssn ]'), ['routes[0].redact[0]: must be a JSON path starting with $ (e.g. $.card.number)']);
    assert.deepEqual(problems('[ { path: $.a, keep: -1 } ]'), ['routes[0].redact[0].keep: must be >= 0']);
    assert.deepEqual(problems('[ { path: $.a } ]'), ['routes[0].redact[0].keep: is required']);
    assert.deepEqual(problems('[ $.ssn, { path: "$.card.number", keep: 4 } ]'), []);
  });
});

describe('redaction', () => {
  test('removes top-level and nested fields', () => {
    const body = { name: 'Ann', ssn: '123-45-6789', card: { number: '4111111111111234', brand: 'visa' } };
    assert.deepEqual(redact(['$.ssn', '$.card.number'], body), { name: 'Ann', card: { brand: 'visa' } });
  });

  test('masks keep the last N characters', () => {
    const body = { card: { number: '4111111111111234' }, pin: 1234, short: 'ab', none: null };
    const out = redact([{ path: '$.card.number', keep: 4 }, { path: '$.pin', keep: 2 }, { path: '$.short', keep: 4 }, { path: '$.none', keep: 4 }], body);
    assert.deepEqual(out, { card: { number: '************1234' }, pin: '**34', short: '**', none: null });
    assert.deepEqual(redact([{ path: '$.a', keep: 0 }], { a: 'secret' }), { a: '******' });
  });

  test('values that cannot be masked (objects, lists, booleans) are removed', () => {
    assert.deepEqual(redact([{ path: '$.a', keep: 4 }, { path: '$.b', keep: 4 }, { path: '$.c', keep: 4 }], { a: { x: 1 }, b: [1], c: true, d: 1 }), { d: 1 });
  });

  test('array wildcards and indexes', () => {
    const body = {
      users: [{ id: 1, ssn: '111-11-1111' }, { id: 2, ssn: '222-22-2222' }, { id: 3 }, 'not an object'],
      items: [{ card: { number: '4000000000000001' } }, { card: null }, { card: { number: 42 } }],
      tokens: ['a', 'b', 'c'],
    };
    const out = redact(['$.users[*].ssn', { path: '$.items[*].card.number', keep: 4 }, '$.tokens[1]'], body);
    assert.deepEqual(out, {
      users: [{ id: 1 }, { id: 2 }, { id: 3 }, 'not an object'],
      items: [{ card: { number: '************0001' } }, { card: null }, { card: { number: '**' } }],
      tokens: ['a', 'c'],
    });
    assert.deepEqual(redact([{ path: '$.t[*]', keep: 1 }], { t: ['abc', 'de'] }), { t: ['**c', '*e'] });
    assert.deepEqual(redact(['$.t[*]'], { t: ['abc', 'de'] }), { t: [] });
    assert.deepEqual(redact(['$.secrets.*'], { secrets: { a: 1, b: 2 }, keep: 1 }), { secrets: {}, keep: 1 });
  });

  test('a body that is an array at the top level', () => {
    assert.deepEqual(redact(['$[*].ssn'], [{ ssn: 'x', n: 1 }, { n: 2 }]), [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(redact(['$[0]'], [1, 2]), [2]);
  });

  test('recursive descent finds the key at any depth, in objects and arrays', () => {
    const body = { password: 'p0', user: { password: 'p1', friends: [{ password: 'p2', x: { password: 'p3' } }] }, list: [[{ password: 'p4' }]] };
    assert.deepEqual(redact(['$..password'], body), { user: { friends: [{ x: {} }] }, list: [[{}]] });
    const cards = { a: { card: { number: '1234567890' } }, b: [{ card: { number: '0987654321', exp: '12/30' } }] };
    assert.deepEqual(redact([{ path: '$..card.number', keep: 4 }], cards), { a: { card: { number: '******7890' } }, b: [{ card: { number: '******4321', exp: '12/30' } }] });
  });

  test('recursive descent on a very deep body does not exhaust the stack', () => {
    let deepBody: Record<string, unknown> = { secret: 'bottom' };
    for (let i = 0; i < 100_000; i++) deepBody = { next: deepBody };
    redact(['$..secret'], deepBody);
    let node = deepBody;
    while (node.next !== undefined) node = node.next as Record<string, unknown>;
    assert.deepEqual(node, {});
  });

  test('paths that do not match change nothing', () => {
    const body = { a: { b: 1 }, list: [1, 2], s: 'text' };
    const copy = structuredClone(body);
    assert.deepEqual(redact(['$.missing', '$.a.b.c', '$.s.length', '$.list.x', '$.a[0]', '$.list[5]', '$.a[*].b', '$..nothing'], body), copy);
    assert.equal(redact(['$.a'], 'just a string'), 'just a string');
    assert.equal(redact(['$.a'], null), null);
    assert.equal(redact(['$.a'], 42), 42);
  });

  test('paths never reach prototypes; own __proto__ keys from JSON are ordinary members', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).length;
    redact(['$.__proto__.hasOwnProperty', '$.constructor.prototype.toString', '$.a.__proto__'], { a: {} });
    assert.equal(Object.getOwnPropertyNames(Object.prototype).length, before);
    assert.equal(typeof Object.prototype.hasOwnProperty, 'function');
    const parsed = JSON.parse('{"__proto__": {"secret": "x", "ok": 1}}') as Record<string, unknown>;
    redact(["$['__proto__'].secret"], parsed);
    assert.equal(JSON.stringify(parsed), '{"__proto__":{"ok":1}}');
  });

  test('entries apply in order', () => {
    assert.deepEqual(redact([{ path: '$.card.number', keep: 4 }, '$.card'], { card: { number: '12345678' } }), {});
  });

  test('mask never splits a surrogate pair', () => {
    // keep counts UTF-16 units; half of a pair is never shown: the cut moves right, hiding more.
    assert.equal(mask('ab😀', 1), '****');
    assert.equal(mask('ab😀', 2), '**😀');
    assert.equal(mask('abc😀', 2), '***😀');
  });
});
