// The admin listener: /healthz, /readyz, and the /api/* routes (bearer token when configured).
import type { Server } from "node:http";
import { nodeHttp } from "../core/builtins.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AdminPlan } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";

export interface AdminRoute {
  readonly method: string;
  /** Matches the path; returns captured parts or null. */
  match(path: string): string[] | null;
  /** Needs the token when one is configured. */
  readonly guarded: boolean;
  handle(req: IncomingMessage, res: ServerResponse, parts: string[], url: URL): void | Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

export function jsonError(res: ServerResponse, status: number, error: string, detail?: unknown): void {
  sendJson(res, status, detail === undefined ? { error } : { error, detail });
}

/** Reads a JSON body (max 64 KiB); null with an error answer sent when it is not JSON. */
export async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > 65536) { jsonError(res, 413, "body too large"); return undefined; }
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try { return JSON.parse(text) as unknown; } catch (e) { jsonError(res, 400, "body is not JSON", (e as Error).message); return undefined; }
}

export class AdminServer {
  readonly server: Server;
  #plan: AdminPlan;
  readonly #routes: AdminRoute[];
  readonly #ready: () => boolean;
  readonly #log: Logger;

  constructor(plan: AdminPlan, routes: AdminRoute[], ready: () => boolean, log: Logger) {
    this.#plan = plan;
    this.#routes = routes;
    this.#ready = ready;
    this.#log = log;
    this.server = nodeHttp().createServer({ keepAliveTimeout: 5000, headersTimeout: 10000, requestTimeout: 30000 }, (req, res) => { void this.#handle(req, res); });
  }

  set plan(p: AdminPlan) { this.#plan = p; }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      const a = this.#plan.listen;
      this.server.listen(a.port, a.host === "" ? undefined : a.host.replace(/^\[|\]$/g, ""), () => { this.server.off("error", reject); resolve(); });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === "object" ? a.port : 0;
  }

  close(): void { this.server.closeAllConnections(); this.server.close(); }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    const path = url.pathname;
    try {
      if (path === "/healthz") { res.writeHead(200, { "content-type": "text/plain" }); res.end("ok\n"); return; }
      if (path === "/readyz") {
        const ok = this.#ready();
        res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
        res.end(ok ? "ready\n" : "not ready\n");
        return;
      }
      for (const r of this.#routes) {
        const parts = r.match(path);
        if (parts === null) continue;
        if (r.method !== req.method) continue;
        if (r.guarded && this.#plan.token !== null && req.headers.authorization !== `Bearer ${this.#plan.token}`) {
          res.setHeader("www-authenticate", "Bearer");
          jsonError(res, 401, "a valid bearer token is required");
          return;
        }
        await r.handle(req, res, parts, url);
        return;
      }
      const known = this.#routes.some((r) => r.match(path) !== null);
      if (known) jsonError(res, 405, `method ${req.method ?? ""} not allowed on ${path}`);
      else jsonError(res, 404, `no such endpoint: ${path}`);
    } catch (err) {
      this.#log.error({ err, path }, "admin request failed");
      if (!res.headersSent) jsonError(res, 500, "internal error", (err as Error).message);
      else res.destroy();
    }
  }
}
