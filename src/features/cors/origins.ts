/**
 * Origin lists for `cors`: exact origins, `null`, and patterns with one leading wildcard label
 * (`https://*.example.com`). Parsed and checked at config load; matched per request with string comparisons
 * only. A pattern's `*` stands for one or more DNS labels, so it can never swallow a `/`, `:` or `@`:
 * `https://*.example.com` matches `https://a.b.example.com` but not `https://example.com`,
 * `https://evil-example.com`, `https://a.example.com.evil.net` or `https://a.example.com:8443`.
 */

/** OriginPattern is `<prefix>*<suffix>`: `https://` and `.example.com`. */
export interface OriginPattern {
  readonly prefix: string;
  readonly suffix: string;
}

const ORIGIN_RE = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:(\d{1,5}))?$/;
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' };

/**
 * checkOrigin says what is wrong with one configured origin (lower-cased first), or null when it is valid.
 * Only the config checks call it; the regular expression runs at load, never per request.
 */
export function checkOrigin(text: string): string | null {
  const o = text.toLowerCase();
  if (o === 'null') return null;
  if (o === '*') return 'use "*" alone (origins: "*"), not inside a list';
  const scheme = o.indexOf('://');
  if (scheme > 0 && o.indexOf('/', scheme + 3) !== -1) return 'must be an origin without a path or trailing "/" (https://app.example.com)';
  const star = o.indexOf('*');
  let host = o;
  if (star !== -1) {
    if (scheme === -1 || star !== scheme + 3 || o.charCodeAt(star + 1) !== 46 /* . */ || o.indexOf('*', star + 1) !== -1) {
      return 'may hold one wildcard only, as the first label of the host (https://*.example.com)';
    }
    host = `${o.slice(0, star)}x${o.slice(star + 1)}`;
  }
  const m = ORIGIN_RE.exec(host);
  if (m === null) return 'must be an origin (https://app.example.com), "null", or a pattern with a leading wildcard label (https://*.example.com)';
  const port = m[7];
  if (port !== undefined && DEFAULT_PORTS[m[1]!] === port) return `names the default port, which browsers leave out of Origin: write ${o.replace(`:${port}`, '')}`;
  if (port !== undefined && Number(port) > 65535) return 'has a port out of range';
  return null;
}

/** OriginList matches a request's Origin against the configured origins. */
export class OriginList {
  /** `origins: "*"`: every origin. */
  readonly any: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly patterns: readonly OriginPattern[];

  constructor(origins: '*' | readonly string[]) {
    this.any = origins === '*' || (origins.length === 1 && origins[0] === '*');
    const exact = new Set<string>();
    const patterns: OriginPattern[] = [];
    if (!this.any) {
      for (const raw of origins as readonly string[]) {
        const o = raw.toLowerCase();
        const star = o.indexOf('*');
        if (star === -1) exact.add(o);
        else patterns.push({ prefix: o.slice(0, star), suffix: o.slice(star + 1) });
      }
    }
    this.exact = exact;
    this.patterns = patterns;
  }

  /**
   * matches says whether `origin` (as the browser sent it) is allowed. Browsers send origins lower-case; one
   * in another case simply does not match. What matches is safe to echo: an exact entry of the config, or a
   * pattern whose wildcard part holds only DNS label characters.
   */
  matches(origin: string): boolean {
    if (this.any) return true;
    if (this.exact.has(origin)) return true;
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i]!;
      if (origin.length > p.prefix.length + p.suffix.length && origin.startsWith(p.prefix) && origin.endsWith(p.suffix)
        && isLabels(origin, p.prefix.length, origin.length - p.suffix.length)) return true;
    }
    return false;
  }
}

/** Whether s[from, to) is one or more DNS labels: [a-z0-9-] runs separated by single dots. */
function isLabels(s: string, from: number, to: number): boolean {
  let prevDot = true;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (prevDot) return false;
      prevDot = true;
    } else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45) {
      prevDot = false;
    } else {
      return false;
    }
  }
  return !prevDot;
}
