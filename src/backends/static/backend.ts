/**
 * The static backend: a route answered from config, with no service behind it. For stubs while a service
 * is being built, health answers, and maintenance pages. The body is read once at config load.
 */
import { readFileSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../../config/units.js';
import { defineBackend } from '../types.js';
import type { Backend } from '../../core/route.js';
import type { Exchange } from '../../core/exchange.js';
import { sendResponse } from '../respond.js';

/** MAX_STATIC_BODY bounds a static body read from a file: it is held in memory for the config's life. */
export const MAX_STATIC_BODY = 10 * 1024 * 1024;

const HEADER_NAME = HEADER_NAME_PATTERN;

/** StaticSchema is a route's `static:` block. */
export const StaticSchema = Type.Object({
  status: Type.Integer({ minimum: 200, maximum: 599, default: 200, description: 'Status code of the answer. Default 200.' }),
  headers: Type.Optional(Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String(), {
    description: 'Response headers. `content-type` defaults from the body: JSON for `json`, text for `body`, by extension for `file`.',
  })),
  body: Type.Optional(Type.String({ description: 'Body as text (sent as `text/plain; charset=utf-8` unless `content-type` is set).' })),
  json: Type.Optional(Type.Unknown({ description: 'Body as a JSON value, written in the config as YAML (sent as `application/json`).' })),
  file: Type.Optional(Type.String({ description: 'Body read from this file (relative to the config file) when the config loads; at most 10 MiB.' })),
}, { additionalProperties: false, description: 'Answer every request of the route from config: a stub, a mock or a maintenance page. Give at most one of `body`, `json` and `file`; none gives an empty body.' });

/** StaticConfig is a validated `static:` block. */
export type StaticConfig = Static<typeof StaticSchema>;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.xml': 'application/xml',
};

/** StaticBackend writes the same prebuilt answer to every request. */
export class StaticBackend implements Backend {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: Buffer;
  constructor(status: number, headers: readonly string[], body: Buffer) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
  handle(ex: Exchange): void {
    sendResponse(ex, this.status, this.headers, this.body);
  }
}

export const staticBackend = defineBackend({
  key: 'static',
  schema: StaticSchema,
  check(cfg, ctx) {
    const given = (['body', 'json', 'file'] as const).filter((k) => cfg[k] !== undefined);
    if (given.length > 1) return [['', `gives ${given.join(' and ')}; give at most one body`]];
    if (cfg.file !== undefined) {
      const path = resolve(ctx.configDir, cfg.file);
      let size: number;
      try { size = statSync(path).size; } catch { return [['file', `file not found: ${cfg.file} (relative to the config file)`]]; }
      if (size > MAX_STATIC_BODY) return [['file', `is ${size} bytes; a static body may be at most ${MAX_STATIC_BODY}`]];
    }
    return [];
  },
  create(cfg, ctx) {
    let body: Buffer;
    let type: string | undefined;
    if (cfg.json !== undefined) { body = Buffer.from(JSON.stringify(cfg.json)); type = 'application/json'; }
    else if (cfg.file !== undefined) { body = readFileSync(resolve(ctx.configDir, cfg.file)); type = TYPES[extname(cfg.file).toLowerCase()] ?? 'application/octet-stream'; }
    else if (cfg.body !== undefined) { body = Buffer.from(cfg.body); type = 'text/plain; charset=utf-8'; }
    else body = Buffer.alloc(0);
    const headers: string[] = [];
    for (const [name, value] of Object.entries(cfg.headers ?? {})) headers.push(name.toLowerCase(), value);
    if (type !== undefined && !headers.includes('content-type')) headers.push('content-type', type);
    return new StaticBackend(cfg.status, headers, body);
  },
});
