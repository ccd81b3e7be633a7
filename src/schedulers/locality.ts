// locality: the key -> entry table shared by lblc and lblcr, with IPVS's housekeeping (schedulers.md 2.10).
//
// A timer runs every 60 s with a tick counter starting at 1:
//  * counter % 30 == 0: full sweep, delete every entry with now >= lastUse + expiration; counter = 1;
//  * else if size <= 16384 (the soft cap): counter += 1;
//  * else (over the cap, counter not incremented): delete entries idle for at least 6 minutes until
//    goal = min(floor((size - 16384) * 4 / 3), 8192) are gone.
// DECISION (2.10): the over-cap walk visits entries in insertion order (a Map has no buckets; an entry keeps its
// place when its server is replaced) from the oldest, and checks the goal after each deletion.
import type { Clock, TimerHandle } from "../core/clock.ts";
import type { ServerView } from "../upstream/server.ts";

export const HOUSEKEEPING_MS = 60_000;
export const FULL_SWEEP_TICKS = 30;
export const SOFT_CAP = 16 * 1024;
export const IDLE_PURGE_MS = 6 * 60_000;
export const MAX_PURGE = 8192;
/** lblc_expiration / lblcr_expiration default: 24 h. */
export const DEFAULT_EXPIRATION_MS = 24 * 3600_000;

/** Test overrides for lblc/lblcr (production uses the defaults). */
export interface LocalityOptions {
  /** Entry expiration (lblc: unused for this long -> swept; lblcr: also the set-shrink period); default 24 h. */
  readonly expirationMs?: number;
  /** Soft cap on entries before the 6-minute idle purge runs (default 16384). */
  readonly softCap?: number;
}

export interface LocalityEntry {
  lastUse: number;
}

export class LocalityTable<E extends LocalityEntry> {
  readonly map = new Map<string, E>();
  readonly expirationMs: number;
  readonly #softCap: number;
  readonly #clock: Clock;
  #counter = 1;
  #timer: TimerHandle | null;

  constructor(clock: Clock, options: LocalityOptions) {
    this.#clock = clock;
    this.expirationMs = options.expirationMs ?? DEFAULT_EXPIRATION_MS;
    this.#softCap = options.softCap ?? SOFT_CAP;
    this.#timer = clock.setTimeout(this.#onTimer, HOUSEKEEPING_MS);
  }

  /** One housekeeping round (the 60 s timer runs it). */
  tick(): void {
    const now = this.#clock.now();
    const map = this.map;
    if (this.#counter % FULL_SWEEP_TICKS === 0) {
      const exp = this.expirationMs;
      for (const [k, e] of map) if (now >= e.lastUse + exp) map.delete(k);
      this.#counter = 1;
    } else if (map.size <= this.#softCap) {
      this.#counter++;
    } else {
      const goal = Math.min(Math.floor(((map.size - this.#softCap) * 4) / 3), MAX_PURGE);
      let gone = 0;
      for (const [k, e] of map) {
        if (gone >= goal) break;
        if (now >= e.lastUse + IDLE_PURGE_MS) {
          map.delete(k);
          gone++;
        }
      }
    }
  }

  /** The timer's callback (one per instance): one round, then re-arm. */
  readonly #onTimer = (): void => {
    this.tick();
    this.#timer = this.#clock.setTimeout(this.#onTimer, HOUSEKEEPING_MS);
  };

  close(): void {
    if (this.#timer !== null) this.#timer.cancel();
    this.#timer = null;
    this.map.clear();
  }
}

/**
 * lblc-overloaded (2.10): s.active > s.weight AND some server of the list (any: weight 0 and flagged ones too)
 * is under half load (d.active * 2 < d.weight). If everyone is at or above half load, s keeps its keys.
 */
export function lblcOverloaded(s: ServerView, list: readonly ServerView[]): boolean {
  if (s.active <= s.weight) return false;
  for (let i = 0; i < list.length; i++) {
    const d = list[i];
    if (d.active * 2 < d.weight) return true;
  }
  return false;
}
