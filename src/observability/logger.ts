// The pino root logger. Child loggers per listener, pool and check are made at (re)load, never per session.
import { pino, type Logger, type DestinationStream } from "pino";
import type { LogLevel } from "../config/schema.ts";

export type { Logger };

/** How long a log line may wait in the write buffer. */
const FLUSH_MS = 200;

/**
 * Root logger writing JSON lines to stdout: an asynchronous destination that batches writes
 * (4 KiB), flushed at least every FLUSH_MS and on exit, so lines are cheap and never stale.
 */
export function createRootLogger(level: LogLevel, dest?: DestinationStream): Logger {
  if (dest !== undefined) return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  const stream = pino.destination({ fd: 1, sync: false, minLength: 4096 });
  setInterval(() => { try { stream.flush(); } catch { /* not ready yet or closed */ } }, FLUSH_MS).unref();
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

/** Flush buffered log lines (before exit). */
export function flushLogger(log: Logger): void {
  try { log.flush(); } catch { /* destination already closed */ }
}
