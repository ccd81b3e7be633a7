// rr: round robin (IPVS ip_vs_rr, schedulers.md 2.1). Equal turns; weights matter only as 0.
// State: a cursor on the last chosen server, -1 = before the first.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";

class RoundRobin implements Scheduler {
  #servers: readonly ServerView[] = [];
  #cursor: ServerView | null = null;

  rebuild(servers: readonly ServerView[]): void {
    const cur = this.#cursor;
    if (cur !== null && !servers.includes(cur)) {
      // removed: the cursor moves to the server before it in the old list (or to "before the first")
      const old = this.#servers;
      let prev: ServerView | null = null;
      for (let i = old.indexOf(cur) - 1; i >= 0; i--) {
        if (servers.includes(old[i])) { prev = old[i]; break; }
      }
      this.#cursor = prev;
    }
    this.#servers = servers;
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const n = list.length;
    if (n === 0) return null;
    const start = this.#cursor === null ? -1 : list.indexOf(this.#cursor);
    const ex = ctx.exclude;
    for (let step = 1; step <= n; step++) {
      let i = start + step;
      if (i >= n) i -= n;
      const s = list[i];
      if (s.weight > 0 && !s.overloaded && (ex === null || !ex.has(s))) {
        this.#cursor = s;
        return s;
      }
    }
    return null;
  }

  close(): void { this.#servers = []; this.#cursor = null; }
}

export const rr: SchedulerFactory = {
  name: "rr",
  defaultKey: null,
  create: () => new RoundRobin(),
};
