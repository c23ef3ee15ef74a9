/**
 * The order of the pipeline, in one table. Every feature declares the stage it belongs to; a route's compiled
 * pipeline runs request hooks in this order and response hooks in the reverse order. Within a stage, features
 * run in the order of `FEATURES` (src/features/index.ts). To see what runs before what, read this table.
 */

/**
 * STAGES is the request order: observe → screen → authenticate → authorize → limit → validate → transform →
 * cache; the backend (proxy, aggregate, function) comes last. `screen` holds the cheap refusals that need no
 * identity (IP rules, hostile-request rules, CORS preflights), so a blocked client costs no token check.
 */
export const STAGES = ['observe', 'screen', 'authenticate', 'authorize', 'limit', 'validate', 'transform', 'cache'] as const;

/** Stage is one step of the pipeline. */
export type Stage = (typeof STAGES)[number];

/** stageIndex gives a stage's position, for sorting features once at config load. */
export function stageIndex(stage: Stage): number {
  return STAGES.indexOf(stage);
}
