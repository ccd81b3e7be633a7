// HTTP listener: node:http parses every byte a client sends (strict llhttp, never lenient);
// each request is routed (host, path_prefix; first match), keyed, and forwarded to one server.
import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "../adapter.ts";
import { hostOnly, httpKey, normaliseIp } from "../../core/key.ts";
import { upstreamRequestHeaders } from "./headers.ts";
import { sendError } from "./responses.ts";
import { Forward, type ForwardDone } from "./forward.ts";
import { logHttpAccess } from "../../observability/access-log.ts";

class HttpHandler implements ProtocolHandler {
  readonly #ctx: ListenerContext;
  readonly #server: http.Server;
  #draining = false;

  constructor(ctx: ListenerContext) {
    this.#ctx = ctx;
    const { plan } = ctx.current();
    this.#server = http.createServer({
      maxHeaderSize: plan.limits.maxHeaderSize,
      headersTimeout: plan.timeouts.headerMs,
      requestTimeout: 0,
      keepAliveTimeout: plan.timeouts.idleMs,
      connectionsCheckingInterval: 1000,
      requireHostHeader: true,
      insecureHTTPParser: false,
    }, this.#onRequest);
    // this server never listens itself (the Listener owns the socket): start its connection
    // tracking by hand, or header/idle timeouts and closeIdleConnections() do nothing
    this.#server.emit("listening");
  }

  serve(client: Socket): void {
    this.#server.emit("connection", client);
  }

  drain(): void {
    this.#draining = true;
    this.#server.closeIdleConnections();
  }

  forceClose(): void {
    this.#server.closeAllConnections();
    this.#server.emit("close"); // stops the connection-checking timer
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    if (this.#draining || ctx.draining()) res.shouldKeepAlive = false;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q >= 0 ? url.slice(0, q) : url;
    const host = hostOnly(req.headers.host);
    const clientIp = normaliseIp(req.socket.remoteAddress);
    const done = (d: ForwardDone): void => {
      ctx.stats.request(d.status, performance.now() - t0);
      const fmt = ctx.accessLog();
      if (fmt === null) return;
      logHttpAccess(ctx.log, fmt, {
        remote_addr: clientIp, method: req.method ?? "", uri: url, host, server_protocol: `HTTP/${req.httpVersion}`,
        http_referer: req.headers.referer ?? null, http_user_agent: req.headers["user-agent"] ?? null,
        status: d.status, bytes_sent: d.bytesSent, bytes_received: req.socket.bytesRead,
        upstream: route?.pool.name ?? null, upstream_addr: d.upstreamAddr, upstream_status: d.upstreamStatus,
        upstream_response_time: d.upstreamMs === null ? null : Math.round(d.upstreamMs) / 1000,
        request_time: Math.round(performance.now() - t0) / 1000, error: d.error, tries: d.tries,
      });
    };
    const route = routes.match(host, path);
    if (route === null) {
      sendError(res, 404, "no-route", null);
      done({ status: 404, upstreamAddr: null, upstreamStatus: null, upstreamMs: null, bytesSent: 0, error: "no-route", tries: 0 });
      return;
    }
    const cl = req.headers["content-length"];
    const hasBody = req.headers["transfer-encoding"] !== undefined || (cl !== undefined && cl !== "0");
    const max = plan.limits.maxBodySize;
    if (max > 0 && cl !== undefined && Number(cl) > max) {
      sendError(res, 413, "body-too-large", null);
      res.shouldKeepAlive = false;
      done({ status: 413, upstreamAddr: null, upstreamStatus: null, upstreamMs: null, bytesSent: 0, error: "body-too-large", tries: 0 });
      return;
    }
    const key = httpKey(route.key, { clientIp, host, path, url, headers: req.headers });
    const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp, proto: "http" });
    const body = !hasBody ? null : max > 0 && cl === undefined ? Readable.from(limitedBody(req, res, max), { objectMode: false }) : req;
    new Forward(req, res, route, plan, key, clientIp, headers, body, done).start();
  };
}

/**
 * A chunked body read through a byte counter: over the limit, the upload stops, the client gets
 * 413 if nothing was answered yet, and its connection is closed.
 */
async function* limitedBody(req: IncomingMessage, res: ServerResponse, max: number): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of req) {
    const chunk = c as Buffer;
    n += chunk.length;
    if (n > max) {
      res.shouldKeepAlive = false;
      if (!res.headersSent) sendError(res, 413, "body-too-large", null);
      req.socket.destroySoon();
      throw new Error("request body too large");
    }
    yield chunk;
  }
}

export const httpAdapter: ProtocolAdapter = {
  protocol: "http",
  keys: ["source", "destination", "host", "path", "uri", "header:", "cookie:", "query:"],
  create: (ctx) => new HttpHandler(ctx),
};
