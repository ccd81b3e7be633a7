// HTTP listener: node:http parses every byte a client sends (strict llhttp: httpValidation "strict",
// never lenient); with `tls`, the listener terminates TLS itself (tls.ts: SNI, ALPN) and hands h2
// connections to node:http2 (h2.ts) and the rest to the same HTTP/1 server. Every request passes the
// parser front (front.ts), is routed (host, path_prefix; first match), keyed and forwarded to one
// server (forward.ts); Upgrade requests become tunnels (upgrade.ts); CONNECT is refused.
// The node:http server never listens itself: the Listener feeds it sockets with emit("connection"),
// and "listening" is emitted by hand so its connection tracking (header/idle timeouts) runs.
import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "../adapter.ts";
import type { ListenerPlan } from "../../config/schema.ts";
import type { RouteTable } from "../../core/route.ts";
import { httpKey, normaliseIp } from "../../core/key.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import { rawErrorResponse, type HttpErrorCause } from "./responses.ts";
import { Forward, type ForwardDone } from "./forward.ts";
import { Tunnel, type TunnelSet } from "./upgrade.ts";
import { checkHttp1, checkHttp2, wantsTunnel, type FrontResult, type ProxyRequest } from "./front.ts";
import { Http1Downstream, Http2Downstream, type Downstream } from "./downstream.ts";
import { TlsTerminator } from "./tls.ts";
import { H2Front } from "./h2.ts";
import { logHttpAccess } from "../../observability/access-log.ts";

/** How often node:http checks header timeouts: a quarter of timeouts.header, between 250 ms and 1 s. */
function checkingInterval(headerMs: number): number {
  return Math.max(250, Math.min(1000, Math.floor(headerMs / 4)));
}

/** What the access line and the metrics need about the client side of one request. */
interface ClientFacts {
  readonly t0: number;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly method: string;
  readonly uri: string;
  readonly protocol: string;
  readonly headers: IncomingHttpHeaders;
  readonly bytesIn: () => number;
}

class HttpHandler implements ProtocolHandler {
  readonly #ctx: ListenerContext;
  readonly #server: http.Server;
  #tls: TlsTerminator | null = null;
  #h2: H2Front | null = null;
  /** The plan the server-level settings and certificates were taken from. */
  #plan: ListenerPlan;
  readonly #tunnels: TunnelSet = new Set();
  /** HTTP/1 responses in progress: a drain tells each to close its connection when it is done. */
  readonly #inflight = new Set<ServerResponse>();
  /** HTTP/1 responses not yet closed, per client connection (a parse error must not overtake them). */
  readonly #bySocket = new WeakMap<Socket, Set<ServerResponse>>();
  /** Connections whose parser failed, closing once their earlier responses are out. */
  readonly #closing = new WeakSet<Socket>();
  #draining = false;

  constructor(ctx: ListenerContext) {
    this.#ctx = ctx;
    const { plan } = ctx.current();
    this.#plan = plan;
    this.#server = http.createServer({
      maxHeaderSize: plan.limits.maxHeaderSize,
      headersTimeout: plan.timeouts.headerMs,
      requestTimeout: 0, // the body has its own timers (forward.ts): a slow upstream must not cut an upload
      keepAliveTimeout: plan.timeouts.idleMs,
      connectionsCheckingInterval: checkingInterval(plan.timeouts.headerMs),
      requireHostHeader: true,
      httpValidation: "strict",
      joinDuplicateHeaders: false,
      shouldUpgradeCallback: wantsTunnel,
    }, this.#onRequest);
    // node keeps only the first 2000 header lines and drops the rest silently: count them all (front.ts)
    this.#server.maxHeadersCount = 0;
    // a client that half-closes after its request still gets the response (hardening.md F09)
    (this.#server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.#server.on("checkContinue", this.#onRequest); // Expect: 100-continue goes to the upstream (forward.ts)
    this.#server.on("upgrade", this.#onUpgrade);
    this.#server.on("connect", this.#onConnect);
    this.#server.on("clientError", this.#onClientError);
    // this server never listens itself (the Listener owns the socket): start its connection
    // tracking by hand, or header/idle timeouts and closeIdleConnections() do nothing
    this.#server.emit("listening");
    if (plan.tls !== null) {
      this.#tls = new TlsTerminator(plan.tls, plan.timeouts.headerMs, this.#onSecure, this.#logError);
      this.#h2 = new H2Front(plan, this.#onStream);
    }
  }

  serve(client: Socket): void {
    const { plan } = this.#ctx.current();
    if (plan !== this.#plan) this.#sync(plan);
    if (this.#tls === null) { this.#server.emit("connection", client); return; }
    this.#tls.accept(client);
  }

  /** Re-read the TLS certificate files now (they are also re-read after every reload); false when they could not be. */
  reloadCertificates(): boolean {
    return this.#tls?.reload() ?? true;
  }

  drain(): void {
    this.#draining = true;
    this.#server.closeIdleConnections();
    // requests already in flight: their connections close after the response (hardening.md 3: node
    // would otherwise answer "keep-alive" and leave the connection open until keepAliveTimeout)
    for (const res of this.#inflight) closeAfterResponse(res);
    this.#h2?.drain();
  }

  forceClose(): void {
    this.#server.closeAllConnections();
    // close() (not emit("close")) clears the connection-checking interval; the server never listened
    this.#server.close(noop);
    this.#h2?.forceClose();
    for (const t of this.#tunnels) t.close();
    this.#tunnels.clear();
  }

  /** A reload gave this listener a new plan: server-level settings for new connections, certificates re-read. */
  #sync(plan: ListenerPlan): void {
    this.#plan = plan;
    const s = this.#server;
    s.headersTimeout = plan.timeouts.headerMs;
    s.keepAliveTimeout = plan.timeouts.idleMs; // (a new max_header_size makes the reload build a new handler)
    if (plan.tls === null) { this.#tls = null; return; }
    if (this.#tls === null) {
      try {
        this.#tls = new TlsTerminator(plan.tls, plan.timeouts.headerMs, this.#onSecure, this.#logError);
      } catch (err) {
        this.#logError(`TLS not started: ${(err as Error).message}`);
        return;
      }
    } else {
      this.#tls.sync(plan.tls);
    }
    if (this.#h2 === null) this.#h2 = new H2Front(plan, this.#onStream);
    else this.#h2.update(plan);
  }

  readonly #logError = (msg: string): void => { this.#ctx.log.error(msg); };

  readonly #onSecure = (s: TLSSocket): void => {
    if (s.alpnProtocol === "h2" && this.#h2 !== null) this.#h2.serve(s);
    else this.#server.emit("connection", s);
  };

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = this.#ctx;
    const state = ctx.current();
    if (this.#draining || ctx.draining()) res.shouldKeepAlive = false;
    else { (res as Tracked)[kInflight] = this.#inflight; this.#inflight.add(res); res.once("close", forgetResponse); }
    this.#track(req.socket, res);
    const down = new Http1Downstream(req, res);
    const facts: ClientFacts = {
      t0: performance.now(),
      clientIp: normaliseIp(req.socket.remoteAddress),
      clientPort: req.socket.remotePort ?? 0,
      method: req.method ?? "",
      uri: req.url ?? "",
      protocol: `HTTP/${req.httpVersion}`,
      headers: req.headers,
      bytesIn: () => req.socket.bytesRead,
    };
    const front = checkHttp1(req, state.plan.limits.maxHeaders, false);
    this.#admit(front, state.plan, state.routes, facts, down, req.rawHeaders, req, () => req.rawTrailers);
  };

  readonly #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    const ctx = this.#ctx;
    const state = ctx.current();
    const sock = stream.session?.socket;
    const down = new Http2Downstream(stream);
    const facts: ClientFacts = {
      t0: performance.now(),
      clientIp: normaliseIp(sock?.remoteAddress),
      clientPort: sock?.remotePort ?? 0,
      method: headers[":method"] ?? "",
      uri: headers[":path"] ?? "",
      protocol: "HTTP/2.0",
      headers,
      bytesIn: () => sock?.bytesRead ?? 0,
    };
    const front = checkHttp2(headers, raw, stream.endAfterHeaders, state.plan.limits.maxHeaders);
    this.#admit(front, state.plan, state.routes, facts, down, raw, stream, null);
  };

  /** Front verdict, route, body limit, then Forward. */
  #admit(front: FrontResult, plan: ListenerPlan, routes: RouteTable, f: ClientFacts, down: Downstream, raw: readonly string[], body: Readable, trailers: (() => readonly string[]) | null): void {
    if (!front.ok) {
      down.closeAfter();
      down.error(front.reject.status, front.reject.cause, front.reject.detail);
      this.#log(f, null, null, failed(front.reject.status, front.reject.cause));
      return;
    }
    const pr = front.req;
    const route = routes.match(pr.host, pr.path);
    if (route === null) {
      down.error(404, "no-route", null);
      this.#log(f, pr, null, failed(404, "no-route"));
      return;
    }
    const max = plan.limits.maxBodySize;
    if (max > 0 && pr.bodyLength > max) {
      // 413 before reading the body (hardening.md S07); the unread body means this connection closes
      down.closeAfter();
      down.error(413, "body-too-large", null);
      this.#log(f, pr, route.pool.name, failed(413, "body-too-large"));
      return;
    }
    const key = httpKey(route.key, { clientIp: f.clientIp, host: pr.host, path: pr.path, url: pr.target, headers: f.headers });
    const headers = upstreamRequestHeaders(raw, {
      clientIp: f.clientIp, proto: this.#tls === null ? "http" : "https", authority: pr.authority,
      bodyLength: pr.bodyLength, expectContinue: pr.expectContinue, upgrade: null,
    });
    const cookie = f.headers.cookie;
    new Forward({
      pr, headers, body: pr.bodyLength === 0 ? null : body, trailers, down,
      clientIp: f.clientIp, clientPort: f.clientPort, cookie: Array.isArray(cookie) ? cookie.join("; ") : cookie,
    }, route, plan, key, (d) => this.#log(f, pr, route.pool.name, d)).start();
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    const facts: ClientFacts = {
      t0: performance.now(),
      clientIp: normaliseIp(socket.remoteAddress),
      clientPort: socket.remotePort ?? 0,
      method: req.method ?? "",
      uri: req.url ?? "",
      protocol: `HTTP/${req.httpVersion}`,
      headers: req.headers,
      bytesIn: () => socket.bytesRead,
    };
    socket.on("error", noop);
    const front = checkHttp1(req, plan.limits.maxHeaders, true);
    if (!front.ok) { this.#refuseRaw(socket, facts, null, front.reject.status, front.reject.cause, front.reject.detail); return; }
    const pr = front.req;
    const route = routes.match(pr.host, pr.path);
    if (route === null) { this.#refuseRaw(socket, facts, pr, 404, "no-route", null); return; }
    if (this.#draining || ctx.draining()) { this.#refuseRaw(socket, facts, pr, 503, "shutting-down", null); return; }
    const key = httpKey(route.key, { clientIp: facts.clientIp, host: pr.host, path: pr.path, url: pr.target, headers: req.headers });
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: facts.clientIp, proto: this.#tls === null ? "http" : "https", authority: pr.authority,
      bodyLength: 0, expectContinue: false, upgrade: pr.upgrade,
    });
    new Tunnel({ pr, headers, client: socket, head, clientIp: facts.clientIp, clientPort: facts.clientPort, reparse: this.#reparse },
      route, plan, key, this.#tunnels, (d) => this.#log(facts, pr, route.pool.name, d)).start();
  };

  #track(socket: Socket, res: ServerResponse): void {
    let set = this.#bySocket.get(socket);
    if (set === undefined) { set = new Set(); this.#bySocket.set(socket, set); }
    set.add(res);
    const s = set;
    res.once("close", () => { s.delete(res); });
  }

  /**
   * A parse error (or header timeout) on an HTTP/1 connection. node's default answers 400 at once, even
   * when an earlier pipelined request is still waiting for its upstream: the client would read that 400
   * as the answer to the earlier request, which the backend ran. Here: an error inside a request still
   * being read ends the connection (400 if nothing of its answer went out); an error in a new request
   * head waits for every earlier response, then answers it and closes (hardening.md H25, H35).
   */
  readonly #onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (this.#closing.has(socket)) return;
    const code = err.code ?? "";
    if (!code.startsWith("HPE_") && code !== "ERR_HTTP_REQUEST_TIMEOUT") {
      // not a parse error: the connection itself failed (ECONNRESET, EPIPE ...); nothing can be answered
      socket.destroy();
      return;
    }
    const pending = [...(this.#bySocket.get(socket) ?? [])].filter((r) => !r.writableFinished);
    const answer = clientErrorAnswer(err.code);
    if (pending.length === 0) {
      if (socket.writable) socket.write(answer);
      socket.destroy();
      return;
    }
    if (pending.some((r) => !r.req.complete)) {
      // the error is inside a request body being read: that request is broken
      if (!pending[0].headersSent && !pending[0].req.complete && socket.writable) socket.write(answer);
      socket.destroy();
      return;
    }
    this.#closing.add(socket);
    for (const r of pending) if (!r.headersSent) r.shouldKeepAlive = false;
    let left = pending.length;
    const last = (): void => {
      if (--left > 0) return;
      if (socket.writable) socket.end(answer);
      else socket.destroy();
    };
    for (const r of pending) r.once("close", last);
  };

  /** A connection whose Upgrade was answered without 101 speaks HTTP/1 again. */
  readonly #reparse = (client: Socket): void => {
    this.#server.emit("connection", client);
  };

  /** CONNECT: this is a reverse proxy, never a tunnel to anywhere a client names. */
  readonly #onConnect = (req: IncomingMessage, socket: Socket): void => {
    socket.on("error", noop);
    const facts: ClientFacts = {
      t0: performance.now(), clientIp: normaliseIp(socket.remoteAddress), clientPort: socket.remotePort ?? 0,
      method: "CONNECT", uri: req.url ?? "", protocol: `HTTP/${req.httpVersion}`, headers: req.headers, bytesIn: () => socket.bytesRead,
    };
    this.#refuseRaw(socket, facts, null, 405, "not-a-forward-proxy", "CONNECT");
  };

  #refuseRaw(socket: Socket, f: ClientFacts, pr: ProxyRequest | null, status: number, cause: HttpErrorCause, detail: string | null): void {
    if (!socket.destroyed) socket.end(rawErrorResponse(status, http.STATUS_CODES[status] ?? "Error", cause, detail), "latin1");
    this.#log(f, pr, null, failed(status, cause));
  }

  #log(f: ClientFacts, pr: ProxyRequest | null, upstream: string | null, d: ForwardDone): void {
    const ctx = this.#ctx;
    ctx.stats.request(d.status, performance.now() - f.t0);
    const fmt = ctx.accessLog();
    if (fmt === null) return;
    const ua = f.headers["user-agent"];
    logHttpAccess(ctx.log, fmt, {
      remote_addr: f.clientIp, method: f.method, uri: f.uri, host: pr?.host ?? "", server_protocol: f.protocol,
      http_referer: f.headers.referer ?? null, http_user_agent: ua ?? null,
      status: d.status, bytes_sent: d.bytesSent, bytes_received: f.bytesIn(),
      upstream, upstream_addr: d.upstreamAddr, upstream_status: d.upstreamStatus,
      upstream_response_time: d.upstreamMs === null ? null : Math.round(d.upstreamMs) / 1000,
      request_time: Math.round(performance.now() - f.t0) / 1000, error: d.error, tries: d.tries,
    });
  }
}

/** node's own answers to parser errors, each closing the connection. */
function clientErrorAnswer(code: string | undefined): string {
  const [status, reason] = code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"]
    : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? [413, "Payload Too Large"]
      : code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

function failed(status: number, cause: HttpErrorCause): ForwardDone {
  return { status, upstreamAddr: null, upstreamStatus: null, upstreamMs: null, bytesSent: 0, error: cause, tries: 0 };
}

const kInflight = Symbol("switchyard.http.inflight");
type Tracked = ServerResponse & { [kInflight]?: Set<ServerResponse> };

function forgetResponse(this: ServerResponse): void {
  (this as Tracked)[kInflight]?.delete(this);
}

/** Head not sent yet: it will say Connection: close. Already sent (keep-alive): close once it is complete. */
function closeAfterResponse(res: ServerResponse): void {
  if (!res.headersSent) { res.shouldKeepAlive = false; return; }
  res.once("finish", endConnection);
}

function endConnection(this: ServerResponse): void {
  this.req.socket.end();
}

function noop(): void { /* close() of a server that never listened reports ERR_SERVER_NOT_RUNNING: expected */ }

export const httpAdapter: ProtocolAdapter = {
  protocol: "http",
  keys: ["source", "destination", "host", "path", "uri", "header:", "cookie:", "query:"],
  create: (ctx) => new HttpHandler(ctx),
};
