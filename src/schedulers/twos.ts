// twos: weighted power of two choices (IPVS ip_vs_twos, Linux 6.x; schedulers.md 2.9).
// total = sum of eligible weights; r1, r2 = two random uint32 mod (total + 1); walking the eligible servers
// and subtracting each weight from both, choice k is the first server after which rk <= 0. The result is
// choice 2 when w2 * overhead1 > w1 * overhead2, else choice 1. r = 0 lands on the first eligible server, which
// is therefore drawn with probability (w1 + 1) / (total + 1). Randomness comes from opts.random32.
// Speed: the eligible servers and their running weight sums depend only on weights (fixed between rebuilds) and
// on `overloaded`; for a list of Servers with no exclude set they are kept across picks until `hot.epoch` (bumped
// by any Server's overloaded change) moves, so a pick is two draws and two binary searches.
import type { PickContext, Scheduler, SchedulerFactory, SchedulerOptions } from "./scheduler.ts";
import { hot, slotsOf, type ServerView } from "../upstream/server.ts";
import { usable } from "./eligible.ts";

class PowerOfTwo implements Scheduler {
  #servers: readonly ServerView[] = [];
  /** Sized in rebuild(): list indices of the eligible servers and their running weight sums (m of them). */
  #index = new Int32Array(0);
  #prefix = new Float64Array(0);
  #m = 0;
  /** hot.epoch the arrays were filled at for "no exclude set", or -1 when they hold anything else. */
  #epoch = -1;
  /** slotsOf(list), or null for other ServerViews (never cached: their flags change unseen). */
  #slots: Int32Array | null = null;
  readonly #random32: () => number;

  constructor(random32: () => number) {
    this.#random32 = random32;
  }

  rebuild(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#index = new Int32Array(servers.length);
    this.#prefix = new Float64Array(servers.length);
    this.#m = 0;
    this.#slots = slotsOf(servers);
    this.#epoch = -1;
  }

  /** One pass: the eligible servers in order and their running totals. */
  #fill(ex: ReadonlySet<ServerView> | null): void {
    const list = this.#servers;
    const index = this.#index;
    const prefix = this.#prefix;
    let m = 0;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (!usable(s, ex)) continue;
      total += s.weight;
      index[m] = i;
      prefix[m] = total;
      m++;
    }
    this.#m = m;
  }

  pick(ctx: PickContext): ServerView | null {
    const ex = ctx.exclude;
    if (ex !== null || this.#slots === null) {
      this.#fill(ex);
      this.#epoch = -1;
    } else if (this.#epoch !== hot.epoch) {
      this.#fill(null);
      this.#epoch = hot.epoch;
    }
    const m = this.#m;
    if (m === 0) return null;
    const list = this.#servers;
    const index = this.#index;
    const prefix = this.#prefix;
    const total = prefix[m - 1];
    if (total === 0) return null;
    const r1 = (this.#random32() >>> 0) % (total + 1);
    const r2 = (this.#random32() >>> 0) % (total + 1);
    // "subtract weights until r <= 0" stops at the first eligible server whose running total is >= r
    const c1 = list[index[firstAtLeast(prefix, m, r1)]];
    const c2 = list[index[firstAtLeast(prefix, m, r2)]];
    const oh1 = c1.active * 256 + c1.inactive;
    const oh2 = c2.active * 256 + c2.inactive;
    return c2.weight * oh1 > c1.weight * oh2 ? c2 : c1;
  }

  close(): void {
    this.#servers = [];
    this.#m = 0;
    this.#slots = null;
    this.#epoch = -1;
  }
}

/** Smallest k < m with prefix[k] >= r (prefix strictly increasing, r <= prefix[m - 1]). */
function firstAtLeast(prefix: Float64Array, m: number, r: number): number {
  let lo = 0;
  let hi = m - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (prefix[mid] >= r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export const twos: SchedulerFactory = {
  name: "twos",
  defaultKey: null,
  create: (_upstream, opts: SchedulerOptions) => new PowerOfTwo(opts.random32),
};
