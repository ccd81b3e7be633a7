// wrr: weighted round robin (IPVS ip_vs_wrr, schedulers.md 2.2). Turns in proportion to weight, heavy servers
// first and in bursts. State: cursor (index, -1 = before the first), threshold cw, and from rebuild():
// di = gcd of the weights > 0 (1 if none), mw = max weight - (di - 1) (0 if all weights are 0).
// A pass scans from after the cursor to the back for a server with weight >= cw; at the back cw -= di (wrapping
// to mw when it reaches 0 or below) and the scan restarts at the front.
//
// Speed: once a full pass has failed, every later pass with cw above the largest eligible weight would fail too,
// so pick() jumps cw straight to the first threshold in the sequence that some server meets. The outcome and
// the state left behind are those of the pass-by-pass walk; a pick costs at most three passes, not max/di.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { gcd, usable } from "./eligible.ts";

class WeightedRoundRobin implements Scheduler {
  #servers: readonly ServerView[] = [];
  #cursor = -1;
  #cw = 0;
  #di = 1;
  #mw = 0;

  /** Any add, removal or edit: cursor to the start, new di/mw, cw adjusted (2.2 "Weights changing"). */
  rebuild(servers: readonly ServerView[]): void {
    let g = 0;
    let max = 0;
    for (let i = 0; i < servers.length; i++) {
      const w = servers[i].weight;
      if (w > 0) {
        g = gcd(w, g);
        if (w > max) max = w;
      }
    }
    const di = g === 0 ? 1 : g;
    const mw = max === 0 ? 0 : max - (di - 1);
    let cw = this.#cw;
    if (cw > mw || cw === 0) cw = mw;
    else if (di > 1) cw = Math.floor(cw / di) * di + 1;
    this.#servers = servers;
    this.#cursor = -1;
    this.#di = di;
    this.#mw = mw;
    this.#cw = cw;
  }

  pick(ctx: PickContext): ServerView | null {
    const mw = this.#mw;
    if (mw === 0) return null;
    const list = this.#servers;
    const n = list.length;
    const ex = ctx.exclude;
    const di = this.#di;
    const startCw = this.#cw;
    let cw = startCw;
    let i = this.#cursor + 1;
    let full = i === 0; // this pass covers the whole list
    for (;;) {
      let maxE = 0; // largest eligible weight seen in this pass (all below cw when the pass fails)
      for (; i < n; i++) {
        const s = list[i];
        if (!usable(s, ex)) continue;
        const w = s.weight;
        if (w >= cw) {
          this.#cursor = i;
          this.#cw = cw;
          return s;
        }
        if (w > maxE) maxE = w;
      }
      if (full && maxE === 0) {
        // nobody is eligible: reset when the call began above di, else leave the state as it was
        if (startCw > di) {
          this.#cursor = -1;
          this.#cw = mw;
        }
        return null;
      }
      cw -= di;
      if (cw <= 0) cw = mw;
      if (full && cw > maxE) {
        // the passes at cw, cw - di, ... down to maxE would all fail: skip them (never below 1)
        cw -= Math.ceil((cw - maxE) / di) * di;
        if (cw < 1) cw = 1;
      }
      i = 0;
      full = true;
    }
  }

  close(): void {
    this.#servers = [];
    this.#cursor = -1;
    this.#cw = 0;
    this.#mw = 0;
  }
}

export const wrr: SchedulerFactory = {
  name: "wrr",
  defaultKey: null,
  create: () => new WeightedRoundRobin(),
};
