// ovf: weighted overflow (IPVS ip_vs_ovf, schedulers.md 2.8). Stateless.
// Skips servers overloaded, of weight 0, or with active > weight; among the rest the largest weight, earliest
// on ties. A server is still eligible at active == weight, so it can reach weight + 1 active units.
// rebuild() orders the servers by weight (byWeight), so pick() stops at the first eligible one in that order.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { byWeight, usable } from "./eligible.ts";

class WeightedOverflow implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** List indices with weight > 0, heaviest first, list order among equals. */
  #order = new Int32Array(0);
  /** The slots of the servers in that order, or null when the list holds other ServerViews (tests). */
  #orderSlots: Int32Array | null = null;
  /** Their weights (they change only with a rebuild). */
  #orderWeights = new Int32Array(0);

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    const order = byWeight(servers);
    this.#order = order;
    const slots = slotsOf(servers);
    this.#orderSlots = slots === null ? null : order.map((i) => slots[i]);
    this.#orderWeights = order.map((i) => servers[i].weight);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const order = this.#order;
    const ex = ctx.exclude;
    const os = this.#orderSlots;
    if (os !== null && ex === null) {
      // the same walk over the flat arrays, no call in the loop
      const active = hot.active;
      const overloaded = hot.overloaded;
      const weights = this.#orderWeights;
      const n = os.length;
      for (let j = 0; j < n; j++) {
        const k = os[j];
        if (active[k] <= weights[j] && overloaded[k] === 0) return list[order[j]];
      }
      return null;
    }
    for (let j = 0; j < order.length; j++) {
      const s = list[order[j]];
      if (s.active <= s.weight && usable(s, ex)) return s;
    }
    return null;
  }

  close(): void {
    this.#servers = [];
    this.#order = new Int32Array(0);
    this.#orderSlots = null;
    this.#orderWeights = new Int32Array(0);
  }
}

export const ovf: SchedulerFactory = {
  name: "ovf",
  defaultKey: null,
  create: () => new WeightedOverflow(),
};
