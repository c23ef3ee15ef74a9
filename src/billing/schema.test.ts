/**
 * Tests for the `pricing:` schema: defaults, what the schema refuses, the exact messages of checkPricing for
 * what it cannot express, and the compiled form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { PricingSchema, checkPricing, compilePricing, type PricingConfig } from './schema.js';

/** A pricing block from YAML with its defaults, as the config loader gives it. */
function pricing(yaml: string): PricingConfig {
  return Value.Default(PricingSchema, parse(yaml)) as PricingConfig;
}

/** The JSON pointers of the schema's errors for a block. */
function schemaErrors(yaml: string): string[] {
  return [...new Set([...Value.Errors(PricingSchema, pricing(yaml))].map((e) => e.path))];
}

test('a minimal block gets its defaults and validates', () => {
  const c = pricing('{ currency: USD, perCall: 0.0002 }');
  assert.deepEqual(c, { currency: 'USD', perCall: 0.0002, included: 0, fee: 0, billable: ['2xx', '3xx'] });
  assert.equal(Value.Check(PricingSchema, c), true);
  assert.deepEqual(checkPricing(c), []);
  const tiered = pricing('{ currency: EUR, included: 1000, tiers: [ { upTo: 10000, perCall: "0.002" }, { perCall: 1e-3 } ], fee: "12.50", billable: [2xx] }');
  assert.equal(Value.Check(PricingSchema, tiered), true);
  assert.deepEqual(checkPricing(tiered), []);
});

test('the schema refuses wrong shapes', () => {
  assert.deepEqual(schemaErrors('{ perCall: 1 }'), ['/currency']);
  assert.ok(schemaErrors('{ currency: usd, perCall: 1 }').includes('/currency'));
  assert.ok(schemaErrors('{ currency: USD, perCall: "abc" }').includes('/perCall'));
  assert.ok(schemaErrors('{ currency: USD, perCall: -1 }').includes('/perCall'));
  assert.ok(schemaErrors('{ currency: USD, perCall: "-1" }').includes('/perCall'));
  assert.ok(schemaErrors('{ currency: USD, perCall: 1, included: 1.5 }').includes('/included'));
  assert.ok(schemaErrors('{ currency: USD, perCall: 1, included: -1 }').includes('/included'));
  assert.ok(schemaErrors('{ currency: USD, perCall: 1, billable: [6xx] }').includes('/billable/0'));
  assert.ok(schemaErrors('{ currency: USD, tiers: [] }').includes('/tiers'));
  assert.ok(schemaErrors('{ currency: USD, tiers: [ { upTo: 0, perCall: 1 }, { perCall: 1 } ] }').includes('/tiers/0/upTo'));
  assert.ok(schemaErrors('{ currency: USD, tiers: [ { upto: 5, perCall: 1 }, { perCall: 1 } ] }').includes('/tiers/0/upto'));
  assert.ok(schemaErrors('{ currency: USD, perCall: 1, monthly: 5 }').includes('/monthly'));
  // Every field is documented, with its default where it has one.
  for (const [key, schema] of Object.entries(PricingSchema.properties)) {
    assert.ok(typeof schema.description === 'string' && schema.description.length > 20, key);
    if ('default' in schema) assert.match(schema.description!, /Default/, key);
  }
});

test('checkPricing reports what the schema cannot express, with relative key paths', () => {
  const cases: [string, [string, string][]][] = [
    ['{ currency: XYZ, perCall: 1 }', [['.currency', 'unknown currency "XYZ" (an ISO 4217 code such as USD, EUR or JPY)']]],
    ['{ currency: USD }', [['.perCall', 'is required unless tiers is set (set perCall for one price per call, or tiers for graduated prices)']]],
    ['{ currency: USD, perCall: 1, tiers: [ { perCall: 1 } ] }', [['.tiers', 'set either perCall (one price per call) or tiers (graduated prices), not both']]],
    ['{ currency: USD, tiers: [ { upTo: 100, perCall: 1 }, { upTo: 100, perCall: 1 }, { perCall: 1 } ] }',
      [['.tiers[1].upTo', 'must be greater than the previous tier\'s upTo (100): tiers are listed by ascending upTo']]],
    ['{ currency: USD, tiers: [ { upTo: 100, perCall: 1 }, { upTo: 50, perCall: 1 }, { perCall: 1 } ] }',
      [['.tiers[1].upTo', 'must be greater than the previous tier\'s upTo (100): tiers are listed by ascending upTo']]],
    ['{ currency: USD, tiers: [ { perCall: 1 }, { upTo: 50, perCall: 1 } ] }', [
      ['.tiers[0]', 'only the last tier may omit upTo (it is the open-ended tier)'],
      ['.tiers[1].upTo', 'the last tier must be open-ended: remove upTo, or calls beyond 50 would have no price'],
    ]],
    ['{ currency: USD, tiers: [ { upTo: 10, perCall: 1 } ] }', [['.tiers[0].upTo', 'the last tier must be open-ended: remove upTo, or calls beyond 10 would have no price']]],
    ['{ currency: USD, perCall: 0.0000000000001 }', [['.perCall', 'has more than 12 decimals']]],
    ['{ currency: USD, perCall: "0.0000000000001", fee: "1.0000000000001" }', [['.perCall', 'has more than 12 decimals'], ['.fee', 'has more than 12 decimals']]],
    ['{ currency: USD, tiers: [ { upTo: 10, perCall: 1 }, { perCall: "0.0000000000005" } ] }', [['.tiers[1].perCall', 'has more than 12 decimals']]],
    ['{ currency: USD, perCall: 12345678.123456789 }', [['.perCall', 'has more significant digits than a YAML number holds exactly (it reads as 12345678.12345679): write it as a string in quotes']]],
    ['{ currency: USD, perCall: 1, billable: [2xx, 5xx, 2xx] }', [['.billable[2]', '2xx is listed twice']]],
  ];
  for (const [yaml, expected] of cases) assert.deepEqual(checkPricing(pricing(yaml)), expected, yaml);
});

test('compilePricing parses every price once and refuses a block with problems', () => {
  const flat = compilePricing(pricing('{ currency: USD, included: 100000, perCall: 0.0002 }'));
  assert.deepEqual({ ...flat, billable: [...flat.billable] }, {
    currency: 'USD', minorDigits: 2, included: 100_000, tiers: [{ upTo: null, perCall: 200_000_000n }], graduated: false, fee: 0n, billable: [2, 3],
  });
  const tiered = compilePricing(pricing('{ currency: JPY, tiers: [ { upTo: 10, perCall: 2 }, { perCall: "0.5" } ], fee: 300, billable: [2xx, 4xx] }'));
  assert.deepEqual({ ...tiered, billable: [...tiered.billable] }, {
    currency: 'JPY', minorDigits: 0, included: 0, graduated: true, fee: 300_000_000_000_000n, billable: [2, 4],
    tiers: [{ upTo: 10, perCall: 2_000_000_000_000n }, { upTo: null, perCall: 500_000_000_000n }],
  });
  // A block built by hand without the loader's defaults still compiles with them.
  const bare = compilePricing({ currency: 'BHD', perCall: '0.001' } as PricingConfig);
  assert.deepEqual([bare.minorDigits, bare.included, bare.fee, [...bare.billable]], [3, 0, 0n, [2, 3]]);
  assert.throws(() => compilePricing(pricing('{ currency: USD }')), { name: 'RangeError', message: /^pricing\.perCall: is required unless tiers is set/ });
  assert.throws(() => compilePricing(pricing('{ currency: XYZ, perCall: 1 }')), { name: 'RangeError', message: 'pricing.currency: unknown currency "XYZ" (an ISO 4217 code such as USD, EUR or JPY)' });
});
