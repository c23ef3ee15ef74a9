/**
 * Golden tests: each config in test/fixtures/configs compiles to the route table stored in
 * test/fixtures/golden. Run with UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadConfigFile } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { routeTable } from '../src/cli/routes-table.js';
import { silentLogger } from '../src/observability/log.js';

const root = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

for (const name of readdirSync(join(root, 'configs')).filter((f) => f.endsWith('.yaml'))) {
  test(`golden: ${name} compiles to the stored route table`, async () => {
    const rt = compile(loadConfigFile(join(root, 'configs', name), {}), silentLogger());
    const actual = { routes: routeTable(rt), warnings: rt.warnings };
    await rt.retire(0);
    const goldenFile = join(root, 'golden', name.replace(/\.yaml$/, '.json'));
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenFile)) writeFileSync(goldenFile, `${JSON.stringify(actual, null, 2)}\n`);
    assert.deepEqual(actual, JSON.parse(readFileSync(goldenFile, 'utf8')));
  });
}
