// Passive health (nginx max_fails/fail_timeout): max_fails failures within fail_timeout take a
// server out for fail_timeout; connect failures, resets and timeouts count, client aborts do not.
import type { Clock } from "../core/clock.ts";
import type { PassivePlan } from "../config/schema.ts";
import type { Server } from "./server.ts";

export class PassiveHealth {
  readonly #plan: PassivePlan;
  readonly #clock: Clock;
  /** Failure times inside the window, per server. */
  readonly #fails = new WeakMap<Server, number[]>();

  constructor(plan: PassivePlan, clock: Clock) {
    this.#plan = plan;
    this.#clock = clock;
  }

  /** Count one failure; true when it reaches max_fails inside the window (the window then restarts). */
  fail(s: Server): boolean {
    const max = this.#plan.maxFails;
    if (max <= 0) return false;
    const now = this.#clock.now();
    let q = this.#fails.get(s);
    if (q === undefined) { q = []; this.#fails.set(s, q); }
    while (q.length > 0 && q[0] <= now - this.#plan.failTimeoutMs) q.shift();
    q.push(now);
    if (q.length < max) return false;
    q.length = 0;
    return true;
  }
}
