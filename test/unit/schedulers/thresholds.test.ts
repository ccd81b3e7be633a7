// thresholds.ts: the 1.6 set/clear/edit rules beyond T23.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../../../src/upstream/server.ts";
import { afterCount, afterEdit, afterRelease } from "../../../src/schedulers/thresholds.ts";

test("upper 5 clears at total 3 (the product rule), not at 2 (floor(5*3/4) = 3 would wait)", () => {
  const s = { active: 5, upper: 5, thresholdOverloaded: false };
  assert.equal(afterCount(s), true);
  s.active = 4;
  assert.equal(afterRelease(s), true, "16 < 15 is false");
  s.active = 3;
  assert.equal(afterRelease(s), false, "12 < 15");
});

test("no upper: counting never sets the flag; a release clears it unconditionally", () => {
  const s = { active: 100, upper: 0, thresholdOverloaded: false };
  assert.equal(afterCount(s), false);
  s.thresholdOverloaded = true;
  s.active = 99;
  assert.equal(afterRelease(s), false);
});

test("closing units count toward total; inactive linger entries do not", () => {
  const s = { active: 2, closing: 1, upper: 3, thresholdOverloaded: false };
  assert.equal(afterCount(s), true);
  const srv = new Server("10.0.0.1:80", "10.0.0.1", 80, 1, 3, false);
  srv.active = 2;
  srv.inactive = 50;
  assert.equal(afterCount(srv), false);
  srv.active = 3;
  assert.equal(afterCount(srv), true);
  assert.equal(srv.overloaded, true, "the Server view shows the threshold flag");
});

test("edit: raising upper or removing it clears at once; lowering below total waits for the next count", () => {
  const s = { active: 4, upper: 4, thresholdOverloaded: false };
  afterCount(s);
  s.upper = 6;
  assert.equal(afterEdit(s, 4), false, "raised");
  s.upper = 2;
  assert.equal(afterEdit(s, 6), false, "lowered: not set yet");
  s.active = 5;
  assert.equal(afterCount(s), true, "set at the next count");
  s.upper = 0;
  assert.equal(afterEdit(s, 2), false, "removed");
  s.upper = 2;
  s.thresholdOverloaded = true;
  assert.equal(afterEdit(s, 2), true, "same upper: unchanged");
});
