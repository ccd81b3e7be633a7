// lblc / lblcr beyond the vectors: housekeeping (60 s ticks, full sweep every 30, over-cap purge), removed and
// tried servers, the OVERLOAD flag on the cached path, null keys, close().
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/core/clock.ts";
import { createLblc } from "../../../src/schedulers/lblc.ts";
import { createLblcr } from "../../../src/schedulers/lblcr.ts";
import { ctx, nameOf, options, plan, srv } from "./support.ts";

const MIN = 60_000;

test("lblc: entries unused for the expiration are dropped by the full sweep on the 30th tick", () => {
  const clock = new FakeClock();
  const s = createLblc(plan([], "lblc"), options(clock), { expirationMs: 10 * MIN });
  s.rebuild([srv("A", 1), srv("B", 1)]);
  s.pick(ctx("old"));
  clock.advance(25 * MIN);
  s.pick(ctx("fresh"));
  assert.equal(s.size, 2);
  clock.advance(5 * MIN - 1);
  assert.equal(s.size, 2, "before the 30th tick nothing is swept, even when expired");
  clock.advance(1); // tick 30 at 30 min: old idle 30 min >= 10, fresh idle 5 min
  assert.equal(s.size, 1);
  clock.advance(29 * MIN); // ticks 31..59: counter 1 -> 30
  assert.equal(s.size, 1);
  clock.advance(MIN); // tick 60: second full sweep, fresh idle 35 min
  assert.equal(s.size, 0);
  s.close();
});

test("lblc: over the soft cap, entries idle >= 6 min are purged oldest first up to the goal", () => {
  const clock = new FakeClock();
  const s = createLblc(plan([], "lblc"), options(clock), { softCap: 10 });
  s.rebuild([srv("A", 1)]);
  for (let i = 0; i < 20; i++) s.pick(ctx(`k${i}`));
  clock.advance(6 * MIN); // tick at 1..6 min: over cap, nothing idle 6 min until the 6th tick
  // goal = floor((20 - 10) * 4 / 3) = 13
  assert.equal(s.size, 7);
  clock.advance(MIN);
  assert.equal(s.size, 7, "at or under the cap: no purge");
  s.close();
});

test("lblc: the cached path ignores the OVERLOAD flag but not removal, health or exclude", () => {
  const A = srv("A", 1), B = srv("B", 1);
  const s = createLblc(plan([], "lblc"), options());
  s.rebuild([A, B]);
  assert.equal(nameOf(s.pick(ctx("K"))), "A");
  A.overloaded = true;
  assert.equal(nameOf(s.pick(ctx("K"))), "A", "flag not checked on the cached path");
  assert.equal(nameOf(s.pick(ctx("K", 0, new Set([A])))), "B", "tried: rescheduled, K -> B");
  A.overloaded = false;
  assert.equal(nameOf(s.pick(ctx("K"))), "B");
  s.rebuild([A]); // B removed (its view still says available: membership decides)
  assert.equal(nameOf(s.pick(ctx("K"))), "A");
  A.available = false;
  A.overloaded = true; // health-down shows as both
  assert.equal(nameOf(s.pick(ctx("K"))), "none");
  s.close();
});

test("lblc and lblcr: a null key gets wlc and creates no entry", () => {
  for (const create of [createLblc, createLblcr]) {
    const s = create(plan(), options());
    s.rebuild([srv("A", 1, { a: 1 }), srv("B", 1)]);
    assert.equal(nameOf(s.pick(ctx(null))), "B");
    assert.equal(s.size, 0);
    s.close();
  }
});

test("lblcr: the set minimum skips tried and removed members; wlc adds the new one at the front", () => {
  const A = srv("A", 4), B = srv("B", 4), C = srv("C", 4);
  const s = createLblcr(plan([], "lblcr"), options());
  s.rebuild([A, B, C]);
  assert.equal(nameOf(s.pick(ctx("K"))), "A");
  assert.equal(nameOf(s.pick(ctx("K", 0, new Set([A])))), "B");
  assert.deepEqual(s.setOf("K")?.map(nameOf), ["B", "A"]);
  s.rebuild([A, C]); // B removed
  A.active = 1;
  assert.equal(nameOf(s.pick(ctx("K"))), "A", "B is no longer listed; A is the minimum");
  s.close();
});

test("close() cancels the housekeeping timer", () => {
  let live = 0;
  const inner = new FakeClock();
  const clock = {
    now: () => inner.now(),
    setTimeout(fn: () => void, ms: number) {
      live++;
      const h = inner.setTimeout(() => { live--; fn(); }, ms);
      return { cancel: () => { live--; h.cancel(); } };
    },
  };
  for (const create of [createLblc, createLblcr]) {
    const s = create(plan(), options(clock));
    inner.advance(3 * MIN);
    assert.equal(live, 1, "re-armed after each tick");
    s.close();
    assert.equal(live, 0);
  }
});
