// wlc: weighted least connection (IPVS ip_vs_wlc, the default; schedulers.md 2.4). Stateless.
// Candidate = the first server not overloaded with weight > 0; a later server not overloaded replaces it when
// cand.overhead * s.weight > s.overhead * cand.weight (cross-multiplied, strict: ties keep the earlier one).
// Consequence: on an idle pool every overhead is 0, so the first listed server wins whatever the weights.
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) weight class
// by weight class (classes.ts) instead of the objects: the same decisions, about a third of the time.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, overhead, type ServerView } from "../upstream/server.ts";
import { pickLeastRatio } from "./eligible.ts";
import { pickByClass, weightClasses, type WeightClasses } from "./classes.ts";

/**
 * The wlc choice over `list` (also the fallback of lblc/lblcr); null when no server is eligible. classes: the
 * list's weightClasses() (the flat-array walk when there is no exclude set), or null.
 */
export function pickWlc(list: readonly ServerView[], ex: ReadonlySet<ServerView> | null, classes: WeightClasses | null = null): ServerView | null {
  if (classes !== null && ex === null) {
    const i = pickByClass(classes, hot.overhead, 0, hot.overloaded, false);
    return i < 0 ? null : list[i];
  }
  return pickLeastRatio(list, ex, overhead);
}

class WeightedLeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The list by weight class over the `hot` arrays, or null when it holds other ServerViews (tests). */
  #classes: WeightClasses | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#classes = weightClasses(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    return pickWlc(this.#servers, ctx.exclude, this.#classes);
  }

  close(): void {
    this.#servers = [];
    this.#classes = null;
  }
}

export const wlc: SchedulerFactory = {
  name: "wlc",
  defaultKey: null,
  create: () => new WeightedLeastConnection(),
};
