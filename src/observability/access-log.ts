// The access record: field names in one place, as nginx users grep for them (remote_addr, request,
// status, bytes_sent, upstream_addr, upstream_response_time, request_time), written as JSON.
// The listener name comes from the listener's child logger.
import type { Logger } from "./logger.ts";

export interface HttpAccess {
  remote_addr: string;
  method: string;
  uri: string;
  host: string;
  status: number;
  bytes_sent: number;
  bytes_received: number;
  upstream: string | null;
  upstream_addr: string | null;
  upstream_status: number | null;
  upstream_response_time: number | null; // seconds, ms precision
  request_time: number;                   // seconds
  error: string | null;
  tries: number;
}

export interface SessionAccess {
  protocol: string;
  remote_addr: string;
  upstream: string | null;
  upstream_addr: string | null;
  outcome: string;           // ok | no-server | connect-failed | idle | client-reset | upstream-reset | forced | ...
  bytes_up: number;
  bytes_down: number;
  connect_time: number | null; // seconds to the upstream connect
  session_time: number;        // seconds
  tries: number;
  user?: string | null;
}

export function logHttpAccess(log: Logger, format: "json" | "combined", r: HttpAccess): void {
  if (format === "combined") {
    const ts = new Date().toISOString();
    log.info(`${r.remote_addr} - - [${ts}] "${r.method} ${r.uri} HTTP/1.1" ${r.status} ${r.bytes_sent} "-" "-" ${r.upstream_addr ?? "-"} ${r.upstream_response_time ?? "-"} ${r.request_time}`);
    return;
  }
  log.info({ access: "http", ...r });
}

export function logSessionAccess(log: Logger, r: SessionAccess): void {
  log.info({ access: "session", ...r });
}

/** Seconds with millisecond precision, from two performance.now() readings. */
export function secs(from: number, to: number): number {
  return Math.round(to - from) / 1000;
}
