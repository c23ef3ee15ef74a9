/**
 * The schema of `metering:`: usage counted per consumer x route x status class x hour, in the store.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration } from '../config/units.js';

/** MeteringSchema is the top-level `metering:` key. */
export const MeteringSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'Count every request per consumer x route x status class x hour. Default true.' }),
  flushInterval: Duration('How often counts gathered in the process are added to the store (and on shutdown). Counts stay exact: a flush that fails is retried with the next one. Default 1s.', '1s'),
  retention: Duration('How long hourly usage is kept in the store. Default 400d.', '400d'),
}, { additionalProperties: false, default: {}, description: 'Usage metering, read by `gatehouse usage` and billing statements (`gatehouse statement`). See docs/billing.md.' });

/** MeteringConfig is a validated `metering:` block. */
export type MeteringConfig = Static<typeof MeteringSchema>;
