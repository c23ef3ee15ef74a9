/**
 * The one list of built-in backends besides the proxy (`service:`). A route names exactly one backend; its
 * key here is its YAML key on the route.
 */
import type { BackendDefinition } from './types.js';
import { staticBackend } from './static/backend.js';
import { functionBackend } from './function/backend.js';
import { aggregateBackend } from './aggregate/backend.js';

/** BACKENDS lists every backend definition other than the proxy. */
export const BACKENDS: readonly BackendDefinition[] = [
  staticBackend,
  functionBackend,
  aggregateBackend,
] as unknown as readonly BackendDefinition[];
