/**
 * `security-headers`: the header list built once from `true` or the object form, the two ways of treating
 * the service's own copies (kept: offered as defaults; override: removed and replaced), and the config checks.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../config/load.js';
import { compile } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { silentLogger } from '../../observability/log.js';
import type { Runtime } from '../../core/runtime.js';
import type { Exchange } from '../../core/exchange.js';
import { SecurityHeadersFeature, securityHeaderList } from './feature.js';

const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.retire(0); });

function build(yaml: string, defaults = ''): SecurityHeadersFeature | undefined {
  const text = `${defaults}services:\n  s: { targets: [http://127.0.0.1:9] }\nroutes:\n  - name: r\n    match: { path: /r }\n    service: s\n${yaml === '' ? '' : `    security-headers: ${yaml}\n`}`;
  const rt = compile(loadConfigText(text, 'gatehouse.yaml', {}), silentLogger());
  runtimes.push(rt);
  return rt.routes[0]!.features.find((f) => f.name === 'security-headers') as SecurityHeadersFeature | undefined;
}

function problems(yaml: string): string[] {
  try { build(yaml); return []; } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('security-headers', () => {
  test('true gives the three basic headers, kept when the service sends its own', () => {
    const f = build('true')!;
    assert.deepEqual(f.headers, ['x-content-type-options', 'nosniff', 'x-frame-options', 'DENY', 'referrer-policy', 'no-referrer']);
    assert.equal(f.override, false);
    assert.deepEqual(f.defaultResponseHeaders, f.headers);
    assert.equal(f.removeResponseHeaders, undefined);
    assert.equal(f.onResponse, undefined);
  });

  test('the object form: every header, HSTS only when set', () => {
    assert.deepEqual(securityHeaderList({
      frameOptions: 'SAMEORIGIN', referrerPolicy: 'strict-origin-when-cross-origin',
      hsts: { maxAge: '365d', includeSubDomains: true, preload: true },
      contentSecurityPolicy: "default-src 'none'", crossOriginOpenerPolicy: 'same-origin', crossOriginResourcePolicy: 'same-site',
    }), [
      'x-content-type-options', 'nosniff', 'x-frame-options', 'SAMEORIGIN', 'referrer-policy', 'strict-origin-when-cross-origin',
      'strict-transport-security', 'max-age=31536000; includeSubDomains; preload',
      'content-security-policy', "default-src 'none'", 'cross-origin-opener-policy', 'same-origin', 'cross-origin-resource-policy', 'same-site',
    ]);
    assert.deepEqual(securityHeaderList({ contentTypeOptions: false, frameOptions: false, referrerPolicy: false, hsts: { maxAge: '1h' } }), ['strict-transport-security', 'max-age=3600']);
    assert.deepEqual(build('{ hsts: { maxAge: 180d } }')!.headers.slice(6), ['strict-transport-security', 'max-age=15552000']);
  });

  test('override: the service\'s copies are removed and the gateway\'s added to every response', () => {
    const f = build('{ override: true, frameOptions: SAMEORIGIN }')!;
    assert.equal(f.defaultResponseHeaders, undefined);
    assert.deepEqual([...f.removeResponseHeaders!].sort(), ['referrer-policy', 'x-content-type-options', 'x-frame-options']);
    const added: string[] = [];
    f.onResponse!({ addResponseHeaders: (h: readonly string[]) => added.push(...h) } as unknown as Exchange);
    assert.deepEqual(added, ['x-content-type-options', 'nosniff', 'x-frame-options', 'SAMEORIGIN', 'referrer-policy', 'no-referrer']);
  });

  test('false turns off what defaults turn on', () => {
    const f = build('false', 'defaults:\n  security-headers: true\n')!;
    assert.deepEqual(f.headers, []);
    assert.equal(f.onResponse, undefined);
    assert.equal(f.defaultResponseHeaders, undefined);
    assert.equal(f.removeResponseHeaders, undefined);
    assert.deepEqual(build('', 'defaults:\n  security-headers: true\n')!.headers.length, 6);
  });

  test('config errors', () => {
    assert.deepEqual(problems('{ frameOptions: ALLOW-FROM }'), ['routes[0].security-headers.frameOptions: must be DENY, SAMEORIGIN or false']);
    assert.deepEqual(problems('{ hsts: { maxAge: 1d, preload: true } }'), ['routes[0].security-headers.hsts.preload: needs includeSubDomains: true and a maxAge of at least 365d (the preload list refuses less)']);
    assert.deepEqual(problems('{ hsts: { maxAge: 1y } }'), ['routes[0].security-headers.hsts.maxAge: must be a duration with a unit: ms, s, m, h or d (e.g. 250ms, 5s, 1m)']);
    assert.deepEqual(problems('{ contentSecurityPolicy: "default-src \'none\'\\r\\nx: y" }'), ['routes[0].security-headers.contentSecurityPolicy: must not contain CR, LF or other control characters']);
    assert.deepEqual(problems('{ crossOriginResourcePolicy: none }'), ['routes[0].security-headers.crossOriginResourcePolicy: must be same-origin, same-site or cross-origin']);
  });
});
