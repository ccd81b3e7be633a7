// The access record: field names in one place, as nginx users grep for them (remote_addr, request,
// status, bytes_sent, upstream_addr, upstream_response_time, request_time), written as JSON; or,
// with `log.access_format: combined`, nginx's combined line as the `msg`:
//   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
// followed by upstream fields in the key=value style nginx users add for upstream timing:
//   rt=$request_time ua="$upstream_addr" us="$upstream_status" urt="$upstream_response_time"
// (missing values are "-"; quoted fields escape `"`, `\` and bytes outside 0x20-0x7e as \xHH, as nginx does).
// The listener name comes from the listener's child logger.
import type { Logger } from "./logger.ts";

export interface HttpAccess {
  remote_addr: string;
  method: string;
  uri: string;
  host: string;
  /** "HTTP/1.1" */
  server_protocol: string;
  http_referer: string | null;
  http_user_agent: string | null;
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
    log.info(combinedLine(r, Date.now()));
    return;
  }
  log.info({ access: "http", ...r });
}

/** nginx's combined line plus the upstream fields (see the file comment); `now` in epoch ms. */
export function combinedLine(r: HttpAccess, now: number): string {
  const ua = r.upstream_addr ?? "-";
  const us = r.upstream_status === null ? "-" : String(r.upstream_status);
  const urt = r.upstream_response_time === null ? "-" : r.upstream_response_time.toFixed(3);
  return `${r.remote_addr} - - [${timeLocal(now)}] "${escapeField(`${r.method} ${r.uri} ${r.server_protocol}`)}" ${r.status} ${r.bytes_sent} ` +
    `"${r.http_referer === null ? "-" : escapeField(r.http_referer)}" "${r.http_user_agent === null ? "-" : escapeField(r.http_user_agent)}" ` +
    `rt=${r.request_time.toFixed(3)} ua="${escapeField(ua)}" us="${us}" urt="${urt}"`;
}

const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;

/** nginx's default log escaping: `"`, `\` and every byte outside 0x20-0x7e become \xHH (UTF-8 bytes). */
export function escapeField(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    out += b === 0x22 || b === 0x5c || b < 0x20 || b > 0x7e ? `\\x${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  }
  return out;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
let cachedSecond = -1;
let cachedTime = "";

/** nginx $time_local: "10/Oct/2000:13:55:36 -0700", local time; computed once per second. */
export function timeLocal(now: number): string {
  const sec = Math.floor(now / 1000);
  if (sec === cachedSecond) return cachedTime;
  const d = new Date(sec * 1000);
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
  cachedTime = `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ` +
    `${off < 0 ? "-" : "+"}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
  cachedSecond = sec;
  return cachedTime;
}

export function logSessionAccess(log: Logger, r: SessionAccess): void {
  log.info({ access: "session", ...r });
}

/** Seconds with millisecond precision, from two performance.now() readings. */
export function secs(from: number, to: number): number {
  return Math.round(to - from) / 1000;
}
