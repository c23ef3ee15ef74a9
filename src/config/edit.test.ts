/**
 * ConfigEditor: edits keep comments and untouched layout, `${VAR}` references survive, and a changed
 * element is changed key by key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigEditor, hasPlaceholder } from './edit.js';
import { loadConfigText } from './load.js';

const TEXT = `# the gateway
listen: { port: \${PORT:-8080} }   # port from the environment
services:
  users:   # the user service
    targets: [http://127.0.0.1:3001]
    retries: 2
routes:
  # public routes first
  - name: users
    match: { path: /users/* }   # keep me
    service: users
`;

test('set changes one key and keeps comments, flow style and ${VAR}', () => {
  const ed = ConfigEditor.parse(TEXT);
  ed.set(['services', 'users'], { targets: ['http://127.0.0.1:3001'], retries: 3 });
  const out = ed.toString();
  assert.match(out, /^# the gateway/);
  assert.match(out, /listen: \{ port: \$\{PORT:-8080\} \} # port from the environment/);
  // The yaml library moves a comment after a mapping key to the line below it: kept, not in place.
  assert.match(out, /# the user service/);
  assert.match(out, /retries: 3/);
  assert.match(out, /match: \{ path: \/users\/\* \} # keep me/);
  assert.match(out, /# public routes first/);
  assert.equal(loadConfigText(out, '/tmp/x.yaml', {}).config.services.users!.retries, 3);
});

test('get returns values as written; routeIndex finds routes by name', () => {
  const ed = ConfigEditor.parse(TEXT);
  assert.deepEqual(ed.get(['listen']), { port: '${PORT:-8080}' });
  assert.equal(ed.routeIndex('users'), 0);
  assert.equal(ed.routeIndex('nope'), -1);
  assert.equal(ed.count(['routes']), 1);
  assert.equal(ed.get(['plans']), undefined);
});

test('append, delete and a new section; removed keys are deleted', () => {
  const ed = ConfigEditor.parse(TEXT);
  ed.append(['routes'], { name: 'orders', match: { path: '/orders/*' }, service: 'users' });
  ed.set(['plans', 'gold'], { quota: { limit: 10, per: 'month' } });
  ed.set(['routes', 0], { name: 'users', match: { path: '/users/*' } });
  assert.equal(ed.delete(['services', 'nope']), false);
  const out = ed.toString();
  const cfg = loadConfigText(out, '/tmp/x.yaml', {}).config;
  assert.deepEqual(cfg.routes.map((r) => r.name), ['users', 'orders']);
  assert.equal(cfg.routes[0]!.service, undefined);
  assert.equal(cfg.plans.gold!.quota!.limit, 10);
  ed.delete(['routes', 1]);
  assert.equal(ed.count(['routes']), 1);
});

test('an empty flow collection becomes block style when it gets its first element', () => {
  const ed = ConfigEditor.parse('services: {}\nroutes: []\n');
  ed.set(['services', 'a'], { targets: ['http://127.0.0.1:1'] });
  ed.append(['routes'], { name: 'r', match: { path: '/' }, service: 'a' });
  const out = ed.toString();
  assert.match(out, /services:\n {2}a:\n/);
  assert.match(out, /routes:\n {2}- name: r\n/);
});

test('hasPlaceholder spots the internal placeholder text', () => {
  assert.equal(hasPlaceholder({ a: ['__gatehouse_env_0_'] }), true);
  assert.equal(hasPlaceholder({ a: ['${X}'] }), false);
});
