// sed: shortest expected delay (IPVS ip_vs_sed, schedulers.md 2.5). Stateless.
// Like wlc with the score active + 1 (inactive ignored): candidate = first not-overloaded server with
// weight > 0; a later not-overloaded server replaces it when (cand.active + 1) * s.weight >
// (s.active + 1) * cand.weight. Idle pools go to the heaviest server (earliest among equals).
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) instead
// of the objects: the same decisions, with no call or object access in the loop (bench/schedulers.bench.ts).
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { skipped } from "./eligible.ts";

class ShortestExpectedDelay implements Scheduler {
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
      if (s.weight > 0 && !skipped(s, ex)) {
        best = s;
        break;
      }
    }
    if (best === null) return null;
    let bestScore = best.active + 1;
    let bestW = best.weight;
    for (i++; i < n; i++) {
      const s = list[i];
      const score = s.active + 1;
      if (bestScore * s.weight > score * bestW && !skipped(s, ex)) {
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
      b = i;
      break;
    }
  }
  if (b < 0) return null;
  let bScore = active[slots[b]] + 1;
  let bW = weight[slots[b]];
  for (i++; i < n; i++) {
    const k = slots[i];
    const w = weight[k];
    const score = active[k] + 1;
    if (bScore * w > score * bW && overloaded[k] === 0) {
      b = i;
      bScore = score;
      bW = w;
    }
  }
  return list[b];
}

export const sed: SchedulerFactory = {
  name: "sed",
  defaultKey: null,
  create: () => new ShortestExpectedDelay(),
};
