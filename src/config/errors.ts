/**
 * Config errors: each names the key path, the file and the line, so that a bad config is fixed in one pass.
 * A ConfigError carries every problem found, never just the first.
 */

/** ConfigProblem is one thing wrong with a config. */
export interface ConfigProblem {
  /** Key path as users read it: `routes[2].rate-limit.limit`, or '' for the whole document. */
  readonly path: string;
  readonly message: string;
  readonly file: string;
  /** 1-based line, or 0 when unknown. */
  readonly line: number;
}

/** formatProblem renders `routes[2].match.path: must start with / (gatehouse.yaml:41)`. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return `${p.path === '' ? '(top level)' : p.path}: ${p.message} (${where})`;
}

/** ConfigError is thrown by load and compile with every problem found. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** splitRelative splits a relative key path such as `.methods[1]` or `[0].hash` into segments. */
export function splitRelative(rel: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of rel.matchAll(/\.?([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** pathToString turns ['routes', 2, 'match'] into `routes[2].match`. */
export function pathToString(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** didYouMean returns the closest candidate within an edit distance of 2 (or a third of the word), if any. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { bestD = d; best = c; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
