// rr: round robin (IPVS ip_vs_rr, schedulers.md 2.1). Equal turns; weights matter only as 0.
// State: a cursor on the last chosen server (an index into the list, -1 = before the first). The walk starts
// after the cursor, wraps, and ends on the cursor's own server; the first eligible server wins.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class RoundRobin implements Scheduler {
  #servers: readonly ServerView[] = [];
  #cursor = -1;

  rebuild(servers: readonly ServerView[]): void {
    const old = this.#servers;
    let cur = -1;
    if (this.#cursor >= 0 && this.#cursor < old.length) {
      // the cursor follows its server (a front add shifts its index); if the server was removed, the cursor
      // moves to the nearest earlier server still listed, else to "before the first"
      for (let i = this.#cursor; i >= 0 && cur < 0; i--) cur = servers.indexOf(old[i]);
    }
    this.#servers = servers;
    this.#cursor = cur;
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const n = list.length;
    const ex = ctx.exclude;
    let i = this.#cursor;
    for (let step = 0; step < n; step++) {
      i = i + 1 === n ? 0 : i + 1;
      const s = list[i];
      if (usable(s, ex)) {
        this.#cursor = i;
        return s;
      }
    }
    return null;
  }

  close(): void {
    this.#servers = [];
    this.#cursor = -1;
  }
}

export const rr: SchedulerFactory = {
  name: "rr",
  defaultKey: null,
  create: () => new RoundRobin(),
};
