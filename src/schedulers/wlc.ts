// wlc: weighted least connection (IPVS ip_vs_wlc, the default; schedulers.md 2.4). Stateless.
// Candidate = the first server not overloaded with weight > 0; a later server not overloaded replaces it when
// cand.overhead * s.weight > s.overhead * cand.weight (cross-multiplied, strict: ties keep the earlier one).
// Consequence: on an idle pool every overhead is 0, so the first listed server wins whatever the weights.
// With a list of Servers and no exclude set, pick() walks the flat `hot` arrays (upstream/server.ts) instead
// of the objects: the same decisions, with no call or object access in the loop (bench/schedulers.bench.ts).
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { skipped } from "./eligible.ts";

/**
 * The wlc choice over `list` (also the fallback of lblc/lblcr); null when no server is eligible. slots: the
 * list's slotsOf() (the flat-array walk when there is no exclude set), or null.
 */
export function pickWlc(list: readonly ServerView[], ex: ReadonlySet<ServerView> | null, slots: Int32Array | null = null): ServerView | null {
  if (slots !== null && ex === null) return pickWlcSlots(list, slots);
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
  let bestOh = best.active * 256 + best.inactive;
  let bestW = best.weight;
  for (i++; i < n; i++) {
    const s = list[i];
    // weight is not re-checked: a weight-0 server can never win this comparison; the skip test is read
    // only for a server that would win
    const oh = s.active * 256 + s.inactive;
    if (bestOh * s.weight > oh * bestW && !skipped(s, ex)) {
      best = s;
      bestOh = oh;
      bestW = s.weight;
    }
  }
  return best;
}

/** pickWlc over the `hot` arrays: the same decisions, no call or object in the loop. */
function pickWlcSlots(list: readonly ServerView[], slots: Int32Array): ServerView | null {
  const oh = hot.overhead;
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
  let bOh = oh[slots[b]];
  let bW = weight[slots[b]];
  for (i++; i < n; i++) {
    const k = slots[i];
    const w = weight[k];
    if (bOh * w > oh[k] * bW && overloaded[k] === 0) {
      b = i;
      bOh = oh[k];
      bW = w;
    }
  }
  return list[b];
}

class WeightedLeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** The servers' slots in the `hot` arrays, or null when the list holds other ServerViews (tests). */
  #slots: Int32Array | null = null;

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#slots = slotsOf(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    return pickWlc(this.#servers, ctx.exclude, this.#slots);
  }

  close(): void {
    this.#servers = [];
    this.#slots = null;
  }
}

export const wlc: SchedulerFactory = {
  name: "wlc",
  defaultKey: null,
  create: () => new WeightedLeastConnection(),
};
