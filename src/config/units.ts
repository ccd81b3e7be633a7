// Config value units: durations, sizes, addresses and listen/peer addresses (config.md "File shape").
// Every parser is total: it returns the value or an error message fit to follow "path: ".
import type { Address } from "../core/types.ts";

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

function ok<T>(value: T): Parsed<T> { return { ok: true, value }; }
function bad<T>(message: string): Parsed<T> { return { ok: false, message }; }

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
/** Longest accepted duration: the longest a Node timer can wait (2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * "250ms", "2s", "1m", "1h", "1d", or a sum of them ("1m30s", "1.5s"), lower case, no spaces.
 * A bare number is refused (is "5" seconds, as in nginx, or milliseconds, as in HAProxy?) except 0,
 * which is 0 in any unit. Returns whole milliseconds; fractions of a millisecond are refused.
 */
export function parseDuration(input: string | number): Parsed<number> {
  if (typeof input === "number") {
    if (input === 0) return ok(0);
    return bad(`a duration needs a unit: ${input}ms or ${input}s (units: ms s m h d)`);
  }
  const text = input.trim();
  if (text === "") return bad("a duration cannot be empty: write 250ms, 2s, 1m or 1h");
  if (text === "0") return ok(0);
  if (/^\d+(\.\d+)?$/.test(text)) return bad(`a duration needs a unit: ${text}ms or ${text}s (units: ms s m h d)`);
  let total = 0;
  let at = 0;
  const seen = new Set<string>();
  while (at < text.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(text);
    if (m === null) return bad(`"${input}" is not a duration: write 250ms, 2s, 1m, 1h or 1m30s`);
    // "ms" must not be read as "m" + "s": the regex tries "ms" first because of its alternation order
    if (seen.has(m[2])) return bad(`"${input}" gives the unit ${m[2]} twice`);
    seen.add(m[2]);
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    at = DURATION_PART.lastIndex;
  }
  const rounded = Math.round(total);
  if (Math.abs(rounded - total) > 1e-6) return bad(`"${input}" is not a whole number of milliseconds`);
  if (rounded > MAX_DURATION_MS) return bad(`"${input}" is longer than the 24 days allowed`);
  return ok(rounded);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/**
 * "64kb", "10mb", "1gb", "512b", "100" (bytes), case-insensitive; k/kb/kib are all 1024.
 * Returns whole bytes; "1.5kb" is fine (1536), "0.3b" is not.
 */
export function parseSize(input: string | number): Parsed<number> {
  if (typeof input === "number") {
    if (Number.isSafeInteger(input) && input >= 0) return ok(input);
    return bad(`${input} is not a size in bytes: write 512, 64kb, 10mb or 1gb`);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(input.trim());
  if (m === null) return bad(`"${input}" is not a size: write 512b, 64kb, 10mb or 1gb`);
  const unit = m[2].toLowerCase();
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) return bad(`"${input}" has an unknown size unit "${m[2]}" (units: b kb mb gb)`);
  const bytes = Number(m[1]) * mult;
  if (!Number.isSafeInteger(bytes)) return bad(`"${input}" is not a whole number of bytes`);
  return ok(bytes);
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** True for a DNS name or an IPv4 literal (no brackets, no port). */
export function isHostname(text: string): boolean {
  return HOSTNAME.test(text);
}

/** A plain IPv6 literal, as accepted inside brackets. Loose on purpose: net.isIPv6 is the final word. */
function looksIPv6(text: string): boolean {
  return /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/.test(text) && text.includes(":");
}

export interface AddressOptions {
  /** Accept ":port" (all interfaces); listeners do, servers do not. */
  readonly allowAnyHost: boolean;
  /** Accept port 0 (the OS picks a free port; tests use it); listeners do, servers do not. */
  readonly allowPortZero: boolean;
  /** When the text has no port, use this one (resolver: 53); null = a port is required. */
  readonly defaultPort: number | null;
}

export const LISTEN_ADDRESS: AddressOptions = { allowAnyHost: true, allowPortZero: true, defaultPort: null };
export const PEER_ADDRESS: AddressOptions = { allowAnyHost: false, allowPortZero: false, defaultPort: null };

/**
 * "host:port", "[::1]:port", ":port" (all interfaces; host ""), IPv6 inside brackets only.
 * `text` is kept exactly as written (trimmed): it is the identity shown by the admin API.
 */
export function parseAddress(input: string, opts: AddressOptions): Parsed<Address> {
  const text = input.trim();
  if (text === "") return bad("an address cannot be empty: write host:port, [::1]:port or :port");
  let host: string;
  let portText: string | null;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return bad(`"${text}" opens "[" without closing it: write [::1]:8080`);
    host = text.slice(1, close);
    if (!looksIPv6(host)) return bad(`"${host}" inside brackets is not an IPv6 address`);
    const rest = text.slice(close + 1);
    if (rest === "") portText = null;
    else if (rest.startsWith(":")) portText = rest.slice(1);
    else return bad(`"${text}": expected ":port" after "]"`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) {
      host = text;
      portText = null;
    } else {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(":")) return bad(`"${text}": write IPv6 addresses in brackets, as "[${host}]:${portText}" (quoted in YAML)`);
    }
    if (host === "") {
      if (!opts.allowAnyHost) return bad(`"${text}" has no host: write host:port`);
    } else if (!isHostname(host)) {
      return bad(`"${host}" is not a host name or IP address`);
    }
  }
  let port: number;
  if (portText === null) {
    if (opts.defaultPort === null) return bad(`"${text}" has no port: write ${host.includes(":") ? `[${host}]` : host}:PORT`);
    port = opts.defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return bad(`"${portText}" is not a port number`);
    port = Number(portText);
    const min = opts.allowPortZero ? 0 : 1;
    if (port < min || port > 65535) return bad(`port ${port} is out of range ${min}..65535`);
  }
  return ok({ host, port, text });
}

/** The text an address is shown as when a default port was filled in ("127.0.0.53" -> "127.0.0.53:53"). */
export function addressText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
