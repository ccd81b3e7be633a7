// Header rules both ways (config.md "Details users rely on"): Host kept, X-Forwarded-* added,
// hop-by-hop headers and every header named in Connection removed.

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer", "http2-settings"]);

/** Names listed in Connection header values (lower-case), or null when there are none. */
function connectionNamed(raw: readonly string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === "connection") {
      for (const t of raw[i + 1].split(",")) {
        const n = t.trim().toLowerCase();
        if (n !== "" && n !== "close" && n !== "keep-alive") (out ??= new Set()).add(n);
        else if (n === "keep-alive") (out ??= new Set()).add(n);
      }
    }
  }
  return out;
}

export interface ForwardedInfo {
  readonly clientIp: string;
  readonly proto: "http" | "https";
}

/** Upstream request headers as a flat [name, value, ...] array, from the client's raw headers. */
export function upstreamRequestHeaders(raw: readonly string[], fwd: ForwardedInfo): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  let xff: string | null = null;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower))) continue;
    if (lower === "x-forwarded-for") { xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`; continue; }
    if (lower === "x-forwarded-proto" || lower === "x-forwarded-host") continue;
    // node:http already answered "100 Continue" to the client; undici refuses the header upstream
    if (lower === "expect") continue;
    if (lower === "host") host = raw[i + 1];
    out.push(name, raw[i + 1]);
  }
  out.push("x-forwarded-for", xff === null ? fwd.clientIp : `${xff}, ${fwd.clientIp}`);
  out.push("x-forwarded-proto", fwd.proto);
  if (host !== null) out.push("x-forwarded-host", host);
  return out;
}

/** Response headers to the client as a flat array: hop-by-hop and Connection-named removed. */
export function clientResponseHeaders(raw: readonly (Buffer | string)[]): string[] {
  const strs: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) strs[i] = typeof raw[i] === "string" ? (raw[i] as string) : (raw[i] as Buffer).toString("latin1");
  const named = connectionNamed(strs);
  const out: string[] = [];
  for (let i = 0; i < strs.length; i += 2) {
    const lower = strs[i].toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower))) continue;
    out.push(strs[i], strs[i + 1]);
  }
  return out;
}
