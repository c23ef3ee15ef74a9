/**
 * A small JSONPath subset for redaction, parsed once at config load into segments and applied to parsed
 * JSON with loops and a bounded recursion (one level per segment; `..` walks with an explicit stack, so a
 * deeply nested body cannot exhaust the call stack). No eval, no regex per request.
 *
 * Grammar: `$` followed by one or more of `.name`, `['name']` / `["name"]`, `[N]` (array index), `[*]` or
 * `.*` (every element or member), `..name` / `..['name']` (that key at any depth). Names in dot form are
 * letters, digits, `_`, `$` and `-` (not starting with a digit or `-`); anything else goes in brackets.
 */

/** SegmentKind tells how a segment selects children. */
export const enum SegmentKind { Key, Index, All, Deep }

/** PathSegment is one parsed step of a path. */
export interface PathSegment {
  readonly kind: SegmentKind;
  /** The member name (Key, Deep); '' otherwise. */
  readonly key: string;
  /** The array index (Index); -1 otherwise. */
  readonly index: number;
}

const NAME_START = /[A-Za-z_$]/;
const NAME_CHAR = /[A-Za-z0-9_$-]/;

/** parseJsonPath returns the segments of `text`, or a message saying what is wrong with it. */
export function parseJsonPath(text: string): PathSegment[] | string {
  if (text[0] !== '$') return 'must start with $';
  const out: PathSegment[] = [];
  let i = 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '.') {
      let deep = false;
      i++;
      if (text[i] === '.') { deep = true; i++; }
      if (text[i] === '*') {
        if (deep) return `\`..*\` is not supported (at character ${i + 1}); name the key: \`..name\``;
        out.push({ kind: SegmentKind.All, key: '', index: -1 });
        i++;
        continue;
      }
      if (deep && text[i] === '[') {
        const r = bracket(text, i);
        if (typeof r === 'string') return r;
        if (r.seg.kind !== SegmentKind.Key) return `\`..\` must be followed by a name (at character ${i + 1})`;
        out.push({ kind: SegmentKind.Deep, key: r.seg.key, index: -1 });
        i = r.end;
        continue;
      }
      const start = i;
      if (i >= text.length || !NAME_START.test(text[i]!)) return `expected a name after "${deep ? '..' : '.'}" at character ${i + 1}`;
      while (i < text.length && NAME_CHAR.test(text[i]!)) i++;
      const key = text.slice(start, i);
      out.push(deep ? { kind: SegmentKind.Deep, key, index: -1 } : { kind: SegmentKind.Key, key, index: -1 });
    } else if (c === '[') {
      const r = bracket(text, i);
      if (typeof r === 'string') return r;
      out.push(r.seg);
      i = r.end;
    } else {
      return `unexpected "${c}" at character ${i + 1}`;
    }
  }
  if (out.length === 0) return 'must name something inside the body (`$` alone is the whole body)';
  return out;
}

/** Parses `[...]` starting at `i` (the `[`). */
function bracket(text: string, i: number): { seg: PathSegment; end: number } | string {
  const q = text[i + 1];
  if (q === '*') {
    if (text[i + 2] !== ']') return `expected "]" at character ${i + 3}`;
    return { seg: { kind: SegmentKind.All, key: '', index: -1 }, end: i + 3 };
  }
  if (q === "'" || q === '"') {
    const close = text.indexOf(q, i + 2);
    if (close === -1 || text[close + 1] !== ']') return `unterminated name at character ${i + 1}: write ['name']`;
    const key = text.slice(i + 2, close);
    if (key === '') return `empty name at character ${i + 1}`;
    return { seg: { kind: SegmentKind.Key, key, index: -1 }, end: close + 2 };
  }
  let j = i + 1;
  while (j < text.length && text[j]! >= '0' && text[j]! <= '9') j++;
  if (j === i + 1 || text[j] !== ']') return `expected an index, * or a quoted name inside [] at character ${i + 1}`;
  const index = Number(text.slice(i + 1, j));
  if (!Number.isSafeInteger(index)) return `index too large at character ${i + 1}`;
  return { seg: { kind: SegmentKind.Index, key: '', index }, end: j + 1 };
}

/** Redaction is what happens to each value a path selects. */
export interface Redaction {
  /** Characters kept at the end of a masked value, or -1 to remove the value. */
  readonly keep: number;
}

type Container = Record<string, unknown> | unknown[];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * applyPath redacts every value `segs` selects in `root` (changed in place). Paths that do not match the
 * body's shape select nothing. Only own properties are followed, so `__proto__` in a path or a body
 * never reaches a prototype.
 */
export function applyPath(root: unknown, segs: readonly PathSegment[], r: Redaction): void {
  walk(root, segs, 0, r);
}

function walk(node: unknown, segs: readonly PathSegment[], i: number, r: Redaction): void {
  if (node === null || typeof node !== 'object') return;
  const seg = segs[i]!;
  const last = i === segs.length - 1;
  switch (seg.kind) {
    case SegmentKind.Key:
      if (isObject(node) && Object.hasOwn(node, seg.key)) {
        if (last) redactMember(node, seg.key, r);
        else walk(node[seg.key], segs, i + 1, r);
      }
      return;
    case SegmentKind.Index:
      if (Array.isArray(node) && seg.index < node.length) {
        if (last) redactElement(node, seg.index, r);
        else walk(node[seg.index], segs, i + 1, r);
      }
      return;
    case SegmentKind.All:
      if (Array.isArray(node)) {
        if (last) {
          if (r.keep < 0) node.length = 0;
          else for (let k = node.length - 1; k >= 0; k--) redactElement(node, k, r);
        } else {
          for (let k = 0; k < node.length; k++) walk(node[k], segs, i + 1, r);
        }
      } else {
        const obj = node as Record<string, unknown>;
        for (const key in obj) {
          if (!Object.hasOwn(obj, key)) continue;
          if (last) redactMember(obj, key, r);
          else walk(obj[key], segs, i + 1, r);
        }
      }
      return;
    case SegmentKind.Deep:
      deep(node as Container, segs, i, last, seg.key, r);
      return;
  }
}

/** `..key`: every object at any depth under `start` (itself included) that owns `key`. */
function deep(start: Container, segs: readonly PathSegment[], i: number, last: boolean, key: string, r: Redaction): void {
  const stack: unknown[] = [start];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      for (let k = node.length - 1; k >= 0; k--) if (node[k] !== null && typeof node[k] === 'object') stack.push(node[k]);
      continue;
    }
    const obj = node as Record<string, unknown>;
    if (Object.hasOwn(obj, key)) {
      if (last) redactMember(obj, key, r);
      else walk(obj[key], segs, i + 1, r);
    }
    // Whatever remains (a masked value is a string now, a removed one is gone) is searched further.
    for (const k in obj) {
      if (!Object.hasOwn(obj, k)) continue;
      const v = obj[k];
      if (v !== null && typeof v === 'object') stack.push(v);
    }
  }
}

function redactMember(obj: Record<string, unknown>, key: string, r: Redaction): void {
  if (r.keep < 0) { delete obj[key]; return; }
  const masked = mask(obj[key], r.keep);
  if (masked === undefined) delete obj[key];
  else obj[key] = masked;
}

function redactElement(arr: unknown[], index: number, r: Redaction): void {
  if (r.keep < 0) { arr.splice(index, 1); return; }
  const masked = mask(arr[index], r.keep);
  if (masked === undefined) arr.splice(index, 1);
  else arr[index] = masked;
}

/**
 * mask hides all but the last `keep` characters of a string or number (a number becomes a string); a value
 * no longer than `keep` is hidden whole. null stays null; other values (objects, lists, booleans) cannot be
 * masked and are removed (undefined), so nothing is shown by mistake.
 */
export function mask(v: unknown, keep: number): unknown {
  if (v === null) return null;
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number') s = String(v);
  else return undefined;
  if (s.length <= keep) return '*'.repeat(s.length);
  let cut = s.length - keep;
  // Never split a surrogate pair: the kept tail starts on a whole character.
  const c = s.charCodeAt(cut);
  if (c >= 0xdc00 && c <= 0xdfff) cut++;
  return '*'.repeat(cut) + s.slice(cut);
}
