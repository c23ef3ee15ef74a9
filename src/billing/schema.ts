/**
 * The schema of a plan's `pricing:` block, the checks the schema cannot express, and its compiled form
 * (prices parsed once into exact scaled amounts). Descriptions here are the user documentation
 * (docs/config-reference.md is generated from them; docs/billing.md explains statements).
 */
import { Type, type Static } from '@sinclair/typebox';
import { isCurrency, minorDigits, parsePrice, priceProblem } from './money.js';

const PRICE_MESSAGE = 'must be a price: a number or a decimal string such as 0.0002 or "12.50"';

function Price(description: string, defaultValue?: number) {
  return Type.Union([
    Type.Number({ minimum: 0 }),
    Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?$', errorMessage: PRICE_MESSAGE }),
  ], {
    description,
    errorMessage: PRICE_MESSAGE,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}

/** StatusClassSchema is a status class as written in `billable`: '1xx' to '5xx'. */
export const StatusClassSchema = Type.Union([Type.Literal('1xx'), Type.Literal('2xx'), Type.Literal('3xx'), Type.Literal('4xx'), Type.Literal('5xx')], {
  errorMessage: 'must be one of 1xx, 2xx, 3xx, 4xx, 5xx',
});

/** PriceTierSchema is one graduated tier of `pricing.tiers`. */
export const PriceTierSchema = Type.Object({
  upTo: Type.Optional(Type.Integer({
    minimum: 1,
    description: 'Last call of the tier (inclusive), numbered within the period from the first call, the included ones counted: `upTo: 10000` prices calls 1 to 10,000 (those beyond `included`). Omitted on the last tier only, which is open-ended.',
  })),
  perCall: Price('Price of each call in the tier, in `currency` (major units: 0.002 USD is a fifth of a cent). Up to 12 decimals; quote prices of more than 15 significant digits.'),
}, { additionalProperties: false });

/** PricingSchema is the `pricing:` block of a plan. */
export const PricingSchema = Type.Object({
  currency: Type.String({
    pattern: '^[A-Z]{3}$',
    description: 'ISO 4217 currency code of every price and of the statements (`USD`, `EUR`, `JPY`). Totals are rounded to its minor unit (cents for USD, whole yen for JPY).',
    errorMessage: 'must be an ISO 4217 currency code in capitals (USD, EUR, JPY)',
  }),
  included: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'Calls per period at no charge: the first `included` billable calls of each period are free. Default 0.',
  }),
  perCall: Type.Optional(Price('Price of each billable call beyond `included`, in `currency` (major units: 0.0002 USD per call is 20 cents per 1,000 calls). A number or a decimal string, up to 12 decimals. Set either `perCall` or `tiers`.')),
  tiers: Type.Optional(Type.Array(PriceTierSchema, {
    minItems: 1,
    description: 'Graduated prices: each call is priced by the tier its number in the period falls in (as AWS and Stripe graduated pricing), the first `included` calls free whatever their tier. Tiers are listed by ascending `upTo`; the last has no `upTo`. Set either `perCall` or `tiers`.',
  })),
  fee: Price('Fixed price per period, in `currency`, charged whatever the usage. Default 0.', 0),
  billable: Type.Array(StatusClassSchema, {
    default: ['2xx', '3xx'],
    description: 'Status classes of the calls that are charged and counted against `included`; other calls are listed on statements but free. Default [2xx, 3xx].',
  }),
}, {
  additionalProperties: false,
  description: 'What the plan\'s consumers pay per billing period (a calendar period starting at local midnight in the plan\'s `timeZone`): a fixed `fee`, plus a price for each billable call beyond `included`, flat (`perCall`) or graduated (`tiers`). Prices are exact decimals; a statement\'s total is rounded once, half-up, to the currency\'s minor unit. See docs/billing.md.',
});

/** PricingConfig is a validated `pricing:` block. */
export type PricingConfig = Static<typeof PricingSchema>;
/** PriceTierConfig is one validated tier. */
export type PriceTierConfig = Static<typeof PriceTierSchema>;

/** PriceTier is one compiled tier: calls up to number `upTo` (inclusive; null for the open tier) at `perCall`. */
export interface PriceTier {
  readonly upTo: number | null;
  /** Price per call, scaled (10^-12 of the major unit). */
  readonly perCall: bigint;
}

/** Pricing is a compiled `pricing:` block: every price parsed to an exact scaled amount (10^-12 of the major unit). */
export interface Pricing {
  readonly currency: string;
  /** Decimals of the currency's minor unit (USD 2, JPY 0). */
  readonly minorDigits: number;
  /** Free calls per period. */
  readonly included: number;
  /** Tiers by ascending upTo, the last open (upTo null). A flat `perCall` compiles to one open tier. */
  readonly tiers: readonly PriceTier[];
  /** Whether the config gave `tiers` (graduated) rather than `perCall`. */
  readonly graduated: boolean;
  /** Fixed fee per period, scaled. */
  readonly fee: bigint;
  /** Status classes charged (1 to 5 for 1xx to 5xx). */
  readonly billable: ReadonlySet<number>;
}

/**
 * checkPricing returns the problems of a pricing block that the schema cannot express, as [relative key
 * path, message] pairs: an unknown currency, prices with more than 12 decimals, `perCall` and `tiers` both or
 * neither set, tiers out of order or with the open tier not last, a status class listed twice.
 */
export function checkPricing(config: PricingConfig): [string, string][] {
  const out: [string, string][] = [];
  if (!isCurrency(config.currency)) out.push(['.currency', `unknown currency "${config.currency}" (an ISO 4217 code such as USD, EUR or JPY)`]);
  const price = (at: string, value: unknown): void => {
    const problem = priceProblem(value);
    if (problem !== null) out.push([at, problem]);
  };
  if (config.perCall !== undefined && config.tiers !== undefined) out.push(['.tiers', 'set either perCall (one price per call) or tiers (graduated prices), not both']);
  else if (config.perCall === undefined && config.tiers === undefined) out.push(['.perCall', 'is required unless tiers is set (set perCall for one price per call, or tiers for graduated prices)']);
  if (config.perCall !== undefined) price('.perCall', config.perCall);
  if (config.tiers !== undefined) {
    const tiers = config.tiers;
    let previous = 0;
    for (let i = 0; i < tiers.length; i++) {
      const t = tiers[i]!;
      price(`.tiers[${i}].perCall`, t.perCall);
      const last = i === tiers.length - 1;
      if (t.upTo === undefined) {
        if (!last) out.push([`.tiers[${i}]`, 'only the last tier may omit upTo (it is the open-ended tier)']);
        continue;
      }
      if (t.upTo <= previous) out.push([`.tiers[${i}].upTo`, `must be greater than the previous tier's upTo (${previous}): tiers are listed by ascending upTo`]);
      else previous = t.upTo;
      if (last) out.push([`.tiers[${i}].upTo`, `the last tier must be open-ended: remove upTo, or calls beyond ${t.upTo} would have no price`]);
    }
  }
  if (config.fee !== undefined) price('.fee', config.fee);
  const seen = new Set<string>();
  (config.billable ?? []).forEach((c, i) => {
    if (seen.has(c)) out.push([`.billable[${i}]`, `${c} is listed twice`]);
    seen.add(c);
  });
  return out;
}

/**
 * compilePricing parses a checked pricing block once: prices to scaled BigInt, status classes to numbers.
 * Throws RangeError with the first problem checkPricing reports, if any (config loading checks first).
 */
export function compilePricing(config: PricingConfig): Pricing {
  const problems = checkPricing(config);
  if (problems.length > 0) throw new RangeError(`pricing${problems[0]![0]}: ${problems[0]![1]}`);
  const tiers: PriceTier[] = config.tiers !== undefined
    ? config.tiers.map((t) => Object.freeze({ upTo: t.upTo ?? null, perCall: parsePrice(t.perCall) }))
    : [Object.freeze({ upTo: null, perCall: parsePrice(config.perCall!) })];
  // Defaults are applied by the config loader; a block built by hand may leave them out.
  const billable = new Set((config.billable ?? ['2xx', '3xx']).map((c) => Number(c[0])));
  return Object.freeze({
    currency: config.currency,
    minorDigits: minorDigits(config.currency),
    included: config.included ?? 0,
    tiers: Object.freeze(tiers),
    graduated: config.tiers !== undefined,
    fee: parsePrice(config.fee ?? 0),
    billable,
  });
}
