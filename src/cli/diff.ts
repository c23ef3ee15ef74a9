/**
 * `gatehouse diff OLD NEW`: what NEW would change relative to OLD, before it is applied: routes, services,
 * consumers and plans added, removed or changed (with the key paths of the changed fields), and other
 * top-level settings changed. Both files are loaded and validated as the gateway would (defaults applied, so
 * writing a default out is no change). Values are never printed: a diff can be pasted anywhere without
 * leaking a secret. Exit 0 when nothing changes, 1 when something does, 2 when a file is invalid.
 */
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { GatehouseConfig } from '../config/schema.js';

/** ElementDiff lists elements of one kind added, removed and changed (with changed key paths). */
export interface ElementDiff {
  added: string[];
  removed: string[];
  changed: { name: string; paths: string[] }[];
}

/** ConfigChanges is the whole difference between two configs. */
export interface ConfigChanges {
  routes: ElementDiff;
  services: ElementDiff;
  consumers: ElementDiff;
  plans: ElementDiff;
  /** Other top-level keys whose value changed, with the key paths (`listen.port`, `defaults.cors`). */
  settings: string[];
}

const SECTIONS = ['routes', 'services', 'consumers', 'plans'] as const;

/** diffConfigs compares two validated configs. */
export function diffConfigs(a: GatehouseConfig, b: GatehouseConfig): ConfigChanges {
  const byName = (c: GatehouseConfig, s: (typeof SECTIONS)[number]): Map<string, unknown> =>
    s === 'routes' ? new Map(c.routes.map((r) => [r.name, r])) : new Map(Object.entries(c[s] as Record<string, unknown>));
  const out = { settings: [] as string[] } as unknown as ConfigChanges;
  for (const s of SECTIONS) {
    const x = byName(a, s);
    const y = byName(b, s);
    const d: ElementDiff = { added: [], removed: [], changed: [] };
    for (const k of y.keys()) if (!x.has(k)) d.added.push(k);
    for (const k of x.keys()) if (!y.has(k)) d.removed.push(k);
    for (const [k, v] of y) {
      if (!x.has(k)) continue;
      const paths: string[] = [];
      changedPaths(x.get(k), v, '', paths);
      if (paths.length > 0) d.changed.push({ name: k, paths });
    }
    out[s] = d;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if ((SECTIONS as readonly string[]).includes(k)) continue;
    changedPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], k, out.settings);
  }
  return out;
}

/** changedPaths appends the key paths where `x` and `y` differ (a whole list when its length changed). */
function changedPaths(x: unknown, y: unknown, path: string, out: string[]): void {
  if (JSON.stringify(x) === JSON.stringify(y)) return;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(x) && isObj(y)) {
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) changedPaths(x[k], y[k], path === '' ? k : `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(x) && Array.isArray(y) && x.length === y.length) {
    x.forEach((v, i) => changedPaths(v, y[i], `${path}[${i}]`, out));
    return;
  }
  out.push(path === '' ? '(whole)' : path);
}

/** isEmpty says whether a diff changes nothing. */
export function isEmpty(d: ConfigChanges): boolean {
  return d.settings.length === 0 && SECTIONS.every((s) => d[s].added.length + d[s].removed.length + d[s].changed.length === 0);
}

/** renderDiff prints a diff for a terminal: `+ route orders`, `- service legacy`, `~ route users: match.path`. */
export function renderDiff(d: ConfigChanges): string {
  const lines: string[] = [];
  for (const s of SECTIONS) {
    const one = s.slice(0, -1);
    for (const n of d[s].added) lines.push(`+ ${one} ${n}`);
    for (const n of d[s].removed) lines.push(`- ${one} ${n}`);
    for (const c of d[s].changed) lines.push(`~ ${one} ${c.name}: ${c.paths.join(', ')}`);
  }
  for (const p of d.settings) lines.push(`~ ${p}`);
  return lines.length === 0 ? 'no changes\n' : `${lines.join('\n')}\n`;
}

/** runDiff runs `gatehouse diff OLD NEW [--json]`; returns the exit code (0 same, 1 different, 2 invalid input). */
export function runDiff(args: readonly string[], json: boolean, out: (s: string) => void, err: (s: string) => void): number {
  if (args.length !== 2) {
    err('usage: gatehouse diff OLD.yaml NEW.yaml [--json]\n');
    return 2;
  }
  const configs: GatehouseConfig[] = [];
  for (const f of args) {
    try {
      configs.push(loadConfigFile(f).config);
    } catch (e) {
      if (e instanceof ConfigError) err(`${f}: the config is invalid:\n${e.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
      else err(`${f}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const d = diffConfigs(configs[0]!, configs[1]!);
  out(json ? `${JSON.stringify(d, null, 2)}\n` : renderDiff(d));
  return isEmpty(d) ? 0 : 1;
}
