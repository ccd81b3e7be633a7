// lc: least connection (IPVS ip_vs_lc, schedulers.md 2.3). Stateless: among eligible servers the smallest
// overhead (active * 256 + inactive); weights matter only as 0; ties keep the earliest server.
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) over the
// servers of weight > 0 (classes.ts, one class) instead of the objects: the same decisions, about half the time.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, type ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";
import { pickByClass, weightClasses, type WeightClasses } from "./classes.ts";

class LeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The servers of weight > 0 over the `hot` arrays, or null when the list holds other ServerViews (tests). */
  #classes: WeightClasses | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#classes = weightClasses(servers, true);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const classes = this.#classes;
    if (classes !== null && ex === null) {
      const i = pickByClass(classes, hot.overhead, 0, hot.overloaded, false);
      return i < 0 ? null : list[i];
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
    this.#classes = null;
  }
}

export const lc: SchedulerFactory = {
  name: "lc",
  defaultKey: null,
  create: () => new LeastConnection(),
};
