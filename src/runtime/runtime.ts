// Runtime: the live objects built from one RuntimePlan: pools, listeners, the admin listener.
// start() binds everything or nothing; stop() drains within a deadline.
import type { RuntimePlan, ListenerPlan } from "../config/schema.ts";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../observability/logger.ts";
import { Pool } from "../upstream/pool.ts";
import type { Server } from "../upstream/server.ts";
import { FAILED_ACTIVE } from "../upstream/flags.ts";
import { RouteTable } from "../core/route.ts";
import { Listener } from "../protocols/listener.ts";
import type { Socket } from "node:net";
import type { ListenerContext, ListenerState, ProtocolHandler } from "../protocols/adapter.ts";
import { getProtocol } from "../protocols/index.ts";
import { closeUpstreams } from "../protocols/http/upstreams.ts";
import { HealthRunner, type HealthWatch } from "../health/runner.ts";
import { ListenerStats } from "../observability/metrics.ts";
import { Discovery } from "../upstream/discovery.ts";

export interface LiveListener {
  readonly name: string;
  state: ListenerState;
  readonly listener: Listener;
  readonly log: Logger;
  draining: boolean;
  /** What the handler reads its state through (a reload that replaces the handler reuses it). */
  readonly ctx: ListenerContext;
}

/** A handler a reload took out of service (removed listener, replaced HTTP handler) and the clients it still serves. */
export interface RetiredHandler {
  readonly name: string;
  readonly handler: ProtocolHandler;
  /** Emptied as those clients close; stop() forces what is left at its deadline. */
  readonly clients: Set<Socket>;
}

/** One active-check verdict, as the supervisor shares it with cluster workers. */
export interface Verdict {
  readonly pool: string;
  readonly address: string;
  readonly up: boolean;
  readonly reason: string;
}

export interface RuntimeOptions {
  /**
   * "probe" (default): this process runs the active checks. "external": it runs none and takes
   * verdicts through applyVerdict() (cluster workers: the supervisor probes once for all of them).
   */
  readonly health?: "probe" | "external";
  /** Told each verdict this process's checks reach (the supervisor fans them out); default none. */
  readonly onVerdict?: ((v: Verdict) => void) | null;
}

export class Runtime {
  plan: RuntimePlan;
  readonly log: Logger;
  readonly clock: Clock;
  pools = new Map<string, Pool>();
  readonly listeners = new Map<string, LiveListener>();
  /** starting -> ready -> draining -> stopped */
  phase: "starting" | "ready" | "draining" | "stopped" = "starting";
  /** One health runner for every pool and listener; a server shared by pools is probed once. */
  readonly health: HealthRunner;
  readonly #watches = new Map<string, HealthWatch>();
  readonly #external: boolean;
  readonly #onVerdict: ((v: Verdict) => void) | null;
  /** external health: the last verdict heard per "pool/address". */
  readonly #verdicts = new Map<string, Verdict>();
  /** Handlers a reload retired, until their last client closes. */
  readonly retired = new Set<RetiredHandler>();
  /** Counters per listener name, kept across reloads (metrics.ts). */
  readonly stats = new Map<string, ListenerStats>();
  /** DNS service discovery for `{ dns: }` / `{ srv: }` servers; reads the live pools at every cycle. */
  readonly discovery: Discovery;

  constructor(plan: RuntimePlan, log: Logger, clock: Clock, options: RuntimeOptions = {}) {
    this.plan = plan;
    this.log = log;
    this.clock = clock;
    this.#external = options.health === "external";
    this.#onVerdict = options.onVerdict ?? null;
    // transitions are logged once, by the pool (with the check's figures); the runner's own lines go to debug
    const hlog = log.child({ component: "health" });
    this.health = new HealthRunner(clock, { info: (o, m) => hlog.debug(o, m), warn: (o, m) => hlog.debug(o, m) });
    this.discovery = new Discovery(() => this.pools, clock, log.child({ component: "discovery" }));
  }

  /** Active checks for every server of these pools; watches of servers no longer listed stop. */
  watchHealth(pools: ReadonlyMap<string, Pool>): void {
    const keep = new Set<string>();
    for (const pool of pools.values()) {
      pool.events.onServerAdded = (p, s) => this.#watch(p, s, keep);
      pool.events.onServerRemoved = (p, s) => { const k = `${p.name}/${s.address}`; this.#watches.get(k)?.stop(); this.#watches.delete(k); };
      for (const s of pool.servers) this.#watch(pool, s, keep);
    }
    for (const [k, w] of this.#watches) if (!keep.has(k)) { w.stop(); this.#watches.delete(k); }
    for (const k of this.#verdicts.keys()) if (!keep.has(k)) this.#verdicts.delete(k);
  }

  #watch(pool: Pool, s: Server, keep: Set<string>): void {
    const key = `${pool.name}/${s.address}`;
    if (this.#external) {
      keep.add(key);
      const v = this.#verdicts.get(key);
      if (v !== undefined) { s.lastCheck = v.reason; pool.setHealth(s, v.up, v.reason); }
      return;
    }
    if (pool.plan.health.type === "none") {
      // a reload removed the check: nothing will ever clear a down verdict it left
      if ((s.flags & FAILED_ACTIVE) !== 0) this.#verdict(pool, s, true, "active check removed by reload");
      return;
    }
    keep.add(key);
    this.#watches.set(key, this.health.watch(key, { host: s.host, port: s.port }, pool.plan.health, (up, result, reason) => {
      s.lastCheck = reason;
      this.#verdict(pool, s, up, `${reason} (${pool.plan.health.type} check, ${Math.round(result.ms)} ms)`);
    }));
    // a down verdict left by a check that a reload replaced: the new probe starts up (rise-fall.ts)
    // and reports changes only, so it would never clear it; the server starts up with it
    const st = this.health.status(key);
    if (st !== null && st.last === null && (s.flags & FAILED_ACTIVE) !== 0) this.#verdict(pool, s, true, "active check changed by reload: starts up");
  }

  #verdict(pool: Pool, s: Server, up: boolean, reason: string): void {
    pool.setHealth(s, up, reason);
    this.#onVerdict?.({ pool: pool.name, address: s.address, up, reason });
  }

  /** external health: apply a verdict from the process that probes (unknown pool or server: kept for later). */
  applyVerdict(v: Verdict): void {
    const key = `${v.pool}/${v.address}`;
    this.#verdicts.set(key, v);
    const pool = this.pools.get(v.pool);
    const s = pool?.find(v.address) ?? null;
    if (pool === undefined || s === null) return;
    s.lastCheck = v.reason;
    pool.setHealth(s, v.up, v.reason);
  }

  /** Every server an active check holds down now: what a worker that starts late must hear first. */
  downVerdicts(): Verdict[] {
    const out: Verdict[] = [];
    for (const pool of this.pools.values()) {
      for (const s of pool.servers) {
        if ((s.flags & FAILED_ACTIVE) !== 0) out.push({ pool: pool.name, address: s.address, up: false, reason: s.lastCheck ?? "down" });
      }
    }
    return out;
  }

  /** Build pools from a plan, reusing server state by pool name and address. */
  buildPools(plan: RuntimePlan, previous: ReadonlyMap<string, Pool> | null): Map<string, Pool> {
    const out = new Map<string, Pool>();
    for (const up of plan.upstreams.values()) {
      let prevServers: Map<string, Server> | null = null;
      const old = previous?.get(up.name);
      if (old !== undefined) {
        prevServers = new Map();
        for (const s of old.servers) prevServers.set(s.address, s);
      }
      out.set(up.name, new Pool(this.discovery.seed(up), this.clock, this.log.child({ upstream: up.name }), prevServers));
      // pool counters carry over like server state (metrics never go backwards on a reload)
      const fresh = out.get(up.name);
      if (old !== undefined && fresh !== undefined) { fresh.refusals = old.refusals; fresh.retries = old.retries; }
    }
    return out;
  }

  /** Create a listener for plan l (not bound yet). */
  makeListener(l: ListenerPlan, pools: ReadonlyMap<string, Pool>): LiveListener {
    const adapter = getProtocol(l.protocol);
    if (adapter === null) throw new Error(`protocol ${l.protocol} is not available`); // validated at load
    const log = this.log.child({ listener: l.name });
    // the handler reads its state through `live`, which the reload swaps
    const live = { name: l.name, state: { plan: l, routes: new RouteTable(l, pools) }, log, draining: false } as LiveListener;
    const ctx: ListenerContext = (live as { ctx: ListenerContext }).ctx = {
      current: () => live.state,
      log,
      accessLog: () => (this.plan.log.access ? this.plan.log.accessFormat : null),
      draining: () => live.draining || this.phase === "draining",
      stats: this.#statsFor(l.name),
    };
    (live as { listener: Listener }).listener = new Listener(l.listen, adapter.create(ctx), l.limits.maxConnections);
    live.listener.server.on("connection", ctx.stats.onConnection);
    return live;
  }

  #statsFor(name: string): ListenerStats {
    let st = this.stats.get(name);
    if (st === undefined) { st = new ListenerStats(name); this.stats.set(name, st); }
    return st;
  }

  /** Bind every listener; on any failure close what was bound and throw. */
  async start(): Promise<void> {
    this.pools = this.buildPools(this.plan, null);
    this.watchHealth(this.pools);
    const made: LiveListener[] = [];
    try {
      await this.discovery.start(); // DNS-discovered servers are in the pools before the first client
      for (const l of this.plan.listeners) {
        const live = this.makeListener(l, this.pools);
        made.push(live);
        await live.listener.listen();
        this.listeners.set(l.name, live);
        this.log.info({ listener: l.name, protocol: l.protocol, address: l.listen.text, port: live.listener.port }, `listening on ${l.listen.text}`);
      }
    } catch (err) {
      for (const m of made) m.listener.stopAccepting();
      for (const p of this.pools.values()) p.close();
      this.health.close();
      this.discovery.stop();
      throw err;
    }
    this.phase = "ready";
  }

  /** Port actually bound by a listener (tests use port 0). */
  port(name: string): number {
    return this.listeners.get(name)?.listener.port ?? 0;
  }

  /** Graceful stop: stop accepting, let work finish until timeoutMs (null = no limit), then force. */
  async stop(timeoutMs: number | null): Promise<void> {
    if (this.phase === "stopped") return;
    this.phase = "draining";
    this.discovery.stop();
    for (const l of this.listeners.values()) { l.listener.stopAccepting(); l.listener.handler.drain(); }
    for (const r of this.retired) r.handler.drain();
    const deadline = timeoutMs === null ? Infinity : performance.now() + timeoutMs;
    while (performance.now() < deadline && this.#openClients() > 0) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const open = this.#openClients();
    if (open > 0) this.log.warn({ open }, "shutdown deadline reached: closing remaining sessions");
    // every handler, busy or not: each says its protocol's goodbye and releases its timers
    for (const l of this.listeners.values()) l.listener.handler.forceClose();
    for (const r of this.retired) r.handler.forceClose();
    if (open > 0) {
      await new Promise((r) => setTimeout(r, 100));
      for (const l of this.listeners.values()) for (const c of l.listener.clients) c.destroy();
      for (const r of this.retired) for (const c of r.clients) c.destroy();
    }
    this.retired.clear();
    for (const p of this.pools.values()) p.close();
    this.health.close();
    await closeUpstreams();
    this.phase = "stopped";
  }

  #openClients(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.listener.clients.size;
    for (const r of this.retired) n += r.clients.size;
    return n;
  }
}
