// Reload in place (hardening.md section 3, R01-R09): the new plan is already validated.
//  1. Pools are rebuilt from the plan; each server whose pool and address are unchanged is the same
//     Server object (health flags, passive ejection, counters, slow-start progress carry over).
//  2. Listeners whose address and protocol are unchanged keep their socket; new addresses are bound
//     first, and one failed bind closes them all and changes nothing (R05).
//  3. One assignment per listener swaps {plan, routes}: a request or session reads the state once at
//     its start, so it sees the old config or the new one, never a mix (R01-R03).
//  4. What the new plan drops is drained, not cut: removed listeners stop accepting and their
//     handlers say goodbye (HTTP `Connection: close`, mail goodbye to idle sessions); an HTTP handler
//     whose server-level settings changed is replaced, the old one drains its keep-alive clients.
//     Old pools take no new picks; work in flight releases its lease into them and finishes (R02, R07).
// Retired handlers stay on Runtime.retired until their last client closes, so a stop that follows
// still forces them at its deadline.
import type { Socket } from "node:net";
import type { ListenerPlan, RuntimePlan } from "../config/schema.ts";
import type { Runtime, LiveListener, RetiredHandler } from "./runtime.ts";
import type { ProtocolHandler } from "../protocols/adapter.ts";
import type { Pool } from "../upstream/pool.ts";
import { RouteTable } from "../core/route.ts";
import { getProtocol } from "../protocols/index.ts";

export type ReloadResult = { readonly ok: true } | { readonly ok: false; readonly errors: readonly string[] };

/** Apply plan to rt. Never throws; { ok: false } leaves rt exactly as it was. */
export async function reloadRuntime(rt: Runtime, plan: RuntimePlan): Promise<ReloadResult> {
  if (rt.phase !== "ready") return { ok: false, errors: [`reload refused: the proxy is ${rt.phase}`] };
  const oldPools = rt.pools;
  let pools: Map<string, Pool>;
  try {
    pools = rt.buildPools(plan, oldPools);
  } catch (err) {
    // validated plans build; this is a bug, and the old config keeps serving
    const msg = `reload refused: ${(err as Error).message}; still serving the previous configuration`;
    rt.log.error({ err: (err as Error).message }, msg);
    return { ok: false, errors: [msg] };
  }
  const byAddress = new Map<string, LiveListener>();
  for (const l of rt.listeners.values()) byAddress.set(addrKey(l.state.plan), l);

  // 1. bind every new address first; any failure closes them and changes nothing
  const fresh: LiveListener[] = [];
  const kept = new Map<LiveListener, ListenerPlan>();
  try {
    for (const l of plan.listeners) {
      const old = byAddress.get(addrKey(l));
      if (old !== undefined && old.state.plan.protocol === l.protocol) { kept.set(old, l); continue; }
      if (old !== undefined) throw new Error(`listener ${l.name}: ${l.listen.text} changes protocol; remove it in one reload and add it in the next`);
      const live = rt.makeListener(l, pools);
      fresh.push(live);
      try {
        await live.listener.listen();
      } catch (err) {
        throw new Error(`listener ${l.name}: cannot listen on ${l.listen.text}: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    for (const f of fresh) { f.listener.stopAccepting(); f.listener.handler.forceClose(); }
    for (const p of pools.values()) p.close();
    const msg = `reload refused: ${(err as Error).message}; still serving the previous configuration`;
    rt.log.error({ err: (err as Error).message }, msg);
    return { ok: false, errors: [msg] };
  }

  // 2. swap: each request/session reads one state at its start
  const next = new Map<string, LiveListener>();
  const replaced: string[] = [];
  for (const [live, l] of kept) {
    const before = live.state.plan;
    live.state = { plan: l, routes: new RouteTable(l, pools) };
    live.listener.maxConnections = l.limits.maxConnections;
    if (handlerMustChange(before, l)) {
      const adapter = getProtocol(l.protocol);
      if (adapter !== null) {
        const old = live.listener.handler;
        live.listener.handler = adapter.create(live.ctx);
        retire(rt, live.name, old, ownSockets(rt, live.name, live.listener.clients));
        replaced.push(live.name);
      }
    }
    next.set(l.name, live);
  }
  for (const f of fresh) {
    next.set(f.name, f);
    rt.log.info({ listener: f.name, protocol: f.state.plan.protocol, address: f.state.plan.listen.text, port: f.listener.port }, `listening on ${f.state.plan.listen.text}`);
  }
  const removed = [...rt.listeners.values()].filter((l) => !kept.has(l));
  rt.listeners.clear();
  for (const [k, v] of next) rt.listeners.set(k, v);
  rt.pools = pools;
  rt.plan = plan;
  rt.watchHealth(pools);

  // 3. drain what is gone: removed listeners refuse new clients and finish the ones they have
  for (const r of removed) {
    r.draining = true;
    r.listener.stopAccepting();
    retire(rt, r.name, r.listener.handler, ownSockets(rt, r.name, r.listener.clients));
  }
  let dropped = 0;
  for (const [name, p] of oldPools) {
    const now = pools.get(name);
    for (const s of p.servers) {
      if (now?.find(s.address) === s) continue;
      s.listed = false; // no longer in any list: its in-flight work releases into the old pool
      dropped++;
    }
    p.successor = now ?? null;
    p.close();
  }
  rt.log.info({
    listeners: [...next.keys()], added: fresh.map((f) => f.name), removed: removed.map((r) => r.name),
    replaced_handlers: replaced, servers_dropped: dropped,
  }, "configuration reloaded");
  return { ok: true };
}

/**
 * node's http.Server takes max_header_size at construction only (its parser is made with it), so a
 * new value needs a new HTTP handler: it takes the new connections, the old one drains its own.
 * Everything else the HTTP handler follows itself (timeouts, certificates: adapter.ts), and every
 * other protocol reads its settings per session.
 */
function handlerMustChange(a: ListenerPlan, b: ListenerPlan): boolean {
  return a.protocol === "http" && a.limits.maxHeaderSize !== b.limits.maxHeaderSize;
}

/** Sockets of a listener not already owned by a handler retired earlier. */
function ownSockets(rt: Runtime, name: string, clients: ReadonlySet<Socket>): Set<Socket> {
  const out = new Set(clients);
  for (const r of rt.retired) if (r.name === name) for (const c of r.clients) out.delete(c);
  return out;
}

/** Drain handler now; once its last client closes, forceClose() it (frees its timers) and forget it. */
function retire(rt: Runtime, name: string, handler: ProtocolHandler, clients: Set<Socket>): void {
  const entry: RetiredHandler = { name, handler, clients };
  handler.drain();
  if (clients.size === 0) { handler.forceClose(); return; }
  rt.retired.add(entry);
  for (const c of clients) {
    c.once("close", () => {
      clients.delete(c);
      if (clients.size === 0 && rt.retired.delete(entry)) handler.forceClose();
    });
  }
}

function addrKey(l: ListenerPlan): string {
  return `${l.listen.host}|${l.listen.port}`;
}
