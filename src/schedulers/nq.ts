// nq: never queue (IPVS ip_vs_nq, schedulers.md 2.6). Stateless.
// Walking the eligible servers in order, the first with active == 0 wins at once (whatever its weight and
// inactive count); if none is idle, the sed choice ((a+1)/w smallest, strict >, earliest wins ties).
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) instead
// of the objects: the same decisions, with no call or object access in the loop (bench/schedulers.bench.ts).
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class NeverQueue implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The servers' slots in the `hot` arrays, or null when the list holds other ServerViews (tests). */
  #slots: Int32Array | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#slots = slotsOf(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const list = this.#servers;
    const ex = ctx.exclude;
    const slots = this.#slots;
    if (slots !== null && ex === null) return pickSlots(list, slots);
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
      // eligibility is read only for a server that would be returned or win
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
    this.#slots = null;
  }
}

/** pick() over the `hot` arrays: the same decisions, no call or object in the loop. */
function pickSlots(list: readonly ServerView[], slots: Int32Array): ServerView | null {
  const active = hot.active;
  const weight = hot.weight;
  const overloaded = hot.overloaded;
  const n = slots.length;
  let i = 0;
  let b = -1;
  for (; i < n; i++) {
    const k = slots[i];
    if (weight[k] > 0 && overloaded[k] === 0) {
      if (active[k] === 0) return list[i];
      b = i;
      break;
    }
  }
  if (b < 0) return null;
  let bScore = active[slots[b]] + 1;
  let bW = weight[slots[b]];
  for (i++; i < n; i++) {
    const k = slots[i];
    const a = active[k];
    const w = weight[k];
    if (a === 0) {
      if (w > 0 && overloaded[k] === 0) return list[i];
      continue;
    }
    if (bScore * w > (a + 1) * bW && overloaded[k] === 0) {
      b = i;
      bScore = a + 1;
      bW = w;
    }
  }
  return list[b];
}

export const nq: SchedulerFactory = {
  name: "nq",
  defaultKey: null,
  create: () => new NeverQueue(),
};
