/**
 * The gateway's event logger (pino): config loaded, reload refused, target ejected, circuit opened, store
 * down. One JSON line per event on stdout by default; `--pretty` renders lines for a terminal (pino-pretty,
 * imported only then).
 */
import { pino, type Logger, type DestinationStream } from 'pino';

/** createLogger builds the process logger; `destination` lets tests capture lines. */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino({ level: options.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? 'info', base: { name: 'gatehouse' } }, options.destination ?? pino.destination({ dest: 1, sync: false }));
}

/** prettyDestination is a stream that renders JSON lines readably on stdout (colours when it is a terminal). */
export async function prettyDestination(): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', sync: true });
}

/** silentLogger discards everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
