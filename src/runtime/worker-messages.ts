// The messages between the supervisor and its workers (workers.ts) over node:cluster's IPC channel,
// and their narrowing on arrival: each side reads plain JSON from another process and keeps only
// messages of a known shape.
import type { Verdict } from "./runtime.ts";
import { asFamilies, type MetricFamily } from "../observability/metrics.ts";
import type { ListenerTraffic, PoolTraffic, ServerTraffic, Traffic } from "../admin/traffic.ts";
import type { ServerState } from "../upstream/flags.ts";

/** A server's admin state and configured weight (admin API), as the supervisor passes them on. */
export interface AdminSetting {
  readonly pool: string;
  readonly address: string;
  readonly state: ServerState | null;
  readonly weight: number | null;
}

/** What a worker must know at start besides its config: down verdicts and admin changes. */
export interface WorkerSnapshot {
  readonly verdicts: readonly Verdict[];
  readonly admin: readonly AdminSetting[];
}

/** Supervisor -> worker. `gen` numbers config versions; the text is the whole YAML file. */
export type ToWorker =
  | { readonly t: "start"; readonly gen: number; readonly text: string; readonly name: string; readonly verdicts: readonly Verdict[]; readonly admin: readonly AdminSetting[] }
  | { readonly t: "admin"; readonly a: AdminSetting }
  | { readonly t: "reload"; readonly gen: number; readonly text: string; readonly name: string }
  | { readonly t: "verdict"; readonly v: Verdict }
  | { readonly t: "stop"; readonly timeoutMs: number | null }
  | { readonly t: "metrics"; readonly req: number }
  | { readonly t: "traffic"; readonly req: number };

/** Worker -> supervisor. */
export type FromWorker =
  | { readonly t: "ready"; readonly gen: number }
  | { readonly t: "start-failed"; readonly error: string }
  | { readonly t: "reloaded"; readonly gen: number; readonly errors: readonly string[] | null }
  | { readonly t: "metrics"; readonly req: number; readonly families: readonly MetricFamily[] }
  | { readonly t: "traffic"; readonly req: number; readonly traffic: Traffic };

// --- narrowing (plain JSON from another process) ---

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function parseVerdict(v: unknown): Verdict | null {
  if (!isObject(v)) return null;
  const { pool, address, up, reason } = v;
  if (typeof pool !== "string" || typeof address !== "string" || typeof up !== "boolean" || typeof reason !== "string") return null;
  return { pool, address, up, reason };
}

export function parseFromWorker(m: unknown): FromWorker | null {
  if (!isObject(m)) return null;
  if (m.t === "ready" && typeof m.gen === "number") return { t: "ready", gen: m.gen };
  if (m.t === "start-failed" && typeof m.error === "string") return { t: "start-failed", error: m.error };
  if (m.t === "reloaded" && typeof m.gen === "number" && (m.errors === null || isStrings(m.errors))) return { t: "reloaded", gen: m.gen, errors: m.errors };
  if (m.t === "metrics" && typeof m.req === "number" && Array.isArray(m.families)) return { t: "metrics", req: m.req, families: asFamilies(m.families) };
  if (m.t === "traffic" && typeof m.req === "number") { const traffic = parseTraffic(m.traffic); if (traffic !== null) return { t: "traffic", req: m.req, traffic }; }
  return null;
}

function count(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** A worker's Traffic (traffic.ts); entries without a name are dropped, counts that are not counts read 0. */
function parseTraffic(v: unknown): Traffic | null {
  if (!isObject(v) || !Array.isArray(v.listeners) || !Array.isArray(v.pools)) return null;
  const listeners: ListenerTraffic[] = [];
  for (const l of v.listeners) {
    if (!isObject(l) || typeof l.name !== "string") continue;
    const classes = Array.isArray(l.classes) ? [0, 1, 2, 3, 4].map((i) => count((l.classes as unknown[])[i])) : [0, 0, 0, 0, 0];
    listeners.push({ name: l.name, open: count(l.open), connections: count(l.connections), requests: count(l.requests), classes, bytesIn: count(l.bytesIn), bytesOut: count(l.bytesOut) });
  }
  const pools: PoolTraffic[] = [];
  for (const p of v.pools) {
    if (!isObject(p) || typeof p.name !== "string" || !Array.isArray(p.servers)) continue;
    const servers: ServerTraffic[] = [];
    for (const s of p.servers) {
      if (!isObject(s) || typeof s.address !== "string") continue;
      servers.push({ address: s.address, active: count(s.active), inactive: count(s.inactive), total: count(s.total), failures: count(s.failures) });
    }
    pools.push({ name: p.name, refusals: count(p.refusals), retries: count(p.retries), servers });
  }
  return { listeners, pools };
}

function parseAdmin(v: unknown): AdminSetting | null {
  if (!isObject(v)) return null;
  const { pool, address, state, weight } = v;
  if (typeof pool !== "string" || typeof address !== "string") return null;
  if (state !== null && state !== "up" && state !== "down" && state !== "drain") return null;
  if (weight !== null && typeof weight !== "number") return null;
  return { pool, address, state, weight };
}

export function parseToWorker(m: unknown): ToWorker | null {
  if (!isObject(m)) return null;
  switch (m.t) {
    case "start": {
      if (typeof m.gen !== "number" || typeof m.text !== "string" || typeof m.name !== "string" || !Array.isArray(m.verdicts) || !Array.isArray(m.admin)) return null;
      const verdicts: Verdict[] = [];
      for (const x of m.verdicts) { const v = parseVerdict(x); if (v !== null) verdicts.push(v); }
      const admin: AdminSetting[] = [];
      for (const x of m.admin) { const a = parseAdmin(x); if (a !== null) admin.push(a); }
      return { t: "start", gen: m.gen, text: m.text, name: m.name, verdicts, admin };
    }
    case "admin": {
      const a = parseAdmin(m.a);
      return a === null ? null : { t: "admin", a };
    }
    case "reload":
      if (typeof m.gen !== "number" || typeof m.text !== "string" || typeof m.name !== "string") return null;
      return { t: "reload", gen: m.gen, text: m.text, name: m.name };
    case "verdict": {
      const v = parseVerdict(m.v);
      return v === null ? null : { t: "verdict", v };
    }
    case "stop":
      if (m.timeoutMs !== null && typeof m.timeoutMs !== "number") return null;
      return { t: "stop", timeoutMs: m.timeoutMs };
    case "metrics":
    case "traffic":
      return typeof m.req === "number" ? { t: m.t, req: m.req } : null;
    default:
      return null;
  }
}
