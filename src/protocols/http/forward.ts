// One HTTP request to the upstream: acquire a server, dispatch over its keep-alive pool, stream
// the response back with backpressure, retry elsewhere only when that is safe (config.md "Retries").
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { Readable } from "node:stream";
import type { Route } from "../../core/route.ts";
import type { Lease } from "../../upstream/pool.ts";
import type { ServerView } from "../../upstream/server.ts";
import type { ListenerPlan } from "../../config/schema.ts";
import type { Outcome } from "../../core/types.ts";
import { upstreamFor } from "./upstreams.ts";
import { stickyId } from "../../upstream/pool.ts";
import { cookieValue } from "../../core/key.ts";
import { clientResponseHeaders } from "./headers.ts";
import { sendError, type HttpErrorCause } from "./responses.ts";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

export interface ForwardDone {
  readonly status: number;
  readonly upstreamAddr: string | null;
  readonly upstreamStatus: number | null;
  readonly upstreamMs: number | null;
  readonly bytesSent: number;
  readonly error: HttpErrorCause | null;
  readonly tries: number;
}

/** State of one proxied request; it is its own undici dispatch handler. */
export class Forward implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #route: Route;
  readonly #plan: ListenerPlan;
  readonly #key: string | null;
  readonly #clientIp: string;
  /** Set-Cookie to add for sticky pools (the chosen server differs from the client's cookie); null = none. */
  #setCookie: string | null = null;
  readonly #headers: string[];
  readonly #body: IncomingMessage | Readable | null;
  #lastError: { status: number; cause: HttpErrorCause; detail: string | null } | null = null;
  readonly #done: (d: ForwardDone) => void;
  #lease: Lease | null = null;
  #exclude: Set<ServerView> | null = null;
  #tries = 0;
  #abort: ((err?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #status = 0;
  #upStatus: number | null = null;
  #tStart = 0;
  #upMs: number | null = null;
  #bytes = 0;
  #finished = false;
  #sentBody = false;

  constructor(req: IncomingMessage, res: ServerResponse, route: Route, plan: ListenerPlan, key: string | null, clientIp: string, headers: string[], body: IncomingMessage | Readable | null, done: (d: ForwardDone) => void) {
    this.#req = req;
    this.#res = res;
    this.#route = route;
    this.#plan = plan;
    this.#key = key;
    this.#clientIp = clientIp;
    this.#headers = headers;
    this.#body = body;
    this.#done = done;
    res.once("close", () => {
      if (!this.#finished) {
        // client went away before we finished: no passive penalty, no retry. Finish first: the
        // abort below calls onError at once, which must not take it for an upstream reset
        const abort = this.#abort;
        this.#finish(499, "client-aborted", null);
        abort?.(new Error("client aborted"));
      }
    });
  }

  /** Pick a server (excluding those tried) and send; answers 503 when nothing is eligible. */
  start(): void {
    const pool = this.#route.pool;
    const lease = this.#acquire();
    if (lease === null) {
      if (this.#tries === 0) { pool.refusals++; this.#fail(503, "no-server", null); }
      else if (this.#lastError !== null) this.#fail(this.#lastError.status, this.#lastError.cause, this.#lastError.detail);
      else this.#fail(502, "connect-failed", null);
      return;
    }
    if (this.#tries > 0) pool.retries++;
    this.#tries++;
    this.#lease = lease;
    const s = lease.server;
    this.#tStart = performance.now();
    const t = this.#plan.timeouts;
    upstreamFor(s.host, s.port, { connectTimeoutMs: t.connectMs }).dispatch({
      origin: undefined,
      method: this.#req.method ?? "GET",
      path: this.#req.url ?? "/",
      headers: this.#headers,
      body: this.#body,
      headersTimeout: t.upstreamResponseMs,
      bodyTimeout: t.upstreamResponseMs,
      idempotent: false,
      blocking: false,
    }, this);
  }

  /** The sticky cookie's server while it can work, else the scheduler's (or persistence's) pick. */
  #acquire(): Lease | null {
    const pool = this.#route.pool;
    const sticky = pool.plan.sticky;
    let wanted: string | null = null;
    if (sticky !== null) {
      wanted = cookieValue(this.#req.headers.cookie, sticky.cookie);
      if (wanted !== null) {
        const s = pool.findSticky(wanted);
        const lease = s === null ? null : pool.acquireServer(s, this.#exclude);
        if (lease !== null) { this.#setCookie = null; return lease; }
      }
    }
    const lease = pool.acquire({ key: this.#key, port: this.#req.socket.remotePort ?? 0, exclude: this.#exclude }, this.#clientIp);
    if (sticky !== null && lease !== null) {
      const id = stickyId(lease.server as Parameters<typeof stickyId>[0]);
      this.#setCookie = id === wanted ? null : `${sticky.cookie}=${id}; Path=/; HttpOnly; SameSite=Lax`;
    }
    return lease;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#finished) abort(new Error("client aborted"));
  }

  onBodySent(): void { this.#sentBody = true; }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#finished) return false;
    if (statusCode < 200) return true; // 1xx: interim responses are not forwarded yet
    this.#upStatus = statusCode;
    this.#upMs = performance.now() - this.#tStart;
    this.#status = statusCode;
    this.#resume = resume;
    const res = this.#res;
    const out = clientResponseHeaders(headers);
    if (this.#setCookie !== null) out.push("set-cookie", this.#setCookie);
    res.writeHead(statusCode, statusText, out);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once("drain", this.#onDrain);
    return ok;
  }

  readonly #onDrain = (): void => { this.#resume?.(); };

  onComplete(trailers: string[] | null): void {
    if (this.#finished) return;
    if (trailers !== null && trailers.length > 0) {
      const t: [string, string][] = [];
      for (let i = 0; i < trailers.length; i += 2) t.push([String(trailers[i]), String(trailers[i + 1])]);
      this.#res.addTrailers(t);
    }
    this.#res.end();
    this.#finish(this.#status, null, "ok");
  }

  onError(err: Error): void {
    if (this.#finished) return;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const res = this.#res;
    const connectFailed = CONNECT_ERRORS.has(code);
    const timedOut = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
    const outcome: Outcome = connectFailed ? (code === "UND_ERR_CONNECT_TIMEOUT" ? "connect-timeout" : "connect-refused") : timedOut ? "upstream-timeout" : "upstream-reset";
    const lease = this.#lease;
    this.#lease = null;
    if (lease !== null) {
      lease.release(outcome);
      (this.#exclude ??= new Set()).add(lease.server);
    }
    this.#lastError = timedOut ? { status: 504, cause: "upstream-timeout", detail: null }
      : connectFailed ? { status: 502, cause: "connect-failed", detail: code }
      : { status: 502, cause: "upstream-reset", detail: code };
    if (!res.headersSent && this.#tries <= this.#route.pool.plan.retries && this.#mayRetry(connectFailed, timedOut)) {
      this.start();
      return;
    }
    if (res.headersSent) {
      // the response was cut off: close the client connection so it cannot look complete
      res.destroy();
      this.#finish(this.#status, "upstream-reset", null);
      return;
    }
    this.#fail(this.#lastError.status, this.#lastError.cause, this.#lastError.detail);
  }

  /**
   * Connect failures: always (nothing was sent, the body is untouched). A reset before any response
   * byte: idempotent requests without a body only. A timeout: never (the server may still be working).
   */
  #mayRetry(connectFailed: boolean, timedOut: boolean): boolean {
    if (connectFailed) return this.#body === null || !this.#req.readableDidRead;
    if (timedOut) return false;
    return this.#body === null && !this.#sentBody && IDEMPOTENT.has(this.#req.method ?? "");
  }

  #fail(status: number, cause: HttpErrorCause, detail: string | null): void {
    sendError(this.#res, status, cause, detail);
    this.#finish(status, cause, null);
  }

  #finish(status: number, error: HttpErrorCause | "client-aborted" | null, outcome: Outcome | null): void {
    if (this.#finished) return;
    this.#finished = true;
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(outcome ?? (error === "client-aborted" ? "client-aborted" : "upstream-reset"));
    this.#done({
      status,
      upstreamAddr: lease?.server.address ?? null,
      upstreamStatus: this.#upStatus,
      upstreamMs: this.#upMs,
      bytesSent: this.#bytes,
      error: error === "client-aborted" ? null : error,
      tries: this.#tries,
    });
  }
}
