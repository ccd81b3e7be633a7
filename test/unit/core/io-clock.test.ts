// The I/O-event clock (src/core/io-clock.ts): one clock read per read callback, the live clock elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ioEnter, ioLeave, ioNow } from "../../../src/core/io-clock.ts";

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* wait */ }
}

test("inside a callback the time stays that of its start; outside it is the live clock", () => {
  const before = performance.now();
  assert.ok(ioNow() >= before);
  const outer = ioEnter();
  const t0 = ioNow();
  spin(3);
  assert.equal(ioNow(), t0, "the callback's time does not move while it runs");
  // a nested callback reads the clock again and gives the outer time back when it ends
  const inner = ioEnter();
  assert.ok(ioNow() >= t0 + 3);
  ioLeave(inner);
  assert.equal(ioNow(), t0);
  ioLeave(outer);
  spin(2);
  assert.ok(ioNow() >= t0 + 5, "after the callback the clock is live again");
});
