/**
 * The gateway's event logger (pino): config loaded, reload refused, target ejected, circuit opened. One JSON
 * line per event on stdout by default.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

/** createLogger builds the process logger; `destination` lets tests capture lines. */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino({ level: options.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? 'info', base: { name: 'gatehouse' } }, options.destination ?? pino.destination({ dest: 1, sync: false }));
}

/** silentLogger discards everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
