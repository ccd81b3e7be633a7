// lblc: locality-based least connection (IPVS ip_vs_lblc, schedulers.md 2.10).
// One destination key -> one server while that server is not lblc-overloaded. Pick for key K:
//  1. K has an entry: lastUse = now; keep its server if it is still listed and available, has weight > 0, is
//     not lblc-overloaded (locality.ts) and was not tried already for this unit. The OVERLOAD flag is NOT
//     checked on this path (as IPVS).
//  2. Otherwise wlc over the whole list (skipping flagged servers); store K -> chosen (lastUse = now).
// A null key (the pool could not build one) gets plain wlc and no entry.
import type { PickContext, Scheduler, SchedulerFactory, SchedulerOptions } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import type { UpstreamPlan } from "../config/schema.ts";
import { pickWlc } from "./wlc.ts";
import { weightClasses, type WeightClasses } from "./classes.ts";
import { LocalityTable, lblcOverloaded, type LocalityOptions } from "./locality.ts";

class LblcEntry {
  server: ServerView;
  lastUse: number;
  constructor(server: ServerView, lastUse: number) {
    this.server = server;
    this.lastUse = lastUse;
  }
}

class LocalityLeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** Membership of the current list: a cached server removed from the list is never returned. */
  #members: ReadonlySet<ServerView> = new Set();
  /** weightClasses(list), for the wlc fallback's fast walk; null for other ServerViews. */
  #classes: WeightClasses | null = null;
  readonly #table: LocalityTable<LblcEntry>;
  readonly #opts: SchedulerOptions;

  constructor(opts: SchedulerOptions, options: LocalityOptions) {
    this.#opts = opts;
    this.#table = new LocalityTable(opts.clock, options);
  }

  /** Entries in the table (for status and tests). */
  get size(): number {
    return this.#table.map.size;
  }

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#members = new Set(servers);
    this.#classes = weightClasses(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const key = ctx.key;
    if (key === null) return pickWlc(list, ex, this.#classes);
    const now = this.#opts.clock.now();
    const entry = this.#table.map.get(key);
    if (entry !== undefined) {
      entry.lastUse = now;
      const s = entry.server;
      if (s.weight > 0 && s.available && this.#members.has(s) && (ex === null || !ex.has(s)) &&
          !lblcOverloaded(s, list)) {
        return s;
      }
    }
    const chosen = pickWlc(list, ex, this.#classes);
    if (chosen === null) return null;
    if (entry !== undefined) entry.server = chosen;
    else this.#table.map.set(key, new LblcEntry(chosen, now));
    return chosen;
  }

  close(): void {
    this.#table.close();
    this.#servers = [];
    this.#members = new Set();
    this.#classes = null;
  }
}

/** lblc with test overrides (expiration, soft cap). */
export function createLblc(_upstream: UpstreamPlan, opts: SchedulerOptions, options: LocalityOptions = {}):
    Scheduler & { readonly size: number } {
  return new LocalityLeastConnection(opts, options);
}

export const lblc: SchedulerFactory = {
  name: "lblc",
  defaultKey: "destination",
  create: (upstream, opts) => createLblc(upstream, opts),
};
