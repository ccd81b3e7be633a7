// Passive health on a FakeClock: the max_fails window, ejection for fail_timeout, the one-unit
// trial afterwards, and ejections that start on a server already down or outlive a reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { FakeClock } from "../../../src/core/clock.ts";
import type { UpstreamPlan } from "../../../src/config/schema.ts";
import { Pool } from "../../../src/upstream/pool.ts";
import { PassiveHealth } from "../../../src/upstream/passive.ts";
import { Server } from "../../../src/upstream/server.ts";
import { plan as basePlan } from "../schedulers/support.ts";

const log = pino({ level: "silent" });

function poolPlan(maxFails = 3, failTimeoutMs = 10_000): UpstreamPlan {
  return {
    ...basePlan([], "rr"),
    passive: { maxFails, failTimeoutMs },
    servers: [
      { address: "10.0.0.1:80", host: "10.0.0.1", port: 80, weight: 1, maxConns: 0, backup: false },
      { address: "10.0.0.2:80", host: "10.0.0.2", port: 80, weight: 1, maxConns: 0, backup: false },
    ],
  };
}

/** One unit on s that ends with outcome. */
function unit(pool: Pool, s: Server, outcome: Parameters<Pool["released"]>[1]): void {
  const lease = pool.acquireServer(s, null);
  assert.ok(lease !== null, `${s.address} takes work`);
  lease.release(outcome);
}

test("PassiveHealth: max_fails inside fail_timeout, the window slides, 0 turns it off", () => {
  const clock = new FakeClock();
  const p = new PassiveHealth({ maxFails: 3, failTimeoutMs: 1000 }, clock);
  const s = new Server("a:1", "a", 1, 1, 0, false);
  assert.equal(p.fail(s), "counted");
  clock.advance(600);
  assert.equal(p.fail(s), "counted");
  clock.advance(600); // the first failure is out of the window now
  assert.equal(p.fail(s), "counted");
  assert.equal(p.fail(s), "max-fails");
  assert.equal(p.fail(s), "counted", "the window restarts after an ejection");
  const off = new PassiveHealth({ maxFails: 0, failTimeoutMs: 1000 }, clock);
  for (let i = 0; i < 10; i++) assert.equal(off.fail(s), "counted");
});

test("PassiveHealth: a trial is decided by the next unit", () => {
  const clock = new FakeClock();
  const p = new PassiveHealth({ maxFails: 3, failTimeoutMs: 1000 }, clock);
  const s = new Server("a:1", "a", 1, 1, 0, false);
  p.startTrial(s);
  assert.equal(p.fail(s), "trial-failed");
  assert.equal(p.fail(s), "counted", "one failed trial, not two");
  p.startTrial(s);
  p.ok(s);
  assert.equal(p.fail(s), "counted", "a passed trial: back to max_fails");
});

test("Pool: ejected for fail_timeout, a failed trial ejects at once, a passed one restores max_fails", () => {
  const clock = new FakeClock();
  const pool = new Pool(poolPlan(3, 10_000), clock, log, null);
  const s = pool.primaries[0];
  unit(pool, s, "connect-refused");
  unit(pool, s, "client-aborted"); // not the server's fault
  unit(pool, s, "connect-timeout");
  assert.equal(s.state, "up");
  unit(pool, s, "upstream-reset");
  assert.equal(s.state, "down");
  assert.equal(s.failures, 3);
  assert.equal(pool.acquireServer(s, null), null, "no work while ejected");
  clock.advance(9_999);
  assert.equal(s.state, "down");
  clock.advance(1);
  assert.equal(s.state, "up");
  assert.equal(s.history.at(-1)?.reason, "passive: fail_timeout over, trial");
  unit(pool, s, "connect-refused");
  assert.equal(s.state, "down");
  assert.equal(s.history.at(-1)?.reason, "passive: failed trial (connect-refused)");
  clock.advance(10_000);
  unit(pool, s, "ok");
  unit(pool, s, "connect-refused");
  unit(pool, s, "connect-refused");
  assert.equal(s.state, "up", "after a passed trial it takes max_fails again");
  unit(pool, s, "connect-refused");
  assert.equal(s.state, "down");
  pool.close();
});

test("Pool: an ejection on a server the active check holds down still ends after fail_timeout", () => {
  const clock = new FakeClock();
  const pool = new Pool(poolPlan(1, 5_000), clock, log, null);
  const s = pool.primaries[0];
  const lease = pool.acquireServer(s, null);
  pool.setHealth(s, false, "L7 status 500");
  lease?.release("upstream-reset"); // work in flight fails after the server went down
  assert.deepEqual([s.state, s.flags & 3], ["down", 3]);
  clock.advance(5_000);
  pool.setHealth(s, true, "L7 ok (200)");
  assert.equal(s.state, "up", "the passive bit did not outlive its fail_timeout");
  pool.close();
});

test("Pool: an ejection carried over a reload ends in the new pool", () => {
  const clock = new FakeClock();
  const old = new Pool(poolPlan(1, 5_000), clock, log, null);
  unit(old, old.primaries[1], "connect-refused");
  assert.equal(old.primaries[1].state, "down");
  clock.advance(1_000);
  const next = new Pool(poolPlan(1, 5_000), clock, log, new Map(old.servers.map((s) => [s.address, s])));
  old.close();
  const s = next.primaries[1];
  assert.equal(s, old.primaries[1], "state is kept by address");
  assert.equal(s.state, "down");
  clock.advance(5_000);
  assert.equal(s.state, "up");
  assert.deepEqual(next.eligible.map((x) => x.address), ["10.0.0.1:80", "10.0.0.2:80"]);
  next.close();
});
