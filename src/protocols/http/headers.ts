// Header rules both ways (config.md "Details users rely on", RFC 9110 §7.6.1): Host kept, X-Forwarded-*
// added, hop-by-hop headers and every header named in Connection removed. The upstream request's framing
// (Content-Length or Transfer-Encoding, never both) is the proxy's own, built from the parsed message:
// nothing of the client's raw framing headers reaches an upstream (hardening.md 1.2).

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "trailer", "http2-settings"]);

/** name equals `lower` (lower-case a-z, digits, "-") ignoring ASCII case, without allocating. */
function lowerIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

// what the header rules need to know about a field name, found by length first (no lower-casing per field)
const OTHER = 0;
const HOP = 1;
const HOST = 2;
const EXPECT = 3;
const COOKIE = 4;
const CONTENT_LENGTH = 5;
const XFF = 6;
const XF_OTHER = 7; // x-forwarded-proto, x-forwarded-host: the proxy sets its own

function kindOf(n: string): number {
  switch (n.length) {
    case 2: return lowerIs(n, "te") ? HOP : OTHER;
    case 4: return lowerIs(n, "host") ? HOST : OTHER;
    case 6: return lowerIs(n, "expect") ? EXPECT : lowerIs(n, "cookie") ? COOKIE : OTHER;
    case 7: return lowerIs(n, "upgrade") || lowerIs(n, "trailer") ? HOP : OTHER;
    case 10: return lowerIs(n, "connection") || lowerIs(n, "keep-alive") ? HOP : OTHER;
    case 14: return lowerIs(n, "content-length") ? CONTENT_LENGTH : lowerIs(n, "http2-settings") ? HOP : OTHER;
    case 15: return lowerIs(n, "x-forwarded-for") ? XFF : OTHER;
    case 16: return lowerIs(n, "proxy-connection") ? HOP : lowerIs(n, "x-forwarded-host") ? XF_OTHER : OTHER;
    case 17: return lowerIs(n, "transfer-encoding") ? HOP : lowerIs(n, "x-forwarded-proto") ? XF_OTHER : OTHER;
    default: return OTHER;
  }
}

/** Names listed in Connection header values (lower-case), or null when there are none beyond hop-by-hop ones. */
function connectionNamed(raw: readonly string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (!lowerIs(raw[i], "connection")) continue;
    const v = raw[i + 1];
    if (lowerIs(v, "keep-alive") || lowerIs(v, "close")) continue; // the usual values name nothing to remove
    for (const t of v.split(",")) {
      const n = t.trim().toLowerCase();
      if (n !== "" && n !== "close" && !HOP_BY_HOP.has(n)) (out ??= new Set()).add(n);
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
    const kind = kindOf(name);
    if (kind === HOP) continue;
    // Host and Content-Length cannot be removed by naming them in Connection: the proxy routes and frames by them
    if (named !== null && kind !== HOST && kind !== CONTENT_LENGTH && named.has(name.toLowerCase())) continue;
    switch (kind) {
      case HOST: case EXPECT: case XF_OTHER: continue;
      case CONTENT_LENGTH: clZero = true; continue;
      case XFF: xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`; continue;
      case COOKIE: cookie = cookie === null ? raw[i + 1] : `${cookie}; ${raw[i + 1]}`; continue;
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
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const kind = kindOf(name);
    if (kind === HOP || (h2 && kind === HOST) || (named !== null && named.has(name.toLowerCase()))) continue;
    if (kind === CONTENT_LENGTH) {
      if (status < 200 || status === 204) continue;
      const v = raw[i + 1];
      out.push(name, isDigits(v) ? v : String(Number(v)));
      continue;
    }
    out.push(name, raw[i + 1]);
  }
  return out;
}

/** A canonical decimal: digits only, no leading zero (llhttp already refused anything else than digits and spaces). */
function isDigits(v: string): boolean {
  if (v.length === 0 || (v.length > 1 && v.charCodeAt(0) === 48)) return false;
  for (let i = 0; i < v.length; i++) { const c = v.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
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
