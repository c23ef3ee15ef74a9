/**
 * The one list of authentication methods an `auth:` entry can use (`apiKey`, `jwt`, `basic`,
 * `introspection`, `mtls`). Each method has a schema (its config under the entry) and a factory. An entry names
 * exactly one method: `auth: { staff-jwt: { jwt: { ... } } }`.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Authenticator, AuthenticatorContext } from './types.js';
import { apiKey } from './api-key/authenticator.js';
import { basic } from './basic/authenticator.js';
import { jwt } from './jwt/authenticator.js';
import { introspection } from './introspection/authenticator.js';
import { mtls } from './mtls/authenticator.js';

/** AuthMethodDefinition describes one authentication method. */
export interface AuthMethodDefinition<S extends TSchema = TSchema> {
  /** Key inside an `auth:` entry (`apiKey`). */
  readonly key: string;
  readonly schema: S;
  /** create builds the authenticator once per config generation; it may throw an Error whose message is a config problem. */
  create(config: Static<S>, ctx: AuthenticatorContext): Authenticator;
  /** preload imports what the method needs beyond the always-loaded core (see src/core/lazy.ts). */
  preload?(): Promise<unknown>;
  /** check returns config problems the schema cannot express, as [relative key path, message] pairs. */
  check?(config: Static<S>, ctx: { configDir: string }): readonly (readonly [string, string])[];
}

/** defineAuthMethod keeps a definition's config type tied to its schema. */
export function defineAuthMethod<S extends TSchema>(def: AuthMethodDefinition<S>): AuthMethodDefinition<S> {
  return def;
}

/** AUTH_METHODS lists every built-in method; src/identity/<method>/ holds each. */
export const AUTH_METHODS: readonly AuthMethodDefinition[] = [
  apiKey,
  basic,
  jwt,
  introspection,
  mtls,
] as unknown as readonly AuthMethodDefinition[];
