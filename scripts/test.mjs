// Runs every compiled test file with node:test. Node 20 takes no globs on the command line, so the files are
// listed here; the same command works on Node 24.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['dist/src', 'dist/test'];
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && (only.length === 0 || only.some((o) => p.includes(o)))) files.push(p);
  }
};
for (const r of roots) { try { walk(r); } catch { /* folder not built yet */ } }
files.sort();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
