// Clock: every place that reads time or sets a timer takes one, so tests can drive time by hand.

export interface TimerHandle { cancel(): void }

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs fn after ms; the handle cancels it. Timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

class SystemTimer implements TimerHandle {
  readonly #t: NodeJS.Timeout;
  constructor(t: NodeJS.Timeout) { this.#t = t; }
  cancel(): void { clearTimeout(this.#t); }
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return new SystemTimer(t);
  },
};

/** A clock for tests: time moves only through advance(). */
export class FakeClock implements Clock {
  #now = 0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number { return this.#now; }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.#now + ms, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => { t.live = false; } };
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: { at: number; fn: () => void; live: boolean } | null = null;
      for (const t of this.#timers) if (t.live && t.at <= end && (next === null || t.at < next.at)) next = t;
      if (next === null) break;
      next.live = false;
      this.#now = next.at;
      next.fn();
    }
    this.#timers = this.#timers.filter((t) => t.live);
    this.#now = end;
  }
}
