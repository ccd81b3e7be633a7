// sed: shortest expected delay (IPVS ip_vs_sed, schedulers.md 2.5). Stateless.
// Like wlc with the score active + 1 (inactive ignored): candidate = first not-overloaded server with
// weight > 0; a later not-overloaded server replaces it when (cand.active + 1) * s.weight >
// (s.active + 1) * cand.weight. Idle pools go to the heaviest server (earliest among equals).
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) weight class
// by weight class (classes.ts) instead of the objects: the same decisions, about a third of the time.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, type ServerView } from "../upstream/server.ts";
import { pickByClass, weightClasses, type WeightClasses } from "./classes.ts";
import { pickLeastRatio } from "./eligible.ts";

/** sed's score: active + 1 (inactive ignored). */
function expectedDelay(s: ServerView): number {
  return s.active + 1;
}

class ShortestExpectedDelay implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The list by weight class over the `hot` arrays, or null when it holds other ServerViews (tests). */
  #classes: WeightClasses | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#classes = weightClasses(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const classes = this.#classes;
    if (classes !== null && ex === null) {
      const i = pickByClass(classes, hot.active, 1, hot.overloaded, false);
      return i < 0 ? null : list[i];
    }
    return pickLeastRatio(list, ex, expectedDelay);
  }

  close(): void {
    this.#servers = [];
    this.#classes = null;
  }
}

export const sed: SchedulerFactory = {
  name: "sed",
  defaultKey: null,
  create: () => new ShortestExpectedDelay(),
};
