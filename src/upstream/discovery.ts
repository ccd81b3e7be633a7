// Service discovery by DNS: server entries `{ dns: NAME, port: P }` (A and AAAA) and
// `{ srv: _service._proto.NAME }` (RFC 2782) are re-resolved for every pool that lists them, the way
// a Kubernetes headless Service or Consul's DNS interface is meant to be consumed.
//
// - One resolution cycle per upstream resolves all its entries; the next one runs after
//   min(resolve_interval, lowest TTL seen), the TTL floored at MIN_TTL_MS (TTL 0, Consul's default,
//   would otherwise mean a query storm). SRV answers carry no TTL in node:dns, so SRV names follow
//   resolve_interval and their targets' A/AAAA TTLs.
// - A lookup that fails (timeout, SERVFAIL, refused, NXDOMAIN) keeps the last good answer for that
//   name and type, logged once when it starts failing and once when it recovers. NOERROR with no
//   records (ENODATA) is an answer: the set is empty and its servers drain.
// - New addresses join the live pool through Pool.addServer (at the front, as IPVS adds), ramping by
//   slow start when the pool has it; addresses no longer answered leave through Pool.removeServer,
//   so their work in flight finishes. The first set a pool ever gets joins at full weight, like
//   servers listed in the file.
// - SRV: records of the lowest priority are primaries, the others backups; a record's weight
//   multiplies the entry's weight (a weight 0 record counts as 1: RFC 2782 gives it a small share,
//   not none).
// - Reloads: Runtime.buildPools asks seed() for each upstream; the new pool starts with the
//   discovered servers of entries it still lists (adopting their Server objects, so state carries),
//   and a cycle runs at once for anything new.
import type { Resolver } from "node:dns/promises";
import { nodeDns } from "../core/builtins.ts";
import net from "node:net";
import type { Clock, TimerHandle } from "../core/clock.ts";
import type { Address } from "../core/types.ts";
import type { DnsServerPlan, ServerPlan, UpstreamPlan } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Pool } from "./pool.ts";

/** Lowest TTL honoured (ms): answers with TTL 0 or 1 are asked again after a second. */
export const MIN_TTL_MS = 1000;
/** Per-try query timeout and tries (c-ares); a cycle against a dead resolver ends within ~3 s. */
const QUERY_TIMEOUT_MS = 1000;
const QUERY_TRIES = 2;
const RESOLVER_OPTIONS = { timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES };
/** Longest sleep of the timer: the most a reload's new DNS entries wait before their first lookup. */
const TICK_MS = 1000;
/** Largest weight a server takes (config limit). */
const MAX_WEIGHT = 65535;

type RecordType = "A" | "AAAA" | "SRV";

interface HostRecord { readonly ip: string; readonly ttlMs: number }
interface SrvRecord { readonly target: string; readonly port: number; readonly priority: number; readonly weight: number }

/** The last good answer of one (type, name), and whether the latest try failed. */
interface Answer {
  hosts: readonly HostRecord[];
  srv: readonly SrvRecord[];
  failing: string | null;
}

/** A server found by an entry: its plan and the entry key it came from. */
interface Found { readonly sp: ServerPlan; readonly entry: string }

interface UpstreamState {
  /** Entries, resolver and interval the last cycle resolved for (a reload that changes them resolves at once). */
  sig: string;
  answers: Map<string, Answer>;
  /** Servers last applied to the live pool, by address. */
  applied: Map<string, Found>;
  /** True once a cycle completed: later additions ramp by slow start. */
  resolved: boolean;
  running: boolean;
  nextAt: number;
  resolver: Resolver;
  resolverKey: string;
  /** False while `resolver:` is a host name not yet looked up. */
  resolverReady: boolean;
}

export class Discovery {
  readonly #pools: () => ReadonlyMap<string, Pool>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #states = new Map<string, UpstreamState>();
  /** Addresses listed in the file for each plan given to a pool (the rest of its servers are discovered). */
  readonly #staticOf = new WeakMap<UpstreamPlan, ReadonlySet<string>>();
  #timer: TimerHandle | null = null;
  #started = false;
  #stopped = false;

  /** pools: the live pools (read at every cycle, so a reload's swap is seen). */
  constructor(pools: () => ReadonlyMap<string, Pool>, clock: Clock, log: Logger) {
    this.#pools = pools;
    this.#clock = clock;
    this.#log = log;
  }

  /**
   * The plan to build upstream `up`'s pool from: `up` plus the servers its DNS entries found so far
   * (before the static ones, as they were added at the front). Schedules a cycle for new entries.
   */
  seed(up: UpstreamPlan): UpstreamPlan {
    const statics = new Set(up.servers.map((s) => s.address));
    let plan = up;
    const st = this.#states.get(up.name);
    if (st !== undefined && up.dnsServers.length > 0) {
      const keys = new Set(up.dnsServers.map(entryKey));
      const extra: ServerPlan[] = [];
      for (const f of st.applied.values()) if (keys.has(f.entry) && !statics.has(f.sp.address)) extra.push(f.sp);
      if (extra.length > 0) plan = { ...up, servers: [...extra, ...up.servers] };
    }
    this.#staticOf.set(plan, statics);
    if (up.dnsServers.length > 0 && this.#started) this.#arm(0);
    return plan;
  }

  /** First cycle for every pool with DNS entries (awaited, so listeners open with servers), then the timer. */
  async start(): Promise<void> {
    const first: Promise<void>[] = [];
    for (const pool of this.#pools().values()) {
      if (pool.plan.dnsServers.length > 0) first.push(this.#cycle(pool.name, pool.plan));
    }
    await Promise.all(first);
    this.#started = true;
    if (!this.#stopped) this.#arm(this.#delayToNext());
  }

  /** Stop resolving; queries in flight are cancelled. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
    for (const st of this.#states.values()) st.resolver.cancel();
  }

  /** Addresses currently discovered for an upstream (tests and the admin view). */
  discovered(upstream: string): string[] {
    return [...(this.#states.get(upstream)?.applied.keys() ?? [])];
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, delayMs));
  }

  #delayToNext(): number {
    const now = this.#clock.now();
    let next = Infinity;
    for (const pool of this.#pools().values()) {
      if (pool.plan.dnsServers.length === 0) continue;
      const st = this.#states.get(pool.name);
      if (st === undefined) return 0;
      if (st.running) continue; // its end arms the timer again
      if (st.sig !== signature(pool.plan)) return 0;
      next = Math.min(next, st.nextAt);
    }
    // wake at least every TICK_MS: a reload swaps its pools in some time after seed() armed the
    // timer, and new entries should not wait a whole resolve_interval to be seen
    return Math.min(TICK_MS, next - now);
  }

  #tick(): void {
    this.#timer = null;
    if (this.#stopped) return;
    const now = this.#clock.now();
    for (const pool of this.#pools().values()) {
      if (pool.plan.dnsServers.length === 0) continue;
      const st = this.#states.get(pool.name);
      if (st !== undefined && st.running) continue;
      if (st === undefined || st.sig !== signature(pool.plan) || now >= st.nextAt) {
        void this.#cycle(pool.name, pool.plan).then(() => this.#arm(this.#delayToNext()));
      }
    }
    this.#arm(this.#delayToNext());
  }

  #state(up: UpstreamPlan): UpstreamState {
    const key = up.resolver === null ? "system" : resolverText(up.resolver);
    let st = this.#states.get(up.name);
    if (st === undefined) {
      st = { sig: "", answers: new Map(), applied: new Map(), resolved: false, running: false, nextAt: 0, resolver: new (nodeDns().Resolver)(RESOLVER_OPTIONS), resolverKey: "", resolverReady: false };
      this.#states.set(up.name, st);
    }
    if (st.resolverKey !== key) {
      st.resolver.cancel();
      st.resolver = new (nodeDns().Resolver)(RESOLVER_OPTIONS);
      st.resolverKey = key;
      st.resolverReady = up.resolver === null;
      st.answers.clear();
    }
    return st;
  }

  /** Point the resolver at `resolver:`; a host name is looked up through the system first. */
  async #pointResolver(st: UpstreamState, up: UpstreamPlan, upstream: string): Promise<void> {
    const at = up.resolver;
    if (at === null) { st.resolverReady = true; return; }
    let ip = at.host;
    if (net.isIP(ip) === 0) {
      try {
        ip = (await nodeDns().lookup(at.host)).address;
      } catch (err) {
        this.#log.warn({ upstream, resolver: at.text, err: (err as Error).message }, `DNS resolver ${at.text} cannot be found; trying again next cycle`);
        return;
      }
    }
    st.resolver.setServers([net.isIPv6(ip) ? `[${ip}]:${at.port}` : `${ip}:${at.port}`]);
    st.resolverReady = true;
  }

  /** Resolve every entry of `up`, then apply the result to the live pool of that name. Never throws. */
  async #cycle(name: string, up: UpstreamPlan): Promise<void> {
    const st = this.#state(up);
    const sig = signature(up);
    st.running = true;
    let minTtl = Infinity;
    const found = new Map<string, Found>();
    try {
      if (!st.resolverReady) await this.#pointResolver(st, up, name);
      if (!st.resolverReady) { st.sig = sig; st.nextAt = this.#clock.now() + up.resolveIntervalMs; return; } // keeps its servers
      for (const e of up.dnsServers) {
        const key = entryKey(e);
        if (e.kind === "dns") {
          const hosts = await this.#hosts(st, name, e.name);
          for (const h of hosts) {
            minTtl = Math.min(minTtl, h.ttlMs);
            addFound(found, key, h.ip, e.port, e.weight, e, false);
          }
          continue;
        }
        const srv = (await this.#lookup(st, name, "SRV", e.name)).srv;
        let top = Infinity;
        for (const r of srv) top = Math.min(top, r.priority);
        for (const r of srv) {
          const weight = Math.min(MAX_WEIGHT, e.weight * Math.max(1, r.weight));
          const lower = r.priority > top;
          if (net.isIP(r.target) !== 0) { addFound(found, key, r.target, r.port, weight, e, lower); continue; }
          for (const h of await this.#hosts(st, name, r.target)) {
            minTtl = Math.min(minTtl, h.ttlMs);
            addFound(found, key, h.ip, r.port, weight, e, lower);
          }
        }
      }
    } finally {
      st.running = false;
    }
    if (this.#stopped) return;
    st.nextAt = this.#clock.now() + Math.min(up.resolveIntervalMs, Math.max(MIN_TTL_MS, minTtl));
    const pool = this.#pools().get(name);
    // a reload during the cycle changed what to resolve: the next tick resolves the new entries
    if (pool === undefined || signature(pool.plan) !== sig) return;
    st.sig = sig;
    this.#apply(pool, st, found);
    st.resolved = true;
  }

  /** A and AAAA of one name, each the last good answer when its lookup fails. */
  async #hosts(st: UpstreamState, upstream: string, host: string): Promise<readonly HostRecord[]> {
    const [a, aaaa] = await Promise.all([this.#lookup(st, upstream, "A", host), this.#lookup(st, upstream, "AAAA", host)]);
    return [...a.hosts, ...aaaa.hosts];
  }

  async #lookup(st: UpstreamState, upstream: string, type: RecordType, host: string): Promise<Answer> {
    const key = `${type} ${host.toLowerCase()}`;
    let last = st.answers.get(key);
    if (last === undefined) { last = { hosts: [], srv: [], failing: null }; st.answers.set(key, last); }
    try {
      if (type === "SRV") {
        const recs = await st.resolver.resolveSrv(host);
        last.srv = recs.map((r) => ({ target: r.name.replace(/\.$/, ""), port: r.port, priority: r.priority, weight: r.weight }));
      } else {
        const recs = type === "A" ? await st.resolver.resolve4(host, { ttl: true }) : await st.resolver.resolve6(host, { ttl: true });
        last.hosts = recs.map((r) => ({ ip: r.address, ttlMs: r.ttl * 1000 }));
      }
      if (last.failing !== null) this.#log.info({ upstream, name: host, type }, `DNS ${type} ${host} answers again`);
      last.failing = null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (code === "ENODATA") {
        // NOERROR without records of this type: an answer (AAAA for an IPv4-only name, or a set scaled to zero)
        last.hosts = [];
        last.srv = [];
        last.failing = null;
      } else if (code !== "ECANCELLED") {
        if (last.failing === null) {
          const kept = type === "SRV" ? last.srv.length : last.hosts.length;
          this.#log.warn({ upstream, name: host, type, code, kept }, `DNS ${type} ${host} failed (${code}); keeping the last good answer (${kept} record${kept === 1 ? "" : "s"})`);
        }
        last.failing = code;
      }
    }
    return last;
  }

  /** Make the pool's discovered servers equal `found`: add what is new, drain what is gone. */
  #apply(pool: Pool, st: UpstreamState, found: ReadonlyMap<string, Found>): void {
    const statics = this.#staticOf.get(pool.plan) ?? new Set(pool.plan.servers.map((s) => s.address));
    const added: string[] = [];
    const removed: string[] = [];
    for (const s of pool.servers) {
      if (statics.has(s.address) || found.has(s.address)) continue;
      pool.removeServer(s);
      removed.push(s.address);
    }
    let full = false;
    for (const [address, f] of found) {
      if (statics.has(address)) continue;
      const s = pool.find(address);
      if (s === null) {
        const n = pool.addServer(f.sp); // ramps through slow start
        n.upSince = st.resolved ? n.upSince : -1;
        full ||= !st.resolved;
        added.push(address);
      } else {
        const before = st.applied.get(address);
        if (before !== undefined && before.sp.weight !== f.sp.weight) pool.setWeight(s, f.sp.weight);
      }
    }
    if (full) pool.rebuild(); // the first set a pool gets joins at full weight, as listed servers do
    st.applied = new Map(found);
    if (added.length > 0 || removed.length > 0) {
      this.#log.info({ upstream: pool.name, added, removed, servers: found.size }, `DNS: upstream ${pool.name} now has ${found.size} discovered server${found.size === 1 ? "" : "s"} (+${added.length} -${removed.length})`);
    }
  }
}

function addFound(found: Map<string, Found>, entry: string, ip: string, port: number, weight: number, e: DnsServerPlan, lower: boolean): void {
  const address = net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
  if (found.has(address)) return; // the first entry naming an address wins
  found.set(address, { entry, sp: { address, host: ip, port, weight, maxConns: e.maxConns, backup: e.backup || lower } });
}

function entryKey(e: DnsServerPlan): string {
  return `${e.kind} ${e.name.toLowerCase()} ${e.port} ${e.weight} ${e.maxConns} ${e.backup ? 1 : 0}`;
}

function signature(up: UpstreamPlan): string {
  const r = up.resolver === null ? "system" : resolverText(up.resolver);
  return `${r}|${up.resolveIntervalMs}|${up.dnsServers.map(entryKey).join(",")}`;
}

function resolverText(a: Address): string {
  return net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

