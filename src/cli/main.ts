/**
 * The `gatehouse` command: start, validate, routes, schema, demo, import. Each command returns an exit code; only
 * `start` and `demo` keep running.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { compile } from '../config/compile.js';
import { preloadFor } from '../config/preload.js';
import { ConfigError } from '../config/errors.js';
import { jsonSchema } from '../config/schema.js';
import { startGateway } from '../main.js';
import { prettyDestination, silentLogger } from '../observability/log.js';
import { renderRouteTable, routeTable } from './routes-table.js';
import { runDemo } from './demo.js';
import { runKeys } from './keys.js';
import { CliError, runStatement, runUsage, type UsageOptions } from './usage.js';
import { runCachePurge } from './cache.js';
import { loadTlsSettings } from '../listen/tls.js';
import { runDiff } from './diff.js';
import { runImportOpenApi } from './import-openapi.js';
import { runWorker, workerIndex } from '../cluster/worker.js';
import { defaultPidFile, sendReload, writePidFile } from '../cluster/pid-file.js';

const HELP = `gatehouse — an API gateway

Usage:
  gatehouse start    [-c FILE] [--workers N]
                                 start the gateway (default config: ./gatehouse.yaml) on N
                                 worker processes (default: one per CPU core; 1: a single
                                 process); docs/workers.md
  gatehouse reload   [-c FILE | --pid-file FILE | --pid PID]
                                 restart the workers one at a time (SIGHUP to the gateway;
                                 a single process reloads its config)
  gatehouse validate [-c FILE]          check a config; exit 0 if valid, 1 if not
  gatehouse routes   [-c FILE] [--json] print the compiled route table in match order
  gatehouse diff OLD NEW [--json]       what NEW would change relative to OLD (routes, services,
                                 consumers, plans, settings); exit 0 same, 1 different, 2 invalid
  gatehouse schema               print the JSON Schema of the config (for editors)
  gatehouse demo                 start demo services and the gateway on examples/gatehouse.yaml
  gatehouse keys new [--prefix P]   print a fresh API key (once) and its hash for the config
  gatehouse keys hash KEY|-         print the hash of an API key (-: read it from stdin)
  gatehouse keys hash-password      read a password from stdin, print its scrypt hash
  gatehouse usage --consumer ID [--from DATE] [--to DATE] [--csv|--json]
                                 metered requests of a consumer by route and status class
                                 (default: this month so far, UTC); needs store: redis
  gatehouse statement --consumer ID [--period 2026-11] [--csv]
                                 the consumer's billing statement for a period of its plan
                                 (default: this month, in the plan's time zone); needs store: redis
  gatehouse cache purge --route NAME [--prefix /path/]
                                 delete a route's cached responses (all, or those under a path
                                 prefix): in Redis with cache.store: redis, else through the
                                 running gateway's admin listener (needs admin:)
  gatehouse import openapi SPEC --service NAME [-c FILE] [--out FILE] [--per operation|path]
                    [--base-path /P] [--strip-base] [--name-prefix P]
                                 print routes for the operations of an OpenAPI 3 document, validated
                                 against it, to review and paste under routes: (docs/openapi-import.md)
  gatehouse --version            print the version
  gatehouse --help               print this help

Options:
  -c, --config FILE   the config file (YAML or JSON); default ./gatehouse.yaml
  --no-watch          (start) reload only on SIGHUP, not when the file changes
  --pretty            (start) render log and access lines for a terminal instead of JSON
  --workers N         (start) worker processes; default: the number of CPU cores
  --pid-file FILE     (start, reload) where the gateway's pid is written; default: .gatehouse.pid
                      beside the config file (written with --workers above 1, or when given)
  --pid PID           (reload) the process to signal
  --json              (routes, keys new) print JSON
  --prefix P          (keys new) key prefix, default gh_live_; (cache purge) path prefix
  --route NAME        (cache purge) the route whose cache to purge
  --consumer ID       (usage, statement) the consumer; '-' (usage) for requests without one
  --from, --to DATE   (usage) 2026-11-01 (UTC midnight) or an ISO timestamp with a zone
  --period ID         (statement) 2026-11 (a month) or 2026-11-22 (a day)
  --csv               (usage, statement) print CSV
  --service NAME      (import openapi) the service the imported routes send requests to
  --out FILE          (import openapi) write the routes to FILE (which must not exist), not stdout
  --per operation|path  (import openapi) one route per operation (default) or per path
  --base-path /P      (import openapi) gateway path in front of the document's paths; default: the
                      path of servers[0].url; / for none
  --strip-base        (import openapi) forward paths without the base path (strip-prefix)
  --name-prefix P     (import openapi) put P in front of every route name

Environment: GATEHOUSE_LOG_LEVEL (info), and any \${VAR} the config refers to.
Docs: docs/config-reference.md, docs/routing.md, docs/api-keys.md, docs/basic-auth.md, docs/openapi-import.md`;

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

/** main runs the CLI with the given arguments; resolves to an exit code (start/demo resolve when stopped). */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        // No default here: `import openapi` checks the config only when -c is given.
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
        prefix: { type: 'string' },
        consumer: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        period: { type: 'string' },
        csv: { type: 'boolean' },
        route: { type: 'string' },
        // Node 20's parseArgs has no --no-X negation, so the flag is spelled out.
        'no-watch': { type: 'boolean' },
        pretty: { type: 'boolean' },
        workers: { type: 'string' },
        'pid-file': { type: 'string' },
        pid: { type: 'string' },
        service: { type: 'string' },
        out: { type: 'string' },
        per: { type: 'string' },
        'base-path': { type: 'string' },
        'strip-base': { type: 'boolean' },
        'name-prefix': { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) { process.stdout.write(`gatehouse ${version()}\n`); return 0; }
  const command = positionals[0];
  if (values.help || command === 'help') { process.stdout.write(`${HELP}\n`); return 0; }
  if (command === undefined) { process.stderr.write(`${HELP}\n`); return 2; }
  const file = values.config ?? 'gatehouse.yaml';
  switch (command) {
    case 'start': {
      const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
      if (!Number.isInteger(workers) || workers < 1) {
        process.stderr.write(`--workers must be a whole number of at least 1, got "${values.workers}"\n`);
        return 2;
      }
      const index = workerIndex();
      try {
        const pretty = values.pretty === true ? await prettyDestination() : null;
        if (index !== null) {
          // A cluster worker: the primary forked this same command line.
          await runWorker(index, { configFile: file, watch: values['no-watch'] !== true, pretty });
          return await new Promise<number>(() => { /* runs until a signal ends the process */ });
        }
        if (workers > 1) {
          const { runPrimary } = await import('../cluster/primary.js');
          return await runPrimary({ workers, pidFile: values['pid-file'] ?? defaultPidFile(file), pretty });
        }
        if (values['pid-file'] !== undefined) {
          const problem = writePidFile(values['pid-file']);
          if (problem !== null) process.stderr.write(`gatehouse: the pid file cannot be written: ${problem}\n`);
        }
        await startGateway({
          configFile: file, signals: true, watch: values['no-watch'] !== true,
          ...(pretty === null ? {} : { logDestination: pretty, accessDestination: pretty }),
        });
        return await new Promise<number>(() => { /* runs until a signal ends the process */ });
      } catch (err) {
        const code = reportLoadError(err, file);
        // A worker's channel to its primary would keep it alive: it exits here, its message written.
        if (index !== null) process.exit(code);
        return code;
      }
    }
    case 'reload':
      try {
        const pid = sendReload({ pid: values.pid, pidFile: values['pid-file'], configFile: file });
        process.stdout.write(`sent SIGHUP to gatehouse (pid ${pid})\n`);
        return 0;
      } catch (err) {
        process.stderr.write(`gatehouse reload: ${(err as Error).message}\n`);
        return 1;
      }
    case 'validate':
      return validate(file);
    case 'routes':
      return routes(file, values.json === true);
    case 'diff':
      return runDiff(positionals.slice(1), values.json === true, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    case 'schema':
      process.stdout.write(`${JSON.stringify(jsonSchema(), null, 2)}\n`);
      return 0;
    case 'demo':
      return runDemo();
    case 'keys':
      return runKeys(positionals.slice(1), { prefix: values.prefix, json: values.json });
    case 'usage':
    case 'statement': {
      const o: UsageOptions = {
        file, consumer: values.consumer, from: values.from, to: values.to, period: values.period,
        format: values.csv ? 'csv' : values.json ? 'json' : 'table',
      };
      try {
        await (command === 'usage' ? runUsage : runStatement)(o, (s) => process.stdout.write(s));
        return 0;
      } catch (err) {
        if (err instanceof CliError) { process.stderr.write(`gatehouse ${command}: ${err.message}\n`); return 2; }
        return reportLoadError(err, file);
      }
    }
    case 'cache': {
      if (positionals[1] !== 'purge') {
        process.stderr.write('usage: gatehouse cache purge --route NAME [--prefix /path/] [-c FILE]\n');
        return 2;
      }
      try {
        await runCachePurge({ file, route: values.route, prefix: values.prefix }, (s) => process.stdout.write(s));
        return 0;
      } catch (err) {
        if (err instanceof CliError) { process.stderr.write(`gatehouse cache purge: ${err.message}\n`); return 2; }
        return reportLoadError(err, file);
      }
    }
    case 'import': {
      if (positionals[1] !== 'openapi' || positionals[2] === undefined || positionals.length > 3) {
        process.stderr.write('usage: gatehouse import openapi SPEC --service NAME [-c FILE] [--out FILE] [--per operation|path] [--base-path /P] [--strip-base] [--name-prefix P]\n');
        return 2;
      }
      try {
        const r = await runImportOpenApi({
          spec: positionals[2], service: values.service, config: values.config, out: values.out, per: values.per,
          basePath: values['base-path'], stripBase: values['strip-base'], namePrefix: values['name-prefix'],
        }, (s) => process.stdout.write(s));
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        if (r.file !== null) process.stderr.write(`${r.file}: ${plural(r.routes, 'route')} written; review them before merging\n`);
        return 0;
      } catch (err) {
        if (err instanceof CliError) { process.stderr.write(`gatehouse import openapi: ${err.message}\n`); return 2; }
        return reportLoadError(err, values.config ?? file);
      }
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function reportLoadError(err: unknown, file: string): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`${file}: the config is invalid (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}):\n${err.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
    return 1;
  }
  process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
  return 1;
}

async function validate(file: string): Promise<number> {
  try {
    const loaded = loadConfigFile(file);
    await preloadFor(loaded.config);
    // The certificates as start would read them: a key that does not match its certificate is refused here too.
    loadTlsSettings(loaded);
    const rt = compile(loaded, silentLogger());
    for (const w of rt.warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: valid (${plural(rt.routes.length, 'route')}, ${plural(rt.services.size, 'service')})\n`);
    await rt.retire(0);
    return 0;
  } catch (err) {
    return reportLoadError(err, file);
  }
}

async function routes(file: string, json: boolean): Promise<number> {
  try {
    const loaded = loadConfigFile(file);
    await preloadFor(loaded.config);
    const rt = compile(loaded, silentLogger());
    const rows = routeTable(rt);
    await rt.retire(0);
    process.stdout.write(json ? `${JSON.stringify(rows, null, 2)}\n` : renderRouteTable(rows));
    if (!json) for (const w of rt.warnings) process.stdout.write(`warning: ${w}\n`);
    return 0;
  } catch (err) {
    return reportLoadError(err, file);
  }
}
