// Pool: one upstream's servers, its eligible tiers (primaries, else backups), its schedulers, and leases.
// acquire() = pick + active++ in one step (schedulers.md 1.8); Lease.release() is the only way back.
import type { Clock, TimerHandle } from "../core/clock.ts";
import type { Outcome } from "../core/types.ts";
import { isServerFailure } from "../core/types.ts";
import type { UpstreamPlan, ServerPlan } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { PickContext, Scheduler, SchedulerFactory } from "../schedulers/scheduler.ts";
import { getScheduler } from "../schedulers/index.ts";
import { Server, type ServerView } from "./server.ts";
import { ADMIN_DOWN, ADMIN_DRAIN, FAILED_ACTIVE, FAILED_PASSIVE, verdict, type ServerState } from "./flags.ts";
import { PassiveHealth } from "./passive.ts";
import { Persistence } from "./persistence.ts";
import { afterCount, afterRelease } from "../schedulers/thresholds.ts";
import { pickChannel, serverStateChannel, type PickVia } from "../observability/diagnostics.ts";
import { tracePick } from "../admin/explain.ts";

const HISTORY_MAX = 20;
/** Schedulers whose tables must not move with slow start (schedulers.md 4.5). */
const NO_SLOW_START = new Set(["sh", "dh", "mh"]);
const TICK_MS = 100;

export interface Lease {
  readonly server: ServerView;
  /** Exactly once: active--, inactive linger, passive health. Later calls do nothing. */
  release(outcome: Outcome): void;
}

class PoolLease implements Lease {
  readonly server: Server;
  readonly #pool: Pool;
  /** The client whose persistence template this unit holds; null when persistence is off. */
  readonly #client: string | null;
  #done = false;
  constructor(pool: Pool, server: Server, client: string | null) { this.#pool = pool; this.server = server; this.#client = client; }
  release(outcome: Outcome): void {
    if (this.#done) return;
    this.#done = true;
    this.#pool.released(this.server, outcome, this.#client);
  }
}

export interface PoolEvents {
  /** A server's verdict changed (up/down/drain), with the reason. */
  onStateChange?(pool: Pool, server: Server, from: ServerState, to: ServerState, reason: string): void;
  /** A server joined the list at runtime (admin API, DNS discovery). */
  onServerAdded?(pool: Pool, server: Server): void;
  /** A server left the list at runtime. */
  onServerRemoved?(pool: Pool, server: Server): void;
}

export class Pool {
  readonly name: string;
  plan: UpstreamPlan;
  readonly factory: SchedulerFactory;
  /** All servers, tier lists in list order (front first). */
  primaries: Server[] = [];
  backups: Server[] = [];
  /** Servers no longer listed but with work still in flight (reload removals). */
  readonly retired = new Set<Server>();
  /** The pool a reload built to replace this one (set when this one is closed); null otherwise. */
  successor: Pool | null = null;
  readonly #primary: Scheduler;
  readonly #backup: Scheduler;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #passive: PassiveHealth;
  events: PoolEvents;
  readonly #persistence: Persistence | null;
  #tick: TimerHandle | null = null;
  #closed = false;
  /** Pending inactive expiries per server: flat [expiry, count, ...] pairs, oldest first; expiries are
   *  rounded up to the tick, so a busy server has a handful of pairs, not one entry per request. */
  readonly #linger = new Map<Server, number[]>();
  /** Units refused because no server was eligible. */
  refusals = 0;
  retries = 0;
  /** The last server each tier's scheduler picked (explain reads the rr rotation from it); null = none yet. */
  lastPrimaryPick: Server | null = null;
  lastBackupPick: Server | null = null;
  /** Debug logging on (read once: the level is set at start-up, and a reload builds new pools). */
  readonly #debug: boolean;

  constructor(plan: UpstreamPlan, clock: Clock, log: Logger, previous: ReadonlyMap<string, Server> | null, events: PoolEvents = {}) {
    const factory = getScheduler(plan.scheduler);
    if (factory === null) throw new Error(`unknown scheduler ${plan.scheduler}`); // validated at load: a bug
    this.name = plan.name;
    this.plan = plan;
    this.factory = factory;
    this.#clock = clock;
    this.#log = log;
    this.#debug = log.isLevelEnabled("debug");
    this.events = events;
    this.#passive = new PassiveHealth(plan.passive, clock);
    this.#persistence = plan.persistence === null ? null : new Persistence(plan.persistence, clock);
    const opts = { clock, random32: () => (Math.random() * 0x100000000) >>> 0 };
    this.#primary = factory.create(plan, opts);
    this.#backup = factory.create(plan, opts);
    for (const sp of plan.servers) {
      const s = previous?.get(sp.address) ?? null;
      const server = s !== null ? adopt(s, sp) : new Server(sp.address, sp.host, sp.port, sp.weight, sp.maxConns, sp.backup);
      (server.backup ? this.backups : this.primaries).push(server);
      // an ejection carried over a reload: the old pool's timer dies with it, so this pool ends it
      if ((server.flags & FAILED_PASSIVE) !== 0) this.#passiveTimer(server);
    }
    this.rebuild();
  }

  /** Every server, primaries first. */
  get servers(): Server[] { return [...this.primaries, ...this.backups]; }

  find(address: string): Server | null {
    for (const s of this.primaries) if (s.address === address) return s;
    for (const s of this.backups) if (s.address === address) return s;
    return null;
  }

  /** Eligible now: up, weight > 0; primaries, else backups. */
  get eligible(): readonly Server[] {
    const p = this.primaries.filter(isEligible);
    return p.length > 0 ? p : this.backups.filter(isEligible);
  }

  /** Recompute effective weights and indexes, then rebuild both schedulers' tables. */
  rebuild(): void {
    const now = this.#clock.now();
    const ramp = this.plan.slowStartMs > 0 && !NO_SLOW_START.has(this.factory.name);
    let ramping = false;
    for (const list of [this.primaries, this.backups]) {
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        s.index = i;
        let w = s.configWeight;
        if ((s.flags & ADMIN_DRAIN) !== 0) w = 0;
        else if (ramp && s.upSince >= 0 && w > 1) {
          const elapsed = now - s.upSince;
          if (elapsed < this.plan.slowStartMs) {
            // integer steps: 1 .. weight, in tenths of the ramp
            const step = Math.floor((elapsed * 10) / this.plan.slowStartMs) + 1;
            w = Math.max(1, Math.floor((s.configWeight * step) / 10));
            ramping = true;
          }
        }
        s.weight = w;
        if (s.configWeight > 0) s.lastWeight = s.configWeight;
      }
    }
    this.#primary.rebuild(this.primaries);
    this.#backup.rebuild(this.backups);
    if (ramping) this.#ensureTick();
  }

  /**
   * pick + active++; null = refuse. ctx.exclude: servers already tried for this unit. clientIp feeds
   * persistence templates (ipvsadm -p) when the pool has them: a live template wins over the scheduler.
   */
  acquire(ctx: PickContext, clientIp: string | null = null): Lease | null {
    const pers = this.#persistence;
    let v: ServerView | null = null;
    let via: PickVia = "scheduler";
    if (pers !== null && clientIp !== null) { v = pers.lookup(clientIp, ctx.exclude); if (v !== null) via = "persistence"; }
    if (v === null) { v = this.#primary.pick(ctx); if (v !== null) this.lastPrimaryPick = v as Server; }
    if (v === null && this.backups.length > 0 && !this.#anyPrimaryUsable(ctx)) { v = this.#backup.pick(ctx); if (v !== null) this.lastBackupPick = v as Server; }
    if (v === null) return null;
    const s = v as Server;
    this.#picked(s, ctx, clientIp, via);
    if (pers !== null && clientIp !== null) { pers.remember(clientIp, s); return this.#bind(s, clientIp); }
    return this.#bind(s, null);
  }

  /** Take this very server if it can work now (sticky cookie); null when it cannot. */
  acquireServer(s: Server, exclude: ReadonlySet<ServerView> | null): Lease | null {
    if (!s.listed || s.weight <= 0 || s.overloaded || (exclude !== null && exclude.has(s))) return null;
    if (s.backup && this.#anyPrimaryUsable({ key: null, port: 0, exclude })) return null;
    this.#picked(s, null, null, "sticky-cookie", exclude);
    return this.#bind(s, null);
  }

  /** Observers of a pick: the debug `pick` field (why), the switchyard:upstream:pick channel. Free when both are off. */
  #picked(s: Server, ctx: PickContext | null, clientIp: string | null, via: PickVia, exclude: ReadonlySet<ServerView> | null = null): void {
    const debug = this.#debug;
    if (!debug && !pickChannel.hasSubscribers) return;
    const c = ctx ?? { key: null, port: 0, exclude };
    if (debug) this.#log.debug({ pick: tracePick(this, s, c, via) }, `picked ${s.address}`);
    if (pickChannel.hasSubscribers) pickChannel.publish({ pool: this, server: s, ctx: c, clientIp, via });
  }

  /** The server whose stickyId() is id, or null. */
  findSticky(id: string): Server | null {
    for (const s of this.primaries) if (stickyId(s) === id) return s;
    for (const s of this.backups) if (stickyId(s) === id) return s;
    return null;
  }

  #bind(s: Server, client: string | null): Lease {
    s.active++;
    s.total++;
    afterCount(s);
    return new PoolLease(this, s, client);
  }

  /** Backups serve only while no primary is eligible (up, weight > 0); a busy primary is not a reason. */
  #anyPrimaryUsable(ctx: PickContext): boolean {
    for (const s of this.primaries) {
      if (isEligible(s) && !s.thresholdOverloaded && (ctx.exclude === null || !ctx.exclude.has(s))) return true;
    }
    return false;
  }

  /** Called by Lease.release. */
  released(s: Server, outcome: Outcome, client: string | null): void {
    s.active--;
    if (client !== null) this.#persistence?.release(client);
    const linger = this.plan.inactiveLingerMs;
    if (linger > 0 && !this.#closed) {
      s.inactive++;
      let q = this.#linger.get(s);
      if (q === undefined) { q = []; this.#linger.set(s, q); }
      const at = Math.ceil((this.#clock.now() + linger) / TICK_MS) * TICK_MS;
      if (q.length > 0 && q[q.length - 2] === at) q[q.length - 1]++;
      else q.push(at, 1);
      this.#ensureTick();
    }
    afterRelease(s);
    // work that began before a reload ends here, in the closed pool: the verdict belongs to the
    // pool that serves the server now (its timer ends an ejection; a closed pool's never fires)
    let owner: Pool = this;
    while (owner.#closed && owner.successor !== null && owner.successor.find(s.address) === s) owner = owner.successor;
    if (isServerFailure(outcome)) {
      s.failures++;
      const v = owner.#passive.fail(s);
      if (v === "max-fails") {
        owner.setFlag(s, FAILED_PASSIVE, true, `passive: ${owner.plan.passive.maxFails} failures within ${owner.plan.passive.failTimeoutMs} ms (last: ${outcome})`);
      } else if (v === "trial-failed") {
        owner.setFlag(s, FAILED_PASSIVE, true, `passive: failed trial (${outcome})`);
      }
    } else if (outcome === "ok") {
      owner.#passive.ok(s);
    }
    if (s.active === 0 && !s.listed) this.retired.delete(s);
  }

  /** Set or clear one cause bit; logs and records the transition when the verdict changes. */
  setFlag(s: Server, flag: number, on: boolean, reason: string): void {
    const before = verdict(s.flags);
    // out for fail_timeout, then a trial; armed whenever the bit goes on, even on a server
    // that was down already (else the bit would outlive the active check's verdict)
    if (on && flag === FAILED_PASSIVE && (s.flags & FAILED_PASSIVE) === 0) this.#passiveTimer(s);
    s.flags = on ? s.flags | flag : s.flags & ~flag;
    const after = verdict(s.flags);
    if (before === after) {
      if (flag === ADMIN_DRAIN) this.rebuild();
      return;
    }
    if (after === "up") s.upSince = this.#clock.now();
    s.history.push({ at: Date.now(), state: after, reason });
    if (s.history.length > HISTORY_MAX) s.history.shift();
    const level = after === "up" ? "info" : "warn";
    this.#log[level]({ pool: this.name, server: s.address, from: before, to: after, reason, flags: s.flags }, `server ${s.address} is ${after}`);
    this.events.onStateChange?.(this, s, before, after, reason);
    if (serverStateChannel.hasSubscribers) serverStateChannel.publish({ pool: this, server: s, from: before, to: after, flag, on, reason });
    this.rebuild();
  }

  /** Clears FAILED_PASSIVE after fail_timeout and starts the server's trial (passive.ts). */
  #passiveTimer(s: Server): void {
    this.#clock.setTimeout(() => {
      if (this.#closed || (s.flags & FAILED_PASSIVE) === 0) return;
      this.#passive.startTrial(s);
      this.setFlag(s, FAILED_PASSIVE, false, "passive: fail_timeout over, trial");
    }, this.plan.passive.failTimeoutMs);
  }

  /** Active health verdict from the health runner. */
  setHealth(s: Server, up: boolean, reason: string): void {
    this.setFlag(s, FAILED_ACTIVE, !up, reason);
  }

  /** Admin API: state up | down | drain. */
  setAdminState(s: Server, state: ServerState): void {
    if (state === "up") { this.setFlag(s, ADMIN_DOWN, false, "admin: up"); this.setFlag(s, ADMIN_DRAIN, false, "admin: up"); }
    else if (state === "down") this.setFlag(s, ADMIN_DOWN, true, "admin: down");
    else this.setFlag(s, ADMIN_DRAIN, true, "admin: drain");
  }

  /** Admin API: new configured weight (like ipvsadm -e -w). */
  setWeight(s: Server, weight: number): void {
    s.configWeight = weight;
    this.rebuild();
  }

  /** Admin API: add a server at the front of its tier, as IPVS does. */
  addServer(sp: ServerPlan): Server {
    const s = new Server(sp.address, sp.host, sp.port, sp.weight, sp.maxConns, sp.backup);
    s.upSince = this.#clock.now(); // a new server ramps up through slow start
    (s.backup ? this.backups : this.primaries).unshift(s);
    this.rebuild();
    this.events.onServerAdded?.(this, s);
    return s;
  }

  /** Remove a server from the list; its work in flight finishes. */
  removeServer(s: Server): void {
    s.listed = false;
    this.primaries = this.primaries.filter((x) => x !== s);
    this.backups = this.backups.filter((x) => x !== s);
    if (s.active > 0) this.retired.add(s);
    this.rebuild();
    this.events.onServerRemoved?.(this, s);
  }

  close(): void {
    this.#closed = true;
    this.#tick?.cancel();
    this.#tick = null;
    // pending linger entries die with the pool (servers may live on in a reloaded pool)
    for (const [s, q] of this.#linger) for (let i = 1; i < q.length; i += 2) s.inactive -= q[i];
    this.#linger.clear();
    this.#primary.close();
    this.#backup.close();
    this.#persistence?.close();
  }

  #ensureTick(): void {
    if (this.#tick !== null || this.#closed) return;
    this.#tick = this.#clock.setTimeout(() => this.#onTick(), TICK_MS);
  }

  /** One shared coarse timer: expires inactive entries and steps slow-start weights. */
  #onTick(): void {
    this.#tick = null;
    const now = this.#clock.now();
    let pending = false;
    for (const [s, q] of this.#linger) {
      let n = 0;
      while (n < q.length && q[n] <= now) { s.inactive -= q[n + 1]; n += 2; }
      if (n > 0) q.splice(0, n);
      if (q.length === 0) this.#linger.delete(s); else pending = true;
    }
    if (this.plan.slowStartMs > 0) this.rebuild();
    if (pending) this.#ensureTick();
  }
}

/** The sticky cookie value of a server: FNV-1a 32 of its address, hex (stable across restarts). */
export function stickyId(s: Server): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.address.length; i++) {
    h ^= s.address.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function isEligible(s: Server): boolean {
  return s.weight > 0 && verdict(s.flags) === "up";
}

/** Reuse a server's runtime state across a reload, with its new configured values. */
function adopt(s: Server, sp: ServerPlan): Server {
  s.configWeight = sp.weight;
  s.upper = sp.maxConns;
  s.backup = sp.backup;
  s.listed = true;
  return s;
}
