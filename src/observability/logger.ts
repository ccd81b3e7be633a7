// The pino root logger. Child loggers per listener, pool and check are made at (re)load, never per session.
import { pino, type Logger, type DestinationStream } from "pino";
import type { LogLevel } from "../config/schema.ts";

export type { Logger };

/** Root logger writing JSON lines to stdout (asynchronous destination, flushed on exit). */
export function createRootLogger(level: LogLevel, dest?: DestinationStream): Logger {
  const stream = dest ?? pino.destination({ fd: 1, sync: false, minLength: 4096 });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

/** Flush buffered log lines (before exit). */
export function flushLogger(log: Logger): void {
  try { log.flush(); } catch { /* destination already closed */ }
}
