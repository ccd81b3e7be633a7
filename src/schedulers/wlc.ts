// wlc: weighted least connection (IPVS ip_vs_wlc, the default; schedulers.md 2.4). Stateless.
// Candidate = the first server not overloaded with weight > 0; a later server not overloaded replaces it when
// cand.overhead * s.weight > s.overhead * cand.weight (cross-multiplied, strict: ties keep the earlier one).
// Consequence: on an idle pool every overhead is 0, so the first listed server wins whatever the weights.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { skipped } from "./eligible.ts";

/** The wlc choice over `list` (also the fallback of lblc/lblcr); null when no server is eligible. */
export function pickWlc(list: readonly ServerView[], ex: ReadonlySet<ServerView> | null): ServerView | null {
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
    // weight is not re-checked: a weight-0 server can never win this comparison; the skip test (a getter
    // on Server) is read only for a server that would win
    const oh = s.active * 256 + s.inactive;
    if (bestOh * s.weight > oh * bestW && !skipped(s, ex)) {
      best = s;
      bestOh = oh;
      bestW = s.weight;
    }
  }
  return best;
}

class WeightedLeastConnection implements Scheduler {
  #servers: readonly ServerView[] = [];

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }

  pick(ctx: PickContext): ServerView | null {
    return pickWlc(this.#servers, ctx.exclude);
  }

  close(): void {
    this.#servers = [];
  }
}

export const wlc: SchedulerFactory = {
  name: "wlc",
  defaultKey: null,
  create: () => new WeightedLeastConnection(),
};
