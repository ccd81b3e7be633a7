// upstream/persistence.ts: IPVS persistence templates (schedulers.md 3) driven by a FakeClock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/core/clock.ts";
import { Persistence } from "../../../src/upstream/persistence.ts";
import { srv } from "../schedulers/support.ts";

const plan = { timeoutMs: 300_000, netmask: 32, expireQuiescent: false };

test("a client sticks to its server; the timeout is extended by every use", () => {
  const clock = new FakeClock();
  const p = new Persistence(plan, clock);
  const A = srv("A", 1);
  assert.equal(p.lookup("10.0.0.1"), null);
  p.remember("10.0.0.1", A);
  p.release("10.0.0.1");
  clock.advance(299_000);
  assert.equal(p.lookup("10.0.0.1"), A, "used at 299 s: extended to 599 s");
  clock.advance(299_000);
  assert.equal(p.lookup("10.0.0.1"), A);
  clock.advance(300_000);
  assert.equal(p.lookup("10.0.0.1"), null, "idle for the whole timeout");
  p.close();
});

test("a template never expires while a unit bound under it is open", () => {
  const clock = new FakeClock();
  const p = new Persistence(plan, clock);
  const A = srv("A", 1);
  p.remember("10.0.0.1", A);
  clock.advance(3_600_000);
  assert.equal(p.lookup("10.0.0.1"), A, "open for an hour");
  p.release("10.0.0.1");
  clock.advance(299_999);
  assert.equal(p.lookup("10.0.0.1"), A);
  p.release("10.0.0.1"); // an unpaired release is harmless
  clock.advance(300_000);
  assert.equal(p.lookup("10.0.0.1"), null);
  p.close();
});

test("netmask /24 groups clients; IPv4-mapped addresses share the IPv4 template; IPv6 is per address", () => {
  const p = new Persistence({ ...plan, netmask: 24 }, new FakeClock());
  const A = srv("A", 1), B = srv("B", 1);
  p.remember("10.0.0.1", A);
  assert.equal(p.lookup("10.0.0.200"), A);
  assert.equal(p.lookup("::ffff:10.0.0.9"), A);
  assert.equal(p.lookup("10.0.1.1"), null);
  p.remember("2001:db8::1", B);
  assert.equal(p.lookup("2001:DB8:0::1"), B);
  assert.equal(p.lookup("2001:db8::2"), null);
  p.close();
});

test("a removed or health-down server breaks the template; a quiesced one only with expireQuiescent", () => {
  const A = srv("A", 1);
  const keep = new Persistence(plan, new FakeClock());
  keep.remember("10.0.0.1", A);
  A.weight = 0;
  assert.equal(keep.lookup("10.0.0.1"), A, "default: quiesced servers keep sticky clients");
  A.available = false;
  assert.equal(keep.lookup("10.0.0.1"), null);
  assert.equal(keep.size, 0, "deleted");
  keep.close();

  const B = srv("B", 0);
  const expire = new Persistence({ ...plan, expireQuiescent: true }, new FakeClock());
  expire.remember("10.0.0.1", B);
  assert.equal(expire.lookup("10.0.0.1"), null);
  expire.close();
});

test("a tried server is skipped for that call but the template stays until remember() repoints it", () => {
  const p = new Persistence(plan, new FakeClock());
  const A = srv("A", 1), B = srv("B", 1);
  p.remember("10.0.0.1", A);
  assert.equal(p.lookup("10.0.0.1", new Set([A])), null);
  assert.equal(p.size, 1);
  p.remember("10.0.0.1", B);
  assert.equal(p.lookup("10.0.0.1"), B);
  p.close();
});

test("the sweep timer deletes expired templates; close() empties the table", () => {
  const clock = new FakeClock();
  const p = new Persistence({ ...plan, timeoutMs: 5000 }, clock);
  p.remember("10.0.0.1", srv("A", 1));
  p.release("10.0.0.1");
  p.remember("10.0.0.2", srv("B", 1)); // still open
  clock.advance(10_000);
  assert.equal(p.size, 1);
  p.close();
  assert.equal(p.size, 0);
});
