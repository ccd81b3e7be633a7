// Rise/fall hysteresis (HAProxy `rise`/`fall`, LVS ldirectord checkcount): a server changes state
// only after `fall` consecutive failed probes (up -> down) or `rise` consecutive passes
// (down -> up). A server starts up, as in HAProxy, so a fresh pool takes traffic at once and
// needs `fall` failures to lose a server.

/**
 * What one probe did to the state:
 *   "changed"   - this probe completed a run of rise passes / fall failures: the state flipped;
 *   "pending"   - it disagrees with the state but the run is not complete yet;
 *   "unchanged" - it agrees with the state (and resets any run in progress).
 */
export type RiseFallStep = "unchanged" | "changed" | "pending";

export class RiseFall {
  readonly rise: number;
  readonly fall: number;
  #up = true;
  /** Length of the current run of probes that disagree with the state. */
  #run = 0;

  /** rise and fall are at least 1 (smaller values are treated as 1). */
  constructor(rise: number, fall: number) {
    this.rise = Math.max(1, Math.floor(rise));
    this.fall = Math.max(1, Math.floor(fall));
  }

  get up(): boolean { return this.#up; }

  /** Probes in the current disagreeing run (0 when the last probe agreed with the state). */
  get streak(): number { return this.#run; }

  /** Record one probe outcome. */
  record(ok: boolean): RiseFallStep {
    if (ok === this.#up) {
      this.#run = 0;
      return "unchanged";
    }
    this.#run++;
    if (this.#run < (this.#up ? this.fall : this.rise)) return "pending";
    this.#up = ok;
    this.#run = 0;
    return "changed";
  }
}
