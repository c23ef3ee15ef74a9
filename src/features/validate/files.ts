/**
 * Reading the schema and OpenAPI files that `validate` refers to. Both YAML and JSON are read with the `yaml`
 * package (JSON is YAML), keeping positions so a problem inside a file is reported with its line.
 */
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** DataFile is a parsed file with what is needed to name places in it. */
export class DataFile {
  /** Absolute path. */
  readonly path: string;
  /** The path as shown in messages: relative to the config directory, with forward slashes. */
  readonly shown: string;
  /** file: URL, the base URI of the schemas in the file. */
  readonly url: string;
  /** The parsed value, or undefined when `error` is set. */
  readonly value: unknown;
  /** Why the file could not be used, or null. */
  readonly error: string | null;
  /** The text, kept for line numbers; the parsed YAML document is dropped once read (it is large). */
  private readonly text: string | null;
  private doc: Document | null;
  private lines: LineCounter | null;

  constructor(path: string, configDir: string) {
    this.path = path;
    const rel = relative(configDir, path);
    this.shown = sep === '/' ? rel : rel.split(sep).join('/');
    this.url = pathToFileURL(path).href;
    this.doc = null;
    this.lines = null;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.error = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot read the file (${code ?? 'error'})`;
      this.value = undefined;
      this.text = null;
      return;
    }
    this.text = text;
    const { doc, lines } = parse(text);
    const first = doc.errors[0];
    if (first !== undefined) {
      this.doc = doc;
      this.lines = lines;
      this.error = `is not valid YAML or JSON: ${first.message.split('\n')[0]} (${this.shown}:${lines.linePos(first.pos[0]).line})`;
      this.value = undefined;
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      this.error = `cannot be read: ${(err as Error).message.split('\n')[0]}`;
      this.value = undefined;
      return;
    }
    this.value = value;
    this.error = null;
  }

  /** lineOf gives the 1-based line of a JSON pointer in the file (the nearest ancestor found), or 0. */
  lineOf(pointer: string): number {
    if (this.text === null) return 0;
    if (this.doc === null || this.lines === null) {
      const p = parse(this.text);
      this.doc = p.doc;
      this.lines = p.lines;
    }
    const segs = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
    let node: unknown = this.doc.contents;
    let best = (node as Node | null)?.range?.[0];
    for (const seg of segs) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
        if (!pair) break;
        const key = pair.key as Node;
        node = pair.value;
        best = key.range?.[0] ?? best;
      } else if (isSeq(node) && /^\d+$/.test(seg)) {
        node = node.items[Number(seg)];
        if (node === undefined) break;
        best = (node as Node).range?.[0] ?? best;
      } else {
        break;
      }
    }
    return best === undefined ? 0 : this.lines!.linePos(best).line;
  }

  /** at names a place in the file for a message: `schemas/user.json:12`. */
  at(pointer: string): string {
    const line = this.lineOf(pointer);
    return line > 0 ? `${this.shown}:${line}` : this.shown;
  }
}

/** parse reads YAML (JSON is YAML) keeping positions; uniqueKeys: a schema with a key twice is ambiguous. */
function parse(text: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  return { doc, lines };
}

/** unescapePointer decodes one JSON pointer segment (RFC 6901). */
export function unescapePointer(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** escapePointer encodes one JSON pointer segment (RFC 6901). */
export function escapePointer(seg: string): string {
  return seg.replace(/~/g, '~0').replace(/\//g, '~1');
}
