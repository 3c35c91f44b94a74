/**
 * The root pino logger: JSON lines on stdout, one child per part
 * (`part: "resolver" | "intake" | ...`). Object first, then the message.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

/** The levels --log-level accepts. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Where log lines go: a file descriptor, a stream, or anything with `write(line)`. */
export type LogDestination = number | NodeJS.WritableStream | { write(line: string): unknown };

/** Creates the root logger at `level`; `destination` defaults to stdout (fd 1). */
export function createLogger(level: string, destination: LogDestination = 1): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination;
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, stream as never);
}

/** Flushes buffered log lines (before exit). */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      log.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
