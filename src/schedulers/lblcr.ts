// lblcr: locality-based least connection with replication (IPVS ip_vs_lblcr, schedulers.md 2.11).
// key -> (set of servers, lastUse, lastMod); new members go to the set's front. Pick for key K:
//  1. No entry: wlc over the list; entry {chosen}, lastUse = lastMod = now.
//  2. lastUse = now. M = set minimum: first member not overloaded (or tried), weight > 0, available; a later
//     such member replaces it when cand.overhead * m.weight > m.overhead * cand.weight.
//  3. Shrink: more than one member and now > lastMod + expiration: remove the set maximum (first member with
//     weight > 0; a later one with weight > 0 replaces it when cand.overhead * m.weight < m.overhead *
//     cand.weight), lastMod = now. M from step 2 is still used even if removed. When no member has weight > 0
//     nothing is removed and lastMod stays (the spec is silent; IPVS removes nothing then either).
//  4. M exists and is not lblc-overloaded: M.
//  5. Else wlc over the list; add it to the set's front if new (lastMod = now); return it.
// Housekeeping as lblc (locality.ts), with lblcr_expiration. A null key gets plain wlc and no entry.
import type { PickContext, Scheduler, SchedulerFactory, SchedulerOptions } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import type { UpstreamPlan } from "../config/schema.ts";
import { pickWlc } from "./wlc.ts";
import { weightClasses, type WeightClasses } from "./classes.ts";
import { skipped } from "./eligible.ts";
import { LocalityTable, lblcOverloaded, type LocalityOptions } from "./locality.ts";

class LblcrEntry {
  readonly set: ServerView[];
  lastUse: number;
  lastMod: number;
  constructor(first: ServerView, now: number) {
    this.set = [first];
    this.lastUse = now;
    this.lastMod = now;
  }
}

class LocalityReplicated implements Scheduler {
  #servers: readonly ServerView[] = [];
  #members: ReadonlySet<ServerView> = new Set();
  /** weightClasses(list), for the wlc fallback's fast walk; null for other ServerViews. */
  #classes: WeightClasses | null = null;
  readonly #table: LocalityTable<LblcrEntry>;
  readonly #opts: SchedulerOptions;

  constructor(opts: SchedulerOptions, options: LocalityOptions) {
    this.#opts = opts;
    this.#table = new LocalityTable(opts.clock, options);
  }

  get size(): number {
    return this.#table.map.size;
  }

  /** The server set for key (front first), for status and tests; null when there is no entry. */
  setOf(key: string): readonly ServerView[] | null {
    const e = this.#table.map.get(key);
    return e === undefined ? null : e.set;
  }

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#members = new Set(servers);
    this.#classes = weightClasses(servers);
  }

  #inList(s: ServerView): boolean {
    return s.available && this.#members.has(s);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const key = ctx.key;
    if (key === null) return pickWlc(list, ex, this.#classes);
    const now = this.#opts.clock.now();
    const map = this.#table.map;
    const entry = map.get(key);
    if (entry === undefined) {
      const first = pickWlc(list, ex, this.#classes);
      if (first !== null) map.set(key, new LblcrEntry(first, now));
      return first;
    }
    entry.lastUse = now;
    const set = entry.set;

    // 2. set minimum
    let min: ServerView | null = null;
    let minOh = 0;
    let minW = 0;
    for (let i = 0; i < set.length; i++) {
      const m = set[i];
      if (skipped(m, ex)) continue;
      if (min === null) {
        if (m.weight > 0 && this.#inList(m)) {
          min = m;
          minOh = m.active * 256 + m.inactive;
          minW = m.weight;
        }
        continue;
      }
      const oh = m.active * 256 + m.inactive;
      if (minOh * m.weight > oh * minW && this.#inList(m)) {
        min = m;
        minOh = oh;
        minW = m.weight;
      }
    }

    // 3. shrink by the set maximum after a quiet expiration period
    if (set.length > 1 && now > entry.lastMod + this.#table.expirationMs) {
      let max = -1;
      let maxOh = 0;
      let maxW = 0;
      for (let i = 0; i < set.length; i++) {
        const m = set[i];
        if (m.weight <= 0) continue;
        const oh = m.active * 256 + m.inactive;
        if (max < 0 || maxOh * m.weight < oh * maxW) {
          max = i;
          maxOh = oh;
          maxW = m.weight;
        }
      }
      if (max >= 0) {
        set.splice(max, 1);
        entry.lastMod = now;
      }
    }

    // 4. the set minimum while it is not lblc-overloaded
    if (min !== null && !lblcOverloaded(min, list)) return min;

    // 5. replicate: the wlc choice joins the set
    const chosen = pickWlc(list, ex, this.#classes);
    if (chosen === null) return null;
    if (!set.includes(chosen)) {
      set.unshift(chosen);
      entry.lastMod = now;
    }
    return chosen;
  }

  close(): void {
    this.#table.close();
    this.#servers = [];
    this.#members = new Set();
    this.#classes = null;
  }
}

/** lblcr with test overrides (expiration, soft cap). */
export function createLblcr(_upstream: UpstreamPlan, opts: SchedulerOptions, options: LocalityOptions = {}):
    Scheduler & { readonly size: number; setOf(key: string): readonly ServerView[] | null } {
  return new LocalityReplicated(opts, options);
}

export const lblcr: SchedulerFactory = {
  name: "lblcr",
  defaultKey: "destination",
  create: (upstream, opts) => createLblcr(upstream, opts),
};
