// thresholds: the OVERLOAD flag rules of schedulers.md 1.6, as pure functions the pool calls.
// (IPVS sets the flag when a connection is bound and clears it when one is released; schedulers only read it.)
//
//  * afterCount: right after a unit is counted on the server: upper != 0 and total >= upper -> set.
//  * afterRelease: right after a unit is released: lower != 0 -> clear when total < lower; else upper != 0 ->
//    clear when total * 4 < upper * 3 (the product, not floor(upper * 3 / 4): upper 5 clears at 3); else clear.
//  * afterEdit: the new upper (already stored) is 0 or larger than oldUpper -> clear at once. Lowering upper
//    below the current total sets nothing until the next afterCount.
//
// total (DECISION 1.6): open upstream work only, i.e. active plus `closing` (half-closed connections still
// draining, connection mode) when the caller tracks it; the post-close linger entries (`inactive`) do not count,
// so max_conns means "at most this many open units". Server (upstream/server.ts) has no closing or lower field:
// for it total = active and lower is unset.

export interface ThresholdState {
  /** Units in flight. */
  readonly active: number;
  /** Half-closed units still draining; absent = 0. */
  readonly closing?: number;
  /** max_conns; 0 = none. */
  readonly upper: number;
  /** Clear-below threshold; absent or 0 = the 3/4 rule. */
  readonly lower?: number;
  /** The threshold OVERLOAD flag (Server.thresholdOverloaded). */
  thresholdOverloaded: boolean;
}

/** total per the 1.6 DECISION: active + closing. */
export function thresholdTotal(s: ThresholdState): number {
  return s.active + (s.closing ?? 0);
}

/** Call right after a unit was counted (active += 1). Returns the flag. */
export function afterCount(s: ThresholdState): boolean {
  if (s.upper !== 0 && thresholdTotal(s) >= s.upper) s.thresholdOverloaded = true;
  return s.thresholdOverloaded;
}

/** Call right after a unit was released (total dropped). Returns the flag. */
export function afterRelease(s: ThresholdState): boolean {
  if (!s.thresholdOverloaded) return false;
  const total = thresholdTotal(s);
  const lower = s.lower ?? 0;
  if (lower !== 0) {
    if (total < lower) s.thresholdOverloaded = false;
  } else if (s.upper !== 0) {
    if (total * 4 < s.upper * 3) s.thresholdOverloaded = false;
  } else {
    s.thresholdOverloaded = false;
  }
  return s.thresholdOverloaded;
}

/** Call after an edit stored the new upper; oldUpper is the value before. Returns the flag. */
export function afterEdit(s: ThresholdState, oldUpper: number): boolean {
  if (s.upper === 0 || s.upper > oldUpper) s.thresholdOverloaded = false;
  return s.thresholdOverloaded;
}
