// lc: least connection (IPVS ip_vs_lc, schedulers.md 2.3). Stateless: among eligible servers the smallest
// overhead (active * 256 + inactive); weights matter only as 0; ties keep the earliest server.
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) instead
// of the objects: the same decisions, with no call or object access in the loop (bench/schedulers.bench.ts).
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class LeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The servers' slots in the `hot` arrays, or null when the list holds other ServerViews (tests). */
  #slots: Int32Array | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#slots = slotsOf(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const slots = this.#slots;
    if (slots !== null && ex === null) {
      // the same walk over the flat arrays, with no call in the loop
      const oh = hot.overhead;
      const weight = hot.weight;
      const overloaded = hot.overloaded;
      const n = slots.length;
      let b = -1;
      let bOh = 0x7fffffff; // above any overhead (active < 2^23)
      for (let i = 0; i < n; i++) {
        const k = slots[i];
        if (oh[k] < bOh && weight[k] > 0 && overloaded[k] === 0) {
          b = i;
          bOh = oh[k];
        }
      }
      return b < 0 ? null : list[b];
    }
    let best: ServerView | null = null;
    let bestOh = Infinity;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      const oh = s.active * 256 + s.inactive;
      // the score first: eligibility is read only for a server that would win
      if (oh < bestOh && usable(s, ex)) {
        best = s;
        bestOh = oh;
      }
    }
    return best;
  }

  close(): void {
    this.#servers = [];
    this.#slots = null;
  }
}

export const lc: SchedulerFactory = {
  name: "lc",
  defaultKey: null,
  create: () => new LeastConnection(),
};
