/**
 * jose, loaded only for configs that have a `jwt` entry (see src/core/lazy.ts): the method's `preload`
 * imports it before the synchronous compile, and the authenticator and JWKS cache read it with get().
 */
import { LazyModule } from '../../core/lazy.js';

/** JOSE is the jose module, loaded on demand. */
export const JOSE = new LazyModule('jose', () => import('jose'));

/** JoseModule is the type of the loaded module. */
export type JoseModule = typeof import('jose');
