// lc: least connection (IPVS ip_vs_lc, schedulers.md 2.3). Stateless: among eligible servers the smallest
// overhead (active * 256 + inactive); weights matter only as 0; ties keep the earliest server.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class LeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    let best: ServerView | null = null;
    let bestOh = Infinity;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      const oh = s.active * 256 + s.inactive;
      // the score first: eligibility (a getter on Server) is read only for a server that would win
      if (oh < bestOh && usable(s, ex)) {
        best = s;
        bestOh = oh;
      }
    }
    return best;
  }

  close(): void {
    this.#servers = [];
  }
}

export const lc: SchedulerFactory = {
  name: "lc",
  defaultKey: null,
  create: () => new LeastConnection(),
};
