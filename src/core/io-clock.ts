// The time of the I/O event being handled (issue 11). A proxied request reads the clock about nine
// times (deadlines, pool idle stamps, upstream and request times), and on a VM each read of the clock
// costs about as much as a small function. nginx reads it once per event-loop turn; here the two read
// callbacks of the HTTP hot path (a client read, an upstream read) read it once on entry, and what runs
// inside them takes that value. Outside such a callback ioNow() reads the clock itself. Same base as
// performance.now(), so the two mix (DeadlineSweep compares against performance.now()).

// the global `performance` is a getter; a module binding is read once
const perf = performance;
let cached = -1;

/** performance.now() as of the I/O callback being run, or now when none is. */
export function ioNow(): number {
  return cached >= 0 ? cached : perf.now();
}

/** Runs fn(arg), and everything it does synchronously, at one reading of the clock (calls may nest). */
export function ioCall<A>(fn: (arg: A) => void, arg: A): void {
  const outer = cached;
  cached = perf.now();
  try {
    fn(arg);
  } finally {
    cached = outer;
  }
}
