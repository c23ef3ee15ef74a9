// `npm run bench`: the macro benchmark. Starts the upstream (bench/upstream.ts) in its own process, then for
// each target of bench/lib/targets.ts (direct, the yardstick proxy, Gatehouse, ...) starts it in its own
// process, runs every scenario against it with autocannon, and records throughput, latency, errors and the
// target's memory. Prints one table, writes .bench/last.json. Everything listens on 127.0.0.1.
//
// Exit code: 0 when every target ran or was skipped as unavailable; 1 on a harness failure (a server that
// does not start or dies under load, autocannon failing); 2 on bad flags. Never on a low number:
// benchmarks report, tests judge. See docs/benchmarks.md.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildServer, ChildStartError, killAllSync, stopAll } from './lib/child.js';
import { measure, preflight, warmUp, type LoadOptions } from './lib/load.js';
import { cpuMs, machineBusy, peakRssBytes, resetPeakRss, rssBytes } from './lib/proc.js';
import { addRatios, combineRounds, formatRounds, formatTable, formatTargets, PLAIN_TARGET, ratio, type Row, type TargetStatus } from './lib/report.js';
import { BENCH_CERT, SCENARIOS, TARGETS, WS_TARGET, type Scenario, type Target } from './lib/targets.js';
import { execFileSync } from 'node:child_process';
import { measureWs, type WsResult } from './lib/ws-load.js';

/** ROOT is the repository root (this file runs as dist/bench/run.js). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const UPSTREAM_JS = fileURLToPath(new URL('./upstream.js', import.meta.url));
const YARDSTICK_JS = fileURLToPath(new URL('./yardstick-proxy.js', import.meta.url));
const GATEHOUSE_BIN = join(ROOT, 'bin/gatehouse.js');
/** GATEHOUSE_BUILT_MARKER is the file bin/gatehouse.js imports; until it exists Gatehouse is "unavailable". */
const GATEHOUSE_BUILT_MARKER = join(ROOT, 'dist/src/cli/main.js');
const RESULTS_FILE = join(ROOT, '.bench/last.json');

/** START_TIMEOUT_MS is how long a server gets to print its listening line. */
const START_TIMEOUT_MS = 10_000;
/** IDLE_SETTLE_MS is the pause between "listening" and reading the idle RSS, for startup work to finish. */
const IDLE_SETTLE_MS = 300;
/** BUSY_SAMPLE_MS is how long the machine's CPU use is sampled before the run. */
const BUSY_SAMPLE_MS = 500;
/** BUSY_WARNING is the share of all CPUs already busy before the run above which the numbers are suspect. */
const BUSY_WARNING = 0.15;

const USAGE = `Usage: npm run bench -- [options]     (or: node dist/bench/run.js [options])

  --duration N      measured seconds per scenario (default 5)
  --warmup N        unmeasured seconds before each scenario, and per scenario in the warm-up pass each
                    target gets once started (default 1; 0 skips both)
  --connections N   concurrent client connections (default 50); the yardstick's pool gets 2 x N
  --only NAME       run only these targets and/or scenarios; repeatable or comma-separated
                    targets:   ${TARGETS.map((t) => t.name).join(', ')}
                    scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
                    websocket: the WebSocket echo part (direct and through a websocket: route),
                    which runs after the HTTP targets when no --only is given or it is named
  --workers N       run the Gatehouse targets as N worker processes (start --workers N; default 1);
                    above 1, CPU and RSS cover the primary and its workers, and the plain gatehouse
                    target's get-64b is also measured with 1 worker, for the scaling ratio
  --rounds N        run the whole list of targets N times (default 1); each row is then the round with
                    the median req/s, each ratio the median of the ratios within each round, and the
                    per-round ratios to the plain route are printed below the table
  --paired N        after the table, measure each feature target again against the plain route in N
                    pairs of alternating 1-second slices (ABBA order), both processes running, and print
                    the ratio of their summed requests: the two sides see the same moments of the machine
  --keep-logs       keep the temp folder with the generated configs and every server's stdout/stderr
  --help            this text
`;

/** BenchOptions are the parsed command-line flags. */
interface BenchOptions extends LoadOptions {
  targets: Target[];
  scenarios: Scenario[];
  only: string[];
  keepLogs: boolean;
  /** Worker processes of every Gatehouse target (`gatehouse start --workers N`). */
  workers: number;
  /** How many times the list of targets is run (--rounds). */
  rounds: number;
  /** Pairs of alternating slices per feature target against the plain route (--paired); 0 = off. */
  paired: number;
}

class UsageError extends Error {}

function positive(name: string, text: string, allowZero: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new UsageError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${text}"`);
  }
  return n;
}

function parseOptions(argv: string[]): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '1' },
        connections: { type: 'string', default: '50' },
        only: { type: 'string', multiple: true },
        'keep-logs': { type: 'boolean', default: false },
        workers: { type: 'string', default: '1' },
        rounds: { type: 'string', default: '1' },
        paired: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
  for (const name of only) {
    if (name !== 'websocket' && !TARGETS.some((t) => t.name === name) && !SCENARIOS.some((s) => s.name === name)) {
      throw new UsageError(`--only ${name}: no such target or scenario`);
    }
  }
  const onlyTargets = TARGETS.filter((t) => only.includes(t.name));
  const onlyScenarios = SCENARIOS.filter((s) => only.includes(s.name));
  const connections = positive('connections', values.connections, false);
  if (!Number.isInteger(connections)) throw new UsageError('--connections must be an integer');
  const workers = positive('workers', values.workers, false);
  if (!Number.isInteger(workers)) throw new UsageError('--workers must be an integer');
  const rounds = positive('rounds', values.rounds, false);
  if (!Number.isInteger(rounds)) throw new UsageError('--rounds must be an integer');
  const paired = positive('paired', values.paired, true);
  if (!Number.isInteger(paired)) throw new UsageError('--paired must be an integer');
  return {
    durationS: positive('duration', values.duration, false),
    warmupS: positive('warmup', values.warmup, true),
    connections,
    // `--only websocket` alone runs the WebSocket part only.
    targets: onlyTargets.length > 0 ? onlyTargets : only.length > 0 && only.every((n) => n === 'websocket') ? [] : [...TARGETS],
    scenarios: onlyScenarios.length > 0 ? onlyScenarios : [...SCENARIOS],
    only,
    keepLogs: values['keep-logs'],
    workers,
    rounds,
    paired,
  };
}

/** scenariosOf is what `target` runs of the selected scenarios (a JSON-chain target has nothing to show on 64 KiB downloads). */
function scenariosOf(target: Target, scenarios: readonly Scenario[]): Scenario[] {
  return target.scenarios === undefined ? [...scenarios] : scenarios.filter((x) => target.scenarios!.includes(x.name));
}

/** tempDir holds the generated configs and the children's logs; removed on exit unless keepLogs. */
let tempDir: string | null = null;
let keepLogs = false;

function cleanupSync(): void {
  killAllSync();
  if (tempDir !== null && keepLogs) {
    process.stderr.write(`configs and server logs kept in ${tempDir}\n`);
  } else if (tempDir !== null) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDir = null;
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function printStartFailure(err: unknown): void {
  if (err instanceof ChildStartError) {
    log(`error: ${err.message}`);
    log(err.stderr.trim().length > 0 ? `--- its stderr ---\n${err.stderr.trimEnd()}\n--- end of stderr ---` : '(its stderr is empty)');
  } else {
    log(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }
}

async function startTarget(target: Target, upstreamUrl: string, opts: BenchOptions, logDir: string, workers = opts.workers): Promise<ChildServer> {
  let args: string[];
  if (target.kind === 'yardstick') {
    args = [YARDSTICK_JS, '--upstream', upstreamUrl, '--connections', String(2 * opts.connections)];
  } else {
    const configFile = join(logDir, `${target.name}.yaml`);
    writeFileSync(configFile, target.config!(upstreamUrl));
    args = [GATEHOUSE_BIN, 'start', '-c', configFile, '--workers', String(workers)];
  }
  const child = await ChildServer.start({ name: target.name, args, cwd: ROOT, logDir, timeoutMs: START_TIMEOUT_MS });
  // The first worker's listening line comes before the others listen: wait for the primary's word that all do.
  if (target.kind === 'gatehouse' && workers > 1) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!readText(child.stdoutPath).includes('"event":"cluster_started"')) {
      if (child.exited || Date.now() >= deadline) {
        await child.stop();
        throw new ChildStartError(`${target.name}: not every one of ${workers} workers started within ${START_TIMEOUT_MS / 1000} s`, child.stderrTail());
      }
      await sleep(20);
    }
  }
  return child;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** family is `pid` and its children (a cluster primary's workers), from /proc; just `pid` without /proc. */
function family(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children === '' ? [pid] : [pid, ...children.split(/\s+/).map(Number)];
  } catch {
    return [pid];
  }
}

/** sumOver adds `read` over `pids`; null when any is unreadable. */
function sumOver(pids: readonly number[], read: (pid: number) => number | null): number | null {
  let total = 0;
  for (const p of pids) {
    const v = read(p);
    if (v === null) return null;
    total += v;
  }
  return total;
}

/** runTarget starts one target (unless direct), runs every scenario against it, stops it, and appends one
 * row per scenario. It returns how it went rather than throwing, so the other targets still run. */
async function runTarget(target: Target, upstream: ChildServer, opts: BenchOptions, logDir: string,
  rows: Row[]): Promise<TargetStatus> {
  const status: TargetStatus = {
    target: target.name, kind: target.kind, description: target.description, state: 'ok', message: null,
    idleRssBytes: null, stdoutBytes: null, url: null,
  };
  if (target.kind === 'gatehouse' && !existsSync(GATEHOUSE_BUILT_MARKER)) {
    status.state = 'unavailable';
    status.message = 'the gateway is not built yet (no dist/src/cli/main.js); skipped';
    log(`${target.name}: unavailable, ${status.message}`);
    return status;
  }

  let child: ChildServer | null = null;
  let url = upstream.url;
  if (target.kind !== 'direct') {
    try {
      child = await startTarget(target, upstream.url, opts, logDir);
    } catch (err) {
      printStartFailure(err);
      status.state = 'failed';
      status.message = err instanceof Error ? err.message : String(err);
      return status;
    }
    url = target.protocol === 'h2' ? child.url.replace(/^https:/, 'h2:') : child.url;
    await sleep(IDLE_SETTLE_MS);
    status.idleRssBytes = sumOver(family(child.pid), rssBytes);
  }
  status.url = url;
  log(`${target.name}: ${url}${child !== null ? ` (pid ${child.pid})` : ''}`);

  const scenarios = scenariosOf(target, opts.scenarios);
  try {
    // One request per scenario before any load: a target answering 404 or short bodies is told apart
    // from a slow one (the load still runs; its non-2xx column shows the rest).
    const problems = new Map<string, string | null>();
    for (const scenario of scenarios) {
      const problem = await preflight(url, scenario, target.headers);
      problems.set(scenario.name, problem);
      if (problem !== null) log(`  warning: ${target.name} ${scenario.name}: the check request got ${problem}`);
    }
    // A fresh process runs several times slower for its first seconds (JIT, lazily loaded modules: on a
    // proxy the first second costs ~10x the CPU per request of the steady state). One warm-up pass over
    // every scenario first, so that even the first scenario's own warm-up starts from a warm process;
    // for `direct` it warms the load generator itself.
    if (opts.warmupS > 0) {
      for (const scenario of scenarios) await warmUp(url, scenario, target.headers, opts);
    }
    for (const scenario of scenarios) {
      await warmUp(url, scenario, target.headers, opts);

      // With --workers above 1, the primary and its workers together (sums of each one's numbers).
      const pids = child === null ? null : family(child.pid);
      const peakScope = pids === null ? null : pids.every(resetPeakRss) ? 'scenario' : 'process';
      const cpuBefore = pids === null ? null : sumOver(pids, cpuMs);
      const load = await measure(url, scenario, target.headers, opts);
      const cpuAfter = pids === null ? null : sumOver(pids, cpuMs);
      const cpu = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;

      if (child !== null && child.exited) {
        status.state = 'failed';
        status.message = `exited (code ${child.exitCode}, signal ${child.exitSignal}) during ${scenario.name}`;
        log(`error: ${target.name} ${status.message}`);
        const stderr = child.stderrTail().trimEnd();
        if (stderr.length > 0) log(`--- its stderr ---\n${stderr}\n--- end of stderr ---`);
        break;
      }
      rows.push({
        target: target.name,
        kind: target.kind,
        scenario: scenario.name,
        load,
        peakRssBytes: pids === null ? null : sumOver(pids, peakRssBytes),
        peakRssScope: peakScope,
        cpuMs: cpu,
        cpuUsPerRequest: cpu === null || load.requests === 0 ? null : (cpu * 1000) / load.requests,
        preflightProblem: problems.get(scenario.name) ?? null,
        ratios: null,
      });
      log(`  ${scenario.name.padEnd(8)} ${Math.round(load.requestsPerSecond).toLocaleString('en-US').padStart(8)} req/s` +
        `  p99 ${load.p99Ms.toFixed(2)} ms  non-2xx ${load.non2xx}  errors ${load.errors}`);
    }
  } finally {
    if (child !== null) {
      status.stdoutBytes = child.stdoutBytes();
      await child.stop();
    }
  }
  return status;
}

/** SCALING_TARGET (the plain route) and SCALING_SCENARIO are what `--workers N` measures with 1 and with N workers. */
const SCALING_TARGET = PLAIN_TARGET;
const SCALING_SCENARIO = 'get-64b';

/** Scaling is the plain route's throughput with 1 worker and with N, or why it was not measured. */
interface Scaling { workers: number; scenario: string; oneWorker: number | null; nWorkers: number | null; ratio: number | null; problem: string | null }

/** measureOnce starts the target with `workers` workers and measures one scenario (warmed up as runTarget does). */
async function measureOnce(target: Target, scenario: Scenario, upstream: ChildServer, opts: BenchOptions, logDir: string, workers: number): Promise<number> {
  const child = await startTarget({ ...target, name: `${target.name}-w${workers}` }, upstream.url, opts, logDir, workers);
  try {
    await sleep(IDLE_SETTLE_MS);
    log(`${target.name} with ${workers} worker${workers === 1 ? '' : 's'}: ${child.url} (pid ${child.pid})`);
    // Twice, as runTarget's warm-up pass and the scenario's own warm-up.
    await warmUp(child.url, scenario, target.headers, opts);
    await warmUp(child.url, scenario, target.headers, opts);
    const load = await measure(child.url, scenario, target.headers, opts);
    log(`  ${scenario.name.padEnd(8)} ${Math.round(load.requestsPerSecond).toLocaleString('en-US').padStart(8)} req/s  non-2xx ${load.non2xx}  errors ${load.errors}`);
    return load.requestsPerSecond;
  } finally {
    await child.stop();
  }
}

/**
 * runScaling measures the plain gatehouse target's get-64b with 1 worker, and takes the N-worker number
 * from the main table (measuring it too when --only left it out).
 */
async function runScaling(upstream: ChildServer, opts: BenchOptions, logDir: string, rows: Row[]): Promise<Scaling> {
  const out: Scaling = { workers: opts.workers, scenario: SCALING_SCENARIO, oneWorker: null, nWorkers: null, ratio: null, problem: null };
  const target = TARGETS.find((t) => t.name === SCALING_TARGET)!;
  const scenario = SCENARIOS.find((x) => x.name === SCALING_SCENARIO)!;
  if (!existsSync(GATEHOUSE_BUILT_MARKER)) { out.problem = 'the gateway is not built'; return out; }
  try {
    out.oneWorker = await measureOnce(target, scenario, upstream, opts, logDir, 1);
    out.nWorkers = rows.find((r) => r.target === SCALING_TARGET && r.scenario === SCALING_SCENARIO)?.load.requestsPerSecond ??
      await measureOnce(target, scenario, upstream, opts, logDir, opts.workers);
    out.ratio = out.oneWorker > 0 ? out.nWorkers / out.oneWorker : null;
  } catch (err) {
    printStartFailure(err);
    out.problem = err instanceof Error ? err.message : String(err);
  }
  return out;
}

function formatScaling(s: Scaling): string {
  const rps = (n: number | null): string => n === null ? '-' : `${Math.round(n).toLocaleString('en-US')} req/s`;
  return `workers (${SCALING_TARGET} ${s.scenario}): 1 → ${rps(s.oneWorker)}, ${s.workers} → ${rps(s.nWorkers)}, scaling ${s.ratio === null ? '-' : `${s.ratio.toFixed(2)}x`}` +
    (s.problem === null ? '' : ` (${s.problem})`);
}

/** PAIRED_SLICE_S is the length of one measured slice of --paired. */
const PAIRED_SLICE_S = 1;

/** Paired is one feature target x scenario measured against the plain route in alternating slices. */
interface Paired {
  target: string;
  scenario: string;
  /** Requests per second of each side over all its slices. */
  plainRps: number;
  featureRps: number;
  ratio: number | null;
  /** The feature's req/s over the plain route's, per pair of slices. */
  pairRatios: number[];
  problem: string | null;
}

/**
 * runPaired runs both the plain route and `target`, and measures each scenario of the target in `pairs`
 * pairs of 1-second slices, alternating which side goes first (ABBA), so that a machine that speeds up or
 * slows down affects both sides alike. The ratio is of the summed requests over the summed time.
 */
async function runPaired(target: Target, upstream: ChildServer, opts: BenchOptions, logDir: string): Promise<Paired[]> {
  const plainTarget = TARGETS.find((t) => t.name === PLAIN_TARGET)!;
  const scenarios = scenariosOf(target, opts.scenarios);
  const out: Paired[] = [];
  let plain: ChildServer | null = null;
  let feature: ChildServer | null = null;
  try {
    plain = await startTarget({ ...plainTarget, name: `${plainTarget.name}-paired` }, upstream.url, opts, logDir);
    feature = await startTarget({ ...target, name: `${target.name}-paired` }, upstream.url, opts, logDir);
    const sides = [
      { url: plain.url, headers: plainTarget.headers },
      { url: target.protocol === 'h2' ? feature.url.replace(/^https:/, 'h2:') : feature.url, headers: target.headers },
    ];
    const slice = { ...opts, durationS: PAIRED_SLICE_S };
    for (const scenario of scenarios) {
      for (const side of sides) await warmUp(side.url, scenario, side.headers, opts);
      const requests = [0, 0];
      const seconds = [0, 0];
      const pairRatios: number[] = [];
      for (let k = 0; k < opts.paired; k++) {
        const rps = [0, 0];
        for (const i of k % 2 === 0 ? [0, 1] : [1, 0]) {
          const r = await measure(sides[i]!.url, scenario, sides[i]!.headers, slice);
          requests[i] += r.requests;
          seconds[i] += r.durationS;
          rps[i] = r.requestsPerSecond;
        }
        const r = ratio(rps[1]!, rps[0]!);
        if (r !== null) pairRatios.push(r);
      }
      const plainRps = seconds[0]! > 0 ? requests[0]! / seconds[0]! : 0;
      const featureRps = seconds[1]! > 0 ? requests[1]! / seconds[1]! : 0;
      const paired = ratio(featureRps, plainRps);
      out.push({ target: target.name, scenario: scenario.name, plainRps, featureRps, ratio: paired, pairRatios, problem: null });
      log(`  paired ${target.name} ${scenario.name}: ${paired === null ? '-' : `${paired.toFixed(2)}x`}`);
    }
  } catch (err) {
    printStartFailure(err);
    out.push({ target: target.name, scenario: '-', plainRps: 0, featureRps: 0, ratio: null, pairRatios: [], problem: err instanceof Error ? err.message : String(err) });
  } finally {
    if (feature !== null) await feature.stop();
    if (plain !== null) await plain.stop();
  }
  return out;
}

function formatPaired(results: Paired[], pairs: number): string {
  const w = Math.max(...results.map((r) => `${r.target} ${r.scenario}`.length));
  const lines = [`req/s vs the plain route, paired: ${pairs} pairs of alternating ${PAIRED_SLICE_S}-second slices (ABBA), both processes running`];
  for (const r of results) {
    const range = r.pairRatios.length === 0 ? '' : `   pairs ${Math.min(...r.pairRatios).toFixed(2)}x-${Math.max(...r.pairRatios).toFixed(2)}x`;
    lines.push(`  ${`${r.target} ${r.scenario}`.padEnd(w)}  ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`}${range}${r.problem === null ? '' : `  (${r.problem})`}`);
  }
  return lines.join('\n');
}

/** WsRun is the WebSocket part's outcome: direct and through the gateway, or why it did not run. */
interface WsRun { direct: WsResult | null; gateway: WsResult | null; problem: string | null }

/**
 * runWebSocket measures echo round trips over `opts.connections` WebSockets, straight to the upstream and
 * through a Gatehouse route with `websocket:`, one after the other.
 */
async function runWebSocket(upstream: ChildServer, opts: BenchOptions, logDir: string): Promise<WsRun> {
  const wsUrl = (http: string): string => `${http.replace(/^http/, 'ws')}/ws`;
  log('websocket: direct');
  let direct: WsResult | null = null;
  try { direct = await measureWs(wsUrl(upstream.url), opts.connections, opts.durationS, opts.warmupS); } catch (err) {
    return { direct: null, gateway: null, problem: `direct: ${(err as Error).message}` };
  }
  log('websocket: through gatehouse');
  let child: ChildServer;
  try { child = await startTarget(WS_TARGET, upstream.url, opts, logDir); } catch (err) {
    printStartFailure(err);
    return { direct, gateway: null, problem: 'the gateway did not start' };
  }
  try {
    return { direct, gateway: await measureWs(wsUrl(child.url), opts.connections, opts.durationS, opts.warmupS), problem: null };
  } catch (err) {
    return { direct, gateway: null, problem: `gateway: ${(err as Error).message}` };
  } finally {
    await child.stop();
  }
}

function formatWs(run: WsRun, opts: BenchOptions): string {
  const lines = [`websocket echo, 64-byte binary messages, ${opts.connections} connections, one message in flight each`];
  const row = (name: string, r: WsResult | null): string => r === null ? `  ${name.padEnd(10)} -` :
    `  ${name.padEnd(10)} ${Math.round(r.messagesPerSecond).toLocaleString('en-US').padStart(9)} msg/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}`;
  lines.push(row('direct', run.direct), row('gatehouse', run.gateway));
  if (run.direct !== null && run.gateway !== null) {
    lines.push(`  through the gateway: ${(run.gateway.messagesPerSecond / run.direct.messagesPerSecond).toFixed(2)}x the messages/s, +${(run.gateway.p50Ms - run.direct.p50Ms).toFixed(2)} ms at p50, +${(run.gateway.p99Ms - run.direct.p99Ms).toFixed(2)} ms at p99`);
  }
  if (run.problem !== null) lines.push(`  problem: ${run.problem}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log(`error: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  const startedAt = new Date();
  const cpuList = cpus();
  const perScenarioS = opts.durationS + 2 * opts.warmupS;
  const headline = `node ${process.version}, ${process.platform} ${process.arch}, ${cpuList.length} CPUs` +
    ` (${cpuList[0]?.model.trim() ?? 'unknown'}); ${opts.connections} connections,` +
    ` ${opts.durationS} s measured after ${opts.warmupS} s warm-up per scenario` +
    (opts.workers > 1 ? `; gatehouse on ${opts.workers} workers` : '') + (opts.rounds > 1 ? `; ${opts.rounds} rounds` : '');
  log(`gatehouse bench: ${headline}`);
  const runs = opts.targets.reduce((n, t) => n + scenariosOf(t, opts.scenarios).length, 0);
  log(`about ${Math.ceil(perScenarioS * runs * opts.rounds)} s of load (${runs} target x scenario runs${opts.rounds > 1 ? `, ${opts.rounds} rounds` : ''})`);
  const busy = await machineBusy(BUSY_SAMPLE_MS);
  const busyWarning = busy !== null && busy > BUSY_WARNING
    ? `warning: the machine was ${Math.round(busy * 100)}% busy before the run started; other work competes` +
      ' with the servers and the load generator, so expect noisy numbers'
    : null;
  if (busyWarning !== null) log(busyWarning);

  tempDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  keepLogs = opts.keepLogs;
  // The TLS targets' certificate: self-signed, made for this run with the openssl CLI, trusted by the load only.
  BENCH_CERT.cert = join(tempDir, 'bench-cert.pem');
  BENCH_CERT.key = join(tempDir, 'bench-key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', BENCH_CERT.key, '-out', BENCH_CERT.cert], { stdio: 'ignore' });
  } catch {
    log('warning: openssl could not make a certificate; the TLS targets will fail to start');
  }
  let upstream: ChildServer;
  try {
    upstream = await ChildServer.start({
      name: 'upstream', args: [UPSTREAM_JS], cwd: ROOT, logDir: tempDir,
      timeoutMs: START_TIMEOUT_MS,
    });
  } catch (err) {
    printStartFailure(err);
    return 1;
  }
  log(`upstream: ${upstream.url} (pid ${upstream.pid})`);

  // The upstream's own warm-up, before any target: without it the first target measured (often the plain
  // route, the reference of every ratio) also pays for the upstream's JIT, and reads low.
  if (opts.warmupS > 0) {
    for (const scenario of opts.scenarios) await warmUp(upstream.url, scenario, {}, opts);
  }
  const rounds: Row[][] = [];
  let statuses: TargetStatus[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    if (opts.rounds > 1) log(`round ${round} of ${opts.rounds}`);
    const roundRows: Row[] = [];
    const roundStatuses: TargetStatus[] = [];
    for (const target of opts.targets) {
      roundStatuses.push(await runTarget(target, upstream, opts, tempDir, roundRows));
      if (upstream.exited) {
        log(`error: the upstream exited (code ${upstream.exitCode}, signal ${upstream.exitSignal})\n${upstream.stderrTail()}`);
        return 1;
      }
    }
    // Ratios within the round: both sides measured minutes apart at most.
    addRatios(roundRows);
    rounds.push(roundRows);
    // A target that failed in any round is reported failed.
    statuses = statuses.length === 0 ? roundStatuses : statuses.map((s, i) => (s.state === 'failed' ? s : roundStatuses[i]!));
  }
  const rows = combineRounds(rounds);
  const scaling = opts.workers > 1 ? await runScaling(upstream, opts, tempDir, rows) : null;
  const paired: Paired[] = [];
  if (opts.paired > 0 && existsSync(GATEHOUSE_BUILT_MARKER)) {
    for (const target of opts.targets) {
      if (target.kind === 'gatehouse' && target.name !== PLAIN_TARGET) paired.push(...await runPaired(target, upstream, opts, tempDir));
    }
  }
  const ws = opts.only.length === 0 || opts.only.includes('websocket') ? await runWebSocket(upstream, opts, tempDir) : null;
  await upstream.stop();

  process.stdout.write(`\ngatehouse bench: ${headline}\n\n${formatTable(rows)}\n\n${formatTargets(statuses)}\n`);
  if (opts.rounds > 1) process.stdout.write(`\n${formatRounds(rows)}\n`);
  if (ws !== null) process.stdout.write(`\n${formatWs(ws, opts)}\n`);
  if (scaling !== null) process.stdout.write(`\n${formatScaling(scaling)}\n`);
  if (paired.length > 0) process.stdout.write(`\n${formatPaired(paired, opts.paired)}\n`);
  if (busyWarning !== null) process.stdout.write(`${busyWarning}\n`);
  if (rows.some((r) => r.peakRssScope === 'process')) {
    process.stdout.write('* peak RSS since the process started (the kernel refused to reset it per scenario)\n');
  }

  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  const json = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version, platform: process.platform, arch: process.arch,
      cpus: cpuList.length, cpuModel: cpuList[0]?.model.trim() ?? null,
      busyBeforeRun: busy,
    },
    options: {
      durationS: opts.durationS, warmupS: opts.warmupS, connections: opts.connections,
      yardstickPoolConnections: 2 * opts.connections, only: opts.only, workers: opts.workers, rounds: opts.rounds, paired: opts.paired,
    },
    targets: statuses,
    rows,
    websocket: ws,
    scaling,
    paired,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nresults: ${RESULTS_FILE}\n`);
  return statuses.some((s) => s.state === 'failed') ? 1 : 0;
}

process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping the servers`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

main(process.argv.slice(2)).then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err: unknown) => {
    log(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    await stopAll();
    process.exit(1);
  },
);
