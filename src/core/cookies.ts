/**
 * Removing named cookies from a `Cookie` header value (RFC 6265 §4.2: `name=value` pairs separated by
 * `; `). Names compare exactly (cookie names are case-sensitive); a value is never looked at.
 */

/**
 * withoutCookies returns `header` without the cookies named in `names`: the same string when none of them
 * is there, else the kept pairs joined with '; ' ('' when none is left).
 */
export function withoutCookies(header: string, names: ReadonlySet<string>): string {
  const parts = header.split(';');
  let kept = '';
  let removed = false;
  for (let i = 0; i < parts.length; i++) {
    const pair = parts[i]!.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq).trimEnd();
    if (names.has(name)) { removed = true; continue; }
    kept = kept === '' ? pair : `${kept}; ${pair}`;
  }
  return removed ? kept : header;
}
