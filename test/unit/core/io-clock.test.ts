// The I/O-event clock (src/core/io-clock.ts): one clock read per read callback, the live clock elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ioCall, ioNow } from "../../../src/core/io-clock.ts";

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* wait */ }
}

test("inside a callback the time stays that of its start; outside it is the live clock", () => {
  const before = performance.now();
  assert.ok(ioNow() >= before);
  let t0 = 0;
  ioCall(() => {
    t0 = ioNow();
    spin(3);
    assert.equal(ioNow(), t0, "the callback's time does not move while it runs");
    // a nested callback reads the clock again and gives the outer time back when it ends
    ioCall(() => { assert.ok(ioNow() >= t0 + 3); }, null);
    assert.equal(ioNow(), t0);
  }, null);
  spin(2);
  assert.ok(ioNow() >= t0 + 5, "after the callback the clock is live again");
  // a callback that throws still gives the clock back
  assert.throws(() => ioCall(() => { throw new Error("boom"); }, null));
  spin(2);
  assert.ok(ioNow() >= t0 + 7);
});
