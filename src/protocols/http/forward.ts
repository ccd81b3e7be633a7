// One HTTP request to the upstream: acquire a server, send over its keep-alive pool (h1-client.ts),
// stream the response back with backpressure both ways, retry elsewhere only when that is safe
// (config.md "Retries", RFC 9110 §9.2.2, hardening.md section 4):
// - a failed connect (or TLS handshake) is retried on another server for any method: the body is only
//   read from the client once the upstream connection is up, so nothing was consumed;
// - a reset before any response byte: idempotent requests without a body only, once per other server;
//   on a reused keep-alive socket (the server closed it as we sent: the keep-alive race) the same
//   server may be tried again once, with no passive-health penalty; a POST in that race gets 502;
// - a timeout: never (the server may still be working).
// Timers: upstream_response = inactivity of the upstream socket while the proxy waits on it (head or
// body); body = the client's request body (an idle gap, or under MIN_BODY_RATE on average); send = a
// response write the client does not take. Each one ends the exchange; a response already started is
// cut (the client connection is closed / the stream reset), never completed.
import type { Route } from "../../core/route.ts";
import type { Lease } from "../../upstream/pool.ts";
import type { ServerView } from "../../upstream/server.ts";
import type { ListenerPlan } from "../../config/schema.ts";
import type { Outcome } from "../../core/types.ts";
import { h1PoolForServer } from "./upstreams.ts";
import { ioNow } from "../../core/io-clock.ts";
import type { H1Call, H1Events, H1Phase } from "./h1-client.ts";
import { stickyId } from "../../upstream/pool.ts";
import { cookieValue } from "../../core/key.ts";
import { clientResponseHeaders } from "./headers.ts";
import { fastHeadFields, fastHeadReason, type FastHead } from "./response-head.ts";
import type { HttpErrorCause } from "./responses.ts";
import type { BodySink, BodySource, ClientWatcher, Downstream } from "./downstream.ts";
import type { ProxyRequest } from "./front.ts";
import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** A request body below this average rate (bytes/s, after the first `body` timeout) is cut (like mod_reqtimeout MinRate). */
export const MIN_BODY_RATE = 1024;
/** Request trailer fields never forwarded: framing, routing and auth belong in the head. */
const TRAILER_DENY = new Set(["content-length", "transfer-encoding", "host", "content-type", "authorization", "connection", "trailer", "te", "cookie", "set-cookie", "expect"]);

export interface ForwardDone {
  readonly status: number;
  readonly upstreamAddr: string | null;
  readonly upstreamStatus: number | null;
  readonly upstreamMs: number | null;
  readonly bytesSent: number;
  readonly error: HttpErrorCause | null;
  readonly tries: number;
}

export interface ForwardInput {
  readonly pr: ProxyRequest;
  /** Upstream header list (headers.ts upstreamRequestHeaders). */
  readonly headers: string[];
  /** The request body as the client sends it; null when the request has none. */
  readonly body: BodySource | null;
  readonly down: Downstream;
  readonly clientIp: string;
  readonly clientPort: number;
  /** The client's Cookie header (sticky pools). */
  readonly cookie: string | undefined;
}

type BodyState = "none" | "idle" | "pumping" | "paused" | "done";

/** State of one proxied request; it is its own h1-client event sink (no closures per request). */
export class Forward implements H1Events, BodySink, ClientWatcher {
  readonly #in: ForwardInput;
  readonly #route: Route;
  readonly #plan: ListenerPlan;
  readonly #key: string | null;
  readonly #done: (d: ForwardDone) => void;
  /** Set-Cookie to add for sticky pools (the chosen server differs from the client's cookie); null = none. */
  #setCookie: string | null = null;
  #lastError: { status: number; cause: HttpErrorCause; detail: string | null } | null = null;
  #lease: Lease | null = null;
  #exclude: Set<ServerView> | null = null;
  #tries = 0;
  #raceRetried = false;
  #up: H1Call | null = null;
  /** The response head arrived (its body is streaming). */
  #responding = false;
  /** The current attempt went out on a reused keep-alive socket. */
  #reused = false;
  #connected = false;
  #timedOut = false;
  #status = 0;
  #upStatus: number | null = null;
  #tStart = 0;
  #upMs: number | null = null;
  #bytes = 0;
  #finished = false;
  // request body pump
  #body: BodyState;
  #bodyBytes = 0;
  #bodyTimer: NodeJS.Timeout | null = null;
  /** When the pump started waiting on the client (-1 while paused by the upstream). */
  #waitStart = -1;
  /** Time spent waiting on the client before waitStart. */
  #waitAcc = 0;
  // response: paused because the client does not read
  #waitClient = false;
  #sendTimer: NodeJS.Timeout | null = null;

  constructor(input: ForwardInput, route: Route, plan: ListenerPlan, key: string | null, done: (d: ForwardDone) => void) {
    this.#in = input;
    this.#route = route;
    this.#plan = plan;
    this.#key = key;
    this.#done = done;
    this.#body = input.body === null ? "none" : "idle";
    input.down.onClose(this);
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
    this.#dispatch(lease.server);
  }

  #dispatch(s: ServerView): void {
    const pr = this.#in.pr;
    this.#tStart = ioNow();
    this.#connected = false;
    this.#timedOut = false;
    this.#responding = false;
    const pool = h1PoolForServer(s, this.#route.pool.plan.tls, this.#plan.timeouts.connectMs);
    this.#up = pool.request({
      method: pr.method,
      target: pr.target,
      headers: this.#in.headers,
      chunked: this.#body !== "none" && pr.bodyLength < 0,
      idleMs: this.#plan.timeouts.upstreamResponseMs,
      upgrade: null,
      flush: pr.expectContinue,
      bodyless: this.#body === "none",
    }, this);
    this.#reused = this.#up.reused;
    if (this.#body === "none") this.#up.end(null);
  }

  /** The sticky cookie's server while it can work, else the scheduler's (or persistence's) pick. */
  #acquire(): Lease | null {
    const pool = this.#route.pool;
    const sticky = pool.plan.sticky;
    let wanted: string | null = null;
    if (sticky !== null) {
      wanted = cookieValue(this.#in.cookie, sticky.cookie);
      if (wanted !== null) {
        const s = pool.findSticky(wanted);
        const lease = s === null ? null : pool.acquireServer(s, this.#exclude);
        if (lease !== null) { this.#setCookie = null; return lease; }
      }
    }
    const lease = pool.acquire({ key: this.#key, port: this.#in.clientPort, exclude: this.#exclude }, this.#in.clientIp);
    if (sticky !== null && lease !== null) {
      const id = stickyId(lease.server as Parameters<typeof stickyId>[0]);
      this.#setCookie = id === wanted ? null : `${sticky.cookie}=${id}; Path=/; HttpOnly; SameSite=Lax`;
    }
    return lease;
  }

  /** Connected (and TLS established): only now is the client's body read, so a failed connect leaves it untouched. */
  onConnected(): void {
    if (this.#connected || this.#finished) return;
    this.#connected = true;
    if (this.#body === "idle") this.#startBody();
  }

  onInfo(status: number, rawHeaders: string[]): void {
    if (this.#finished) return;
    this.#in.down.info(status, rawHeaders);
  }

  onResponse(status: number, message: string, rawHeaders: string[]): boolean {
    if (this.#finished) return true;
    const down = this.#in.down;
    this.#responding = true;
    this.#upStatus = status;
    this.#status = status;
    this.#upMs = ioNow() - this.#tStart;
    const headers = clientResponseHeaders(rawHeaders, status, down.version === "2");
    if (this.#setCookie !== null) headers.push("set-cookie", this.#setCookie);
    if (this.#body !== "none" && this.#body !== "done") {
      // an answer before the whole body (401/413/417 to Expect, F07): the client's unread rest must not
      // be parsed as a next request; the half-written upstream connection is not reused (h1-client)
      down.closeAfter();
    }
    const bodyless = this.#in.pr.method === "HEAD" || status === 204 || status === 304;
    down.head(status, message, headers, bodyless, hasTrailerField(rawHeaders));
    return true;
  }

  /** A whole response in one read (h1-client.ts): to an HTTP/1 client as the upstream's own bytes where it can. */
  onWhole(h: FastHead, d: Buffer): void {
    this.#up = null; // its socket went back to the pool: never destroy it from here
    if (this.#finished) return;
    const down = this.#in.down;
    if (!h.verbatim || down.whole === undefined || (this.#body !== "none" && this.#body !== "done")) {
      // the general path, with the head as strings and the body copied out of the read buffer
      this.onResponse(h.status, fastHeadReason(d, h), fastHeadFields(d, h));
      if (h.contentLength > 0) this.onData(Buffer.from(d.subarray(h.bodyStart, h.bodyStart + h.contentLength)));
      this.onEnd(null);
      return;
    }
    this.#responding = true;
    this.#upStatus = h.status;
    this.#status = h.status;
    this.#upMs = ioNow() - this.#tStart;
    this.#bytes += h.contentLength;
    down.whole(h, d, this.#setCookie);
    this.#finish(h.status, null, "ok");
  }

  onData(chunk: Buffer): boolean {
    if (this.#finished) return true;
    this.#bytes += chunk.length;
    if (this.#in.down.write(chunk)) return true;
    this.#waitClient = true;
    if (this.#sendTimer === null) this.#sendTimer = setTimeout(() => this.#onSendTimeout(), this.#plan.timeouts.sendMs);
    this.#in.down.onDrain(() => this.#onDownDrain());
    return false;
  }

  #onDownDrain(): void {
    this.#waitClient = false;
    if (this.#sendTimer !== null) { clearTimeout(this.#sendTimer); this.#sendTimer = null; }
    if (!this.#finished) this.#up?.resume();
  }

  onEnd(trailers: string[] | null): void {
    if (this.#finished) return;
    this.#up = null; // its socket went back to the pool: never destroy it from here
    this.#in.down.end(trailers !== null && trailers.length > 0 ? trailers : null);
    this.#finish(this.#status, null, "ok");
  }

  /** No upstream activity for upstream_response while the proxy waits on the upstream (not on the client). */
  onIdle(): boolean {
    if (this.#finished || this.#waitClient || this.#body === "pumping") return false;
    this.#timedOut = true;
    return true;
  }

  onError(err: NodeJS.ErrnoException, phase: H1Phase): void {
    if (this.#finished) return;
    this.#up = null;
    if (phase === "response") {
      // the response was cut off: the client must not see it as complete
      this.#in.down.abort();
      this.#finish(this.#status, this.#timedOut ? "upstream-timeout" : "upstream-reset", this.#timedOut ? "upstream-timeout" : "upstream-reset");
      return;
    }
    const code = err.code ?? "";
    if (code === "HPE_UNEXPECTED_101") {
      this.#releaseFailed("upstream-reset");
      this.#fail(502, "upstream-error", "101 to a request that did not ask to upgrade");
      return;
    }
    const connectFailed = phase === "connect";
    const timedOut = this.#timedOut;
    const reused = this.#reused;
    const race = !connectFailed && !timedOut && reused && (code === "ECONNRESET" || code === "EPIPE") && !this.#raceRetried;
    const outcome: Outcome = connectFailed ? (code === "ECONNTIMEOUT" ? "connect-timeout" : "connect-refused")
      : timedOut ? "upstream-timeout" : "upstream-reset";
    this.#lastError = timedOut ? { status: 504, cause: "upstream-timeout", detail: null }
      : connectFailed ? { status: 502, cause: "connect-failed", detail: code === "" ? err.message : code }
      : { status: 502, cause: "upstream-reset", detail: code === "" ? null : code };
    const lease = this.#lease;
    this.#abandonAttempt();
    if (race && this.#mayRetry(false, false)) {
      // keep-alive race: the server closed the idle connection as the request went out; the request was
      // not processed (no response byte), so an idempotent request is sent again on a fresh connection
      this.#raceRetried = true;
      this.#lease = null;
      lease?.release("client-aborted");
      this.start();
      return;
    }
    this.#lease = null;
    if (lease !== null) {
      lease.release(outcome);
      (this.#exclude ??= new Set()).add(lease.server);
    }
    // the keep-alive race's free second try does not spend the retry budget: a server killed under a
    // kept-alive socket fails the race retry's fresh connect too, and that is one more reason to move on
    const spent = this.#tries - (this.#raceRetried ? 1 : 0);
    if (spent <= this.#route.pool.plan.retries && this.#mayRetry(connectFailed, timedOut)) {
      this.start();
      return;
    }
    this.#fail(this.#lastError.status, this.#lastError.cause, this.#lastError.detail);
  }

  /**
   * Connect failures: always (the body is read only after connect). A reset before any response byte:
   * idempotent requests without a body only. A timeout: never.
   */
  #mayRetry(connectFailed: boolean, timedOut: boolean): boolean {
    if (this.#in.down.gone()) return false;
    if (connectFailed) return this.#body === "none" || this.#body === "idle";
    if (timedOut) return false;
    return this.#body === "none" && IDEMPOTENT.has(this.#in.pr.method);
  }

  /** Forget the current upstream request: no more events from it, its socket is not reused. */
  #abandonAttempt(): void {
    const up = this.#up;
    if (up === null) return;
    this.#up = null;
    up.destroy();
  }

  // ---- request body ------------------------------------------------------------------------------

  #startBody(): void {
    const body = this.#in.body;
    if (body === null) return;
    this.#body = "pumping";
    this.#waitStart = ioNow();
    body.start(this);
    this.#armBodyTimer(this.#plan.timeouts.bodyMs);
  }

  /** BodySink: a chunk of the client's request body. */
  bodyData(chunk: Buffer): void {
    if (this.#finished || this.#body === "done") return;
    this.#bodyBytes += chunk.length;
    const now = ioNow();
    if (this.#waitStart >= 0) { this.#waitAcc += now - this.#waitStart; this.#waitStart = now; }
    const max = this.#plan.limits.maxBodySize;
    if (max > 0 && this.#bodyBytes > max) { this.#clientFault(413, "body-too-large"); return; }
    const up = this.#up;
    if (up === null || up.write(chunk)) return;
    this.#in.body?.pause();
    this.#body = "paused";
    this.#waitStart = -1;
    up.onceDrain(() => this.#onUpDrain());
  }

  #onUpDrain(): void {
    if (this.#body !== "paused" || this.#finished) return;
    this.#body = "pumping";
    this.#waitStart = ioNow();
    this.#in.body?.resume();
    this.#armBodyTimer(this.#plan.timeouts.bodyMs);
  }

  /** BodySink: the client's request body is complete. */
  bodyEnd(): void {
    if (this.#body === "done") return;
    this.#body = "done";
    this.#clearBodyTimer();
    const up = this.#up;
    if (up === null || this.#finished) return;
    const t = this.#in.body?.trailers() ?? null;
    let pairs: [string, string][] | null = null;
    if (t !== null && t.length > 0 && this.#in.pr.bodyLength < 0) {
      pairs = [];
      for (let i = 0; i < t.length; i += 2) if (!TRAILER_DENY.has(t[i].toLowerCase())) pairs.push([t[i], t[i + 1]]);
    }
    up.end(pairs !== null && pairs.length > 0 ? pairs : null);
  }

  #armBodyTimer(ms: number): void {
    if (this.#bodyTimer === null) this.#bodyTimer = setTimeout(() => this.#onBodyTimer(), Math.max(1, ms));
  }

  #clearBodyTimer(): void {
    if (this.#bodyTimer !== null) { clearTimeout(this.#bodyTimer); this.#bodyTimer = null; }
  }

  /** Idle gap over `body`, or less than MIN_BODY_RATE on average once `body` has passed: 408. */
  #onBodyTimer(): void {
    this.#bodyTimer = null;
    if (this.#body !== "pumping" || this.#finished) return;
    const limit = this.#plan.timeouts.bodyMs;
    const now = ioNow();
    const gap = now - this.#waitStart;
    const waited = this.#waitAcc + gap;
    const allowed = limit + (this.#bodyBytes * 1000) / MIN_BODY_RATE;
    if (gap >= limit || waited >= allowed) { this.#clientFault(408, "body-timeout"); return; }
    this.#armBodyTimer(Math.min(limit - gap, allowed - waited));
  }

  /** The client broke a limit (size, time): answer if nothing went out yet, close its connection, drop the upstream request. */
  #clientFault(status: number, cause: HttpErrorCause): void {
    this.#body = "done";
    this.#clearBodyTimer();
    this.#in.body?.stop();
    const lease = this.#lease;
    this.#lease = null;
    lease?.release("client-aborted");
    this.#abandonAttempt();
    this.#in.down.closeAfter();
    this.#fail(status, cause, null);
  }

  #onSendTimeout(): void {
    this.#sendTimer = null;
    if (this.#finished || !this.#waitClient) return;
    this.#in.down.kill();
    this.#abandonAttempt();
    this.#finish(this.#status, "send-timeout", "client-aborted");
  }

  /** ClientWatcher: the client side closed (after the answer, or before it was complete). */
  clientClosed(): void {
    if (this.#finished) return;
    // the client went away before the response was complete: stop the upstream side, no passive penalty
    this.#abandonAttempt();
    this.#finish(499, "client-aborted", null);
  }

  #releaseFailed(outcome: Outcome): void {
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(outcome);
  }

  #fail(status: number, cause: HttpErrorCause, detail: string | null): void {
    this.#abandonAttempt();
    this.#in.down.error(status, cause, detail);
    this.#finish(status, cause, null);
  }

  #finish(status: number, error: HttpErrorCause | "client-aborted" | null, outcome: Outcome | null): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearBodyTimer();
    if (this.#sendTimer !== null) { clearTimeout(this.#sendTimer); this.#sendTimer = null; }
    if (this.#body !== "done" && this.#body !== "none") this.#in.body?.stop();
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(outcome ?? (error === "client-aborted" || error === "send-timeout" ? "client-aborted" : "upstream-reset"));
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

/** The response announces trailers (a Trailer field). */
function hasTrailerField(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 7 && raw[i].toLowerCase() === "trailer") return true;
  return false;
}
