// Builds the dashboard (dashboard/src, Preact + TSX) into dist/dashboard: index.html, app.js and app.css,
// minified, with nothing fetched at run time (no CDN, no web fonts). Run by `npm run build` after tsc; the
// admin listener serves the result (src/admin/dashboard.ts); `npm run build` typechecks it first with
// tsconfig.dashboard.json. `--sizes` prints the size of each file, raw and gzipped.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'dashboard');
mkdirSync(out, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'dashboard/src/main.tsx', out: 'app' },
    { in: 'dashboard/src/app.css', out: 'app' },
  ],
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  sourcemap: false,
  logLevel: 'warning',
});
copyFileSync(join(root, 'dashboard', 'index.html'), join(out, 'index.html'));

if (process.argv.includes('--sizes')) {
  for (const f of ['index.html', 'app.js', 'app.css']) {
    const p = join(out, f);
    console.log(`dist/dashboard/${f}: ${statSync(p).size} bytes (${gzipSync(readFileSync(p)).length} gzipped)`);
  }
}
