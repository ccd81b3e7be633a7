// Scheduler keys (config.md "Scheduler keys"): KeyKind -> the string a hashing scheduler hashes.
import type { KeyKind } from "./types.ts";

/** Strip the IPv4-mapped IPv6 prefix Node reports on dual-stack sockets. */
export function normaliseIp(ip: string | undefined): string {
  if (ip === undefined) return "";
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/** Connection-level protocols (TCP, MySQL): source = client IP, destination = the local address. */
export function connectionKey(kind: KeyKind | null, remoteIp: string, localIp: string): string | null {
  if (kind === null) return null;
  if (kind === "destination") return localIp;
  return remoteIp;
}

export interface HttpKeyInput {
  readonly clientIp: string;
  readonly host: string;    // lower-case, port stripped
  readonly path: string;    // without query
  readonly url: string;     // path + query as sent
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** HTTP per-request key; an absent header/cookie/query part falls back to the client address. */
export function httpKey(kind: KeyKind | null, r: HttpKeyInput): string | null {
  switch (kind) {
    case null: return null;
    case "source": return r.clientIp;
    case "destination": return r.host + r.path;
    case "host": return r.host;
    case "path": return r.path;
    case "uri": return r.url;
    default: break;
  }
  if (kind.startsWith("header:")) {
    const v = r.headers[kind.slice(7).toLowerCase()];
    const s = Array.isArray(v) ? v[0] : v;
    return s !== undefined && s !== "" ? s : r.clientIp;
  }
  if (kind.startsWith("cookie:")) return cookieValue(r.headers["cookie"], kind.slice(7)) ?? r.clientIp;
  if (kind.startsWith("query:")) {
    const q = r.url.indexOf("?");
    if (q >= 0) {
      const v = new URLSearchParams(r.url.slice(q + 1)).get(kind.slice(6));
      if (v !== null && v !== "") return v;
    }
    return r.clientIp;
  }
  return r.clientIp; // user / rcpt_domain are mail keys: rejected for HTTP at load
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | string[] | undefined, name: string): string | null {
  if (header === undefined) return null;
  const all = Array.isArray(header) ? header.join("; ") : header;
  for (const part of all.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v === "" ? null : v;
    }
  }
  return null;
}

/** Lower-case host without port, from a Host header value. */
export function hostOnly(host: string | undefined): string {
  if (host === undefined) return "";
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const c = h.lastIndexOf(":");
  if (c >= 0) h = h.slice(0, c);
  return h;
}
