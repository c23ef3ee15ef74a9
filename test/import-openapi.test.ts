/**
 * `gatehouse import openapi`: an OpenAPI 3.0 YAML and a 3.1 JSON document become `routes:` fragments that, put
 * next to a service, pass the same load and compile as `gatehouse validate`, and that route and validate
 * requests through a real gateway (a good request forwarded, a bad body 422 naming the field, a wrong method
 * 405). Also: route per operation or per path, names, `{param}` at the end and in the middle, a mixed segment,
 * the base path from `servers` or `--base-path`, `--strip-base`, `--out`, and every refusal in one line.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runImportOpenApi, type ImportOpenApiOptions, type ImportOpenApiResult } from '../src/cli/import-openapi.js';
import { CliError } from '../src/cli/usage.js';
import { loadConfigText } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { preloadFor } from '../src/config/preload.js';
import { ConfigError } from '../src/config/errors.js';
import { silentLogger } from '../src/observability/log.js';
import { startGateway, type RunningGateway } from '../src/main.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { request } from './helpers/http.js';
import { assertProblem, header } from './helpers/raw.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/openapi/', import.meta.url));
const PETSTORE = join(FIXTURES, 'petstore.yaml');
const INVENTORY = join(FIXTURES, 'inventory-3.1.json');
const NOW = Date.parse('2026-11-22T10:00:00Z');
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Imported { text: string; result: ImportOpenApiResult; routes: Record<string, any>[] }

async function importSpec(o: Partial<ImportOpenApiOptions> & { spec: string }): Promise<Imported> {
  let text = '';
  const result = await runImportOpenApi({ service: 'pets', now: NOW, ...o }, (s) => { text += s; });
  const doc = parse(text) as { routes: Record<string, any>[] };
  return { text, result, routes: doc.routes };
}

async function refusal(o: Partial<ImportOpenApiOptions> & { spec: string }): Promise<string> {
  try {
    await runImportOpenApi({ service: 'pets', now: NOW, ...o }, () => { /* nothing expected */ });
  } catch (err) {
    assert.ok(err instanceof CliError, `expected a CliError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail('expected a refusal');
}

/** The routes part of a fragment (its header comments dropped), indented under a config's `routes:`. */
function routesOf(text: string): string {
  return text.slice(text.indexOf('\nroutes:\n') + '\nroutes:\n'.length);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gatehouse-import-'));
}

describe('import openapi: mapping', () => {
  test('OpenAPI 3.0, one route per operation: names, methods, {param} → :param, base path from servers', async () => {
    const { text, result, routes } = await importSpec({ spec: 'petstore.yaml', cwd: FIXTURES });
    assert.deepEqual(routes.map((r) => [r.name, r.match.path, r.match.methods.join(',')]), [
      ['listPets', '/v1/pets', 'GET'],
      ['createPet', '/v1/pets', 'POST'],
      ['get-pets-mine', '/v1/pets/mine', 'GET'],
      ['showPetById', '/v1/pets/:petId', 'GET'],
      ['updatePet', '/v1/pets/:petId', 'PUT'],
      ['deletePet', '/v1/pets/:petId', 'DELETE'],
      ['upload-photo', '/v1/pets/:petId/photos', 'POST'],
      ['getFile', '/v1/files/:name', 'GET'],
    ]);
    for (const r of routes) {
      assert.equal(r.service, 'pets');
      assert.deepEqual(r.validate, { openapi: './petstore.yaml', basePath: '/v1' });
      assert.equal(r['strip-prefix'], undefined);
    }
    assert.equal(result.routes, 8);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.file, null);
    const head = text.split('\n').slice(0, 5).join('\n');
    assert.match(head, /^# Routes imported from petstore\.yaml \(OpenAPI 3\.0\.3 "Petstore" 1\.0\.0\) by `gatehouse import openapi` on 2026-11-22\./);
    assert.match(head, /REVIEW BEFORE MERGING/);
    assert.match(head, /Base path: \/v1 \(the path of servers\[0\]\.url\)/);
    assert.match(text, /# GET \/files\/\{name\}\.json \(getFile\)\n {2}# note: "\{name\}\.json" is routed as any one segment \(:name\); validate answers 404 to other shapes\n/);
    assert.match(text, /# POST \/pets \(createPet\): Create a pet\n {2}# security in the document: api_key; configure `auth:` for it\n/);
    assert.match(text, /# DELETE \/pets\/\{petId\} \(deletePet\)\n {2}# deprecated in the document: consider `deprecation:`\n/);
  });

  test('OpenAPI 3.1, one route per path, --strip-base and --name-prefix; parameter names made route-safe', async () => {
    const { routes, text } = await importSpec({ spec: INVENTORY, cwd: FIXTURES, per: 'path', stripBase: true, namePrefix: 'inv-', service: 'stock' });
    assert.deepEqual(routes.map((r) => [r.name, r.match.path, r.match.methods.join(','), r['strip-prefix']]), [
      ['inv-items', '/api/v2/items', 'GET,POST', '/api/v2'],
      ['inv-items-sku', '/api/v2/items/:sku', 'GET,PATCH', '/api/v2'],
      ['inv-warehouses-warehouse-id-items-sku', '/api/v2/warehouses/:warehouse_id/items/:sku', 'PUT', '/api/v2'],
    ]);
    assert.deepEqual(routes[0]!.validate, { openapi: './inventory-3.1.json', basePath: '/api/v2' });
    assert.match(text, /The service receives paths without \/api\/v2\./);
    assert.match(text, /# GET \/items\/\{sku\}, PATCH \/items\/\{sku\}\n/);
  });

  test('--base-path replaces the server path; / means none; the document path is relative to -c or --out', async () => {
    const a = await importSpec({ spec: PETSTORE, cwd: FIXTURES, basePath: '/pets-api/' });
    assert.equal(a.routes[0]!.match.path, '/pets-api/pets');
    assert.equal(a.routes[0]!.validate.basePath, '/pets-api');
    assert.match(a.text, /Base path: \/pets-api \(--base-path\)/);
    const b = await importSpec({ spec: PETSTORE, cwd: FIXTURES, basePath: '/', stripBase: true });
    assert.equal(b.routes[3]!.match.path, '/pets/:petId');
    assert.equal(b.routes[3]!.validate.basePath, '/');
    assert.equal(b.routes[3]!['strip-prefix'], undefined);

    const dir = tempDir();
    writeFileSync(join(dir, 'gatehouse.yaml'), 'services:\n  pets: { targets: [http://127.0.0.1:1] }\nroutes:\n  - { name: health, match: { path: /health }, service: pets }\n');
    const c = await importSpec({ spec: PETSTORE, config: join(dir, 'gatehouse.yaml') });
    assert.equal(c.routes[0]!.validate.openapi, relativeRef(dir, PETSTORE));
    assert.match(c.text, /relative to the config file/);

    const outFile = join(dir, 'sub-routes.yaml');
    const written = await runImportOpenApi({ spec: PETSTORE, service: 'pets', out: outFile, now: NOW }, () => assert.fail('nothing on stdout with --out'));
    assert.equal(written.file, outFile);
    const fromFile = parse(readFileSync(outFile, 'utf8')) as { routes: Record<string, any>[] };
    assert.equal(fromFile.routes.length, 8);
    assert.equal(fromFile.routes[0]!.validate.openapi, relativeRef(dir, PETSTORE));
    assert.match(await refusal({ spec: PETSTORE, out: outFile }), /^--out .*sub-routes\.yaml exists; choose another file or remove it$/);
  });

  test('templates that share a route are merged with a warning; an unroutable template is skipped with one', async () => {
    const dir = tempDir();
    const spec = join(dir, 'api.yaml');
    writeFileSync(spec, `openapi: 3.0.3
info: { title: Files, version: "1" }
paths:
  /files/{id}:
    get: { operationId: getById, responses: { "200": { description: ok } } }
  /files/{name}.{ext}:
    get: { operationId: getByName, responses: { "200": { description: ok } } }
    delete: { operationId: "delete file!", responses: { "204": { description: ok } } }
  /a//b:
    get: { responses: { "200": { description: ok } } }
  /:
    get: { operationId: root, responses: { "200": { description: ok } } }
`);
    const { routes, result, text } = await importSpec({ spec, cwd: dir });
    assert.deepEqual(routes.map((r) => [r.name, r.match.path, r.match.methods.join(',')]), [
      ['getById', '/files/:id', 'GET'],
      ['delete-file', '/files/:name_ext', 'DELETE'],
      ['root', '/', 'GET'],
    ]);
    assert.deepEqual(result.warnings, [
      'GET /files/{name}.{ext} shares the route of GET /files/{id} (/files/:id): the router cannot tell them apart, validate does',
      '/a//b skipped: it has an empty segment, which path normalization merges away',
    ]);
    assert.match(text, /# GET \/files\/\{id\} \(getById\), GET \/files\/\{name\}\.\{ext\} \(getByName\)\n/);
    assert.match(text, /^# warning: \/a\/\/b skipped/m);
    assert.equal(routes[2]!.validate.basePath, '/');
  });
});

/** A relative path as the importer writes it (POSIX separators assumed, as in CI). */
function relativeRef(from: string, to: string): string {
  const rel = relative(from, to);
  return rel.startsWith('../') ? rel : `./${rel}`;
}

describe('import openapi: the emitted routes in a real gateway', () => {
  let pets: Upstream;
  let stock: Upstream;
  let gw: RunningGateway;
  let dir: string;

  before(async () => {
    pets = await startUpstream('pets', undefined, { keepBody: true });
    stock = await startUpstream('stock', undefined, { keepBody: true });
    dir = tempDir();
    const file = join(dir, 'gatehouse.yaml');
    const services = `listen: { host: 127.0.0.1, port: 0, shutdownTimeout: 1s }
services:
  pets: { targets: ['${pets.url}'], retries: 0 }
  stock: { targets: ['${stock.url}'], retries: 0 }
`;
    writeFileSync(file, `${services}routes: []\n`);
    const a = await importSpec({ spec: PETSTORE, config: file });
    const b = await importSpec({ spec: INVENTORY, config: file, service: 'stock', per: 'path', stripBase: true, namePrefix: 'inv-' });
    const full = `${services}routes:\n${routesOf(a.text)}${routesOf(b.text)}`;
    // The same checks as `gatehouse validate`: load, preload, compile; no unreachable-route warnings.
    const loaded = loadConfigText(full, file);
    await preloadFor(loaded.config);
    const rt = compile(loaded, silentLogger());
    assert.equal(rt.routes.length, 11);
    assert.deepEqual(rt.warnings, []);
    await rt.retire(0);
    writeFileSync(file, full);
    gw = await startGateway({ configFile: file, log: silentLogger(), watch: false, accessDestination: new Writable({ write: (_c, _e, cb) => cb() }) });
  });
  after(async () => { await gw?.close(); await pets?.close(); await stock?.close(); });

  const url = (p: string): string => `${gw.url}${p}`;

  test('a good request is forwarded as sent; a bad one is refused naming the field', async () => {
    const list = await request(url('/v1/pets?limit=10&tag=a&tag=b'));
    assert.equal(list.status, 200, list.body);
    assert.equal(pets.received.at(-1)!.url, '/v1/pets?limit=10&tag=a&tag=b');
    const badQuery = await request(url('/v1/pets?limit=500'));
    assertProblem(badQuery, 400, 'GH_VALIDATION_FAILED');
    assert.equal(badQuery.json.detail, 'query.limit: must be <= 100');

    const body = '{"name":"Rex","tag":null,"age":3}';
    const created = await request(url('/v1/pets'), { method: 'POST', headers: JSON_HEADERS, body });
    assert.equal(created.status, 200, created.body);
    assert.equal(pets.received.at(-1)!.body, body);
    const count = pets.received.length;
    for (const [b, detail] of [
      ['{"tag":"dog"}', 'body.name: is required'],
      ['{"name":"Rex","age":-1}', 'body.age: must be >= 0'],
      ['{"name":"Rex","owner":"me"}', 'body.owner: is not allowed'],
    ] as const) {
      const r = await request(url('/v1/pets'), { method: 'POST', headers: JSON_HEADERS, body: b });
      assertProblem(r, 422, 'GH_UNPROCESSABLE');
      assert.equal(r.json.detail, detail);
    }
    assert.equal(pets.received.length, count);
  });

  test('a wrong method is 405 with Allow from the routes of that path', async () => {
    const r = await request(url('/v1/pets/7'), { method: 'PATCH', headers: JSON_HEADERS, body: '{}' });
    assertProblem(r, 405, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(header(r, 'allow'), 'DELETE, GET, HEAD, PUT');
    const s = await request(url('/api/v2/items/ABC-1'), { method: 'DELETE' });
    assertProblem(s, 405, 'GH_METHOD_NOT_ALLOWED');
    assert.equal(header(s, 'allow'), 'GET, HEAD, PATCH');
  });

  test('path parameters at the end and in the middle are checked; a concrete path wins', async () => {
    assert.equal((await request(url('/v1/pets/7'))).status, 200);
    assert.equal((await request(url('/v1/pets/mine'))).status, 200);
    const bad = await request(url('/v1/pets/abc'));
    assertProblem(bad, 400, 'GH_VALIDATION_FAILED');
    assert.equal(bad.json.detail, 'path.petId: must be integer');
    const photo = await request(url('/v1/pets/7/photos'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'PNG...' });
    assert.equal(photo.status, 200, photo.body);
    assert.equal(pets.received.at(-1)!.url, '/v1/pets/7/photos');
    assertProblem(await request(url('/v1/pets/0/photos'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' }), 400, 'GH_VALIDATION_FAILED');
    assertProblem(await request(url('/v1/pets/7/photos'), { method: 'POST', headers: JSON_HEADERS, body: '{}' }), 415, 'GH_UNSUPPORTED_MEDIA_TYPE');
  });

  test('a mixed segment: the route takes one segment, validate keeps the template\'s shape', async () => {
    assert.equal((await request(url('/v1/files/report.json'))).status, 200);
    assertProblem(await request(url('/v1/files/report.txt')), 404, 'GH_ROUTE_NOT_FOUND');
    const long = await request(url('/v1/files/much-too-long.json'));
    assertProblem(long, 400, 'GH_VALIDATION_FAILED');
    assert.equal(long.json.detail, 'path.name: must NOT have more than 8 characters');
  });

  test('3.1 with $refs, per path, --strip-base: the service gets the template path', async () => {
    const body = '{"sku":"ABC-1","quantity":4,"note":null,"dimensions":[1,2,3]}';
    const ok = await request(url('/api/v2/warehouses/fr1/items/ABC-1'), { method: 'PUT', headers: JSON_HEADERS, body });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(stock.received.at(-1)!.url, '/warehouses/fr1/items/ABC-1');
    assert.equal(stock.received.at(-1)!.body, body);
    const count = stock.received.length;
    const wh = await request(url('/api/v2/warehouses/FRANCE/items/ABC-1'), { method: 'PUT', headers: JSON_HEADERS, body });
    assertProblem(wh, 400, 'GH_VALIDATION_FAILED');
    assert.equal(wh.json.detail, 'path.warehouse-id: must match pattern "^[a-z]{2}[0-9]$"');
    const qty = await request(url('/api/v2/items/ABC-1'), { method: 'PATCH', headers: JSON_HEADERS, body: '{"sku":"ABC-1","quantity":-1}' });
    assertProblem(qty, 422, 'GH_UNPROCESSABLE');
    assert.equal(qty.json.detail, 'body.quantity: must be >= 0');
    const dims = await request(url('/api/v2/items'), { method: 'POST', headers: JSON_HEADERS, body: '{"sku":"A","quantity":1,"dimensions":[1,2,3,4]}' });
    assertProblem(dims, 422, 'GH_UNPROCESSABLE');
    assert.equal(stock.received.length, count);
    assert.equal((await request(url('/api/v2/items?page=2'))).status, 200);
    assert.equal(stock.received.at(-1)!.url, '/items?page=2');
  });
});

describe('import openapi: refusals, one line each', () => {
  test('the document: unreadable, not OpenAPI 3, Swagger 2.0, remote and file $refs, duplicate operationIds, refused by validate', async () => {
    assert.equal(await refusal({ spec: 'nope.yaml', cwd: FIXTURES }), 'nope.yaml: file not found');
    assert.equal(await refusal({ spec: 'swagger2.json', cwd: FIXTURES }),
      'swagger2.json: is a Swagger 2.0 document; convert it to OpenAPI 3 first (for example `npx swagger2openapi swagger2.json -o openapi.yaml`)');
    assert.match(await refusal({ spec: 'remote-ref.yaml', cwd: FIXTURES }),
      /^remote-ref\.yaml:9 \/paths\/~1things\/post\/requestBody\/content\/application~1json\/schema\/\$ref: \$ref "https:\/\/schemas\.example\.com\/thing\.json" is a URL, and nothing is fetched from the network: bundle the document/);
    const dir = tempDir();
    const write = (name: string, text: string): string => { writeFileSync(join(dir, name), text); return name; };
    assert.equal(await refusal({ spec: write('v2.yaml', 'openapi: 2.5.0\ninfo: {}\npaths: {}\n'), cwd: dir }), 'v2.yaml: openapi "2.5.0" is not supported: only OpenAPI 3.0 and 3.1 documents');
    assert.equal(await refusal({ spec: write('list.yaml', '- a\n'), cwd: dir }), 'list.yaml: is not an OpenAPI document (a mapping with openapi, info and paths)');
    assert.match(await refusal({ spec: write('bad.yaml', 'openapi: 3.0.0\n  x: [\n'), cwd: dir }), /^bad\.yaml: is not valid YAML or JSON: /);
    assert.match(await refusal({ spec: write('file-ref.yaml', 'openapi: 3.0.0\ninfo: { title: t, version: "1" }\npaths:\n  /a:\n    post:\n      requestBody: { content: { application/json: { schema: { $ref: "./a.json" } } } }\n      responses: {}\n'), cwd: dir }),
      /\$ref "\.\/a\.json" is in another file, and validate\.openapi reads one file: bundle/);
    assert.equal(await refusal({ spec: write('dup.yaml', 'openapi: 3.0.0\ninfo: { title: t, version: "1" }\npaths:\n  /a:\n    get: { operationId: same, responses: {} }\n  /b:\n    post: { operationId: same, responses: {} }\n'), cwd: dir }),
      'dup.yaml:7: operationId "same" is used by GET /a and POST /b; operationIds must be unique (fix dup.yaml)');
    assert.match(await refusal({ spec: write('unknown.yaml', 'openapi: 3.1.0\ninfo: { title: t, version: "1" }\npaths:\n  /a:\n    post:\n      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Nope" } } } }\n      responses: {}\n'), cwd: dir }),
      /^unknown\.yaml: the validate feature cannot use this document: unknown\.yaml:6 .*unknown \$ref "#\/components\/schemas\/Nope"/);
    assert.equal(await refusal({ spec: write('empty.yaml', 'openapi: 3.0.0\ninfo: { title: t, version: "1" }\npaths: {}\n'), cwd: dir }), 'empty.yaml: no operation to import (paths is empty)');
  });

  test('the options and the target config', async () => {
    assert.match(await refusal({ spec: PETSTORE, service: undefined }), /^--service NAME is required/);
    assert.match(await refusal({ spec: PETSTORE, service: 'bad name' }), /^--service "bad name" is not a service name/);
    assert.equal(await refusal({ spec: PETSTORE, per: 'method' }), '--per must be operation or path, not "method"');
    assert.match(await refusal({ spec: PETSTORE, namePrefix: '-x' }), /^--name-prefix "-x" must start/);
    assert.equal(await refusal({ spec: PETSTORE, basePath: 'v1' }), '--base-path must start with / (got "v1")');
    assert.match(await refusal({ spec: PETSTORE, basePath: '/v1/:x' }), /must be a plain path/);

    const dir = tempDir();
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, 'services:\n  petz: { targets: [http://127.0.0.1:1] }\nroutes:\n  - { name: listPets, match: { path: /old/pets }, service: petz }\n');
    assert.equal(await refusal({ spec: PETSTORE, config: file }), `${file} has no service "pets" (did you mean "petz"?); add it under services: first`);
    assert.equal(await refusal({ spec: PETSTORE, config: file, service: 'petz' }),
      `route name "listPets" (GET /pets) is already used in ${file}; pass --name-prefix to keep the imported names apart`);
    const { routes } = await importSpec({ spec: PETSTORE, config: file, service: 'petz', namePrefix: 'pets.' });
    assert.equal(routes[0]!.name, 'pets.listPets');
    // A config that does not load is the loader's error (exit 1), not a usage error.
    writeFileSync(file, 'services: [\n');
    await assert.rejects(runImportOpenApi({ spec: PETSTORE, config: file, service: 'pets' }, () => {}), ConfigError);
  });
});
