/**
 * Field operations on plain parsed JSON: each operation, their documented order, nested arrays entered
 * transparently, renames that swap, configuration problems with their messages, prototype safety and the
 * depth bound.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Shaper, flattenPath, getPath, withinDepth, type ShapeOptions } from './shape.js';

function shape(o: ShapeOptions, value: unknown): unknown {
  assert.deepEqual(Shaper.problems(o), []);
  const s = Shaper.build(o);
  return s === null ? value : s.apply(structuredClone(value));
}

const ORDER = {
  id: 'o-1',
  customer: { name: 'Ann', email: 'ann@example.com', address: { city: 'Oslo', zip: '0150' } },
  lines: [
    { sku: 'a', qty: 1, internal: { cost: 0.2 }, tags: [{ k: 'x', secret: 1 }, { k: 'y', secret: 2 }] },
    { sku: 'b', qty: 2, internal: { cost: 0.9 }, tags: [] },
    'odd',
    [{ sku: 'c', qty: 3 }],
  ],
};

describe('field operations', () => {
  test('nothing configured: no shaper at all', () => {
    assert.equal(Shaper.build({}), null);
    assert.equal(Shaper.build({ rename: {} }), null);
  });

  test('extract keeps a sub-value; a missing one is null', () => {
    assert.deepEqual(shape({ extract: 'customer.address' }, ORDER), { city: 'Oslo', zip: '0150' });
    assert.equal(shape({ extract: 'lines.0.sku' }, ORDER), 'a');
    assert.equal(shape({ extract: 'customer.phone' }, ORDER), null);
    assert.equal(shape({ extract: 'id.length' }, ORDER), null, 'no member of a string');
    assert.equal(shape({ extract: 'customer.hasOwnProperty' }, ORDER), null, 'only own members');
  });

  test('flatten collects across nested arrays into one flat array', () => {
    assert.deepEqual(shape({ flatten: 'orders.items' }, { orders: [{ items: [1, 2] }, { items: [3] }] }), [1, 2, 3]);
    assert.deepEqual(shape({ flatten: 'lines.tags.k' }, ORDER), ['x', 'y']);
    assert.deepEqual(shape({ flatten: 'lines.sku' }, ORDER), ['a', 'b', 'c']);
    assert.deepEqual(shape({ flatten: 'a.b' }, { a: [{ b: [[1], [2, [3]]] }, { c: 1 }, null, { b: null }] }), [1, 2, 3, null]);
    assert.deepEqual(shape({ flatten: 'nothing' }, ORDER), []);
  });

  test('allow keeps only the listed paths, in every element of arrays on the way', () => {
    assert.deepEqual(shape({ allow: ['id', 'customer.address.city', 'lines.sku', 'lines.tags.k'] }, ORDER), {
      id: 'o-1',
      customer: { address: { city: 'Oslo' } },
      lines: [{ sku: 'a', tags: [{ k: 'x' }, { k: 'y' }] }, { sku: 'b', tags: [] }, [{ sku: 'c' }]],
    });
    // A shorter path takes the whole member whatever the order the paths come in.
    assert.deepEqual(shape({ allow: ['customer.name', 'customer'] }, ORDER), { customer: ORDER.customer });
    assert.deepEqual(shape({ allow: ['customer', 'customer.name'] }, ORDER), { customer: ORDER.customer });
    // A scalar where members are asked for has none of them.
    assert.deepEqual(shape({ allow: ['id.x'] }, ORDER), {});
    assert.equal(shape({ allow: ['a'] }, 'text'), null);
  });

  test('deny removes the listed paths, in every element of arrays on the way', () => {
    assert.deepEqual(shape({ deny: ['customer.email', 'lines.internal', 'lines.tags.secret', 'absent.x'] }, ORDER), {
      id: 'o-1',
      customer: { name: 'Ann', address: { city: 'Oslo', zip: '0150' } },
      lines: [
        { sku: 'a', qty: 1, tags: [{ k: 'x' }, { k: 'y' }] },
        { sku: 'b', qty: 2, tags: [] },
        'odd',
        [{ sku: 'c', qty: 3 }],
      ],
    });
  });

  test('rename: top level, the last segment of a dot path, swaps, and a rename wins over an existing member', () => {
    assert.deepEqual(shape({ rename: { id: 'orderId', 'customer.address.zip': 'postcode', 'lines.sku': 'article' }, allow: ['id', 'customer.address', 'lines.sku'] }, ORDER), {
      orderId: 'o-1',
      customer: { address: { city: 'Oslo', postcode: '0150' } },
      lines: [{ article: 'a' }, { article: 'b' }, [{ article: 'c' }]],
    });
    assert.deepEqual(shape({ rename: { a: 'b', b: 'a' } }, { a: 1, b: 2, c: 3 }), { a: 2, b: 1, c: 3 });
    assert.deepEqual(shape({ rename: { a: 'c' } }, { a: 1, c: 3 }), { c: 1 });
    assert.deepEqual(shape({ rename: { missing: 'x' } }, { a: 1 }), { a: 1 });
  });

  test('the order is extract → flatten → allow/deny → rename', () => {
    const body = { data: { groups: [{ users: [{ id: 1, pw: 'a' }] }, { users: [{ id: 2, pw: 'b' }] }] }, meta: 1 };
    assert.deepEqual(shape({ extract: 'data', flatten: 'groups.users', deny: ['pw'], rename: { id: 'userId' } }, body), [{ userId: 1 }, { userId: 2 }]);
    assert.deepEqual(shape({ extract: 'data', flatten: 'groups.users', allow: ['pw'], rename: { pw: 'secret' } }, body), [{ secret: 'a' }, { secret: 'b' }]);
  });

  test('configuration problems', () => {
    assert.deepEqual(Shaper.problems({ allow: ['a'], deny: ['b'] }), [['', 'gives both allow and deny; give one']]);
    assert.deepEqual(Shaper.problems({ extract: 'a..b', flatten: '.a', allow: ['ok', 'x.'], deny: undefined }), [
      ['extract', '"a..b" has an empty name between dots'],
      ['flatten', '".a" has an empty name between dots'],
      ['allow[1]', '"x." has an empty name between dots'],
    ]);
    assert.deepEqual(Shaper.problems({ deny: ['a.__proto__'], rename: { constructor: 'x', a: 'prototype', b: 'c', 'd.e': 'f' } }), [
      ['deny[0]', '"a.__proto__" names __proto__, which is never read or written'],
      ['rename.constructor', '"constructor" names constructor, which is never read or written'],
      ['rename.a', 'cannot rename to prototype'],
    ]);
    assert.deepEqual(Shaper.problems({ rename: { a: 'x', b: 'x', 'n.a': 'x' } }), [['rename.b', 'renames to "x" like "a" does']]);
  });
});

describe('prototype safety and bounds', () => {
  test('members named __proto__ from JSON are data, never a prototype', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}, "a": {"__proto__": {"polluted": true}, "b": 1}}') as unknown;
    const allowed = Shaper.build({ allow: ['a.b'] })!.apply(body) as Record<string, unknown>;
    assert.deepEqual(allowed, { a: { b: 1 } });
    const denied = Shaper.build({ deny: ['a.b'], rename: { a: 'z' } })!.apply(body) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(denied), Object.prototype);
    assert.equal(Object.getPrototypeOf(denied.z), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(getPath(body, ['constructor']), undefined);
    assert.equal(getPath({}, ['toString']), undefined);
  });

  test('depth: at most 64 levels; short texts skip the walk', () => {
    const nest = (n: number): unknown => { let v: unknown = 1; for (let i = 0; i < n; i++) v = i % 2 === 0 ? [v] : { k: v }; return v; };
    assert.equal(withinDepth(nest(64), 10_000), true);
    assert.equal(withinDepth(nest(65), 10_000), false);
    assert.equal(withinDepth(nest(65), 129), true, 'a text under 130 bytes cannot nest 65 levels');
    assert.equal(withinDepth(JSON.parse('['.repeat(65) + ']'.repeat(65)), 130), false);
    assert.equal(withinDepth({ a: [1, { b: 2 }], c: 'x' }, 10_000), true);
  });

  test('flattenPath and getPath read arrays by index and own members only', () => {
    assert.deepEqual(flattenPath([[{ a: 1 }], { a: [2, 3] }], ['a']), [1, 2, 3]);
    assert.equal(getPath({ a: [{ b: 'x' }] }, ['a', '0', 'b']), 'x');
    assert.equal(getPath({ a: [7] }, ['a', 'length']), 1, 'an array\'s length is its own member');
    assert.equal(getPath({ a: 'text' }, ['a', 'length']), undefined, 'a string has no members');
  });
});
