// nq: never queue (IPVS ip_vs_nq, schedulers.md 2.6). Stateless.
// Walking the eligible servers in order, the first with active == 0 wins at once (whatever its weight and
// inactive count); if none is idle, the sed choice ((a+1)/w smallest, strict >, earliest wins ties).
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class NeverQueue implements Scheduler {
  #servers: readonly ServerView[] = [];

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const n = list.length;
    let i = 0;
    let best: ServerView | null = null;
    for (; i < n; i++) {
      const s = list[i];
      if (!usable(s, ex)) continue;
      if (s.active === 0) return s;
      best = s;
      break;
    }
    if (best === null) return null;
    let bestScore = best.active + 1;
    let bestW = best.weight;
    for (i++; i < n; i++) {
      const s = list[i];
      const a = s.active;
      // eligibility (a getter on Server) is read only for a server that would be returned or win
      if (a === 0) {
        if (usable(s, ex)) return s;
        continue;
      }
      const score = a + 1;
      if (bestScore * s.weight > score * bestW && usable(s, ex)) {
        best = s;
        bestScore = score;
        bestW = s.weight;
      }
    }
    return best;
  }

  close(): void {
    this.#servers = [];
  }
}

export const nq: SchedulerFactory = {
  name: "nq",
  defaultKey: null,
  create: () => new NeverQueue(),
};
