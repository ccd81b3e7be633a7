// fo: weighted failover (IPVS ip_vs_fo, schedulers.md 2.7). Stateless.
// The eligible server with the largest weight (earliest on ties); counts are ignored, so all new work goes to
// one server until it is overloaded (max_conns), quiesced, down or removed.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class WeightedFailover implements Scheduler {
  #servers: readonly ServerView[] = [];

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    let best: ServerView | null = null;
    let bestW = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.weight > bestW && usable(s, ex)) {
        best = s;
        bestW = s.weight;
      }
    }
    return best;
  }

  close(): void {
    this.#servers = [];
  }
}

export const fo: SchedulerFactory = {
  name: "fo",
  defaultKey: null,
  create: () => new WeightedFailover(),
};
