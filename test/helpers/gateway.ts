/**
 * Starting the real gateway in-process for a test, from a YAML string written to a temp folder. Logs are
 * captured as parsed JSON lines so tests can assert on events.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startGateway, type RunningGateway } from '../../src/main.js';

/** TestGateway is a running gateway plus its config file and captured log lines. */
export interface TestGateway extends RunningGateway {
  readonly file: string;
  readonly logs: Record<string, unknown>[];
  /** Access log lines (parsed), when the config does not send them to a file. */
  readonly access: Record<string, unknown>[];
  /** writeConfig replaces the config file (the watcher or reload() picks it up). */
  writeConfig(yaml: string): void;
}

/** startTestGateway writes `yaml` to a temp file and starts the gateway on it (listen on 127.0.0.1:0 unless set). */
export async function startTestGateway(yaml: string, opts: { watch?: boolean; env?: NodeJS.ProcessEnv; wallClock?: () => number; tracing?: { scheduledDelayMillis?: number } } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const file = join(dir, 'gatehouse.yaml');
  const full = /^listen:/m.test(yaml) ? yaml : `listen: { host: 127.0.0.1, port: 0 }\n${yaml}`;
  writeFileSync(file, full);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const access: Record<string, unknown>[] = [];
  const accessSink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') access.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const gw = await startGateway({ configFile: file, log, watch: opts.watch ?? false, ...(opts.env ? { env: opts.env } : {}), ...(opts.wallClock ? { wallClock: opts.wallClock } : {}), accessDestination: accessSink, ...(opts.tracing ? { tracing: opts.tracing } : {}) });
  return Object.assign(gw, {
    file,
    logs,
    access,
    writeConfig(text: string) { writeFileSync(file, /^listen:/m.test(text) ? text : `listen: { host: 127.0.0.1, port: 0 }\n${text}`); },
  });
}
