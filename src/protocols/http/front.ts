// The parser front: what node:http (strict llhttp, never lenient) and node:http2 accept but a proxy must
// still refuse or normalise itself (hardening.md 1.2, the bold rows; RFC 9112 §3.2, §6.1; RFC 9110 §7.2):
// HTTP/0.9 and 2.0 request lines on HTTP/1, more header lines than limits.max_headers (node's own
// maxHeadersCount silently truncates), two Host lines or a malformed Host, Transfer-Encoding in an HTTP/1.0
// request, absolute-form targets naming another host than Host (this is not a forward proxy), CONNECT.
// What passes is described by a ProxyRequest; the upstream request is built from it, not from raw bytes.
import type { H1Head } from "./h1-server.ts";
import type { IncomingHttpHeaders } from "node:http2";
import type { HttpErrorCause } from "./responses.ts";

export interface ProxyRequest {
  readonly method: string;
  /** The target sent upstream: origin-form (path + query), or "*" for OPTIONS. */
  readonly target: string;
  /** target without the query: routing and keys. */
  readonly path: string;
  /** Routing host: lower-case, no port, "" when the request has none (HTTP/1.0). */
  readonly host: string;
  /** Host to send upstream as the client gave it (Host or :authority); null = none. */
  readonly authority: string | null;
  /** Declared body length: -1 = unknown (chunked or HTTP/2 DATA without content-length), 0 = none. */
  readonly bodyLength: number;
  /** The client asked for 100-continue (HTTP/1.1 only: RFC 9110 §10.1.1 ignores it on 1.0). */
  readonly expectContinue: boolean;
  /** Upgrade requests (HTTP/1.1 GET with Connection: upgrade): the Upgrade field; null otherwise. */
  readonly upgrade: string | null;
  /** "1.0", "1.1" or "2". */
  readonly version: string;
}

export interface FrontReject {
  readonly status: number;
  readonly cause: HttpErrorCause;
  readonly detail: string;
}

export type FrontResult = { readonly ok: true; readonly req: ProxyRequest } | { readonly ok: false; readonly reject: FrontReject };

function no(status: number, cause: HttpErrorCause, detail: string): FrontResult {
  return { ok: false, reject: { status, cause, detail } };
}

// RFC 3986 host (IP-literal, IPv4 or reg-name) with an optional port of at most 5 digits
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;

// The last value validHost accepted and the last one routingHost was asked about, with its answer: a
// listener's requests mostly name the same host, so most requests skip the regex and the lower-casing.
let lastValid: string | null = null;
let lastRaw: string | null = null;
let lastRouting = "";

/** True when v is a valid Host / :authority value (no userinfo, no spaces, not empty). */
export function validHost(v: string): boolean {
  if (v === lastValid) return true;
  if (!HOST.test(v)) return false;
  lastValid = v;
  return true;
}

/** Lower-case host without port, from a valid Host value. */
export function routingHost(v: string): string {
  if (v === lastRaw) return lastRouting;
  const h = v.toLowerCase();
  const c = h.startsWith("[") ? h.indexOf("]") + 1 : h.lastIndexOf(":");
  lastRaw = v;
  lastRouting = c >= 0 ? h.slice(0, c) : h;
  return lastRouting;
}

/** host[:port] compared the way a URI authority is: case-insensitive, the scheme's default port implied. */
function sameAuthority(a: string, b: string, scheme: string): boolean {
  const dflt = scheme === "https" ? ":443" : ":80";
  const norm = (x: string): string => {
    let s = x.toLowerCase();
    if (s.endsWith(dflt)) s = s.slice(0, -dflt.length);
    else if (s.endsWith(":")) s = s.slice(0, -1);
    return s;
  };
  return norm(a) === norm(b);
}

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/;

function pathOf(target: string): string {
  const q = target.indexOf("?");
  return q >= 0 ? target.slice(0, q) : target;
}

/** Checks one parsed HTTP/1.x request head. Precondition: llhttp accepted it (strict mode). */
export function checkHttp1(req: H1Head, maxHeaders: number, upgrade: boolean): FrontResult {
  const major = req.major;
  const minor = req.minor;
  if (major !== 1 || (minor !== 0 && minor !== 1)) return no(505, "unsupported-version", `HTTP/${major}.${minor} request line`);
  const raw = req.rawHeaders;
  if (raw.length > maxHeaders * 2) return no(431, "too-many-headers", `more than ${maxHeaders} header lines`);
  let host: string | null = null;
  let hosts = 0;
  let te = false;
  let cl: string | null = null;
  let expect: string | null = null;
  let upgradeValue: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    switch (n.length) {
      case 4: if (n.toLowerCase() === "host") { hosts++; host = raw[i + 1]; } break;
      case 6: if (n.toLowerCase() === "expect") expect = raw[i + 1]; break;
      case 7: if (n.toLowerCase() === "upgrade") upgradeValue = raw[i + 1]; break;
      case 14: if (n.toLowerCase() === "content-length") cl = raw[i + 1]; break;
      case 17: if (n.toLowerCase() === "transfer-encoding") te = true; break;
      default: break;
    }
  }
  if (hosts > 1) return no(400, "bad-request", "more than one Host header line");
  if (minor === 1 && hosts === 0) return no(400, "bad-request", "HTTP/1.1 request without Host");
  if (host !== null && !validHost(host)) return no(400, "bad-request", "invalid Host");
  // RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing (node decodes it anyway)
  if (te && minor === 0) return no(400, "bad-request", "Transfer-Encoding in an HTTP/1.0 request");
  const method = req.method;
  if (method === "CONNECT") return no(405, "not-a-forward-proxy", "CONNECT");
  const url = req.url;
  let target = url;
  let authority = host;
  if (url === "*") {
    if (method !== "OPTIONS") return no(400, "bad-request", "asterisk-form is for OPTIONS only");
  } else if (!url.startsWith("/")) {
    const m = ABSOLUTE.exec(url);
    if (m === null) return no(400, "bad-request", "request target is not origin-form or absolute-form");
    const scheme = m[1].toLowerCase();
    if (scheme !== "http" && scheme !== "https") return no(400, "not-a-forward-proxy", `${scheme}: target`);
    if (m[2].includes("@") || !validHost(m[2])) return no(400, "bad-request", "invalid authority in the request target");
    // RFC 9112 §3.2.2 says use the target's authority; one that names another host than Host is a
    // forward-proxy request: refused (hardening.md H20), so routing and the upstream see one host
    if (host !== null && !sameAuthority(m[2], host, scheme)) return no(400, "not-a-forward-proxy", "absolute-form target names another host than Host");
    authority ??= m[2];
    target = m[3] === "" ? "/" : m[3].startsWith("?") ? `/${m[3]}` : m[3];
  }
  return {
    ok: true,
    req: {
      method,
      target,
      path: pathOf(target),
      host: authority === null ? "" : routingHost(authority),
      authority,
      bodyLength: te ? -1 : cl !== null ? Number(cl) : 0,
      expectContinue: minor === 1 && expect !== null && expect.trim().toLowerCase() === "100-continue",
      upgrade: upgrade ? upgradeValue : null,
      version: minor === 1 ? "1.1" : "1.0",
    },
  };
}

/** Upgrades relayed as a tunnel: HTTP/1.1 GET without a body, not h2c (HTTP/2 to clients is TLS + ALPN only). */
export function wantsTunnel(req: H1Head): boolean {
  if (req.method !== "GET" || req.minor !== 1) return false;
  const raw = req.rawHeaders;
  let up: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i].toLowerCase();
    if (n === "transfer-encoding" || (n === "content-length" && raw[i + 1].trim() !== "0")) return false;
    if (n === "upgrade" && up === null) up = raw[i + 1];
  }
  if (up === null || up === "") return false;
  return !/(^|[\s,])h2c($|[\s,])/i.test(up);
}

/** Checks one HTTP/2 request (node:http2 validated the frame and pseudo-header rules). */
export function checkHttp2(headers: IncomingHttpHeaders, raw: readonly string[], endStream: boolean, maxHeaders: number): FrontResult {
  let regular = 0;
  let hosts = 0;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].charCodeAt(0) === 58) continue;
    regular++;
    if (raw[i] === "host") { hosts++; host = raw[i + 1]; }
  }
  if (regular > maxHeaders) return no(431, "too-many-headers", `more than ${maxHeaders} header fields`);
  const method = headers[":method"] ?? "";
  if (method === "CONNECT") return no(405, "not-a-forward-proxy", "CONNECT");
  const path = headers[":path"] ?? "";
  if (!(path.startsWith("/") || (path === "*" && method === "OPTIONS"))) return no(400, "bad-request", "invalid :path");
  if (hosts > 1) return no(400, "bad-request", "more than one host field");
  const authority = headers[":authority"] ?? host;
  if (authority === undefined || authority === null || !validHost(authority)) return no(400, "bad-request", "missing or invalid :authority");
  if (host !== null && !sameAuthority(host, authority, "https")) return no(400, "bad-request", "host differs from :authority");
  const cl = headers["content-length"];
  return {
    ok: true,
    req: {
      method,
      target: path,
      path: pathOf(path),
      host: routingHost(authority),
      authority,
      bodyLength: endStream ? 0 : cl !== undefined && /^[0-9]+$/.test(cl) ? Number(cl) : -1,
      expectContinue: false,
      upgrade: null,
      version: "2",
    },
  };
}
