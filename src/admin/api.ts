// The admin endpoints beyond /healthz and /readyz (config.md "Admin endpoints"):
//   GET  /metrics                                   Prometheus text (metrics.ts)
//   GET  /status, /status.json                      the live page (status-page.ts) and what it polls
//   GET  /api/upstreams                             every pool and server
//   POST /api/upstreams/NAME/servers/ADDRESS        {state?, weight?}: runtime change, like ipvsadm -e
//   GET  /api/upstreams/NAME/explain?key=&source=   which server would be picked and why (explain.ts)
//   POST /api/reload                                same as SIGHUP; 422 with the errors when the file is bad
// /api/* needs the bearer token when one is configured (server.ts). Without a token, a POST must say
// Content-Type: application/json: a web page cannot send that cross-site without a CORS preflight,
// which this server never grants, so a page the operator visits cannot drain servers behind their back.
// Changes act on the live Server objects, so /status and /metrics show them at once.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AdminRoute } from "./server.ts";
import { sendJson, jsonError, readJson } from "./server.ts";
import type { Pool } from "../upstream/pool.ts";
import type { Server, ServerView } from "../upstream/server.ts";
import type { ServerState } from "../upstream/flags.ts";
import type { RuntimePlan } from "../config/schema.ts";
import type { Clock } from "../core/clock.ts";
import type { ReloadResult } from "../runtime/reload.ts";
import { describeFlags } from "../upstream/flags.ts";
import { RuntimeMetrics, renderMetrics, ejectionsOf, METRICS_CONTENT_TYPE, type MetricsSource } from "../observability/metrics.ts";
import { explain } from "./explain.ts";
import { STATUS_HTML } from "./status-page.ts";
import { TrafficSums, trafficOf, type ServerTraffic, type Traffic } from "./traffic.ts";

/** A server as the API shows it; `counts` (summed over the workers, traffic.ts) replaces its own counters. */
export function serverJson(s: Server, counts: Omit<ServerTraffic, "address"> = s): Record<string, unknown> {
  return {
    address: s.address,
    weight: s.configWeight,
    effective_weight: s.weight,
    backup: s.backup,
    state: s.state,
    causes: describeFlags(s.flags),
    active: counts.active,
    inactive: counts.inactive,
    total: counts.total,
    failures: counts.failures,
    overloaded: s.thresholdOverloaded,
    max_conns: s.upper,
    last_check: s.lastCheck,
    history: s.history,
  };
}

/** Every pool; `sums`: counters summed over this process and its workers (null: this process's own). */
export function upstreamsJson(pools: Iterable<Pool>, sums: TrafficSums | null = null): unknown[] {
  const out: unknown[] = [];
  for (const p of pools) {
    const c = sums === null ? p : sums.pool(p.name);
    out.push({ name: p.name, scheduler: p.plan.scheduler, refusals: c.refusals, retries: c.retries, servers: p.servers.map((s) => serverJson(s, sums === null ? s : sums.server(p.name, s.address))) });
  }
  return out;
}

/** Only GET /api/upstreams (kept for callers that have pools and nothing else). */
export function apiRoutes(pools: () => Iterable<Pool>): AdminRoute[] {
  return [
    {
      method: "GET", guarded: true,
      match: (p) => (p === "/api/upstreams" ? [] : null),
      handle: (_req, res) => sendJson(res, 200, upstreamsJson(pools())),
    },
  ];
}

/** What the admin endpoints read (Runtime fits it). */
export interface AdminRuntime extends MetricsSource {
  readonly plan: RuntimePlan;
  readonly clock: Clock;
  readonly phase: string;
}

export interface AdminOptions {
  /** POST /api/reload runs this (the supervisor's reload); null answers 501. */
  readonly reload: (() => Promise<ReloadResult>) | null;
  /**
   * The /metrics text. Default: this process's snapshot. With workers, the supervisor passes one
   * that gathers every worker's snapshot and calls renderMetrics() on them all.
   */
  readonly metricsText?: () => Promise<string>;
  /** Told each runtime server change made here (with workers, the supervisor passes it on to them). */
  readonly onServerChange?: (pool: string, address: string, change: ServerChange) => void;
  /**
   * With workers: every worker's listener and server counters, which /api/upstreams and /status.json
   * add to this process's (the supervisor serves nothing itself).
   */
  readonly workerTraffic?: () => Promise<readonly Traffic[]>;
}

const STARTED = Date.now();

/** Every admin route for one runtime. */
export function adminRoutes(rt: AdminRuntime, options: AdminOptions): AdminRoute[] {
  const metrics = new RuntimeMetrics(rt);
  const metricsText = options.metricsText ?? (async () => renderMetrics([await metrics.snapshot()]));
  const tokenSet = (): boolean => rt.plan.admin !== null && rt.plan.admin.token !== null;
  const workerTraffic = options.workerTraffic;
  const sums = async (): Promise<TrafficSums | null> => (workerTraffic === undefined ? null : new TrafficSums([trafficOf(rt), ...await workerTraffic()]));
  const exact = (path: string) => (p: string): string[] | null => (p === path ? [] : null);
  return [
    {
      method: "GET", guarded: false, match: exact("/metrics"),
      handle: async (_req, res) => {
        const text = await metricsText();
        res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
        res.end(text);
      },
    },
    {
      method: "GET", guarded: false, match: exact("/status"),
      handle: (_req, res) => {
        res.writeHead(200, {
          "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(STATUS_HTML), "cache-control": "no-store",
          // everything is inline; the page talks only to this server
          "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          "x-content-type-options": "nosniff",
        });
        res.end(STATUS_HTML);
      },
    },
    {
      method: "GET", guarded: false, match: exact("/status.json"),
      handle: async (_req, res) => sendJson(res, 200, statusJson(rt, tokenSet(), await sums())),
    },
    {
      method: "GET", guarded: true, match: exact("/api/upstreams"),
      handle: async (_req, res) => sendJson(res, 200, upstreamsJson(rt.pools.values(), await sums())),
    },
    {
      method: "POST", guarded: true,
      match: (p) => pathParts(p, /^\/api\/upstreams\/([^/]+)\/servers\/([^/]+)$/),
      handle: async (req, res, parts) => {
        if (!postAllowed(req, res, tokenSet())) return;
        const found = findServer(rt, res, parts[0], parts[1]);
        if (found === null) return;
        const body = await readJson(req, res);
        if (body === undefined) return;
        const change = parseServerChange(body);
        if (typeof change === "string") { jsonError(res, 400, change); return; }
        const { pool, server } = found;
        if (change.weight !== null) pool.setWeight(server, change.weight);
        if (change.state !== null) pool.setAdminState(server, change.state);
        options.onServerChange?.(pool.name, server.address, change);
        sendJson(res, 200, { upstream: pool.name, server: serverJson(server) });
      },
    },
    {
      method: "GET", guarded: true,
      match: (p) => pathParts(p, /^\/api\/upstreams\/([^/]+)\/explain$/),
      handle: (_req, res, parts, url) => {
        const pool = rt.pools.get(parts[0]);
        if (pool === undefined) { jsonError(res, 404, `no upstream named ${parts[0]}`, { upstreams: [...rt.pools.keys()] }); return; }
        const q = url.searchParams;
        const portText = q.get("port") ?? "0";
        const port = /^\d{1,5}$/.test(portText) ? Number(portText) : -1;
        if (port < 0 || port > 65535) { jsonError(res, 400, `port must be an integer 0-65535, got ${JSON.stringify(portText)}`); return; }
        let exclude: Set<ServerView> | null = null;
        for (const a of (q.get("exclude") ?? "").split(",")) {
          if (a.trim() === "") continue;
          const s = pool.find(a.trim());
          if (s === null) { jsonError(res, 400, `exclude: upstream ${pool.name} has no server ${a.trim()}`, { servers: pool.servers.map((x) => x.address) }); return; }
          (exclude ??= new Set()).add(s);
        }
        const opts = { clock: rt.clock, random32: () => (Math.random() * 0x100000000) >>> 0 };
        sendJson(res, 200, explain(pool, { key: nonEmpty(q.get("key")), source: nonEmpty(q.get("source")), port, exclude }, opts));
      },
    },
    {
      method: "POST", guarded: true, match: exact("/api/reload"),
      handle: async (req, res) => {
        if (!postAllowed(req, res, tokenSet())) return;
        if (options.reload === null) { jsonError(res, 501, "reload is not available in this process"); return; }
        for await (const _ of req) { /* a body, if any, is ignored */ }
        const r = await options.reload();
        if (r.ok) sendJson(res, 200, { ok: true });
        else sendJson(res, 422, { ok: false, error: "reload refused: still serving the previous configuration", errors: r.errors });
      },
    },
  ];
}

function nonEmpty(v: string | null): string | null {
  return v === null || v === "" ? null : v;
}

/** Captured path parts, URL-decoded; null when the path does not match or is badly encoded. */
function pathParts(path: string, re: RegExp): string[] | null {
  const m = re.exec(path);
  if (m === null) return null;
  try {
    return m.slice(1).map((x) => decodeURIComponent(x));
  } catch {
    return null;
  }
}

function postAllowed(req: IncomingMessage, res: ServerResponse, tokenSet: boolean): boolean {
  if (tokenSet) return true; // the token already proves this is not a cross-site page
  const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (ct === "application/json") return true;
  jsonError(res, 415, "send Content-Type: application/json (required for POST when admin.token is not set)");
  return false;
}

function findServer(rt: AdminRuntime, res: ServerResponse, name: string, address: string): { pool: Pool; server: Server } | null {
  const pool = rt.pools.get(name);
  if (pool === undefined) { jsonError(res, 404, `no upstream named ${name}`, { upstreams: [...rt.pools.keys()] }); return null; }
  const server = pool.find(address);
  if (server === null) { jsonError(res, 404, `upstream ${name} has no server ${address}`, { servers: pool.servers.map((s) => s.address) }); return null; }
  return { pool, server };
}

export interface ServerChange {
  readonly state: ServerState | null;
  readonly weight: number | null;
}

/** The POST body, validated: a ServerChange, or the error text for a 400. */
export function parseServerChange(body: unknown): ServerChange | string {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "the body must be a JSON object: {\"state\": \"up\"|\"down\"|\"drain\", \"weight\": 0-65535}";
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "state" && k !== "weight") return `unknown field ${JSON.stringify(k)}: only "state" and "weight" can be changed`;
  let state: ServerState | null = null;
  let weight: number | null = null;
  if (o.state !== undefined) {
    if (o.state !== "up" && o.state !== "down" && o.state !== "drain") return `state must be "up", "down" or "drain", got ${JSON.stringify(o.state)}`;
    state = o.state;
  }
  if (o.weight !== undefined) {
    if (typeof o.weight !== "number" || !Number.isInteger(o.weight) || o.weight < 0 || o.weight > 65535) return `weight must be an integer 0-65535, got ${JSON.stringify(o.weight)}`;
    weight = o.weight;
  }
  if (state === null && weight === null) return "nothing to change: give \"state\" and/or \"weight\"";
  return { state, weight };
}

/**
 * What /status polls: listeners with their counters, pools with servers, checks and history.
 * `sums`: counters summed over this process and its workers (null: this process's own).
 */
export function statusJson(rt: AdminRuntime, tokenRequired: boolean, sums: TrafficSums | null = null): unknown {
  const all = sums ?? new TrafficSums([trafficOf(rt)]);
  const listeners: unknown[] = [];
  // the configured listeners: with workers, this process binds none of them and the workers serve them all
  for (const plan of rt.plan.listeners) {
    const c = all.listener(plan.name);
    listeners.push({
      name: plan.name, protocol: plan.protocol, address: plan.listen.text, open: c.open,
      connections: c.connections, requests: c.requests,
      status: { "1xx": c.classes[0], "2xx": c.classes[1], "3xx": c.classes[2], "4xx": c.classes[3], "5xx": c.classes[4] },
      bytes_in: c.bytesIn, bytes_out: c.bytesOut,
      upstreams: [...new Set(plan.routes.map((r) => r.upstream))],
    });
  }
  const upstreams: unknown[] = [];
  for (const p of rt.pools.values()) {
    const pc = all.pool(p.name);
    upstreams.push({
      name: p.name, scheduler: p.plan.scheduler, check: p.plan.health.type, eligible: p.eligible.length,
      refusals: pc.refusals, retries: pc.retries,
      servers: p.servers.map((s) => {
        const h = p.plan.health.type === "none" ? null : rt.health.status(`${p.name}/${s.address}`);
        return {
          ...serverJson(s, all.server(p.name, s.address)),
          ejections: ejectionsOf(s),
          check: h === null ? null : { ok: h.last === null ? null : h.last.ok, ms: h.last === null ? null : Math.round(h.last.ms * 10) / 10, probes: h.probes, reason: h.reason },
        };
      }),
    });
  }
  return {
    generated_at: new Date().toISOString(), pid: process.pid, uptime_s: Math.round((Date.now() - STARTED) / 1000),
    phase: rt.phase, config: rt.plan.file, token_required: tokenRequired, listeners, upstreams,
  };
}
