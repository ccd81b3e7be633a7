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

/** Greatest common divisor of two non-negative integers; gcd(0, b) = b. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
