// Node's heavier built-in modules, loaded through require on first use rather than imported. An ESM
// import of node:http reads every export of the module, its lazy WebSocket/EventSource getters
// included, which load Node's bundled undici: about 14 MiB of a bare process's RSS that the proxy never
// uses. node:tls, node:https, node:http2 and node:crypto start OpenSSL and compile their JavaScript:
// about 5 MiB of RSS (binary pages and heap) that a proxy with no TLS, no HTTP/2 and no MySQL check
// never needs (issue 11, the memory target). Types come from `import type`, which loads nothing.
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

let httpMod: typeof import("node:http") | null = null;
let httpsMod: typeof import("node:https") | null = null;
let tlsMod: typeof import("node:tls") | null = null;
let http2Mod: typeof import("node:http2") | null = null;
let cryptoMod: typeof import("node:crypto") | null = null;

export function nodeHttp(): typeof import("node:http") {
  return httpMod ??= load("node:http") as typeof import("node:http");
}

export function nodeHttps(): typeof import("node:https") {
  return httpsMod ??= load("node:https") as typeof import("node:https");
}

export function nodeTls(): typeof import("node:tls") {
  return tlsMod ??= load("node:tls") as typeof import("node:tls");
}

export function nodeHttp2(): typeof import("node:http2") {
  return http2Mod ??= load("node:http2") as typeof import("node:http2");
}

export function nodeCrypto(): typeof import("node:crypto") {
  return cryptoMod ??= load("node:crypto") as typeof import("node:crypto");
}

/** The reason phrase node:http knows for a status code ("Error" when none), without loading node:http. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Error";
}

// RFC 9110 §15 reason phrases (plus the WebDAV and RFC 6585 codes a proxy answers or relays)
const REASONS: Readonly<Record<number, string>> = {
  100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  421: "Misdirected Request", 422: "Unprocessable Entity", 425: "Too Early", 426: "Upgrade Required",
  428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 507: "Insufficient Storage",
  511: "Network Authentication Required",
};
