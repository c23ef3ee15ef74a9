/**
 * Before a config is compiled, the optional modules of the features and authentication methods it uses are
 * imported (src/core/lazy.ts); compile itself stays synchronous. A config without JWT, Basic auth or
 * validation never loads jose, bcryptjs or Ajv.
 */
import { FEATURES } from '../features/index.js';
import { AUTH_METHODS } from '../identity/methods.js';
import type { GatehouseConfig } from './schema.js';

/** preloadFor imports what `config` needs; with `everything`, what any config could need (tests, tools). */
export async function preloadFor(config: GatehouseConfig | null, everything = false): Promise<void> {
  const loads: Promise<unknown>[] = [];
  for (const m of AUTH_METHODS) {
    if (m.preload === undefined) continue;
    if (everything || Object.values(config?.auth ?? {}).some((e) => (e as Record<string, unknown>)[m.key] !== undefined)) loads.push(m.preload());
  }
  const places: Record<string, unknown>[] = config === null ? [] : [
    config.defaults as Record<string, unknown>,
    ...Object.values(config.services) as Record<string, unknown>[],
    ...config.routes as Record<string, unknown>[],
  ];
  for (const f of FEATURES) {
    if (f.preload === undefined) continue;
    if (everything || places.some((p) => p[f.key] !== undefined)) loads.push(f.preload());
  }
  await Promise.all(loads);
}
