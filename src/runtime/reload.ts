// Reload in place: new pools carry every server's state by address; listeners whose address is
// unchanged keep their socket; new ones bind first (a failed bind rolls everything back); removed
// ones stop accepting and drain. Work in flight finishes on the objects it started with.
import type { RuntimePlan } from "../config/schema.ts";
import type { Runtime, LiveListener } from "./runtime.ts";
import { RouteTable } from "../core/route.ts";

export type ReloadResult = { readonly ok: true } | { readonly ok: false; readonly errors: readonly string[] };

export async function reloadRuntime(rt: Runtime, plan: RuntimePlan): Promise<ReloadResult> {
  const oldPools = rt.pools;
  const pools = rt.buildPools(plan, oldPools);
  const byAddress = new Map<string, LiveListener>();
  for (const l of rt.listeners.values()) byAddress.set(addrKey(l.state.plan.listen.host, l.state.plan.listen.port), l);

  // 1. bind every new address first; any failure closes them and changes nothing
  const fresh: LiveListener[] = [];
  const kept = new Map<LiveListener, RuntimePlan["listeners"][number]>();
  try {
    for (const l of plan.listeners) {
      const old = byAddress.get(addrKey(l.listen.host, l.listen.port));
      if (old !== undefined && old.state.plan.protocol === l.protocol) { kept.set(old, l); continue; }
      if (old !== undefined) throw new Error(`listener ${l.name}: ${l.listen.text} changes protocol; remove it in one reload and add it in the next`);
      const live = rt.makeListener(l, pools);
      await live.listener.listen();
      fresh.push(live);
    }
  } catch (err) {
    for (const f of fresh) f.listener.stopAccepting();
    for (const p of pools.values()) p.close();
    const msg = `reload refused: ${(err as Error).message}; still serving the previous configuration`;
    rt.log.error({ err: (err as Error).message }, msg);
    return { ok: false, errors: [msg] };
  }

  // 2. swap atomically: each request/session reads one state at its start
  const next = new Map<string, LiveListener>();
  for (const [live, l] of kept) {
    live.state = { plan: l, routes: new RouteTable(l, pools) };
    live.listener.maxConnections = l.limits.maxConnections;
    next.set(l.name, live);
  }
  for (const f of fresh) next.set(f.name, f);
  const removed = [...rt.listeners.values()].filter((l) => !kept.has(l));
  rt.listeners.clear();
  for (const [k, v] of next) rt.listeners.set(k, v);
  rt.pools = pools;
  rt.plan = plan;
  rt.watchHealth(pools);

  // 3. drain what is gone
  for (const r of removed) {
    r.draining = true;
    r.listener.stopAccepting();
    r.listener.handler.drain();
  }
  for (const p of oldPools.values()) p.close();
  for (const p of pools.values()) for (const s of p.servers) if (s.active === 0) p.retired.delete(s);
  rt.log.info({ listeners: [...next.keys()], added: fresh.map((f) => f.name), removed: removed.map((r) => r.name) }, "configuration reloaded");
  return { ok: true };
}

function addrKey(host: string, port: number): string {
  return `${host}|${port}`;
}
