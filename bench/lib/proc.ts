// Memory and CPU of another process, read from Linux's /proc. Everything here answers null (rather than
// throwing) where /proc is missing, so the benchmark still runs elsewhere, without those columns.
import { readFileSync, writeFileSync } from 'node:fs';

/** readStatusBytes returns one `Vm*` field of /proc/<pid>/status in bytes, or null when unreadable. */
function readStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return m === null ? null : Number(m[1]) * 1024;
}

/** rssBytes is the process's resident set size now (VmRSS), in bytes. */
export function rssBytes(pid: number): number | null {
  return readStatusBytes(pid, 'VmRSS');
}

/** peakRssBytes is the process's peak resident set size (VmHWM), in bytes: since it started, or since the
 * last successful resetPeakRss. */
export function peakRssBytes(pid: number): number | null {
  return readStatusBytes(pid, 'VmHWM');
}

/** resetPeakRss sets the process's VmHWM back to its current RSS (writing 5 to clear_refs, Linux >= 4.0,
 * same user), so the next peakRssBytes covers one scenario only. Returns false when the kernel refused;
 * the peak then covers the process's whole life so far. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CLOCK_TICKS_PER_SECOND is USER_HZ, which Linux fixes at 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** cpuMs is the CPU time (user + system) the process has used so far, in milliseconds, 10 ms resolution. */
export function cpuMs(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** machineBusy samples /proc/stat over `sampleMs` and returns the share (0..1) of all CPUs' time spent
 * busy, or null without /proc. Other work on the machine steals CPU from the servers under test and from
 * the load generator alike; the harness warns when this is high before it starts. */
export async function machineBusy(sampleMs: number): Promise<number | null> {
  const a = cpuTotals();
  if (a === null) return null;
  await new Promise((resolve) => setTimeout(resolve, sampleMs));
  const b = cpuTotals();
  if (b === null || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

function cpuTotals(): { busy: number; total: number } | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user).
  const f = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((n) => !Number.isFinite(n))) return null;
  const total = f.reduce((s, n) => s + n, 0);
  return { busy: total - f[3]! - f[4]!, total };
}
