// HTTP listener: with `tls`, the listener terminates TLS itself (tls.ts: SNI, ALPN) and hands h2
// connections to node:http2 (h2.ts); HTTP/1.x connections, plain or TLS, go to the raw HTTP/1 engine
// (h1-server.ts: llhttp strict, as node:http, without its per-request objects). Every request passes
// the parser front (front.ts), is routed (host, path_prefix; first match), keyed and forwarded to one
// server (forward.ts); Upgrade requests become tunnels (upgrade.ts); CONNECT is refused.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "../adapter.ts";
import type { ListenerPlan } from "../../config/schema.ts";
import type { RouteTable } from "../../core/route.ts";
import type { KeyKind } from "../../core/types.ts";
import { httpKey, normaliseIp } from "../../core/key.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import { rawErrorResponse, reasonPhrase, type HttpErrorCause } from "./responses.ts";
import { Forward, type ForwardDone } from "./forward.ts";
import { Tunnel, type TunnelSet } from "./upgrade.ts";
import { checkHttp1, checkHttp2, wantsTunnel, type FrontResult, type ProxyRequest } from "./front.ts";
import { Http2Downstream, readableBody, type BodySource, type Downstream } from "./downstream.ts";
import { H1Server, type H1Handler, type H1Head, type H1Options } from "./h1-server.ts";
import type { H1Exchange } from "./h1-exchange.ts";
import { TlsTerminator } from "./tls.ts";
import { H2Front } from "./h2.ts";
import { logHttpAccess } from "../../observability/access-log.ts";
import { ioNow } from "../../core/io-clock.ts";

function h1Options(plan: ListenerPlan): H1Options {
  return { maxHeaderSize: plan.limits.maxHeaderSize, headerMs: plan.timeouts.headerMs, idleMs: plan.timeouts.idleMs };
}

/** The first value of a header (name lower-case) in a flat raw list, any case; undefined when absent. */
function rawValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) return raw[i + 1];
  return undefined;
}

/** Every Cookie field joined by "; " (HTTP/2 sends one field per cookie); undefined when none. */
function cookieOf(raw: readonly string[]): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 6 && raw[i].toLowerCase() === "cookie") out = out === undefined ? raw[i + 1] : `${out}; ${raw[i + 1]}`;
  }
  return out;
}

/** node's header object, built only for the keys that read headers (header:, cookie:). */
function headerObject(raw: readonly string[]): IncomingHttpHeaders {
  const h: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (k.charCodeAt(0) === 58) continue;
    const prev = h[k];
    if (prev === undefined) h[k] = raw[i + 1];
    else if (k === "cookie") h[k] = `${String(prev)}; ${raw[i + 1]}`;
    else if (Array.isArray(prev)) prev.push(raw[i + 1]);
    else h[k] = [prev, raw[i + 1]];
  }
  return h as IncomingHttpHeaders;
}

const NO_HEADERS: IncomingHttpHeaders = {};

function readsHeaders(kind: KeyKind | null): boolean {
  return kind !== null && (kind.startsWith("header:") || kind.startsWith("cookie:"));
}

/** What the access line and the metrics need about the client side of one request. */
interface ClientFacts {
  readonly t0: number;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly method: string;
  readonly uri: string;
  readonly protocol: string;
  readonly raw: readonly string[];
  readonly socket: Socket | undefined;
}

function h1Facts(head: H1Head, socket: Socket, clientIp: string, clientPort: number): ClientFacts {
  return {
    t0: ioNow(),
    clientIp,
    clientPort,
    method: head.method,
    uri: head.url,
    protocol: head.minor === 0 ? "HTTP/1.0" : "HTTP/1.1",
    raw: head.rawHeaders,
    socket,
  };
}

class HttpHandler implements ProtocolHandler, H1Handler {
  readonly #ctx: ListenerContext;
  readonly #h1: H1Server;
  #tls: TlsTerminator | null = null;
  #h2: H2Front | null = null;
  /** The plan the server-level settings and certificates were taken from. */
  #plan: ListenerPlan;
  readonly #tunnels: TunnelSet = new Set();
  #draining = false;

  constructor(ctx: ListenerContext) {
    this.#ctx = ctx;
    const { plan } = ctx.current();
    this.#plan = plan;
    this.#h1 = new H1Server(h1Options(plan), this);
    if (plan.tls !== null) {
      this.#tls = new TlsTerminator(plan.tls, plan.timeouts.headerMs, this.#onSecure, this.#logError);
      this.#h2 = new H2Front(plan, this.#onStream);
    }
  }

  serve(client: Socket): void {
    const { plan } = this.#ctx.current();
    if (plan !== this.#plan) this.#sync(plan);
    if (this.#tls === null) { this.#h1.serve(client); return; }
    this.#tls.accept(client);
  }

  /** Re-read the TLS certificate files now (they are also re-read after every reload); false when they could not be. */
  reloadCertificates(): boolean {
    return this.#tls?.reload() ?? true;
  }

  drain(): void {
    this.#draining = true;
    // idle connections close now; busy ones answer "connection: close" and close after it (hardening.md 3)
    this.#h1.drain();
    this.#h2?.drain();
  }

  forceClose(): void {
    this.#h1.forceClose();
    this.#h2?.forceClose();
    for (const t of this.#tunnels) t.close();
    this.#tunnels.clear();
  }

  /** A reload gave this listener a new plan: server-level settings for new connections, certificates re-read. */
  #sync(plan: ListenerPlan): void {
    this.#plan = plan;
    this.#h1.opts = h1Options(plan); // (a new max_header_size makes the reload build a new handler)
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
    else this.#h1.serve(s);
  };

  // ---- H1Handler (h1-server.ts)

  onRequest(x: H1Exchange): void {
    const ctx = this.#ctx;
    const state = ctx.current();
    if (this.#draining || ctx.draining()) x.closeAfter();
    const head = x.req;
    const c = x.conn;
    const facts = h1Facts(head, c.socket, c.peerIp(), c.peerPort());
    const front = checkHttp1(head, state.plan.limits.maxHeaders, false);
    this.#admit(front, state.plan, state.routes, facts, x, x);
  }

  wantsTunnel(head: H1Head): boolean {
    return wantsTunnel(head);
  }

  onUpgrade(head: H1Head, socket: Socket, rest: Buffer): void {
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    const facts = h1Facts(head, socket, normaliseIp(socket.remoteAddress), socket.remotePort ?? 0);
    socket.on("error", noop);
    // CONNECT: this is a reverse proxy, never a tunnel to anywhere a client names
    if (head.method === "CONNECT") { this.#refuseRaw(socket, facts, null, 405, "not-a-forward-proxy", "CONNECT"); return; }
    const front = checkHttp1(head, plan.limits.maxHeaders, true);
    if (!front.ok) { this.#refuseRaw(socket, facts, null, front.reject.status, front.reject.cause, front.reject.detail); return; }
    const pr = front.req;
    const route = routes.match(pr.host, pr.path);
    if (route === null) { this.#refuseRaw(socket, facts, pr, 404, "no-route", null); return; }
    if (this.#draining || ctx.draining()) { this.#refuseRaw(socket, facts, pr, 503, "shutting-down", null); return; }
    const key = httpKey(route.key, {
      clientIp: facts.clientIp, host: pr.host, path: pr.path, url: pr.target,
      headers: readsHeaders(route.key) ? headerObject(head.rawHeaders) : NO_HEADERS,
    });
    const headers = upstreamRequestHeaders(head.rawHeaders, {
      clientIp: facts.clientIp, proto: this.#tls === null ? "http" : "https", authority: pr.authority,
      bodyLength: 0, expectContinue: false, upgrade: pr.upgrade,
    });
    new Tunnel({ pr, headers, client: socket, head: rest, clientIp: facts.clientIp, clientPort: facts.clientPort, reparse: this.#reparse },
      route, plan, key, this.#tunnels, (d) => this.#log(facts, pr, route.pool.name, d)).start();
  }

  readonly #onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    const ctx = this.#ctx;
    const state = ctx.current();
    const sock = stream.session?.socket as Socket | undefined;
    const down = new Http2Downstream(stream);
    const facts: ClientFacts = {
      t0: ioNow(),
      clientIp: normaliseIp(sock?.remoteAddress),
      clientPort: sock?.remotePort ?? 0,
      method: headers[":method"] ?? "",
      uri: headers[":path"] ?? "",
      protocol: "HTTP/2.0",
      raw,
      socket: sock,
    };
    const front = checkHttp2(headers, raw, stream.endAfterHeaders, state.plan.limits.maxHeaders);
    this.#admit(front, state.plan, state.routes, facts, down, readableBody(stream));
  };

  /** Front verdict, route, body limit, then Forward. */
  #admit(front: FrontResult, plan: ListenerPlan, routes: RouteTable, f: ClientFacts, down: Downstream, body: BodySource): void {
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
    const raw = f.raw;
    const key = route.key === null ? null : httpKey(route.key, {
      clientIp: f.clientIp, host: pr.host, path: pr.path, url: pr.target,
      headers: readsHeaders(route.key) ? headerObject(raw) : NO_HEADERS,
    });
    const headers = upstreamRequestHeaders(raw, {
      clientIp: f.clientIp, proto: this.#tls === null ? "http" : "https", authority: pr.authority,
      bodyLength: pr.bodyLength, expectContinue: pr.expectContinue, upgrade: null,
    });
    new Forward({
      pr, headers, body: pr.bodyLength === 0 ? null : body, down,
      clientIp: f.clientIp, clientPort: f.clientPort, cookie: route.pool.plan.sticky === null ? undefined : cookieOf(raw),
    }, route, plan, key, (d) => this.#log(f, pr, route.pool.name, d)).start();
  }

  /** A connection whose Upgrade was answered without 101 speaks HTTP/1 again. */
  readonly #reparse = (client: Socket): void => {
    this.#h1.serve(client);
  };

  #refuseRaw(socket: Socket, f: ClientFacts, pr: ProxyRequest | null, status: number, cause: HttpErrorCause, detail: string | null): void {
    if (!socket.destroyed) socket.end(rawErrorResponse(status, reasonPhrase(status), cause, detail), "latin1");
    this.#log(f, pr, null, failed(status, cause));
  }

  #log(f: ClientFacts, pr: ProxyRequest | null, upstream: string | null, d: ForwardDone): void {
    const ctx = this.#ctx;
    const ms = ioNow() - f.t0;
    ctx.stats.request(d.status, ms);
    const fmt = ctx.accessLog();
    if (fmt === null) return;
    const raw = f.raw;
    logHttpAccess(ctx.log, fmt, {
      remote_addr: f.clientIp, method: f.method, uri: f.uri, host: pr?.host ?? "", server_protocol: f.protocol,
      http_referer: rawValue(raw, "referer") ?? null, http_user_agent: rawValue(raw, "user-agent") ?? null,
      status: d.status, bytes_sent: d.bytesSent, bytes_received: f.socket?.bytesRead ?? 0,
      upstream, upstream_addr: d.upstreamAddr, upstream_status: d.upstreamStatus,
      upstream_response_time: d.upstreamMs === null ? null : Math.round(d.upstreamMs) / 1000,
      request_time: Math.round(ms) / 1000, error: d.error, tries: d.tries,
    });
  }
}

function failed(status: number, cause: HttpErrorCause): ForwardDone {
  return { status, upstreamAddr: null, upstreamStatus: null, upstreamMs: null, bytesSent: 0, error: cause, tries: 0 };
}

function noop(): void { /* a tunnel client that fails shows through its close */ }

export const httpAdapter: ProtocolAdapter = {
  protocol: "http",
  keys: ["source", "destination", "host", "path", "uri", "header:", "cookie:", "query:"],
  create: (ctx) => new HttpHandler(ctx),
};
