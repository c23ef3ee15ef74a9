/**
 * Field operations on one aggregated call's JSON answer, applied in this order: `extract` (keep a sub-value)
 * → `flatten` (collect values across nested arrays) → `allow` or `deny` (dot paths; arrays on the way are
 * entered, so `items.id` means the `id` of every item) → `rename`. Paths are split and built into trees once
 * at config load. The answer is the gateway's own freshly parsed copy, so `deny` and `rename` work in place;
 * `allow` builds new objects holding only what it keeps.
 *
 * Prototype safety: `__proto__`, `constructor` and `prototype` are refused in every configured path and
 * name, and field paths only ever read own properties; JSON.parse makes a `"__proto__"` member an ordinary
 * own property, which no code here assigns through.
 */
import { UNSAFE_KEYS } from './template.js';

/** MAX_JSON_DEPTH bounds the nesting of an answer the gateway parses (SECURITY.md). */
export const MAX_JSON_DEPTH = 64;

const hasOwn = Object.hasOwn;

/** splitFieldPath splits `a.b.c`, or returns a message: no empty segment, no prototype key. */
export function splitFieldPath(text: string): string[] | string {
  const segs = text.split('.');
  if (segs.some((s) => s === '')) return `"${text}" has an empty name between dots`;
  const unsafe = segs.find((s) => UNSAFE_KEYS.has(s));
  if (unsafe !== undefined) return `"${text}" names ${unsafe}, which is never read or written`;
  return segs;
}

/**
 * getPath reads a dot path: object members (own only) and array indexes (`items.0.id`). Undefined when the
 * path leads nowhere.
 */
export function getPath(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (let i = 0; i < path.length; i++) {
    if (v === null || typeof v !== 'object') return undefined;
    const key = path[i]!;
    if (!hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * withinDepth says whether a parsed JSON value nests at most `max` levels of arrays and objects. `size` is
 * the length of its text: nesting past `max` takes 2 × (max + 1) bytes, so shorter answers skip the walk.
 */
export function withinDepth(value: unknown, size: number, max = MAX_JSON_DEPTH): boolean {
  if (size < 2 * (max + 1)) return true;
  return depthOk(value, max);
}

function depthOk(v: unknown, left: number): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (left === 0) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!depthOk(v[i], left - 1)) return false;
    return true;
  }
  for (const k in v) if (hasOwn(v, k) && !depthOk((v as Record<string, unknown>)[k], left - 1)) return false;
  return true;
}

/** flattenPath collects every value at `path` below `value`, entering arrays on the way and at the end. */
export function flattenPath(value: unknown, path: readonly string[]): unknown[] {
  const out: unknown[] = [];
  collect(value, path, 0, out);
  return out;
}

function collect(v: unknown, path: readonly string[], i: number, out: unknown[]): void {
  if (Array.isArray(v)) { for (let j = 0; j < v.length; j++) collect(v[j], path, i, out); return; }
  if (i === path.length) { if (v !== undefined) out.push(v); return; }
  if (v === null || typeof v !== 'object' || !hasOwn(v, path[i]!)) return;
  collect((v as Record<string, unknown>)[path[i]!], path, i + 1, out);
}

/**
 * FieldNode is a tree of dot paths: the members named at one level, and below each either more names or
 * null, meaning the whole member. Parallel arrays rather than a Map: the hot loop only indexes.
 */
export class FieldNode {
  readonly keys: string[];
  readonly subs: (FieldNode | null)[];
  constructor() {
    this.keys = [];
    this.subs = [];
  }

  /** add puts a path into the tree; a shorter path already there (the whole member) covers a longer one. */
  add(path: readonly string[]): void {
    let node: FieldNode = this;
    for (let i = 0; i < path.length; i++) {
      const at = node.keys.indexOf(path[i]!);
      const last = i === path.length - 1;
      if (at === -1) {
        node.keys.push(path[i]!);
        const sub = last ? null : new FieldNode();
        node.subs.push(sub);
        if (sub === null) return;
        node = sub;
      } else {
        const sub = node.subs[at]!;
        if (sub === null) return;
        if (last) { node.subs[at] = null; return; }
        node = sub;
      }
    }
  }
}

/**
 * allowFields returns a copy of `v` holding only the paths of `node`. Arrays are entered; a scalar where the
 * tree names members inside it has none of them and is dropped (undefined), in arrays too.
 */
export function allowFields(v: unknown, node: FieldNode): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      const e = allowFields(v[i], node);
      if (e !== undefined) out.push(e);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  const keys = node.keys;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!hasOwn(v, k)) continue;
    const sub = node.subs[i]!;
    const member = (v as Record<string, unknown>)[k];
    if (sub === null) out[k] = member;
    else {
      const kept = allowFields(member, sub);
      if (kept !== undefined) out[k] = kept;
    }
  }
  return out;
}

/** denyFields removes the paths of `node` from `v` in place, entering arrays. */
export function denyFields(v: unknown, node: FieldNode): void {
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) denyFields(v[i], node); return; }
  const keys = node.keys;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!hasOwn(v, k)) continue;
    const sub = node.subs[i]!;
    if (sub === null) delete (v as Record<string, unknown>)[k];
    else denyFields((v as Record<string, unknown>)[k], sub);
  }
}

/** RenameGroup renames members of the objects at one parent path, all at once (so `{a: b, b: a}` swaps). */
export class RenameGroup {
  readonly parent: readonly string[];
  readonly from: string[];
  readonly to: string[];
  constructor(parent: readonly string[]) {
    this.parent = parent;
    this.from = [];
    this.to = [];
  }
}

const ABSENT = Symbol('absent');

/** renameFields applies a group to `v` in place, entering arrays on the parent path. */
export function renameFields(v: unknown, group: RenameGroup, i = 0): void {
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) { for (let j = 0; j < v.length; j++) renameFields(v[j], group, i); return; }
  const o = v as Record<string, unknown>;
  const parent = group.parent;
  if (i < parent.length) {
    if (hasOwn(o, parent[i]!)) renameFields(o[parent[i]!], group, i + 1);
    return;
  }
  const from = group.from;
  if (from.length === 1) {
    const k = from[0]!;
    if (hasOwn(o, k)) { const m = o[k]; delete o[k]; o[group.to[0]!] = m; }
    return;
  }
  const held: unknown[] = [];
  for (let j = 0; j < from.length; j++) {
    const k = from[j]!;
    if (hasOwn(o, k)) { held.push(o[k]); delete o[k]; } else held.push(ABSENT);
  }
  for (let j = 0; j < from.length; j++) if (held[j] !== ABSENT) o[group.to[j]!] = held[j];
}

/** ShapeOptions are the field operations of one call, as configured. */
export interface ShapeOptions {
  readonly extract?: string | undefined;
  readonly flatten?: string | undefined;
  readonly allow?: readonly string[] | undefined;
  readonly deny?: readonly string[] | undefined;
  readonly rename?: Readonly<Record<string, string>> | undefined;
}

/** Shaper applies one call's field operations; built once at config load, null fields are skipped. */
export class Shaper {
  readonly extract: readonly string[] | null;
  readonly flatten: readonly string[] | null;
  readonly allow: FieldNode | null;
  readonly deny: FieldNode | null;
  readonly renames: readonly RenameGroup[] | null;

  private constructor(extract: readonly string[] | null, flatten: readonly string[] | null, allow: FieldNode | null, deny: FieldNode | null, renames: readonly RenameGroup[] | null) {
    this.extract = extract;
    this.flatten = flatten;
    this.allow = allow;
    this.deny = deny;
    this.renames = renames;
  }

  /**
   * problems returns [key, message] pairs for options that cannot be built (bad paths, both `allow` and
   * `deny`, unsafe or clashing rename targets); Shaper.build may be called only when there are none.
   */
  static problems(o: ShapeOptions): [string, string][] {
    const out: [string, string][] = [];
    const path = (key: string, text: string): void => { const r = splitFieldPath(text); if (typeof r === 'string') out.push([key, r]); };
    if (o.extract !== undefined) path('extract', o.extract);
    if (o.flatten !== undefined) path('flatten', o.flatten);
    o.allow?.forEach((p, i) => path(`allow[${i}]`, p));
    o.deny?.forEach((p, i) => path(`deny[${i}]`, p));
    if (o.allow !== undefined && o.deny !== undefined) out.push(['', 'gives both allow and deny; give one']);
    if (o.rename !== undefined) {
      const targets = new Map<string, string>();
      for (const [from, to] of Object.entries(o.rename)) {
        path(`rename.${from}`, from);
        if (UNSAFE_KEYS.has(to)) out.push([`rename.${from}`, `cannot rename to ${to}`]);
        const segs = from.split('.');
        const at = `${segs.slice(0, -1).join('.')}.${to}`;
        const first = targets.get(at);
        if (first !== undefined) out.push([`rename.${from}`, `renames to "${to}" like "${first}" does`]);
        else targets.set(at, from);
      }
    }
    return out;
  }

  /** build compiles options that passed problems(); null when there is nothing to do. */
  static build(o: ShapeOptions): Shaper | null {
    const split = (text: string): string[] => text.split('.');
    const tree = (paths: readonly string[] | undefined): FieldNode | null => {
      if (paths === undefined) return null;
      const node = new FieldNode();
      for (const p of paths) node.add(split(p));
      return node;
    };
    let renames: RenameGroup[] | null = null;
    if (o.rename !== undefined && Object.keys(o.rename).length > 0) {
      const groups = new Map<string, RenameGroup>();
      for (const [from, to] of Object.entries(o.rename)) {
        const segs = split(from);
        const parent = segs.slice(0, -1);
        const key = parent.join('.');
        let g = groups.get(key);
        if (g === undefined) { g = new RenameGroup(parent); groups.set(key, g); }
        g.from.push(segs[segs.length - 1]!);
        g.to.push(to);
      }
      renames = [...groups.values()];
    }
    const s = new Shaper(o.extract === undefined ? null : split(o.extract), o.flatten === undefined ? null : split(o.flatten), tree(o.allow), tree(o.deny), renames);
    return s.extract === null && s.flatten === null && s.allow === null && s.deny === null && s.renames === null ? null : s;
  }

  /** apply shapes a parsed answer (which it may change in place) and returns the result. */
  apply(value: unknown): unknown {
    let v = value;
    if (this.extract !== null) { v = getPath(v, this.extract); if (v === undefined) v = null; }
    if (this.flatten !== null) v = flattenPath(v, this.flatten);
    if (this.allow !== null) { v = allowFields(v, this.allow); if (v === undefined) v = null; }
    if (this.deny !== null) denyFields(v, this.deny);
    const renames = this.renames;
    if (renames !== null) for (let i = 0; i < renames.length; i++) renameFields(v, renames[i]!);
    return v;
  }
}
