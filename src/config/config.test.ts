/**
 * Config loading and validation: exact error messages with file, line and key path; every error at once;
 * unknown keys with "did you mean"; environment substitution; units; cross-references.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from './load.js';
import { compile } from './compile.js';
import { ConfigError } from './errors.js';
import { parseDuration, parseSize } from './units.js';
import { jsonSchema } from './schema.js';
import { silentLogger } from '../observability/log.js';

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    const loaded = loadConfigText(yaml, '/etc/gatehouse/gatehouse.yaml', env);
    const rt = compile(loaded, silentLogger());
    void rt.retire(0);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message.split('\n');
  }
}

const BASE = `services:
  users: { targets: [http://127.0.0.1:3001] }
routes:
  - name: users
    match: { path: /users/* }
    service: users
`;

describe('config validation', () => {
  test('a valid config loads with defaults applied', () => {
    const loaded = loadConfigText(BASE, 'gatehouse.yaml', {});
    assert.equal(loaded.config.listen.port, 8080);
    assert.equal(loaded.config.listen.host, '0.0.0.0');
    assert.equal(loaded.config.limits.body, '1mb');
    assert.equal(loaded.config.services.users!.balance, 'round-robin');
    assert.equal(loaded.config.services.users!.timeouts.connect, '5s');
  });

  test('unknown keys are errors with did-you-mean, file and line', () => {
    const out = problems(`services:
  users:
    targets: [http://127.0.0.1:3001]
    balanse: least-connections
routes:
  - name: users
    match: { path: /users/*, method: [GET] }
    service: users
    strip-prefx: /users
`);
    assert.deepEqual(out, [
      'services.users: unknown key "balanse" (did you mean "balance"?) (gatehouse.yaml:4)',
      'routes[0].match: unknown key "method" (did you mean "methods"?) (gatehouse.yaml:7)',
      'routes[0]: unknown key "strip-prefx" (did you mean "strip-prefix"?) (gatehouse.yaml:9)',
    ]);
  });

  test('every error is reported at once, each with its key path and line', () => {
    const out = problems(`listen: { port: 99999 }
services:
  users:
    targets: [ftp://127.0.0.1:3001]
    timeouts: { connect: 5 seconds }
routes:
  - name: users
    match: { path: users }
    service: users
`);
    assert.deepEqual(out, [
      'listen.port: must be <= 65535 (gatehouse.yaml:1)',
      'services.users.targets[0]: must be an http:// or https:// URL with a host and port and no path (gatehouse.yaml:4)',
      'services.users.timeouts.connect: must be a duration with a unit: ms, s, m, h or d (e.g. 250ms, 5s, 1m) (gatehouse.yaml:5)',
      'routes[0].match.path: must start with / (gatehouse.yaml:8)',
    ]);
  });

  test('required keys are named', () => {
    assert.deepEqual(problems(`services:\n  users: { balance: random }\nroutes:\n  - match: { path: /x }\n    service: users\n`), [
      'services.users.targets: is required (gatehouse.yaml:2)',
      'routes[0].name: is required (gatehouse.yaml:4)',
    ]);
  });

  test('a route naming a missing service is refused with a suggestion', () => {
    assert.deepEqual(problems(BASE.replace('service: users', 'service: user')), [
      'routes[0].service: unknown service "user" (did you mean "users"?) (gatehouse.yaml:6)',
    ]);
  });

  test('cross-field rules: duplicate names, strip-prefix with rewrite, rewrite parameters', () => {
    const out = problems(`${BASE}  - name: users
    match: { path: /v2/users/:id }
    service: users
    strip-prefix: /v2
    rewrite: /accounts/:uid
`);
    assert.deepEqual(out, [
      'routes[1].name: duplicate route name "users" (first used by routes[0]) (gatehouse.yaml:7)',
      'routes[1]: use either strip-prefix or rewrite, not both (gatehouse.yaml:7)',
      'routes[1].rewrite: uses :uid, which the path pattern does not define (gatehouse.yaml:11)',
    ]);
  });

  test('YAML syntax errors name the line', () => {
    const out = problems('services:\n  users: { targets: [http://127.0.0.1:3001]\nroutes: []\n');
    assert.ok(out.length >= 1 && out.length <= 3);
    assert.match(out[0]!, /^\(top level\): YAML: .* \(gatehouse\.yaml:\d+\)$/);
  });

  test('a config that is not a mapping is refused', () => {
    assert.deepEqual(problems('- a\n- b\n'), ['(top level): the config must be a mapping of keys (listen, services, routes, ...) (gatehouse.yaml:1)']);
  });
});

describe('environment variables', () => {
  test('${VAR} and ${VAR:-default}, in flow style too, numbers stay numbers', () => {
    const loaded = loadConfigText(`listen: { port: \${PORT:-8080}, host: \${HOST} }
services:
  users: { targets: ["http://\${USERS_HOST:-127.0.0.1}:3001"] }
routes: []
`, 'gatehouse.yaml', { HOST: '127.0.0.2' });
    assert.equal(loaded.config.listen.port, 8080);
    assert.equal(loaded.config.listen.host, '127.0.0.2');
    assert.deepEqual(loaded.config.services.users!.targets, ['http://127.0.0.1:3001']);
  });

  test('a missing variable without default is an error naming it, its key and line', () => {
    assert.deepEqual(problems(`listen:\n  port: 8080\n  host: \${GATEHOUSE_HOST}\nroutes: []\n`), [
      'listen.host: environment variable GATEHOUSE_HOST is not set and has no default (write ${GATEHOUSE_HOST:-default}) (gatehouse.yaml:3)',
    ]);
  });

  test('an environment value cannot inject YAML', () => {
    const loaded = loadConfigText('listen: { host: ${H} }\nroutes: []\n', 'gatehouse.yaml', { H: '127.0.0.1 }\nevil: { x: 1' });
    assert.equal(loaded.config.listen.host, '127.0.0.1 }\nevil: { x: 1');
  });
});

describe('units', () => {
  test('durations', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1d'), 86_400_000);
  });
  test('sizes are binary', () => {
    assert.equal(parseSize('64kb'), 65536);
    assert.equal(parseSize('1MB'), 1048576);
    assert.equal(parseSize('10b'), 10);
  });
  test('a bad size names the key', () => {
    assert.deepEqual(problems(`${BASE}    body-limit: 10 megs\n`), [
      'routes[0].body-limit: must be a size with a unit: b, kb, mb or gb (e.g. 64kb, 1mb) (gatehouse.yaml:7)',
    ]);
  });
});

describe('JSON config and JSON Schema', () => {
  test('JSON is accepted (it is YAML)', () => {
    const loaded = loadConfigText(JSON.stringify({ services: { a: { targets: ['http://127.0.0.1:1'] } }, routes: [{ name: 'a', match: { path: '/a' }, service: 'a' }] }), 'gatehouse.json', {});
    assert.equal(loaded.config.routes.length, 1);
  });

  test('the editor schema lists keys with defaults as optional and documents them', () => {
    const s = jsonSchema() as { properties: Record<string, any>; required?: string[] };
    assert.equal(s.required, undefined);
    assert.equal(s.properties.listen.properties.port.default, 8080);
    assert.match(s.properties.listen.properties.port.description, /Default 8080/);
    const service = Object.values(s.properties.services.patternProperties as Record<string, any>)[0];
    assert.deepEqual(service.required, ['targets']);
  });
});

describe('service checks', () => {
  test('a target listed twice and a missing CA file are named, without library text', () => {
    assert.deepEqual(problems(`services:
  users:
    targets: [http://127.0.0.1:3001, "http://127.0.0.1:3001/"]
    tls: { ca: ./missing-ca.pem }
routes: []
`), [
      'services.users.targets[1]: lists http://127.0.0.1:3001 again (first at targets[0]); use weight to give a target more traffic (gatehouse.yaml:3)',
      'services.users.tls.ca: file not found: ./missing-ca.pem (relative to the config file) (gatehouse.yaml:4)',
    ]);
  });
});
