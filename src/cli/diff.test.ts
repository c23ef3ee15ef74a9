/** `gatehouse diff`: added, removed and changed elements with key paths; exit codes 0, 1 and 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDiff } from './diff.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-diff-'));
const write = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f; };
const OLD = write('old.yaml', `
services:
  a: { targets: [http://127.0.0.1:1] }
  gone: { targets: [http://127.0.0.1:2] }
routes:
  - { name: r1, match: { path: /a/* }, service: a }
  - { name: r2, match: { path: /b }, service: a }
`);
const NEW = write('new.yaml', `
listen: { port: 8081 }
services:
  a: { targets: [http://127.0.0.1:1], retries: 3 }
  fresh: { targets: [http://127.0.0.1:3] }
routes:
  - { name: r1, match: { path: /a/*, methods: [GET] }, service: a }
  - { name: r3, match: { path: /c }, service: fresh }
`);

function run(args: string[], json = false): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = runDiff(args, json, (s) => { out += s; }, (s) => { err += s; });
  return { code, out, err };
}

test('lists what NEW changes and exits 1', () => {
  const r = run([OLD, NEW]);
  assert.equal(r.code, 1);
  assert.equal(r.out, [
    '+ route r3', '- route r2', '~ route r1: match.methods',
    '+ service fresh', '- service gone', '~ service a: retries', '~ listen.port', '',
  ].join('\n'));
  const j = JSON.parse(run([OLD, NEW], true).out);
  assert.deepEqual(j.routes, { added: ['r3'], removed: ['r2'], changed: [{ name: 'r1', paths: ['match.methods'] }] });
});

test('identical configs exit 0 (a default written out is no change)', () => {
  const same = write('same.yaml', `
services:
  a: { targets: [http://127.0.0.1:1], retries: 2 }
  gone: { targets: [http://127.0.0.1:2] }
routes:
  - { name: r1, match: { path: /a/* }, service: a }
  - { name: r2, match: { path: /b }, service: a }
`);
  const r = run([OLD, same]);
  assert.equal(r.out, 'no changes\n');
  assert.equal(r.code, 0);
});

test('an invalid or missing file exits 2', () => {
  const bad = write('bad.yaml', 'routes: [ { name: x, match: { path: nope }, service: a } ]\n');
  const r = run([OLD, bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, /must start with \//);
  assert.equal(run([OLD]).code, 2);
  assert.equal(run([OLD, join(dir, 'missing.yaml')]).code, 2);
});
