// ovf: weighted overflow (IPVS ip_vs_ovf, schedulers.md 2.8). Stateless.
// Skips servers overloaded, of weight 0, or with active > weight; among the rest the largest weight, earliest
// on ties. A server is still eligible at active == weight, so it can reach weight + 1 active units.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class WeightedOverflow implements Scheduler {
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
      const w = s.weight;
      if (w > bestW && s.active <= w && usable(s, ex)) {
        best = s;
        bestW = w;
      }
    }
    return best;
  }

  close(): void {
    this.#servers = [];
  }
}

export const ovf: SchedulerFactory = {
  name: "ovf",
  defaultKey: null,
  create: () => new WeightedOverflow(),
};
