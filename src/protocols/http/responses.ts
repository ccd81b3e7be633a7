// The proxy's own HTTP answers: short text body plus x-switchyard-error naming the cause.
import type { ServerResponse } from "node:http";

export type HttpErrorCause =
  | "no-route" | "no-server" | "connect-failed" | "upstream-timeout" | "upstream-reset" | "upstream-error"
  | "body-too-large" | "shutting-down";

const TEXT: Record<HttpErrorCause, string> = {
  "no-route": "no route matches this request",
  "no-server": "no server is available for this request",
  "connect-failed": "could not connect to any upstream server",
  "upstream-timeout": "the upstream server did not answer in time",
  "upstream-reset": "the upstream server closed the connection",
  "upstream-error": "the upstream server failed",
  "body-too-large": "request body too large",
  "shutting-down": "the proxy is shutting down",
};

/** Sends status + text; a response already started is cut instead (the client must not see it as complete). */
export function sendError(res: ServerResponse, status: number, cause: HttpErrorCause, detail: string | null = null): void {
  if (res.headersSent) { res.destroy(); return; }
  const body = `${status} ${TEXT[cause]}${detail !== null ? `: ${detail}` : ""}\n`;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-switchyard-error": cause,
    "cache-control": "no-store",
  });
  res.end(body);
}
