/**
 * Keeps docs/config-reference.md in step with the schema descriptions: the generator runs in check mode and
 * fails when the committed reference differs from what the current schema produces (fix: `npm run docs`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Compiled to dist/test/docs.test.js, so the repository root is two folders up. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('docs/config-reference.md matches the schema descriptions', () => {
  const r = spawnSync(process.execPath, ['scripts/gen-config-reference.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
