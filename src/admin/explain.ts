// Decision tracing: which server a pool would pick (explain) or did pick (tracePick), and why every
// other server was passed over: down (and which cause), drain, weight 0, overloaded, excluded after a
// failure, backup tier unused, or the scheduler's own rule (score, rotation, hash bucket).
//
// Nothing here touches a live scheduler: explain() runs a fresh scheduler instance over the same
// server objects, which gives the live answer exactly for the stateless schedulers (lc wlc sed nq fo
// ovf) and the table ones (sh dh mh: the table is a pure function of the list). rr is computed from
// the pool's last scheduler pick (its cursor follows that server). wrr (cursor and threshold), twos
// (random) and lblc/lblcr (per-key memory) depend on state nobody may read without changing it: for
// them `exact` is false and the answer says what decides instead (shares, draw odds, the wlc choice a
// new key gets). Persistence templates and sticky cookies win over the scheduler; explain says so in
// `notes` (looking a template up would extend it).
import type { Pool } from "../upstream/pool.ts";
import type { Server, ServerView } from "../upstream/server.ts";
import type { PickContext, SchedulerOptions } from "../schedulers/scheduler.ts";
import type { PickVia } from "../observability/diagnostics.ts";
import { ADMIN_DOWN, ADMIN_DRAIN, DOWN_MASK, FAILED_ACTIVE, FAILED_PASSIVE } from "../upstream/flags.ts";
import { bucket8, key32, murmur3Word, MH_SEED1 } from "../schedulers/hash.ts";
import { buildShTable } from "../schedulers/sh.ts";
import { buildDhTable } from "../schedulers/dh.ts";
import { createMh } from "../schedulers/mh.ts";
import { systemClock } from "../core/clock.ts";

/** Scratch scheduler options for table building (mh reads neither field). */
const TABLE_OPTS: SchedulerOptions = { clock: systemClock, random32: () => 0 };

export interface ExplainQuery {
  /** The scheduler key (for source-keyed schedulers, a client address); null = none. */
  readonly key: string | null;
  /** Client address (persistence templates; the key when `key` is not given). */
  readonly source: string | null;
  /** Client source port (sh-port / mh-port); 0 = unknown. */
  readonly port: number;
  /** Servers to treat as already tried and failed for this unit (a retry); null = first try. */
  readonly exclude: ReadonlySet<ServerView> | null;
}

export interface ServerReport {
  readonly address: string;
  readonly tier: "primary" | "backup";
  readonly state: "up" | "down" | "drain";
  readonly weight: number;
  readonly effective_weight: number;
  readonly active: number;
  readonly inactive: number;
  /** active * 256 + inactive (schedulers.md 1.4). */
  readonly overhead: number;
  readonly max_conns: number;
  /** The scheduler's figure for this server ("overhead/weight 256/2"); null when it has none. */
  readonly score: string | null;
  readonly picked: boolean;
  /** For the pick: why it won. For every other server: why it was skipped or lost. */
  readonly reason: string;
}

export interface Explanation {
  readonly upstream: string;
  readonly scheduler: string;
  readonly key: string | null;
  readonly source: string | null;
  readonly port: number;
  /** The tier the pick comes from; null when the pool has no server at all. */
  readonly tier: "primary" | "backup" | null;
  /** The server the next unit would get; null = refused (503 / closed), or unknown when !exact. */
  readonly would_pick: string | null;
  /** False when the answer depends on scheduler state that cannot be read without changing it. */
  readonly exact: boolean;
  readonly summary: string;
  readonly notes: string[];
  readonly servers: ServerReport[];
}

/** Why s cannot take new work at all (for this unit), or null when it can. */
export function blockedReason(s: Server, ex: ReadonlySet<ServerView> | null): string | null {
  if (!s.listed) return "removed from the list: finishing its work in flight";
  const f = s.flags;
  if ((f & DOWN_MASK) !== 0) {
    const why: string[] = [];
    if ((f & FAILED_ACTIVE) !== 0) why.push(`health check failed${s.lastCheck !== null ? ` (${s.lastCheck})` : ""}`);
    if ((f & FAILED_PASSIVE) !== 0) why.push("passive health: too many failures within fail_timeout");
    if ((f & ADMIN_DOWN) !== 0) why.push("set down by the admin API");
    return `down: ${why.join("; ")}`;
  }
  if ((f & ADMIN_DRAIN) !== 0) return "drain: takes no new work, finishing what it has";
  if (s.configWeight === 0) return "weight 0: quiesced, takes no new work";
  if (s.weight === 0) return "effective weight 0";
  if (s.thresholdOverloaded) return `overloaded: ${s.active} in flight, max_conns ${s.upper}`;
  if (ex !== null && ex.has(s)) return "excluded: already tried for this unit and it failed";
  return null;
}

function oh(s: ServerView): number {
  return s.active * 256 + s.inactive;
}

/** The scheduler's figure for one server (what its comparison reads). */
function score(name: string, s: Server): string | null {
  switch (name) {
    case "lc": return `overhead ${oh(s)}`;
    case "wlc": case "lblc": case "lblcr": case "twos": return `overhead/weight ${oh(s)}/${s.weight}`;
    case "sed": case "nq": return `(active+1)/weight ${s.active + 1}/${s.weight}`;
    case "fo": return `weight ${s.weight}`;
    case "ovf": return `weight ${s.weight}, active ${s.active}`;
    case "wrr": return `weight ${s.weight}`;
    default: return null;
  }
}

/** Where a key lands in a hash scheduler's table, ignoring who can work (null for other schedulers). */
function homeOf(pool: Pool, list: readonly Server[], key: string | null, port: number): { bucket: number; server: Server } | null {
  const name = pool.factory.name;
  if (list.length === 0) return null;
  if (name === "dh") {
    const b = bucket8(key32(key));
    return { bucket: b, server: buildDhTable(list)[b] as Server };
  }
  if (name === "sh") {
    const word = pool.plan.schedFlags.includes("sh-port") ? (key32(key) + port) >>> 0 : key32(key);
    const b = bucket8(word);
    return { bucket: b, server: buildShTable(list)[b] as Server };
  }
  if (name === "mh") {
    const m = createMh(pool.plan, TABLE_OPTS);
    m.rebuild(list);
    const slots = m.slots;
    m.close();
    if (slots.length === 0 || slots[0] < 0) return null;
    const word = pool.plan.schedFlags.includes("mh-port") ? (key32(key) + port) >>> 0 : key32(key);
    const b = murmur3Word(word, MH_SEED1) % slots.length;
    return { bucket: b, server: list[slots[b]] };
  }
  return null;
}

/** Schedulers that read the key. */
const KEYED = new Set(["sh", "dh", "mh", "lblc", "lblcr"]);
const EXACT = new Set(["lc", "wlc", "sed", "nq", "fo", "ovf", "sh", "dh", "mh"]);

interface Prediction {
  readonly server: Server | null;
  readonly exact: boolean;
}

/** The tier's pick without touching the pool's scheduler. */
function predict(pool: Pool, tier: "primary" | "backup", list: readonly Server[], ctx: PickContext, opts: SchedulerOptions): Prediction {
  const name = pool.factory.name;
  if (name === "rr") {
    const last = tier === "primary" ? pool.lastPrimaryPick : pool.lastBackupPick;
    const n = list.length;
    let i = last === null ? -1 : list.indexOf(last);
    for (let step = 0; step < n; step++) {
      i = i + 1 === n ? 0 : i + 1;
      const s = list[i];
      if (s.weight > 0 && !s.overloaded && (ctx.exclude === null || !ctx.exclude.has(s))) return { server: s, exact: last === null || list.includes(last) };
    }
    return { server: null, exact: true };
  }
  if (name === "wrr" || name === "twos") return { server: null, exact: false };
  const sch = pool.factory.create(pool.plan, opts);
  try {
    sch.rebuild(list);
    return { server: sch.pick(ctx) as Server | null, exact: EXACT.has(name) };
  } finally {
    sch.close();
  }
}

/** Why an eligible server s lost to c under this scheduler (c may be null: nobody won). */
function lostReason(pool: Pool, s: Server, c: Server | null, eligible: readonly Server[], home: { bucket: number; server: Server } | null): string {
  const name = pool.factory.name;
  const list = s.backup ? pool.backups : pool.primaries;
  const earlier = c !== null && list.indexOf(c) < list.indexOf(s);
  const tie = (what: string): string => `same ${what} as ${c?.address ?? "?"}; ${earlier ? "the earlier listed server wins ties" : "ties keep the current candidate"}`;
  switch (name) {
    case "rr":
      return c === null ? "no pick" : `not its turn: round robin goes to ${c.address} next`;
    case "wrr": {
      const sum = eligible.reduce((a, x) => a + x.weight, 0);
      return `weighted rotation: gets ${s.weight}/${sum} of the turns; which server is next depends on the rotation position`;
    }
    case "twos": {
      const total = eligible.reduce((a, x) => a + x.weight, 0);
      const first = eligible[0] === s ? 1 : 0;
      const p = Math.round((1000 * (s.weight + first)) / (total + 1)) / 10;
      return `random: each of the two draws lands on it with probability ${p}%; of the two drawn, the lower overhead/weight wins`;
    }
    case "sh": case "dh": case "mh": {
      if (home === null) return "the table is empty";
      if (c === null) return `the key maps to bucket ${home.bucket}, which belongs to ${home.server.address}; it cannot take work and ${name}-fallback is off`;
      if (home.server === c) return `the key maps to bucket ${home.bucket}, which belongs to ${c.address}`;
      return `the key maps to bucket ${home.bucket} (${home.server.address}, which cannot take work); the fallback probe reached ${c.address} first`;
    }
    case "lc": {
      if (c === null) return "no pick";
      return oh(s) > oh(c) ? `higher overhead: ${oh(s)} > ${oh(c)} (${c.address})` : tie(`overhead ${oh(s)}`);
    }
    case "sed": {
      if (c === null) return "no pick";
      const l = (s.active + 1) * c.weight;
      const r = (c.active + 1) * s.weight;
      return l > r ? `longer expected delay: (active+1)/weight ${s.active + 1}/${s.weight} > ${c.active + 1}/${c.weight} (${c.address})` : tie(`expected delay`);
    }
    case "nq": {
      if (c === null) return "no pick";
      if (c.active === 0) return s.active === 0 ? `${c.address} is idle and listed earlier: never queue takes the first idle server` : `busy (${s.active} in flight) while ${c.address} is idle: never queue takes an idle server`;
      const l = (s.active + 1) * c.weight;
      const r = (c.active + 1) * s.weight;
      return l > r ? `no server idle; longer expected delay: ${s.active + 1}/${s.weight} > ${c.active + 1}/${c.weight} (${c.address})` : tie("expected delay");
    }
    case "fo":
      if (c === null) return "no pick";
      return s.weight < c.weight ? `lower weight: ${s.weight} < ${c.weight} (${c.address}); failover sends all work to the heaviest` : tie(`weight ${s.weight}`);
    case "ovf":
      if (s.active > s.weight) return `full: ${s.active} in flight > weight ${s.weight}; overflow moves on to the next server`;
      if (c === null) return "no pick";
      return s.weight < c.weight ? `lower weight: ${s.weight} < ${c.weight} (${c.address}); overflow fills the heaviest first` : tie(`weight ${s.weight}`);
    default: {
      // wlc and the wlc step of lblc/lblcr
      if (c === null) return "no pick";
      const l = oh(s) * c.weight;
      const r = oh(c) * s.weight;
      const prefix = name === "wlc" ? "" : `${name} (new key): `;
      return l > r ? `${prefix}higher overhead/weight: ${oh(s)}/${s.weight} > ${oh(c)}/${c.weight} (${c.address})` : `${prefix}${tie(`overhead/weight ${oh(s)}/${s.weight}`)}`;
    }
  }
}

/** Why c won (the picked server's line). */
function wonReason(pool: Pool, c: Server, home: { bucket: number; server: Server } | null, via: PickVia): string {
  if (via === "persistence") return "a persistence template for this client points to it";
  if (via === "sticky-cookie") return "the request's sticky cookie names it";
  const name = pool.factory.name;
  const tier = c.backup ? "backup tier (no primary can take work); " : "";
  switch (name) {
    case "rr": return `${tier}next in the round-robin rotation`;
    case "wrr": return `${tier}its turn in the weighted rotation`;
    case "twos": return `${tier}the lower overhead/weight of two weighted random draws`;
    case "sh": case "dh": case "mh":
      return home !== null && home.server === c ? `${tier}the key maps to bucket ${home.bucket}, which belongs to it` : `${tier}the fallback probe reached it first`;
    case "lc": return `${tier}lowest overhead (${oh(c)})`;
    case "sed": return `${tier}shortest expected delay ((active+1)/weight ${c.active + 1}/${c.weight})`;
    case "nq": return c.active === 0 ? `${tier}idle: never queue takes the first idle server` : `${tier}no server idle; shortest expected delay`;
    case "fo": return `${tier}the heaviest eligible server (weight ${c.weight})`;
    case "ovf": return `${tier}the heaviest server with room (weight ${c.weight}, ${c.active} in flight)`;
    case "lblc": case "lblcr": return `${tier}the wlc choice (lowest overhead/weight ${oh(c)}/${c.weight}) that a key without a live entry gets`;
    default: return `${tier}lowest overhead/weight (${oh(c)}/${c.weight})`;
  }
}

function report(pool: Pool, s: Server, picked: boolean, reason: string): ServerReport {
  return {
    address: s.address, tier: s.backup ? "backup" : "primary", state: s.state, weight: s.configWeight, effective_weight: s.weight,
    active: s.active, inactive: s.inactive, overhead: oh(s), max_conns: s.upper, score: score(pool.factory.name, s), picked, reason,
  };
}

/**
 * Which server the pool would give the next unit with this key/source, and why each other server
 * was skipped. Reads the pool; changes nothing (opts feeds the scratch scheduler instances).
 */
export function explain(pool: Pool, q: ExplainQuery, opts: SchedulerOptions): Explanation {
  const ex = q.exclude;
  const key = q.key ?? q.source;
  const ctx: PickContext = { key, port: q.port, exclude: ex };
  const primaryOk = pool.primaries.some((s) => blockedReason(s, ex) === null);
  let tier: "primary" | "backup" | null = pool.primaries.length > 0 ? "primary" : pool.backups.length > 0 ? "backup" : null;
  let list: readonly Server[] = tier === "backup" ? pool.backups : pool.primaries;
  let pred = predict(pool, tier ?? "primary", list, ctx, opts);
  if (pred.server === null && pool.backups.length > 0 && !primaryOk && tier === "primary") {
    tier = "backup";
    list = pool.backups;
    pred = predict(pool, "backup", list, ctx, opts);
  }
  const home = homeOf(pool, list, key, q.port);
  const eligible = list.filter((s) => blockedReason(s, ex) === null);
  const c = pred.server;
  const servers: ServerReport[] = [];
  for (const s of pool.servers) {
    const blocked = blockedReason(s, ex);
    if (s === c) { servers.push(report(pool, s, true, wonReason(pool, s, home, "scheduler"))); continue; }
    if (blocked !== null) { servers.push(report(pool, s, false, blocked)); continue; }
    if (s.backup && tier === "primary") { servers.push(report(pool, s, false, "backup tier unused: a primary server can take work")); continue; }
    if (!s.backup && tier === "backup") { servers.push(report(pool, s, false, "not in the tier in use")); continue; }
    servers.push(report(pool, s, false, lostReason(pool, s, c, eligible, home)));
  }
  const notes: string[] = [];
  const name = pool.factory.name;
  if (name === "wrr") notes.push("wrr: the next server depends on the rotation's position and threshold, which cannot be read without advancing it; over a cycle each server gets weight/sum of the turns");
  if (name === "twos") notes.push("twos: two servers are drawn at random in proportion to weight; the one with the lower overhead/weight wins");
  if (name === "lblc" || name === "lblcr") notes.push(`${name}: a key that already has a live entry keeps its server while that server can take work and is not overloaded; would_pick is what a new key gets (wlc)`);
  if (name === "rr" && !pred.exact) notes.push("rr: the last picked server left the list; the rotation restarts near its old place");
  if (pool.plan.persistence !== null) notes.push(`persistence is on: a live template for this client (address masked to /${pool.plan.persistence.netmask}) wins over the scheduler while its server is available`);
  if (pool.plan.sticky !== null) notes.push(`sticky cookie ${pool.plan.sticky.cookie}: a request carrying it goes to its server while that server can take work`);
  if (KEYED.has(name) && key === null) notes.push("no key given: the key hashes as 0 (pass key= or source=)");
  let summary: string;
  if (c !== null) summary = `${c.address} (${tier} tier, ${name})`;
  else if (!pred.exact) summary = `${name === "twos" ? "a random draw" : "the rotation's position"} decides: one of ${eligible.map((s) => s.address).join(", ") || "none"}`;
  else summary = "no server: the unit would be refused (HTTP 503, connection closed)";
  return {
    upstream: pool.name, scheduler: name, key: KEYED.has(name) ? key : null, source: q.source, port: q.port, tier,
    would_pick: c?.address ?? null, exact: pred.exact, summary, notes, servers,
  };
}

/** The debug-level `pick` field of a real pick: the choice, the candidates and why each other server lost. */
export function tracePick(pool: Pool, chosen: Server, ctx: PickContext, via: PickVia): Record<string, unknown> {
  const ex = ctx.exclude;
  const list = chosen.backup ? pool.backups : pool.primaries;
  const home = via === "scheduler" ? homeOf(pool, list, ctx.key, ctx.port) : null;
  const eligible = list.filter((s) => blockedReason(s, ex) === null);
  const candidates: Record<string, unknown>[] = [];
  const skipped: Record<string, unknown>[] = [];
  for (const s of pool.servers) {
    if (s === chosen) continue;
    const blocked = blockedReason(s, ex);
    let reason: string;
    if (blocked !== null) reason = blocked;
    else if (via === "persistence" || via === "sticky-cookie") reason = via === "persistence" ? `not asked: a persistence template sends this client to ${chosen.address}` : `not asked: the sticky cookie names ${chosen.address}`;
    else if (s.backup !== chosen.backup) reason = s.backup ? "backup tier unused: a primary server can take work" : "not in the tier in use";
    else reason = lostReason(pool, s, chosen, eligible, home);
    if (blocked === null && s.backup === chosen.backup) candidates.push({ address: s.address, weight: s.weight, active: s.active, overhead: oh(s) });
    skipped.push({ address: s.address, reason });
  }
  return {
    scheduler: pool.factory.name, key: ctx.key, via, tier: chosen.backup ? "backup" : "primary", tried: ex === null ? 0 : ex.size,
    server: chosen.address, weight: chosen.weight, active: chosen.active, overhead: oh(chosen), reason: wonReason(pool, chosen, home, via),
    candidates, skipped,
  };
}
