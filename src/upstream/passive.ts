// Passive health (nginx max_fails/fail_timeout): max_fails failures within fail_timeout take a
// server out for fail_timeout; connect failures, resets and timeouts count, client aborts do not.
// When fail_timeout is over the server gets a trial, as in nginx: its next unit decides. A failure
// takes it out again at once (not after max_fails more); a success ends the trial.
import type { Clock } from "../core/clock.ts";
import type { PassivePlan } from "../config/schema.ts";
import type { Server } from "./server.ts";

/** What one failure did: nothing yet, max_fails reached in the window, or a failed trial. */
export type PassiveVerdict = "counted" | "max-fails" | "trial-failed";

// Keyed by Server, not kept per PassiveHealth: a reload builds a new pool (and a new PassiveHealth)
// around the same Server objects, and the failure window and a trial in progress carry over with them.
/** Failure times inside the window, per server. */
const fails = new WeakMap<Server, number[]>();
/** Servers back from an ejection whose next unit has not ended yet. */
const trial = new WeakSet<Server>();

export class PassiveHealth {
  readonly #plan: PassivePlan;
  readonly #clock: Clock;

  constructor(plan: PassivePlan, clock: Clock) {
    this.#plan = plan;
    this.#clock = clock;
  }

  /** Count one failure; "max-fails" / "trial-failed" mean: take the server out (the window restarts). */
  fail(s: Server): PassiveVerdict {
    const max = this.#plan.maxFails;
    if (max <= 0) return "counted";
    if (trial.delete(s)) return "trial-failed";
    const now = this.#clock.now();
    let q = fails.get(s);
    if (q === undefined) { q = []; fails.set(s, q); }
    while (q.length > 0 && q[0] <= now - this.#plan.failTimeoutMs) q.shift();
    q.push(now);
    if (q.length < max) return "counted";
    q.length = 0;
    return "max-fails";
  }

  /** A unit on s ended well: a trial in progress is passed. */
  ok(s: Server): void {
    trial.delete(s);
  }

  /** s is back after fail_timeout: its next unit's outcome decides. */
  startTrial(s: Server): void {
    if (this.#plan.maxFails <= 0) return;
    fails.delete(s);
    trial.add(s);
  }
}
