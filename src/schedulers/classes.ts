// classes: the servers of a list grouped by weight, for the flat-array walks of wlc, sed and nq.
//
// Those schedulers want the eligible server with the smallest score/weight (wlc: overhead, sed and nq:
// active + 1), the earliest in list order on ties. Within one weight the smallest score decides alone, so each
// class is walked for its smallest score with one array read and one comparison per server (no
// multiplications); the class winners are then compared by cross-multiplication, ties going to the earlier list
// index. That is exactly the winner of IPVS's one-pass walk (the first server of the minimal ratio), at about
// the cost of an lc walk. Built in rebuild() (weights change only there); null for lists of other ServerViews.
import { slotsOf, type ServerView } from "../upstream/server.ts";

export interface WeightClasses {
  /** `hot` slots of the servers with weight > 0, class after class, list order within a class. */
  readonly slots: Int32Array;
  /** The list index of each entry of `slots`. */
  readonly index: Int32Array;
  /** Class c is entries start[c] .. start[c + 1] - 1 (length: classes + 1). */
  readonly start: Int32Array;
  /** The weight of class c. */
  readonly weights: Int32Array;
}

/** Below this many servers the object walk is as fast: the class walk's setup costs what it saves. */
export const FLAT_MIN = 8;

/**
 * The classes of `servers` (weights as they are now), or null when any entry is not a Server or the list is
 * shorter than FLAT_MIN. oneClass (lc, which reads weights only as 0): every server with weight > 0 in one class
 * of weight 1.
 */
export function weightClasses(servers: readonly ServerView[], oneClass = false): WeightClasses | null {
  if (servers.length < FLAT_MIN) return null;
  const all = slotsOf(servers);
  if (all === null) return null;
  const byWeight = new Map<number, number[]>();
  for (let i = 0; i < servers.length; i++) {
    const weight = servers[i].weight;
    if (weight <= 0) continue;
    const w = oneClass ? 1 : weight;
    let members = byWeight.get(w);
    if (members === undefined) { members = []; byWeight.set(w, members); }
    members.push(i);
  }
  let count = 0;
  for (const members of byWeight.values()) count += members.length;
  const slots = new Int32Array(count);
  const index = new Int32Array(count);
  const start = new Int32Array(byWeight.size + 1);
  const weights = new Int32Array(byWeight.size);
  let c = 0;
  let j = 0;
  for (const [w, members] of byWeight) {
    start[c] = j;
    weights[c] = w;
    for (const i of members) {
      slots[j] = all[i];
      index[j] = i;
      j++;
    }
    c++;
  }
  start[c] = j;
  return { slots, index, start, weights };
}

/**
 * The list index of the eligible (not overloaded) server with the smallest score / weight, earliest on ties,
 * or -1. score[k] is read for slot k; add is added to it (sed and nq score active + 1, wlc overhead + 0).
 * idleFirst (nq): a server with score[k] === 0 wins at once over every ratio, the earliest such one.
 */
export function pickByClass(wc: WeightClasses, score: Int32Array, add: number, overloaded: Uint8Array, idleFirst: boolean): number {
  const { slots, index, start, weights } = wc;
  const classes = weights.length;
  let best = -1;
  let bScore = 0;
  let bW = 0;
  let idle = -1;
  for (let c = 0; c < classes; c++) {
    const end = start[c + 1];
    let m = -1;
    let mScore = 0x7fffffff; // above any score (active < 2^23)
    for (let j = start[c]; j < end; j++) {
      const k = slots[j];
      if (score[k] < mScore && overloaded[k] === 0) {
        m = j;
        mScore = score[k];
      }
    }
    if (m < 0) continue;
    const i = index[m];
    if (idleFirst && mScore === 0) {
      // the first idle server of this class is its earliest: the earliest of those over all classes wins
      if (idle < 0 || i < idle) idle = i;
      continue;
    }
    const s = mScore + add;
    const w = weights[c];
    if (best < 0 || bScore * w > s * bW || (bScore * w === s * bW && i < best)) {
      best = i;
      bScore = s;
      bW = w;
    }
  }
  return idle >= 0 ? idle : best;
}
