// fo: weighted failover (IPVS ip_vs_fo, schedulers.md 2.7). Stateless.
// The eligible server with the largest weight (earliest on ties); counts are ignored, so all new work goes to
// one server until it is overloaded (max_conns), quiesced, down or removed.
// rebuild() orders the servers by weight (byWeight), so pick() stops at the first eligible one in that order
// instead of walking the whole list.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { byWeight, usable } from "./eligible.ts";

class WeightedFailover implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** List indices with weight > 0, heaviest first, list order among equals. */
  #order = new Int32Array(0);

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#order = byWeight(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const order = this.#order;
    const ex = ctx.exclude;
    for (let j = 0; j < order.length; j++) {
      const s = list[order[j]];
      if (usable(s, ex)) return s;
    }
    return null;
  }

  close(): void {
    this.#servers = [];
    this.#order = new Int32Array(0);
  }
}

export const fo: SchedulerFactory = {
  name: "fo",
  defaultKey: null,
  create: () => new WeightedFailover(),
};
