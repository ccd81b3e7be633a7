// Header rules both ways (config.md "Details users rely on", RFC 9110 §7.6.1): Host kept, X-Forwarded-*
// added, hop-by-hop headers and every header named in Connection removed. The upstream request's framing
// (Content-Length or Transfer-Encoding, never both) is the proxy's own, built from the parsed message:
// nothing of the client's raw framing headers reaches an upstream (hardening.md 1.2).

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer", "http2-settings"]);
/** Names a client cannot have removed by listing them in Connection: the proxy routes or frames by them. */
const PROTECTED = new Set(["host", "content-length"]);
/** Response fields HTTP/2 forbids (RFC 9113 §8.2.2) beyond the hop-by-hop set. */
const H2_FORBIDDEN = new Set([...HOP_BY_HOP, "host"]);

/** Names listed in Connection header values (lower-case), or null when there are none. */
function connectionNamed(raw: readonly string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === "connection") {
      for (const t of raw[i + 1].split(",")) {
        const n = t.trim().toLowerCase();
        if (n !== "" && n !== "close") (out ??= new Set()).add(n);
      }
    }
  }
  return out;
}

export interface ForwardedInfo {
  readonly clientIp: string;
  readonly proto: "http" | "https";
  /** The Host to send (the client's, or the absolute-form authority); null = let the dialer set it. */
  readonly authority: string | null;
  /** Body length: > 0 sets Content-Length, -1 sets Transfer-Encoding: chunked, 0 sends neither unless the client sent CL: 0. */
  readonly bodyLength: number;
  readonly expectContinue: boolean;
  /** Upgrade requests: the protocol list for `Upgrade` (Connection: upgrade is added); null otherwise. */
  readonly upgrade: string | null;
}

/**
 * Upstream request headers as a flat [name, value, ...] array from the client's raw headers (HTTP/1 or
 * HTTP/2; pseudo-headers skipped). Several Cookie fields (HTTP/2 splits them) become one, joined by "; ".
 */
export function upstreamRequestHeaders(raw: readonly string[], fwd: ForwardedInfo): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  if (fwd.authority !== null) out.push("host", fwd.authority);
  let xff: string | null = null;
  let cookie: string | null = null;
  let clZero = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower) && !PROTECTED.has(lower))) continue;
    switch (lower) {
      case "host": case "expect": case "x-forwarded-proto": case "x-forwarded-host": continue;
      case "content-length": clZero = true; continue;
      case "x-forwarded-for": xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`; continue;
      case "cookie": cookie = cookie === null ? raw[i + 1] : `${cookie}; ${raw[i + 1]}`; continue;
      default: out.push(name, raw[i + 1]);
    }
  }
  if (cookie !== null) out.push("cookie", cookie);
  if (fwd.bodyLength > 0) out.push("content-length", String(fwd.bodyLength));
  else if (fwd.bodyLength < 0) out.push("transfer-encoding", "chunked");
  else if (clZero) out.push("content-length", "0");
  if (fwd.expectContinue) out.push("expect", "100-continue");
  if (fwd.upgrade !== null) out.push("connection", "upgrade", "upgrade", fwd.upgrade);
  out.push("x-forwarded-for", xff === null ? fwd.clientIp : `${xff}, ${fwd.clientIp}`);
  out.push("x-forwarded-proto", fwd.proto);
  if (fwd.authority !== null) out.push("x-forwarded-host", fwd.authority);
  return out;
}

/**
 * Response headers to the client as a flat array: hop-by-hop and Connection-named removed; Content-Length
 * canonical (digits only) and dropped where the status forbids a body length (1xx, 204).
 * `h2`: also drops what HTTP/2 forbids in a response.
 */
export function clientResponseHeaders(raw: readonly string[], status: number, h2: boolean): string[] {
  const named = connectionNamed(raw);
  const drop = h2 ? H2_FORBIDDEN : HOP_BY_HOP;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (drop.has(lower) || (named !== null && named.has(lower))) continue;
    if (lower === "content-length") {
      if (status < 200 || status === 204) continue;
      out.push(raw[i], String(Number(raw[i + 1])));
      continue;
    }
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** Headers of a 101 answer to the client: hop-by-hop removed except the Upgrade handshake itself. */
export function upgradeResponseHeaders(raw: readonly string[]): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  let upgrade: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower === "upgrade") { upgrade = raw[i + 1]; continue; }
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower))) continue;
    out.push(raw[i], raw[i + 1]);
  }
  if (upgrade !== null) out.unshift("Connection", "Upgrade", "Upgrade", upgrade);
  return out;
}
