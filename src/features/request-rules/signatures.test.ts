/**
 * The hostile-request signatures on their own: each category catches its payloads in plain and encoded
 * forms, ordinary paths, queries and headers pass, and every check stays linear on 100 KB adversarial inputs
 * (the scanner has no regular expression; this proves it cannot be made slow either).
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Part, SignatureScanner, SIGNATURE_CATEGORIES, SCRIPT, SCRIPT_SCHEMES, TRAVERSAL, decodedView, foldComments, hasScript, hasSql, hasTraversal, SEP, type SignatureCategory } from './signatures.js';

const ALL = new SignatureScanner(SIGNATURE_CATEGORIES);

function q(query: string): SignatureCategory | null { return ALL.scan(query, Part.Query); }
function p(path: string): SignatureCategory | null { return ALL.scan(path, Part.Path); }
function h(value: string): SignatureCategory | null { return ALL.scan(value, Part.Header); }

describe('decoding', () => {
  test('decodes once, tolerates bad escapes, lower-cases and folds whitespace', () => {
    assert.equal(decodedView('%2e%2E%252F', false), '..%2f');
    assert.equal(decodedView('%zz%4%', false), '%zz%4%');
    assert.equal(decodedView('A+B%20%09%0a C', true), 'a b c');
    assert.equal(decodedView('a+b', false), 'a+b');
    assert.equal(decodedView('\u2028x', false), '?x');
    assert.equal(decodedView('%01%1f%7f%00', false), '???\u0000');
  });

  test('a raw & in a query becomes the parameter boundary; an encoded one stays text', () => {
    assert.equal(decodedView('a=1&b=%26', true), `a=1${SEP}b=&`);
    assert.equal(decodedView('a=1&b', false), 'a=1&b');
  });

  test('folds closed comments only', () => {
    assert.equal(foldComments('union/**/select'), 'union select');
    assert.equal(foldComments('a/*b*/c/*d'), 'a c/*d');
    assert.equal(foldComments('no comment'), 'no comment');
    assert.equal(foldComments(`a/*${SEP}*/b`), `a/*${SEP}*/b`);
    assert.equal(foldComments(`a/*x${SEP}b/*y*/c`), `a/*x${SEP}b c`);
  });
});

describe('the one-pass matchers agree with the signature lists', () => {
  test('every traversal signature, alone and inside text', () => {
    for (const sig of TRAVERSAL) {
      assert.ok(hasTraversal(sig), JSON.stringify(sig));
      assert.ok(hasTraversal(`abc ${sig} xyz`), JSON.stringify(sig));
    }
  });
  test('every script signature and scheme, alone and inside text', () => {
    for (const sig of [...SCRIPT, ...SCRIPT_SCHEMES]) {
      assert.ok(hasScript(sig), sig);
      assert.ok(hasScript(`abc ${sig} xyz`), sig);
    }
  });
  test('near misses are not matches', () => {
    for (const x of ['.', '..', '.%2', '%2e', '%2e%2', '%c0', '/..', '/proc/self', 'etc/pass', 'win.in', '<scrip', '<sv', '</scrip', '<ifram']) {
      assert.equal(hasTraversal(`${x} `), false, x);
      assert.equal(hasScript(`${x} `), false, x);
    }
    assert.equal(hasSql('union all'), false);
  });
});

describe('path traversal', () => {
  const hostile = [
    'file=../../etc/passwd', 'file=..%2f..%2fetc', 'f=%2e%2e%2fetc', 'f=%252e%252e%252f', 'f=..%255c..%255c',
    'f=..\\..\\windows', 'f=%2e%2e%5cwin', 'f=..%c0%af..%c0%af', 'f=%c0%ae%c0%ae/', 'dir=..', 'p=a/..', 'f=x%00.jpg',
    'f=/proc/self/environ', 'f=C:%5Cwindows%5Cwin.ini', 'f=.%2e/x', 'f=%2e./x',
  ];
  for (const x of hostile) test(`query ${x}`, () => assert.equal(q(x), 'path-traversal'));
  test('what survives path normalization: double encoding, /..;/, NUL', () => {
    assert.equal(p('/files/%252e%252e/secret'), 'path-traversal');
    assert.equal(p('/app/..;/admin'), 'path-traversal');
    assert.equal(p('/a/%00'), 'path-traversal');
  });
});

describe('SQL injection', () => {
  const hostile = [
    "id=1' or 1=1", "id=1' OR '1'='1", "user=admin'--", "user=admin' -- ", "id=1 or 1=1", "id=1%27%20or%20%271%27%3d%271",
    "q=x' or ''='", 'q=x" or "a"="a', "id=1 union select password from users", "id=1 UNION ALL SELECT 1,2", 'id=1+union+select+1',
    'id=1/**/union/**/select/**/1', "id=1'; drop table users", "id=1;DROP TABLE users", "id=1; delete from users",
    "id=1; update users set admin=1", 'id=1 and sleep(5)', "id=1' and pg_sleep(10)--", 'id=benchmark(1000000,md5(1))',
    "id=1'; waitfor delay '0:0:5'--", "id=1 union select * into outfile '/tmp/x'", 'id=1 from information_schema.tables',
    "id=1'; exec xp_cmdshell 'dir'", "id=1' or true--", "id=1') or ('a'='a", 'id=1 || 1=1', "x=' or 'x' like 'x",
    'id=1 union(select 1)', "id=1'%0a--", 'id=1%20union%0d%0aselect%091',
  ];
  for (const x of hostile) test(`query ${x}`, () => assert.equal(q(x), 'sql-injection'));
  test('in the path, decoded once', () => {
    assert.equal(p("/users/1'%20or%20'1'='1"), 'sql-injection');
    assert.equal(p('/users/1%20union%20select%201'), 'sql-injection');
  });
  test('a comment opened in one parameter does not hide the next', () => {
    assert.equal(q("a=/*&b=1' or 1=1--&c=*/"), 'sql-injection');
    assert.equal(q('a=/*&b=1 union/**/select 1'), 'sql-injection');
  });
  test('in a header', () => assert.equal(h("x' or 1=1 --"), 'sql-injection'));
});

describe('script injection', () => {
  const hostile = [
    'q=<script>alert(1)</script>', 'q=%3CScRiPt%3Ealert(1)', 'q=%253Cscript%253E', 'u=javascript:alert(1)', 'u=JaVaScRiPt:alert(1)',
    'u=java%09script:alert(1)', 'u=java%0ascript:x', 'q=<img src=x onerror=alert(1)>', 'q=<svg/onload=alert(1)>',
    'q=" onmouseover="alert(1)', "q=' autofocus onfocus='x", 'q=<iframe src=x>', 'u=data:text/html;base64,PHNjcmlwdD4=',
    'q=document.cookie', 'q=<body onload =x>', 'u=vbscript:msgbox(1)', 'q=<object data=x>', 'q=<embed src=x>',
  ];
  for (const x of hostile) test(`query ${x}`, () => assert.equal(q(x), 'script-injection'));
  test('in a header', () => assert.equal(h('https://x.example/?<script>'), 'script-injection'));
});

describe('ordinary requests pass', () => {
  const paths = [
    '/', '/v1/users/42', '/v1/users/42/orders', '/search', '/files/report-2024.pdf', '/a.b.c/d..e', '/static/app.min.js',
    '/users/o%27brien', '/unions/select-committee', '/blog/2024/05/how-to-sleep-better', '/scripts/setup.sh', '/online/status',
    '/docs/..hidden', '/api/v2/one,two', '/%E2%82%AC/price', '/wiki/Robert%27);_Drop_Tables', '/on/error',
  ];
  for (const x of paths) test(`path ${x}`, () => assert.equal(p(x), null));
  const queries = [
    'page=2&per_page=50', 'q=rock+and+roll', "q=rock+'n'+roll", 'q=black+or+white', 'q=this+or+that', "q=it's+fine",
    'q=O%27Brien', 'sort=-created_at', 'filter=name%3Dbob', 'q=select+a+plan', 'q=union+station', 'q=reunion+selection',
    'email=a%40b.com', 'date=2024-01-01', 'range=1..10', 'q=how+much+sleep+(8+hours)', 'q=drop+table+tennis', 'q=a;b',
    'q=tom%20%26%20jerry', 'redirect=%2Faccount%2Fsettings', 'color=%23fff', 'q=100%', 'q=%zz', 'q=script+writing',
    'q=online=yes', 'expr=1%3D1', 'q=1+%3D%3D+1', 'q=on+error+resume', 'q=data%3Atext', 'title=Sc%C3%A9nario', 'q=--verbose',
    "q=it's+--+fine", 'json=%7B%22a%22%3A%22b%22%7D', 'q=javascript+tutorial', 'tags=a,b,c', 'q=1+or+2', 'q=and+1%3D2',
    'callback=jQuery123_456', 'q=sleep+5+hours', 'q=...', 'lang=en-US&tz=Europe%2FParis', 'q=%3Cb%3Ebold%3C%2Fb%3E',
  ];
  for (const x of queries) test(`query ${x}`, () => assert.equal(q(x), null));
  const headers = [
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    'https://www.example.com/search?q=union+station&page=2', 'curl/8.5.0', 'en-US,en;q=0.9',
  ];
  for (const x of headers) test(`header ${x}`, () => assert.equal(h(x), null));
});

describe('each category only when switched on', () => {
  test('a scanner checks only its categories', () => {
    const sqlOnly = new SignatureScanner(['sql-injection']);
    assert.equal(sqlOnly.scan('f=../../etc/passwd', Part.Query), null);
    assert.equal(sqlOnly.scan('q=<script>', Part.Query), null);
    assert.equal(sqlOnly.scan("q=' or 1=1", Part.Query), 'sql-injection');
  });
});

describe('no catastrophic slowdown', () => {
  const SIZE = 100 * 1024;
  const rep = (unit: string): string => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
  const ADVERSARIAL: Record<string, string> = {
    quotes: rep("'"), letters: rep('a'), equals: rep('='), "quote-a-equals": rep("'a="), "or-tautology": rep("' or 1=1 "),
    'or-words': rep(' or '), 'or-chain': rep('or a=a'), unions: rep('union '), 'union-all': rep('union all '),
    percents: rep('%'), 'percent-2e': rep('%2e'), 'bad-escapes': rep('%z'), dots: rep('.'), 'dot-slash': rep('./'),
    'open-comments': rep('/*'), 'comment-pairs': rep('/**/'), 'star-slash': rep('*/'), 'on-on': rep('on'),
    'on-space': rep(' on'), 'on-letters': rep(' onerrorx'), 'lt-script': rep('<scrip'), semicolons: rep(';'),
    'semicolon-words': rep('; drop '), dashes: rep('-'), 'quote-paren': rep("')"), parens: rep('sleep('),
    spaces: rep(' '), tabs: rep('%09'), ampersands: rep('&'), 'amp-params': rep('a=1&'), colons: rep('java script:'),
    high: rep('\u00e9\u2028'), nul: rep('%00'), mixed: rep("'a=%2e/*on<'or--;"),
    'comment-per-param': `${rep('/*&').slice(0, SIZE - 2)}*/`, 'dots-per-param': rep('..&'), 'handlers': rep(' onerror'),
  };
  // Warm the JIT first, as traffic would, on every input at full size: a branch first taken in optimized code
  // sends the function back to the interpreter for a while, which would time V8's tiers, not the algorithm.
  before(() => {
    for (const x of Object.values(ADVERSARIAL)) for (const part of [Part.Path, Part.Query, Part.Header]) ALL.scan(x, part);
  });
  /** The best of five runs, so a garbage collection or a busy machine in one run does not count. */
  function best(run: () => unknown): number {
    let ms = Infinity;
    for (let r = 0; r < 5; r++) {
      const start = performance.now();
      run();
      ms = Math.min(ms, performance.now() - start);
    }
    return ms;
  }
  /** One plain pass over the input: what any linear scan costs on this machine, right now. */
  function baseline(input: string): number {
    let sum = 0;
    for (let i = 0; i < input.length; i++) sum = (sum + input.charCodeAt(i)) | 0;
    return sum;
  }
  for (const [name, input] of Object.entries(ADVERSARIAL)) {
    test(`100 KB of ${name}`, () => {
      for (const part of [Part.Path, Part.Query, Part.Header]) {
        const ms = best(() => ALL.scan(input, part));
        // Under 10 ms; on a machine so loaded that even one plain pass is slow, under 100 plain passes.
        // Catastrophic backtracking would cost thousands of passes.
        const plain = best(() => baseline(input));
        assert.ok(ms < 10 || ms < 100 * plain, `${name} as part ${part}: ${ms.toFixed(2)} ms (one plain pass: ${plain.toFixed(3)} ms)`);
      }
    });
  }
  test('time grows linearly with the input', () => {
    const unit = "'a=%2e/*on<'or--; union &";
    const small = unit.repeat(500);
    const large = unit.repeat(4000);
    const ratio = best(() => ALL.scan(large, Part.Query)) / Math.max(best(() => ALL.scan(small, Part.Query)), 0.02);
    // 8 times the input: about 8 times the time when linear, 64 times when quadratic.
    assert.ok(ratio < 24, `8x the input took ${ratio.toFixed(1)}x the time`);
  });
});
