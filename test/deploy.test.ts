/**
 * The deployment files in deploy/ (docs/deployment.md): the example production config loads and compiles as
 * `gatehouse validate` would; the Kubernetes manifests, the Dockerfile and the systemd unit say what the
 * guide says (probes on the admin port, non-root, read-only root filesystem, grace periods longer than the
 * drain) and pass the validators that exist: the Kubernetes JSON Schemas of `kubernetes-models`, the
 * Dockerfile linter of `dockerfile-utils` (both dev dependencies: skipped with a message when not installed),
 * `kubectl kustomize` and `systemd-analyze verify` (skipped when the binary is missing). The image is built
 * only with GATEHOUSE_DOCKER_TEST=1 (CI does not depend on Docker).
 *
 * With Redis: two instances started from the example config share rate limits and config, answer the probes
 * without the token; and the config kept in Redis (`admin.changes: redis`) has its fail mode: a start
 * without Redis fails, a running gateway keeps serving and refuses changes while Redis is away, and takes
 * them again when it is back.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../src/config/load.js';
import { compile } from '../src/config/compile.js';
import { preloadFor } from '../src/config/preload.js';
import { ConfigError } from '../src/config/errors.js';
import { loadTlsSettings } from '../src/listen/tls.js';
import { silentLogger } from '../src/observability/log.js';
import { parseDuration } from '../src/config/units.js';
import { startUpstream, freePort } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { needRedis, uniquePrefix, dropPrefix, REDIS_URL, startPrivateRedis } from './helpers/redis.js';

/** Compiled to dist/test/deploy.test.js, so the repository root is two folders up. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const CONFIG = join(DEPLOY, 'gatehouse.yaml');
const K8S = join(DEPLOY, 'kubernetes');
const MANIFESTS = ['configmap.yaml', 'deployment.yaml', 'service.yaml', 'hpa.yaml', 'pdb.yaml', 'secret.example.yaml'];
const TOKEN = 'deploy-test-admin-token-0123';
/** The dev dependencies that validate the manifests and the Dockerfile; the lead installs them. */
const K8S_VALIDATOR = 'kubernetes-models@^4.5.1';
const DOCKERFILE_VALIDATOR = 'dockerfile-utils@^0.16.3';
/** Time the gateway may take after SIGTERM besides listen.shutdownTimeout: the last usage flush while Redis is down. */
const FLUSH_AT_SHUTDOWN_S = 5;

type Obj = Record<string, any>;

function manifests(): Obj[] {
  const out: Obj[] = [];
  for (const f of MANIFESTS) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S, f), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${f}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const o = doc.toJS() as Obj | null;
      if (o !== null) out.push(Object.assign(o, { __file: f }));
    }
  }
  return out;
}

function one(objs: Obj[], kind: string): Obj {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
}

/** The example config as `gatehouse validate` checks it, with the variables it needs set. */
test('deploy/gatehouse.yaml loads and compiles; without GATEHOUSE_ADMIN_TOKEN it is refused', async () => {
  const loaded = loadConfigFile(CONFIG, { GATEHOUSE_ADMIN_TOKEN: TOKEN });
  await preloadFor(loaded.config);
  loadTlsSettings(loaded);
  const rt = compile(loaded, silentLogger());
  await rt.retire(0);
  const c = loaded.config;
  assert.equal(c.listen.port, 8080);
  assert.equal(c.listen.host, '0.0.0.0');
  assert.equal(c.admin?.port, 9080);
  assert.equal(c.admin?.host, '0.0.0.0');
  assert.equal(c.admin?.token, TOKEN);
  assert.equal(c.admin?.changes, 'redis');
  assert.ok(typeof c.store === 'object' && c.store.redis.url === 'redis://redis:6379');
  assert.ok(c.trustedProxies.length > 0);

  assert.throws(() => loadConfigFile(CONFIG, {}), (err: unknown) => err instanceof ConfigError && /admin\.token: environment variable GATEHOUSE_ADMIN_TOKEN is not set/.test(err.message));
});

test('the ConfigMap holds deploy/gatehouse.yaml unchanged', () => {
  const cm = one(manifests(), 'ConfigMap');
  assert.equal(cm.data['gatehouse.yaml'], readFileSync(CONFIG, 'utf8'),
    'deploy/kubernetes/configmap.yaml is out of step: copy deploy/gatehouse.yaml under data."gatehouse.yaml", indented by 4 spaces');
});

test('the Kubernetes manifests: probes on the admin port, non-root and read-only, grace period longer than the drain', () => {
  const objs = manifests();
  const config = loadConfigFile(CONFIG, { GATEHOUSE_ADMIN_TOKEN: TOKEN }).config;
  const dep = one(objs, 'Deployment');
  const svc = one(objs, 'Service');
  const hpa = one(objs, 'HorizontalPodAutoscaler');
  const cm = one(objs, 'ConfigMap');
  const secret = one(objs, 'Secret');
  const pdb = one(objs, 'PodDisruptionBudget');
  const pod = dep.spec.template.spec;
  const labels = dep.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(labels[k], v, `the selector matches the pod's ${k}`);
  assert.equal(dep.spec.replicas, undefined, 'the HPA owns the replica count');
  assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);

  const c = pod.containers.find((x: Obj) => x.name === 'gatehouse');
  const ports = new Map<string, number>(c.ports.map((p: Obj) => [p.name, p.containerPort]));
  const env = new Map<string, Obj>(c.env.map((e: Obj) => [e.name, e]));
  assert.equal(Number(env.get('GATEHOUSE_PORT')!.value), ports.get('http'));
  assert.equal(Number(env.get('GATEHOUSE_ADMIN_PORT')!.value), ports.get('admin'));
  assert.equal(ports.get('http'), config.listen.port, 'the image default and the config agree on the traffic port');
  assert.equal(ports.get('admin'), config.admin?.port);
  assert.equal(env.get('GATEHOUSE_ADMIN_HOST')!.value, '0.0.0.0', 'the kubelet probes the pod IP');

  // Probes: readiness /readyz, liveness (and startup) /healthz, on the admin port, which needs no token for them.
  assert.deepEqual([c.readinessProbe.httpGet.path, c.readinessProbe.httpGet.port], ['/readyz', 'admin']);
  assert.deepEqual([c.livenessProbe.httpGet.path, c.livenessProbe.httpGet.port], ['/healthz', 'admin']);
  assert.deepEqual([c.startupProbe.httpGet.path, c.startupProbe.httpGet.port], ['/healthz', 'admin']);

  // Secrets by reference, every key present in the example Secret; the config from the ConfigMap.
  for (const name of ['GATEHOUSE_ADMIN_TOKEN', 'REDIS_URL']) {
    const ref = env.get(name)!.valueFrom.secretKeyRef;
    assert.equal(ref.name, secret.metadata.name);
    assert.ok(ref.key in secret.stringData, `the example Secret has ${ref.key}`);
  }
  assert.ok(secret.stringData['admin-token'].length >= 16, 'the config refuses an admin token under 16 characters');
  const volume = pod.volumes.find((v: Obj) => v.configMap !== undefined);
  assert.equal(volume.configMap.name, cm.metadata.name);
  const mount = c.volumeMounts.find((m: Obj) => m.name === volume.name);
  assert.equal(`${mount.mountPath}/gatehouse.yaml`, '/etc/gatehouse/gatehouse.yaml', 'where the image\'s CMD reads the config');
  assert.equal(mount.readOnly, true);

  // Non-root, read-only root filesystem, no capabilities, no privilege escalation; resources set.
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.securityContext.capabilities.add, undefined);
  assert.ok(c.resources.requests.cpu !== undefined, 'the HPA scales on CPU relative to the request');
  assert.ok(c.resources.requests.memory !== undefined && c.resources.limits.memory !== undefined);
  assert.equal(pod.automountServiceAccountToken, false);

  // The kubelet's SIGKILL comes terminationGracePeriodSeconds after the preStop hook began.
  const preStop = Number(c.lifecycle.preStop.exec.command[1]);
  const drain = parseDuration(config.listen.shutdownTimeout) / 1000;
  assert.ok(pod.terminationGracePeriodSeconds > preStop + drain + FLUSH_AT_SHUTDOWN_S,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} must exceed preStop ${preStop} s + shutdownTimeout ${drain} s + ${FLUSH_AT_SHUTDOWN_S} s`);

  // The Service sends its port to the container's traffic port and selects the pods.
  assert.equal(svc.spec.ports[0].targetPort, 'http');
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(labels[k], v);
  assert.ok(!svc.spec.ports.some((p: Obj) => p.targetPort === 'admin' || p.targetPort === ports.get('admin')), 'the admin port is not in the Service');

  // autoscaling/v2 on CPU, on this Deployment, never below two pods.
  assert.equal(hpa.apiVersion, 'autoscaling/v2');
  assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', dep.metadata.name]);
  assert.ok(hpa.spec.minReplicas >= 2);
  assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v);

  // kustomization.yaml lists every manifest but the example Secret.
  const kust = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as Obj;
  assert.deepEqual([...kust.resources].sort(), MANIFESTS.filter((f) => f !== 'secret.example.yaml').sort());
});

test('the Kubernetes manifests validate against the Kubernetes JSON Schemas (kubernetes-models)', async (t) => {
  let checked = 0;
  for (const o of manifests()) {
    const { __file: file, ...obj } = o;
    let mod: Obj;
    try {
      mod = await importOptional(`kubernetes-models/${obj.apiVersion}/${obj.kind}`);
    } catch (err) {
      if (isNotFound(err) && !existsSync(join(ROOT, 'node_modules', 'kubernetes-models'))) {
        t.skip(`${K8S_VALIDATOR} is not installed (npm install -D ${K8S_VALIDATOR}); the structural checks above still ran`);
        return;
      }
      throw err;
    }
    const Model = mod[obj.kind as string] as new (data: Obj) => { validate(): void };
    assert.ok(typeof Model === 'function', `kubernetes-models has ${obj.apiVersion} ${obj.kind}`);
    assert.doesNotThrow(() => new Model(obj).validate(), `${file}: ${obj.kind} is valid`);
    checked++;
  }
  assert.equal(checked, MANIFESTS.length);
});

test('kubectl kustomize renders deploy/kubernetes', (t) => {
  const r = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    t.skip('kubectl is not installed');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as Obj).kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
});

/** Dockerfile instructions: comments dropped, continuation lines joined. */
function dockerfile(): { op: string; args: string }[] {
  const lines = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').split('\n');
  const out: { op: string; args: string }[] = [];
  let cur = '';
  for (const line of lines) {
    if (/^\s*#/.test(line)) continue;
    cur += line.endsWith('\\') ? line.slice(0, -1) + ' ' : line;
    if (line.endsWith('\\')) continue;
    const m = /^\s*(\w+)\s+(.*)$/.exec(cur);
    if (m !== null) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    cur = '';
  }
  return out;
}

test('the Dockerfile: multi-stage, non-root, HEALTHCHECK on /healthz, EXPOSE, the exec-form CMD', () => {
  const ins = dockerfile();
  const froms = ins.filter((i) => i.op === 'FROM');
  assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
  const lastFrom = ins.lastIndexOf(froms[froms.length - 1]!);
  const runtime = ins.slice(lastFrom);
  const user = runtime.find((i) => i.op === 'USER');
  assert.ok(user !== undefined && /^[1-9]\d*(:\d+)?$/.test(user.args), 'the runtime stage runs as a numeric non-root user (runAsNonRoot can check it)');
  const deployment = one(manifests(), 'Deployment');
  assert.equal(Number(user.args.split(':')[0]), deployment.spec.template.spec.securityContext.runAsUser);
  const expose = runtime.find((i) => i.op === 'EXPOSE')!.args.split(/\s+/).map(Number).sort();
  assert.deepEqual(expose, [8080, 9080]);
  const health = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
  assert.match(health, /\/healthz/);
  assert.match(health, /GATEHOUSE_ADMIN_PORT/);
  const cmd = runtime.find((i) => i.op === 'CMD')!.args;
  assert.deepEqual(JSON.parse(cmd), ['node', 'bin/gatehouse.js', 'start', '-c', '/etc/gatehouse/gatehouse.yaml']);
  assert.ok(ins.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)), 'the runtime gets production dependencies only');

  // Every COPY from the build context names something that exists and that .dockerignore does not drop.
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const i of ins.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
    const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: exists in the repository`);
      assert.ok(!ignored.some((p) => src === p || src.startsWith(`${p}/`)), `COPY ${src}: not excluded by .dockerignore`);
    }
  }
});

test('the Dockerfile passes the dockerfile-utils linter', async (t) => {
  let mod: Obj;
  try {
    mod = await importOptional('dockerfile-utils');
  } catch (err) {
    if (!isNotFound(err)) throw err;
    t.skip(`${DOCKERFILE_VALIDATOR} is not installed (npm install -D ${DOCKERFILE_VALIDATOR}); the checks above still ran`);
    return;
  }
  // CommonJS: the named export, or the same function on the default export when Node cannot detect it.
  const validate = (mod.validate ?? mod.default?.validate) as (text: string) => { severity?: number; message: string; range: { start: { line: number } } }[];
  const diagnostics = validate(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
  const text = (d: (typeof diagnostics)[number]): string => `line ${d.range.start.line + 1}: ${d.message}`;
  // Severity 1 is an error (LSP's DiagnosticSeverity): refused. Warnings are reported, not refused.
  for (const d of diagnostics.filter((x) => x.severity !== 1)) t.diagnostic(`warning: ${text(d)}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 1).map(text), []);
});

test('the image builds and validates its own config (GATEHOUSE_DOCKER_TEST=1)', { timeout: 900_000 }, (t) => {
  if (process.env.GATEHOUSE_DOCKER_TEST !== '1') {
    t.skip('set GATEHOUSE_DOCKER_TEST=1 to build the image with Docker');
    return;
  }
  const tag = 'gatehouse:deploy-test';
  const build = spawnSync('docker', ['build', '-f', join(DEPLOY, 'Dockerfile'), '-t', tag, ROOT], { encoding: 'utf8', timeout: 840_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(build.status, 0, `${build.error?.message ?? ''}\n${build.stderr.slice(-4000)}`);
  const inspect = JSON.parse(spawnSync('docker', ['image', 'inspect', tag], { encoding: 'utf8' }).stdout) as Obj[];
  const cfg = inspect[0]!.Config;
  assert.equal(cfg.User, '1000:1000');
  assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ['8080/tcp', '9080/tcp']);
  assert.match(cfg.Healthcheck.Test.join(' '), /\/healthz/);
  // The shipped config validates inside the image, on a read-only root filesystem without capabilities.
  const run = spawnSync('docker', ['run', '--rm', '--read-only', '--cap-drop', 'ALL', '-e', `GATEHOUSE_ADMIN_TOKEN=${TOKEN}`, tag,
    'node', 'bin/gatehouse.js', 'validate', '-c', '/etc/gatehouse/gatehouse.yaml'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /valid/);
});

/** A systemd unit as sections of key → values (a key may repeat). */
function unitFile(path: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | null = null;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s !== null) {
      section = new Map();
      out.set(s[1]!, section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv !== null && section !== null, `not a key=value line in a section: ${line}`);
    const list = section.get(kv[1]!) ?? [];
    list.push(kv[2]!);
    section.set(kv[1]!, list);
  }
  return out;
}

test('the systemd unit: start with the config, reload by SIGHUP, stop timeout longer than the drain', () => {
  const unit = unitFile(join(DEPLOY, 'systemd', 'gatehouse.service'));
  const service = unit.get('Service')!;
  const get = (k: string): string | undefined => service.get(k)?.at(-1);
  assert.match(get('ExecStart')!, /^\/usr\/bin\/node \/opt\/gatehouse\/bin\/gatehouse\.js start -c \/etc\/gatehouse\/gatehouse\.yaml$/);
  assert.match(get('ExecReload')!, /kill -HUP \$MAINPID/);
  assert.equal(get('KillSignal'), 'SIGTERM');
  const drain = parseDuration(loadConfigFile(CONFIG, { GATEHOUSE_ADMIN_TOKEN: TOKEN }).config.listen.shutdownTimeout) / 1000;
  assert.ok(Number(get('TimeoutStopSec')) > drain + FLUSH_AT_SHUTDOWN_S - 1, `TimeoutStopSec covers shutdownTimeout ${drain} s + ${FLUSH_AT_SHUTDOWN_S} s`);
  assert.equal(get('NoNewPrivileges'), 'yes');
  assert.equal(get('DynamicUser'), 'yes', 'never root');
  assert.equal(get('MemoryDenyWriteExecute'), undefined, 'V8 needs writable executable memory');
  assert.ok(unit.get('Unit')!.has('Description'));
  assert.equal(unit.get('Install')!.get('WantedBy')?.[0], 'multi-user.target');
});

test('systemd-analyze verify accepts the unit', (t) => {
  const r = spawnSync('systemd-analyze', ['verify', join(DEPLOY, 'systemd', 'gatehouse.service')], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    t.skip('systemd-analyze is not installed');
    return;
  }
  // verify exits 0 on unknown keys and bad values (it only warns), so any output is a failure, except that
  // this machine may not have Node at /usr/bin/node, where the unit expects it.
  const out = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '')
    .filter((l) => !(/Command \/usr\/bin\/node is not executable/.test(l) && !existsSync('/usr/bin/node')));
  assert.deepEqual(out, []);
});

/** The example config for a test: its own key prefix, and a limit small enough to count (5 an hour, by IP). */
function exampleFor(prefix: string): string {
  const text = readFileSync(CONFIG, 'utf8');
  const out = text.replace('keyPrefix: "gatehouse:"', `keyPrefix: "${prefix}"`).replace('rate-limit: { limit: 100, per: 1s, by: ip }', 'rate-limit: { limit: 5, per: 1h, by: ip }');
  assert.ok(!out.includes('keyPrefix: "gatehouse:"') && out.includes('limit: 5, per: 1h'), 'the example config changed: update exampleFor()');
  return out;
}

function envFor(redisUrl: string, upstream: string): NodeJS.ProcessEnv {
  return { ...process.env, GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_PORT: '0', GATEHOUSE_ADMIN_HOST: '127.0.0.1', GATEHOUSE_ADMIN_PORT: '0', GATEHOUSE_ADMIN_TOKEN: TOKEN, REDIS_URL: redisUrl, USERS_URL: upstream };
}

function admin(gw: TestGateway, method: string, path: string, body?: unknown) {
  return request(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Polls `probe` every 20 ms until it returns true; throws after `ms`. */
async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('two instances from the example config share limits and config, and answer the probes without the token', { timeout: 30_000 }, async (t) => {
  if (!(await needRedis(t))) return;
  const up = await startUpstream('users');
  const prefix = uniquePrefix();
  const gws: TestGateway[] = [];
  t.after(async () => {
    for (const g of gws) await g.close();
    await up.close();
    await dropPrefix(prefix);
  });
  for (let i = 0; i < 2; i++) gws.push(await startTestGateway(exampleFor(prefix), { env: envFor(REDIS_URL, up.url) }));
  const [a, b] = gws as [TestGateway, TestGateway];

  for (const gw of gws) {
    assert.equal((await request(`${gw.adminUrl}/healthz`)).status, 200);
    await until('/readyz to answer 200', 5000, async () => (await request(`${gw.adminUrl}/readyz`)).status === 200);
    assert.equal((await request(`${gw.adminUrl}/metrics`)).status, 401, 'the token guards everything but the probes');
    assert.equal((await request(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  }

  // One limit across both: 5 an hour by IP, whichever instance counts.
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await request(`${(i % 2 === 0 ? a : b).url}/v1/users/1`)).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  // The health checks of the users service reach the upstream too: count the proxied requests only.
  const proxied = up.received.filter((r) => r.url !== '/health');
  assert.equal(proxied.length, 5);
  assert.equal(proxied[0]!.url, '/users/1');

  // One config across both: a route added through one instance's admin API is live on the other.
  const put = await admin(a, 'PUT', '/api/routes/added', { match: { path: '/added/*' }, service: 'users' });
  assert.equal(put.status, 201, put.body);
  await until('the new route on the other instance', 3000, async () => (await request(`${b.url}/added/x`)).status === 200);
});


/** Stops a redis-server with SIGTERM (it writes its append-only file first) and waits for it to exit. */
async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

test('admin.changes: redis fail mode: no start without Redis; while it is away traffic is served and changes are refused', { timeout: 30_000 }, async (t: TestContext) => {
  if (!(await needRedis(t))) return;
  const up = await startUpstream('users');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-deploy-redis-'));
  let redis: ChildProcess | null = null;
  let gw: TestGateway | null = null;
  t.after(async () => {
    await gw?.close();
    if (redis !== null) await stopRedis(redis);
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = envFor(`redis://127.0.0.1:${port}`, up.url);
  const text = exampleFor(uniquePrefix());

  // The config lives in Redis: without it there is no config to start with.
  await assert.rejects(startTestGateway(text, { env }), /admin\.changes is redis but Redis cannot be reached/);

  redis = await startPrivateRedis(port, { dir });
  gw = await startTestGateway(text, { env });
  assert.equal((await request(`${gw.url}/v1/users/1`)).status, 200);

  await stopRedis(redis);
  // The running config keeps serving (the rate limit fails open), readiness stays up with failMode: open.
  assert.equal((await request(`${gw.url}/v1/users/2`)).status, 200);
  assert.equal((await request(`${gw.adminUrl}/readyz`)).status, 200);
  let refused = { status: 0 } as Awaited<ReturnType<typeof admin>>;
  await until('a change to be refused while Redis is away', 3000, async () => {
    refused = await admin(gw!, 'PUT', '/api/routes/added', { match: { path: '/added/*' }, service: 'users' });
    return refused.status === 409;
  });
  assert.equal(refused.headers['content-type'], 'application/problem+json');
  assert.equal(refused.json.code, 'GH_CONFIG_READONLY');
  assert.equal((await request(`${gw.url}/added/x`)).status, 404);

  // Redis back (with its data): changes are taken again, without a restart.
  redis = await startPrivateRedis(port, { dir });
  await until('a change to be accepted once Redis is back', 10_000, async () => (await admin(gw!, 'PUT', '/api/routes/added', { match: { path: '/added/*' }, service: 'users' })).status === 201);
  assert.equal((await request(`${gw.url}/added/x`)).status, 200);
});

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED';
}

/** Imports a package that may not be installed; the specifier is a variable so TypeScript does not resolve it. */
function importOptional(specifier: string): Promise<Obj> {
  return import(specifier) as Promise<Obj>;
}
