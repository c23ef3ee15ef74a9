/**
 * Edits of the config text through the `yaml` Document API, so comments and layout survive where the library
 * keeps them: an element is changed key by key (unchanged keys keep their node, comments and style), never by
 * serializing a plain object over the file. `${VAR}` references are kept as written: they are masked by
 * inert placeholders before parsing (as the loader does) and put back in the text produced.
 */
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER = '__gatehouse_env_';
const PLACEHOLDER_RE = /__gatehouse_env_(\d+)_/g;

/** KeyPath is a path of keys and list indexes into the config. */
export type KeyPath = readonly (string | number)[];

/** ConfigEditor holds one config text as an editable YAML Document. */
export class ConfigEditor {
  readonly #doc: Document;
  readonly #refs: string[];

  private constructor(doc: Document, refs: string[]) {
    this.#doc = doc;
    this.#refs = refs;
  }

  /** parse reads a config text; throws Error when it is not valid YAML (the loader reports it properly). */
  static parse(text: string): ConfigEditor {
    const refs: string[] = [];
    const masked = text.replace(ENV_RE, (m) => `${PLACEHOLDER}${refs.push(m) - 1}_`);
    const doc = parseDocument(masked, { prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    return new ConfigEditor(doc, refs);
  }

  /** get returns the value at `path` as plain JSON, `${VAR}` references as written; undefined when absent. */
  get(path: KeyPath): unknown {
    const node = path.length === 0 ? this.#doc.contents : this.#doc.getIn(path, true);
    if (node === undefined || node === null) return undefined;
    const js: unknown = isScalar(node) ? node.value : (node as { toJSON?: () => unknown }).toJSON?.() ?? node;
    return this.#restore(js);
  }

  /** has says whether `path` exists. */
  has(path: KeyPath): boolean {
    return this.#doc.hasIn(path);
  }

  /** routeIndex returns the index of the route named `name` in `routes:`, or -1. */
  routeIndex(name: string): number {
    const routes = this.#doc.get('routes', true);
    if (!isSeq(routes)) return -1;
    return routes.items.findIndex((r) => isMap(r) && this.#restore(scalarValue(r.get('name', true))) === name);
  }

  /** count returns the number of items of the list at `path` (0 when absent). */
  count(path: KeyPath): number {
    const n = this.#doc.getIn(path, true);
    return isSeq(n) ? n.items.length : 0;
  }

  /**
   * set puts `value` at `path`, changing as little of the document as it can: keys that keep their value keep
   * their node (and comments); removed keys are deleted; lists of another length are replaced whole.
   */
  set(path: KeyPath, value: unknown): void {
    const cur = this.#doc.getIn(path, true) as Node | undefined;
    if (cur !== undefined && isMap(cur) && isPlainObject(value)) {
      for (const pair of [...cur.items]) {
        const k = scalarValue(pair.key);
        if (typeof k === 'string' && !Object.hasOwn(value, k)) cur.delete(pair.key);
      }
      for (const [k, v] of Object.entries(value)) {
        const child = cur.get(k, true) as Node | undefined;
        if (child !== undefined && isScalar(child) && !isObject(v) && this.#restore(child.value) === v) continue;
        if (child !== undefined && ((isMap(child) && isPlainObject(v)) || (isSeq(child) && Array.isArray(v) && child.items.length === v.length))) {
          this.set([...path, k], v);
        } else {
          cur.set(k, this.#node(v, child));
        }
      }
      return;
    }
    if (cur !== undefined && isSeq(cur) && Array.isArray(value) && cur.items.length === value.length) {
      value.forEach((v, i) => {
        const child = cur.items[i] as Node | undefined;
        if (child !== undefined && isScalar(child) && !isObject(v) && this.#restore(child.value) === v) return;
        this.set([...path, i], v);
      });
      return;
    }
    if (path.length === 0) throw new Error('the whole document cannot be replaced by set');
    // A new key in an empty flow mapping (`plans: {}`) would put the element on one line: switch it to block style.
    const parent = this.#doc.getIn(path.slice(0, -1), true);
    if (cur === undefined && (isMap(parent) || isSeq(parent)) && parent.items.length === 0) parent.flow = false;
    // A new element under a missing parent: the parents are created as block mappings.
    this.#doc.setIn(path, this.#node(value, cur));
  }

  /** append adds `value` at the end of the list at `path` (created when absent). */
  append(path: KeyPath, value: unknown): void {
    const list = this.#doc.getIn(path, true);
    if (isSeq(list)) {
      // An empty flow list (`routes: []`) would put the new element on one line: switch it to block style.
      if (list.items.length === 0) list.flow = false;
      list.items.push(this.#node(value, undefined));
    } else {
      this.#doc.setIn(path, this.#doc.createNode([value]));
    }
  }

  /** delete removes `path`; false when it was not there. */
  delete(path: KeyPath): boolean {
    if (!this.#doc.hasIn(path)) return false;
    this.#doc.deleteIn(path);
    return true;
  }

  /** toString renders the document, `${VAR}` references restored, long lines not folded. */
  toString(): string {
    return this.#doc.toString({ lineWidth: 0 }).replace(PLACEHOLDER_RE, (m, i: string) => this.#refs[Number(i)] ?? m);
  }

  #node(value: unknown, like: Node | undefined): Node {
    const n = this.#doc.createNode(value) as Node;
    // A replaced collection keeps the flow or block style it had.
    if (like !== undefined && (isMap(like) || isSeq(like)) && (isMap(n) || isSeq(n))) n.flow = like.flow ?? false;
    return n;
  }

  #restore(v: unknown): unknown {
    if (typeof v === 'string') return v.includes(PLACEHOLDER) ? v.replace(PLACEHOLDER_RE, (m, i: string) => this.#refs[Number(i)] ?? m) : v;
    if (Array.isArray(v)) return v.map((x) => this.#restore(x));
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.#restore(x)]));
    return v;
  }
}

/** hasPlaceholder says whether a submitted value carries the editor's internal placeholder text (refused). */
export function hasPlaceholder(v: unknown): boolean {
  if (typeof v === 'string') return v.includes(PLACEHOLDER);
  if (Array.isArray(v)) return v.some(hasPlaceholder);
  if (isPlainObject(v)) return Object.entries(v).some(([k, x]) => k.includes(PLACEHOLDER) || hasPlaceholder(x));
  return false;
}

function scalarValue(n: unknown): unknown {
  return isScalar(n) ? n.value : n;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

/** isPlainObject says whether `v` is a JSON object (not an array or null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
