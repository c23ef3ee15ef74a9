/**
 * How `gatehouse reload` finds the gateway to signal: the process that owns the gateway (the cluster primary,
 * or a single process started with --pid-file) writes its pid to a file, by default `.gatehouse.pid` beside
 * the config file; `gatehouse reload -c FILE` reads it there (or `--pid-file FILE`, or takes `--pid PID`) and
 * sends SIGHUP. A file left behind by a process that was killed is recognised where /proc tells what runs
 * under a pid, so an unrelated process that reused the pid is not signalled.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** PID_FILE_NAME is the default pid file's name, in the config file's folder. */
export const PID_FILE_NAME = '.gatehouse.pid';

/** defaultPidFile is where the pid of the gateway started on `configFile` is written by default. */
export function defaultPidFile(configFile: string): string {
  return join(dirname(resolve(configFile)), PID_FILE_NAME);
}

/**
 * writePidFile writes this process's pid to `file` and removes it when the process exits (if it still holds
 * this pid). Returns the error message when the file cannot be written (a read-only folder): not fatal, the
 * gateway runs, only `gatehouse reload` needs `--pid` then.
 */
export function writePidFile(file: string): string | null {
  try {
    writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  } catch (err) {
    return (err as Error).message;
  }
  process.once('exit', () => { removePidFile(file); });
  return null;
}

/** removePidFile deletes `file` if it names this process. */
export function removePidFile(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
  } catch {
    // already gone, or never written
  }
}

/** ReloadTarget names the process to signal: a pid, or a pid file to read it from. */
export interface ReloadTarget {
  pid?: string | undefined;
  pidFile?: string | undefined;
  configFile: string;
}

/**
 * sendReload sends SIGHUP to the gateway `target` names and returns its pid. A cluster primary restarts its
 * workers one at a time; a single process reloads its config. Throws Error with a message for the user.
 */
export function sendReload(target: ReloadTarget): number {
  let pid: number;
  let from: string;
  if (target.pid !== undefined) {
    pid = Number(target.pid);
    from = '--pid';
  } else {
    const file = resolve(target.pidFile ?? defaultPidFile(target.configFile));
    from = file;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new Error(`no pid file at ${file}: is gatehouse running on this config? (a single process writes one only when started with --pid-file; else pass --pid PID)`);
    }
    pid = Number(text.trim());
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${from}: not a process id`);
  if (!looksLikeGatehouse(pid)) throw new Error(`process ${pid} (from ${from}) is not running gatehouse: a stale pid file?`);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ESRCH' ? `no process ${pid} (from ${from}): gatehouse is not running (a stale pid file?)` : `cannot signal process ${pid}: ${code ?? (err as Error).message}`);
  }
  return pid;
}

/** Whether `pid` runs gatehouse, as far as /proc tells (true where there is no /proc to ask). */
function looksLikeGatehouse(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true;
  }
  return cmdline.includes('gatehouse');
}
