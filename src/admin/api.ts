// /api/upstreams (GET): every pool and server with state, weight, active and total work, failures.
import type { AdminRoute } from "./server.ts";
import { sendJson } from "./server.ts";
import type { Pool } from "../upstream/pool.ts";
import type { Server } from "../upstream/server.ts";
import { describeFlags } from "../upstream/flags.ts";

export function serverJson(s: Server): Record<string, unknown> {
  return {
    address: s.address,
    weight: s.configWeight,
    effective_weight: s.weight,
    backup: s.backup,
    state: s.state,
    causes: describeFlags(s.flags),
    active: s.active,
    inactive: s.inactive,
    total: s.total,
    failures: s.failures,
    overloaded: s.thresholdOverloaded,
    max_conns: s.upper,
    last_check: s.lastCheck,
    history: s.history,
  };
}

export function upstreamsJson(pools: Iterable<Pool>): unknown[] {
  const out: unknown[] = [];
  for (const p of pools) {
    out.push({ name: p.name, scheduler: p.plan.scheduler, refusals: p.refusals, retries: p.retries, servers: p.servers.map(serverJson) });
  }
  return out;
}

export function apiRoutes(pools: () => Iterable<Pool>): AdminRoute[] {
  return [
    {
      method: "GET", guarded: true,
      match: (p) => (p === "/api/upstreams" ? [] : null),
      handle: (_req, res) => sendJson(res, 200, upstreamsJson(pools())),
    },
  ];
}
