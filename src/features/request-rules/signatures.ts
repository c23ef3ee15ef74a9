/**
 * Signatures of obviously hostile requests: path traversal, SQL injection and script injection. This is a
 * coarse filter that stops scanners and copy-pasted payloads, not a WAF: it knows nothing of the upstream's
 * languages or contexts, it can be evaded by an attacker who tries, and it can refuse an honest request that
 * happens to look like an attack (docs/request-protection.md lists the known false positives).
 *
 * There is no regular expression here, so nothing can backtrack. Each inspected value is decoded once
 * (tolerantly: `%zz` stays as it is), lower-cased, and its whitespace runs folded to one space; then
 * - traversal and tag signatures are found in one pass that switches on each character and looks ahead a
 *   fixed number of characters (a loop of `includes` would re-compare at every position of a value made of
 *   `%` or `.`: bench/micro/signatures.ts); longer script signatures are `includes` searches; HTML event
 *   handlers (`onerror=`) are a bounded look-ahead from each `on`;
 * - SQL injection runs on tokens (words, quotes, punctuation) with a look-ahead of a few tokens, so `union
 *   select` matches but `reunion selection` does not.
 * Every step is one pass over the value, or a fixed number of passes; the caller bounds the value's length
 * (MAX_INSPECTED). src/features/request-rules/signatures.test.ts runs every check on 100 KB adversarial
 * inputs against a time limit and checks that the time grows linearly.
 */

/** MAX_INSPECTED is the longest value (path, query parameter, header) inspected, in characters; longer → refused. */
export const MAX_INSPECTED = 32 * 1024;

/** SIGNATURE_CATEGORIES are the names users switch on under `request-rules.block`. */
export const SIGNATURE_CATEGORIES = ['path-traversal', 'sql-injection', 'script-injection'] as const;

/** SignatureCategory is one family of signatures. */
export type SignatureCategory = (typeof SIGNATURE_CATEGORIES)[number];

/** Where a value came from: the path has no comments to fold and `+` is not a space there. */
export const enum Part { Path = 0, Query = 1, Header = 2 }

/**
 * Traversal signatures, matched on the decoded, lower-cased text (hasTraversal is their one-pass matcher; a
 * test holds the two together). The path arrives normalized (dot segments resolved, `%2e` decoded, `/..;/`
 * refused), so what survives there is only what a second decoding upstream would turn into a traversal
 * (`%252e%252e`) and NUL; the query and headers are raw, so `../` and Tomcat's `..;/` count there.
 */
export const TRAVERSAL: readonly string[] = [
  '../', '..\\', '/..;', '..;/', '..%2f', '..%5c', '%2e%2e', '%2e.', '.%2e', '%c0%ae', '%c0%af', '%c1%9c', '%u002e', '%u2215',
  '\u00c0\u00ae', '\u00c0\u00af', '\u00c1\u009c', '\u0000', 'etc/passwd', 'etc/shadow', '/proc/self/', 'win.ini', 'boot.ini',
];

/** Script-injection signatures, matched on the decoded, lower-cased text with single spaces. */
export const SCRIPT: readonly string[] = ['<script', '</script', '<iframe', '<object', '<embed', '<svg', 'data:text/html', 'document.cookie',
  'srcdoc=', '%3cscript', '%3ciframe', '%3csvg'];
/** Script URL schemes, matched with every space removed (`java\tscript:` is `javascript:` to a URL parser). */
export const SCRIPT_SCHEMES: readonly string[] = ['javascript:', 'vbscript:', 'livescript:'];
/** HTML event handler names (without `on`), so that `onerror=` matches but `?online=1` does not. */
const EVENT_HANDLERS = new Set([
  'abort', 'afterprint', 'animationend', 'animationiteration', 'animationstart', 'auxclick', 'beforeinput', 'beforeprint',
  'beforetoggle', 'beforeunload', 'begin', 'blur', 'canplay', 'canplaythrough', 'change', 'click', 'close', 'contextmenu',
  'copy', 'cuechange', 'cut', 'dblclick', 'drag', 'dragend', 'dragenter', 'dragleave', 'dragover', 'dragstart', 'drop',
  'durationchange', 'end', 'ended', 'error', 'focus', 'focusin', 'focusout', 'formdata', 'hashchange', 'input', 'invalid',
  'keydown', 'keypress', 'keyup', 'load', 'loadeddata', 'loadedmetadata', 'loadstart', 'message', 'mousedown',
  'mouseenter', 'mouseleave', 'mousemove', 'mouseout', 'mouseover', 'mouseup', 'mousewheel', 'pagehide', 'pageshow',
  'paste', 'pause', 'play', 'playing', 'pointerdown', 'pointerenter', 'pointerleave', 'pointermove', 'pointerout',
  'pointerover', 'pointerup', 'popstate', 'progress', 'ratechange', 'readystatechange', 'repeat', 'reset', 'resize',
  'scroll', 'scrollend', 'search', 'seeked', 'seeking', 'select', 'selectionchange', 'selectstart', 'show', 'start',
  'storage', 'submit', 'suspend', 'timeupdate', 'toggle', 'touchend', 'touchmove', 'touchstart', 'transitionend',
  'unload', 'volumechange', 'waiting', 'wheel',
]);
const LONGEST_HANDLER = 18;

/** SQL words that, right after `;`, start a destructive statement on their own or with the next word. */
const STACKED_ALONE = new Set(['shutdown', 'xp_cmdshell']);
const STACKED_PAIRS = new Set(['drop table', 'drop database', 'drop schema', 'drop user', 'delete from', 'truncate table',
  'insert into', 'alter table', 'alter user', 'create table', 'create user', 'grant all']);
/** SQL words suspicious anywhere as a whole word. */
const SQL_WORDS = new Set(['xp_cmdshell', 'information_schema', 'pg_catalog', 'sysobjects']);
/** Functions that only an injection calls with a number: `sleep(5)`, `benchmark(1000000,...)`. */
const SQL_TIMING = new Set(['sleep', 'pg_sleep', 'benchmark']);

/** SignatureScanner checks values for the categories it was built with. */
export class SignatureScanner {
  readonly traversal: boolean;
  readonly sql: boolean;
  readonly script: boolean;

  constructor(categories: readonly SignatureCategory[]) {
    this.traversal = categories.includes('path-traversal');
    this.sql = categories.includes('sql-injection');
    this.script = categories.includes('script-injection');
  }

  /**
   * scan returns the first category whose signature `raw` carries, or null. A query is decoded whole, with
   * each raw `&` turned into SEP: no signature spans two parameters, and an SQL comment opened in one
   * parameter cannot hide another. The caller has checked the length against MAX_INSPECTED.
   */
  scan(raw: string, part: Part): SignatureCategory | null {
    return this.inspect(decodedView(raw, part === Part.Query), part !== Part.Path);
  }

  /** inspect checks one decoded view; with `comments`, SQL is also checked with `/* ... *\/` folded away. */
  private inspect(view: string, comments: boolean): SignatureCategory | null {
    if (this.traversal && hasTraversal(view)) return 'path-traversal';
    if (this.sql && (hasSql(view) || (comments && view.includes('/*') && hasSql(foldComments(view))))) return 'sql-injection';
    if (this.script && hasScript(view)) return 'script-injection';
    return null;
  }
}

// ---- decoding -------------------------------------------------------------------------------------------

let scratch = Buffer.allocUnsafe(MAX_INSPECTED);

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 32;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x85;
}

/**
 * SEP stands for a raw `&` in a decoded query: a boundary between parameters that no decoded byte can
 * produce, since decoded control characters other than NUL and whitespace become `?`.
 */
export const SEP = '\u0001';
const SEP_CODE = 1;

/**
 * decodedView percent-decodes `raw` once (bytes as latin1; invalid escapes kept as written), lower-cases
 * ASCII letters and folds each whitespace run into one space. With `query`, `+` is a space and each raw
 * `&` becomes SEP.
 */
export function decodedView(raw: string, query: boolean): string {
  const n = raw.length;
  if (isPlain(raw, query)) return raw; // the common case: nothing to decode, fold or lower-case
  if (scratch.length < n) scratch = Buffer.allocUnsafe(n);
  const buf = scratch;
  let w = 0;
  let spaced = false;
  for (let i = 0; i < n; i++) {
    let c = raw.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < n) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hi < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (lo >= 0) { c = hi * 16 + lo; i += 2; }
    } else if (query && c === 43 /* + */) {
      c = 32;
    } else if (query && c === 38 /* & */) {
      buf[w++] = SEP_CODE;
      spaced = false;
      continue;
    }
    if (isSpace(c)) {
      if (!spaced) { buf[w++] = 32; spaced = true; }
      continue;
    }
    spaced = false;
    if (c >= 65 && c <= 90) c += 32;
    else if (c > 255 || (c > 0 && c < 32) || c === 127) c = 63; // '?': no signature holds such a character
    buf[w++] = c;
  }
  return buf.toString('latin1', 0, w);
}

/** Whether decodedView would return `raw` unchanged: no `%`, upper-case letter, whitespace, control or non-latin1 character (nor `+`, `&` in a query). */
function isPlain(raw: string, query: boolean): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 32 || c === 37 || (c >= 65 && c <= 90) || c >= 127 || (query && (c === 43 || c === 38))) return false;
  }
  return true;
}

/**
 * foldComments replaces each closed `/* ... *\/` with one space (SQL treats a comment as whitespace:
 * `union/**\/select`); a comment never spans SEP. An unclosed `/*` is kept as text. The positions of the
 * next `*\/` and the next SEP are searched again only once a `/*` lies past them, so every character is
 * searched at most once for each (linear, whatever the input).
 */
export function foldComments(view: string): string {
  let out = '';
  let from = 0;
  let close = -2;
  let sep = -2;
  let open = view.indexOf('/*');
  while (open !== -1) {
    if (close !== -1 && close < open + 2) close = view.indexOf('*/', open + 2);
    if (close === -1) break;
    if (sep !== -1 && sep < open) sep = view.indexOf(SEP, open);
    if (sep !== -1 && sep < close) { open = view.indexOf('/*', sep); continue; }
    out += view.slice(from, open) + ' ';
    from = close + 2;
    open = view.indexOf('/*', from);
  }
  return from === 0 ? view : out + view.slice(from);
}

// ---- traversal ------------------------------------------------------------------------------------------

/**
 * hasTraversal finds any TRAVERSAL signature in one pass: at each position a switch on the character and
 * one or two look-ahead comparisons decide whether a full comparison is worth making, so a value made of
 * nothing but `%` or `.` costs the same per character as any other (a loop of `includes` would compare
 * every signature starting with `%` at every position). The unit tests check it against the TRAVERSAL list.
 */
export function hasTraversal(view: string): boolean {
  const n = view.length;
  for (let i = 0; i < n; i++) {
    switch (view.charCodeAt(i)) {
      case 0: return true;
      case SEP_CODE: if (endsInParent(view, i)) return true; break;
      case 46: { // .
        const c1 = view.charCodeAt(i + 1);
        if (c1 === 46) { // ..
          const c2 = view.charCodeAt(i + 2);
          if (c2 === 47 || c2 === 92) return true; // ../ ..\
          if (c2 === 59 && view.charCodeAt(i + 3) === 47) return true; // ..;/
          if (c2 === 37 && (view.startsWith('%2f', i + 2) || view.startsWith('%5c', i + 2))) return true;
        } else if (c1 === 37 && view.startsWith('%2e', i + 1)) {
          return true; // .%2e
        }
        break;
      }
      case 37: { // %
        const c1 = view.charCodeAt(i + 1);
        if (c1 === 50) { if (view.startsWith('%2e%2e', i) || view.startsWith('%2e.', i)) return true; } // %2
        else if (c1 === 99) { if (view.startsWith('%c0%ae', i) || view.startsWith('%c0%af', i) || view.startsWith('%c1%9c', i)) return true; } // %c
        else if (c1 === 117) { if (view.startsWith('%u002e', i) || view.startsWith('%u2215', i)) return true; } // %u
        break;
      }
      case 47: // /
        if (view.charCodeAt(i + 1) === 46 ? view.startsWith('/..;', i) : view.startsWith('/proc/self/', i)) return true;
        break;
      case 0xc0: { const c1 = view.charCodeAt(i + 1); if (c1 === 0xae || c1 === 0xaf) return true; break; }
      case 0xc1: if (view.charCodeAt(i + 1) === 0x9c) return true; break;
      case 101: // e
        if (view.charCodeAt(i + 1) === 116 && (view.startsWith('etc/passwd', i) || view.startsWith('etc/shadow', i))) return true;
        break;
      case 119: if (view.startsWith('win.ini', i)) return true; break; // w
      case 98: if (view.startsWith('boot.ini', i)) return true; break; // b
      default: break;
    }
  }
  return endsInParent(view, n);
}

/** Whether the value (or query parameter) ending at `end` is, or ends in, a parent reference: `..`, `a/..`, `dir=..`. */
function endsInParent(view: string, end: number): boolean {
  if (end < 2 || view.charCodeAt(end - 1) !== 46 || view.charCodeAt(end - 2) !== 46) return false;
  if (end === 2) return true;
  const before = view.charCodeAt(end - 3);
  return before === 47 /* / */ || before === 92 /* \ */ || before === 61 /* = */ || before === SEP_CODE;
}

// ---- script injection -----------------------------------------------------------------------------------

/** SCRIPT signatures that do not open a tag: long enough for a fast `includes` whatever the input. */
const SCRIPT_WORDS = SCRIPT.filter((x) => !x.startsWith('<') && !x.startsWith('%3c'));

/** hasScript finds a script-injection signature in a decoded view. */
export function hasScript(view: string): boolean {
  // Tags: one pass over the `<`s, each settled by its next character.
  for (let i = view.indexOf('<'); i !== -1; i = view.indexOf('<', i + 1)) {
    switch (view.charCodeAt(i + 1)) {
      case 115: if (view.startsWith('<script', i) || view.startsWith('<svg', i)) return true; break; // s
      case 47: if (view.startsWith('</script', i)) return true; break; // /
      case 105: if (view.startsWith('<iframe', i)) return true; break; // i
      case 111: if (view.startsWith('<object', i)) return true; break; // o
      case 101: if (view.startsWith('<embed', i)) return true; break; // e
      default: break;
    }
  }
  // Tags encoded twice (`%253Cscript` decoded once): one pass over the `%3c`s.
  for (let i = view.indexOf('%3c'); i !== -1; i = view.indexOf('%3c', i + 3)) {
    if (view.startsWith('script', i + 3) || view.startsWith('iframe', i + 3) || view.startsWith('svg', i + 3)) return true;
  }
  for (let i = 0; i < SCRIPT_WORDS.length; i++) if (view.includes(SCRIPT_WORDS[i]!)) return true;
  if (view.includes(':')) {
    const compact = view.includes(' ') ? view.replaceAll(' ', '') : view;
    for (let i = 0; i < SCRIPT_SCHEMES.length; i++) if (compact.includes(SCRIPT_SCHEMES[i]!)) return true;
  }
  return hasEventHandler(view);
}

/** An attribute `on<event>=` after a space, `/`, or quote, as in `<img src=x onerror=...>` or `<svg/onload=...>`. */
function hasEventHandler(view: string): boolean {
  let i = view.indexOf('on', 1);
  while (i !== -1) {
    const before = view.charCodeAt(i - 1);
    if (before === 32 || before === 47 || before === 34 || before === 39 || before === 96) {
      let j = i + 2;
      const limit = Math.min(view.length, j + LONGEST_HANDLER + 1);
      while (j < limit && isLetter(view.charCodeAt(j))) j++;
      let k = j;
      if (k < view.length && view.charCodeAt(k) === 32) k++;
      if (k < view.length && view.charCodeAt(k) === 61 /* = */ && j - i - 2 >= 3 && EVENT_HANDLERS.has(view.slice(i + 2, j))) return true;
    }
    i = view.indexOf('on', i + 1);
  }
  return false;
}

function isLetter(c: number): boolean {
  return c >= 97 && c <= 122;
}

// ---- SQL injection --------------------------------------------------------------------------------------

const enum Tok { Word = 1, Quote = 2, Punct = 3, DashDash = 4, OrOp = 5, AndOp = 6 }

/** Token arrays, reused across calls (scanning is synchronous); grown when a longer value comes. */
let kinds = new Uint8Array(MAX_INSPECTED + 1);
let starts = new Int32Array(MAX_INSPECTED + 1);
let ends = new Int32Array(MAX_INSPECTED + 1);
/** 1 when whitespace came right before the token. */
let spacedBefore = new Uint8Array(MAX_INSPECTED + 1);

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c >= 128;
}

function tokenize(s: string): number {
  const n = s.length;
  if (kinds.length < n + 1) {
    kinds = new Uint8Array(n + 1);
    starts = new Int32Array(n + 1);
    ends = new Int32Array(n + 1);
    spacedBefore = new Uint8Array(n + 1);
  }
  let count = 0;
  let spaced = 0;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 32) { spaced = 1; i++; continue; }
    let j = i + 1;
    let kind: Tok;
    if (isWordChar(c)) {
      while (j < n && isWordChar(s.charCodeAt(j))) j++;
      kind = Tok.Word;
    } else if (c === 39 || c === 34 || c === 96) {
      kind = Tok.Quote;
    } else if (c === 45 && j < n && s.charCodeAt(j) === 45) {
      j++;
      kind = Tok.DashDash;
    } else if (c === 124 && j < n && s.charCodeAt(j) === 124) {
      j++;
      kind = Tok.OrOp;
    } else if (c === 38 && j < n && s.charCodeAt(j) === 38) {
      j++;
      kind = Tok.AndOp;
    } else {
      kind = Tok.Punct;
    }
    kinds[count] = kind;
    starts[count] = i;
    ends[count] = j;
    spacedBefore[count] = spaced;
    count++;
    spaced = 0;
    i = j;
  }
  return count;
}

function isWord(s: string, t: number, count: number, word: string): boolean {
  return t < count && kinds[t] === Tok.Word && ends[t]! - starts[t]! === word.length && s.startsWith(word, starts[t]!);
}

function isPunct(s: string, t: number, count: number, ch: number): boolean {
  return t < count && kinds[t] === Tok.Punct && s.charCodeAt(starts[t]!) === ch;
}

function wordAt(s: string, t: number): string {
  return s.slice(starts[t]!, ends[t]!);
}

/**
 * hasSql looks for: `union [all|distinct] [(] select`; `; drop table` and other stacked destructive
 * statements; a quote followed by `--` (the rest of the statement commented out); tautologies `or X=X` /
 * `and 'X'='X` / `|| X=X` (also `' or true--`); `sleep(5)`, `benchmark(`, `waitfor delay`; `into outfile`;
 * and a few catalog words (`information_schema`, `xp_cmdshell`).
 */
export function hasSql(s: string): boolean {
  const count = tokenize(s);
  for (let t = 0; t < count; t++) {
    const kind = kinds[t];
    if (kind === Tok.Word) {
      const len = ends[t]! - starts[t]!;
      if (len === 5 && isWord(s, t, count, 'union')) {
        let k = t + 1;
        if (isWord(s, k, count, 'all') || isWord(s, k, count, 'distinct')) k++;
        if (isPunct(s, k, count, 40 /* ( */)) k++;
        if (isWord(s, k, count, 'select')) return true;
      } else if ((len === 2 && isWord(s, t, count, 'or')) || (len === 3 && isWord(s, t, count, 'and'))) {
        if (tautology(s, t, count)) return true;
      } else if (len === 7 && isWord(s, t, count, 'waitfor')) {
        if (isWord(s, t + 1, count, 'delay')) return true;
      } else if (len === 4 && isWord(s, t, count, 'into')) {
        if (isWord(s, t + 1, count, 'outfile') || isWord(s, t + 1, count, 'dumpfile')) return true;
      } else if (len >= 5 && len <= 18 && maySuspectWord(s.charCodeAt(starts[t]!))) {
        const w = wordAt(s, t);
        if (SQL_WORDS.has(w)) return true;
        if (SQL_TIMING.has(w) && isPunct(s, t + 1, count, 40) && spacedBefore[t + 1] === 0 && t + 2 < count
          && kinds[t + 2] === Tok.Word && isDigit(s.charCodeAt(starts[t + 2]!))) return true;
      }
    } else if (kind === Tok.OrOp || kind === Tok.AndOp) {
      if (tautology(s, t, count)) return true;
    } else if (kind === Tok.Quote) {
      let k = t + 1;
      while (k < t + 4 && isPunct(s, k, count, 41 /* ) */)) k++;
      if (k < count && kinds[k] === Tok.DashDash) return true;
    } else if (kind === Tok.Punct && s.charCodeAt(starts[t]!) === 59 /* ; */) {
      if (t + 1 < count && kinds[t + 1] === Tok.Word) {
        const w1 = wordAt(s, t + 1);
        if (STACKED_ALONE.has(w1)) return true;
        if (t + 2 < count && kinds[t + 2] === Tok.Word) {
          if (STACKED_PAIRS.has(`${w1} ${wordAt(s, t + 2)}`)) return true;
          // `; update users set ...`: the table name sits between.
          if (w1 === 'update' && isWord(s, t + 3, count, 'set')) return true;
        }
        if ((w1 === 'exec' || w1 === 'execute') && t + 2 < count && kinds[t + 2] === Tok.Word) {
          const w2 = wordAt(s, t + 2);
          if (w2.startsWith('xp_') || w2.startsWith('sp_')) return true;
        }
      }
    }
  }
  return false;
}

/** First letters of SQL_WORDS and SQL_TIMING, so ordinary words are not sliced out to be looked up. */
function maySuspectWord(c: number): boolean {
  return c === 98 /* b */ || c === 105 /* i */ || c === 112 /* p */ || c === 115 /* s */ || c === 120 /* x */;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** After `or`/`and` at token t: `X = X` (each side optionally quoted, `==` and `like` too), or `true`/`1` then `--`. */
function tautology(s: string, t: number, count: number): boolean {
  let k = t + 1;
  // `' or true--`, `' or 1--`
  if ((isWord(s, k, count, 'true') || isWord(s, k, count, '1')) && (k + 1 === count || kinds[k + 1] === Tok.DashDash)
    && t > 0 && (kinds[t - 1] === Tok.Quote || isPunct(s, t - 1, count, 41))) return true;
  // left operand, maybe inside parentheses: `') or ('a'='a`
  while (k < t + 3 && isPunct(s, k, count, 40 /* ( */)) k++;
  let quoted = false;
  if (k < count && kinds[k] === Tok.Quote) { quoted = true; k++; }
  let left = -1;
  if (k < count && kinds[k] === Tok.Word) { left = k; k++; }
  if (quoted && k < count && kinds[k] === Tok.Quote) k++;
  if (!quoted && left === -1) return false;
  // operator
  if (isPunct(s, k, count, 61 /* = */)) {
    k++;
    if (isPunct(s, k, count, 61)) k++;
  } else if (isWord(s, k, count, 'like')) {
    k++;
  } else {
    return false;
  }
  // right operand
  let rquoted = false;
  if (k < count && kinds[k] === Tok.Quote) { rquoted = true; k++; }
  const right = k < count && kinds[k] === Tok.Word ? k : -1;
  if (!rquoted && right === -1) return false;
  if (left === -1 || right === -1) return left === right; // '' = '
  const ll = ends[left]! - starts[left]!;
  return ll === ends[right]! - starts[right]! && s.startsWith(wordAt(s, left), starts[right]!);
}
