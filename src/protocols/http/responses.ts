// The proxy's own HTTP answers: short text body plus x-switchyard-error naming the cause.
import type { ServerResponse } from "node:http";

export type HttpErrorCause =
  | "no-route" | "no-server" | "connect-failed" | "upstream-timeout" | "upstream-reset" | "upstream-error"
  | "body-too-large" | "shutting-down"
  // the request itself (front.ts): refused before any byte reaches an upstream
  | "bad-request" | "too-many-headers" | "unsupported-version" | "not-a-forward-proxy" | "body-timeout"
  // logged only: the client did not take the response within timeouts.send
  | "send-timeout";

const TEXT: Record<HttpErrorCause, string> = {
  "no-route": "no route matches this request",
  "no-server": "no server is available for this request",
  "connect-failed": "could not connect to any upstream server",
  "upstream-timeout": "the upstream server did not answer in time",
  "upstream-reset": "the upstream server closed the connection",
  "upstream-error": "the upstream server failed",
  "body-too-large": "request body too large",
  "shutting-down": "the proxy is shutting down",
  "bad-request": "bad request",
  "too-many-headers": "too many header fields",
  "unsupported-version": "HTTP version not supported",
  "not-a-forward-proxy": "this server is not a forward proxy",
  "body-timeout": "the request body did not arrive in time",
  "send-timeout": "the client did not read the response in time",
};

/** The text body of an error answer (one line, newline-terminated). */
export function errorText(status: number, cause: HttpErrorCause, detail: string | null): string {
  return `${status} ${TEXT[cause]}${detail !== null ? `: ${detail}` : ""}\n`;
}

/** Header fields of an error answer, flat [name, value, ...] (body length included). */
export function errorHeaders(cause: HttpErrorCause, body: string): string[] {
  const h = [
    "content-type", "text/plain; charset=utf-8",
    "content-length", String(Buffer.byteLength(body)),
    "x-switchyard-error", cause,
    "cache-control", "no-store",
  ];
  // nothing can take the request now: tell clients when to try again (hardening.md F11)
  if (cause === "no-server" || cause === "shutting-down") h.push("retry-after", "1");
  return h;
}

/** Sends status + text; a response already started is cut instead (the client must not see it as complete). */
export function sendError(res: ServerResponse, status: number, cause: HttpErrorCause, detail: string | null = null): void {
  if (res.headersSent) { res.destroy(); return; }
  const body = errorText(status, cause, detail);
  res.writeHead(status, errorHeaders(cause, body));
  res.end(body);
}

/**
 * An error answer written straight to a socket that node:http no longer parses (CONNECT, a refused
 * Upgrade), then the socket is closed: nothing after the request head is read as a new request.
 */
export function rawErrorResponse(status: number, reason: string, cause: HttpErrorCause, detail: string | null): string {
  const body = errorText(status, cause, detail);
  const h = errorHeaders(cause, body);
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
  return `${head}connection: close\r\n\r\n${body}`;
}

/** The reason phrase of a status code ("Error" for one without), from the table below: no node:http needed. */
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
