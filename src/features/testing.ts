/**
 * Test support for feature unit tests: compile a one-route config from a YAML snippet of feature keys, as
 * STYLE.md asks ("build a feature from a YAML snippet"), and collect its config problems. Runtimes made here
 * are retired by close(), which a test file calls from `after`.
 */
import assert from 'node:assert/strict';
import { compile } from '../config/compile.js';
import { loadConfigText } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { silentLogger } from '../observability/log.js';
import type { Runtime } from '../core/runtime.js';

/** RouteFixture compiles single-route configs and retires them afterwards. */
export class RouteFixture {
  private readonly runtimes: Runtime[] = [];

  /** compile builds a config with one route `r` (path `/*`, service `s`) carrying `features`, plus `top` YAML. */
  compile(features: string, top = ''): Runtime {
    const yaml = `${top}${top === '' || top.endsWith('\n') ? '' : '\n'}services:
  s: { targets: [http://127.0.0.1:9] }
routes:
  - name: r
    match: { path: /* }
    service: s
${features.split('\n').map((l) => `    ${l}`).join('\n')}
`;
    const rt = compile(loadConfigText(yaml, 'gatehouse.yaml', {}), silentLogger());
    this.runtimes.push(rt);
    return rt;
  }

  /** problems returns the config errors of such a config, one line each ([] when it is valid). */
  problems(features: string, top = ''): string[] {
    try { this.compile(features, top); return []; } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message.split('\n');
    }
  }

  /** close retires every runtime compiled here. */
  async close(): Promise<void> {
    for (const rt of this.runtimes.splice(0)) await rt.retire(0);
  }
}
