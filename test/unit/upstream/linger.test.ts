// inactive_linger on a FakeClock: a finished unit counts as inactive (lblc/lblcr/twos read it) for
// about inactive_linger (rounded up to the pool's 100 ms tick), however many units end at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { FakeClock } from "../../../src/core/clock.ts";
import type { UpstreamPlan } from "../../../src/config/schema.ts";
import { Pool } from "../../../src/upstream/pool.ts";
import { plan as basePlan } from "../schedulers/support.ts";

const log = pino({ level: "silent" });

function lingerPlan(ms: number): UpstreamPlan {
  return {
    ...basePlan([], "rr"),
    inactiveLingerMs: ms,
    servers: [{ address: "10.0.0.1:80", host: "10.0.0.1", port: 80, weight: 1, maxConns: 0, backup: false }],
  };
}

test("inactive_linger: thousands of finished units stay inactive for the linger, then all expire", () => {
  const clock = new FakeClock();
  const pool = new Pool(lingerPlan(1000), clock, log, null);
  const s = pool.primaries[0];
  for (let i = 0; i < 3000; i++) {
    const lease = pool.acquireServer(s, null);
    assert.ok(lease !== null);
    lease.release("ok");
    if (i % 1000 === 999) clock.advance(250); // three bursts, 250 ms apart
  }
  assert.equal(s.active, 0);
  assert.equal(s.inactive, 3000);
  clock.advance(300); // t = 1050: the first burst (ended at t = 0) is past its linger
  assert.equal(s.inactive, 2000);
  clock.advance(600); // t = 1650: all three bursts expired
  assert.equal(s.inactive, 0);
  pool.close();
});

test("inactive_linger: closing the pool drops what is still lingering", () => {
  const clock = new FakeClock();
  const pool = new Pool(lingerPlan(5000), clock, log, null);
  const s = pool.primaries[0];
  for (let i = 0; i < 10; i++) pool.acquireServer(s, null)?.release("ok");
  assert.equal(s.inactive, 10);
  pool.close();
  assert.equal(s.inactive, 0);
});
