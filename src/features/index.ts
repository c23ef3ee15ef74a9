/**
 * The one list of built-in features. A feature's key here is its YAML key; its position breaks ties between
 * features of the same stage (src/core/stages.ts holds the stage order).
 */
import type { FeatureDefinition } from '../core/feature.js';
import { deprecation } from './deprecation/feature.js';
import { stripPrefix } from './strip-prefix/feature.js';
import { rewrite } from './rewrite/feature.js';
import { auth } from './auth/feature.js';
import { ip } from './ip/feature.js';
import { cors } from './cors/feature.js';
import { requestRules } from './request-rules/feature.js';
import { deny } from './deny/feature.js';
import { allow } from './allow/feature.js';
import { redact } from './redact/feature.js';
import { headers } from './headers/feature.js';
import { securityHeaders } from './security-headers/feature.js';
import { validate } from './validate/feature.js';
import { rateLimit } from './rate-limit/feature.js';
import { quota } from './quota/feature.js';
import { cache } from './cache/feature.js';

/** FEATURES lists every built-in feature definition. */
export const FEATURES: readonly FeatureDefinition[] = [
  deprecation,
  ip,
  cors,
  requestRules,
  auth,
  deny,
  allow,
  rateLimit,
  quota,
  validate,
  stripPrefix,
  rewrite,
  headers,
  redact,
  securityHeaders,
  cache,
] as unknown as readonly FeatureDefinition[];
