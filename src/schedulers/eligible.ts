// eligible: the shared per-server tests every scheduler makes (schedulers.md 1.3, 4.4) and gcd for wrr/mh.
import type { ServerView } from "../upstream/server.ts";

/** Eligible for new work: weight > 0, not overloaded (threshold or health-down), not already tried this unit. */
export function usable(s: ServerView, exclude: ReadonlySet<ServerView> | null): boolean {
  return s.weight > 0 && !s.overloaded && (exclude === null || !exclude.has(s));
}

/** Overloaded for this call: the OVERLOAD flag, or tried already (4.4 treats a tried server as overloaded). */
export function skipped(s: ServerView, exclude: ReadonlySet<ServerView> | null): boolean {
  return s.overloaded || (exclude !== null && exclude.has(s));
}

/**
 * Indices of the servers with weight > 0, heaviest first, list order among equal weights: the first eligible one
 * in this order is "the largest weight, earliest on ties" (fo, ovf), found without walking the rest.
 */
export function byWeight(servers: readonly ServerView[]): Int32Array<ArrayBuffer> {
  const idx: number[] = [];
  for (let i = 0; i < servers.length; i++) if (servers[i].weight > 0) idx.push(i);
  idx.sort((a, b) => servers[b].weight - servers[a].weight || a - b);
  return Int32Array.from(idx);
}

/**
 * IPVS's "first minimal score/weight" walk (wlc, sed): the candidate is the first server with weight > 0
 * that is not skipped; a later server replaces it when cand.score * s.weight > s.score * cand.weight
 * (cross-multiplied, strict: ties keep the earlier one) and it is not skipped. A weight-0 server can never
 * win the comparison, so weight is not re-checked; the skip test is read only for a would-be winner.
 * Null when no server is eligible. The object walk, used when an exclude set is given or the list holds
 * other ServerViews than Servers (the flat-array walk is classes.ts).
 */
export function pickLeastRatio(list: readonly ServerView[], ex: ReadonlySet<ServerView> | null, score: (s: ServerView) => number): ServerView | null {
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
  let bestScore = score(best);
  let bestW = best.weight;
  for (i++; i < n; i++) {
    const s = list[i];
    const sc = score(s);
    if (bestScore * s.weight > sc * bestW && !skipped(s, ex)) {
      best = s;
      bestScore = sc;
      bestW = s.weight;
    }
  }
  return best;
}

/** Greatest common divisor of two non-negative integers; gcd(0, b) = b. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
