// The flat-array walks (lc wlc sed nq ovf twos lblc lblcr over Server slots, twos' cached eligible totals, fo/ovf's
// weight order) must decide exactly as the object walks do. Every scheduler runs twice in lockstep: once over real
// Servers (fast paths), once over FakeServers with the same numbers (object paths); counters move, flags flip
// through Server's setters, weights change with a rebuild, some picks carry an exclude set. Same pick every time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/core/clock.ts";
import { schedulers } from "../../../src/schedulers/index.ts";
import type { PickContext, Scheduler } from "../../../src/schedulers/scheduler.ts";
import { Server, hot, type ServerView } from "../../../src/upstream/server.ts";
import { FAILED_ACTIVE } from "../../../src/upstream/flags.ts";
import { plan, srv, xorshift32, type FakeServer } from "./support.ts";

const FLAGS: readonly (readonly string[])[] = [[], ["sh-fallback", "sh-port", "mh-fallback", "mh-port"]];

function lockstep(name: keyof typeof schedulers, flags: readonly string[], n: number, seed: number): void {
  const rnd = xorshift32(seed);
  const real: Server[] = [];
  const fake: FakeServer[] = [];
  for (let i = 0; i < n; i++) {
    const host = `10.7.${i >> 8}.${i & 255}`;
    const w = 1 + (rnd() % 5);
    const r = new Server(`${host}:80`, host, 80, w, 0, false);
    r.index = i;
    real.push(r);
    fake.push({ ...srv(`S${i}`, w), index: i, host, address: `${host}:80`, port: 80 } as FakeServer);
  }
  const clocks = [new FakeClock(), new FakeClock()];
  const mk = (k: number): Scheduler => schedulers[name].create(plan(flags, name), { clock: clocks[k], random32: xorshift32(seed + 1) });
  const a = mk(0);
  const b = mk(1);
  a.rebuild(real);
  b.rebuild(fake);
  const open: number[] = [];
  for (let step = 0; step < 1500; step++) {
    const r = rnd();
    // change something first
    if (r % 97 === 0) {
      const i = rnd() % n;
      const w = rnd() % 4; // 0 quiesces
      real[i].weight = w;
      fake[i].weight = w;
      if (w > 0) { real[i].lastWeight = w; fake[i].lastWeight = w; }
      a.rebuild(real);
      b.rebuild(fake);
    } else if (r % 13 === 0) {
      const i = rnd() % n;
      real[i].thresholdOverloaded = !real[i].thresholdOverloaded;
    } else if (r % 29 === 0) {
      const i = rnd() % n;
      real[i].flags ^= FAILED_ACTIVE;
    }
    for (let i = 0; i < n; i++) { fake[i].overloaded = real[i].overloaded; fake[i].available = real[i].available; }
    // one unit finishes now and then: active -> inactive, and an inactive entry expires
    if (open.length > 2 * n || (open.length > 0 && r % 3 === 0)) {
      const i = open.shift() as number;
      real[i].active--; real[i].inactive++;
      fake[i].active--; fake[i].inactive++;
    }
    if (r % 5 === 0) {
      const i = rnd() % n;
      if (real[i].inactive > 0) { real[i].inactive--; fake[i].inactive--; }
    }
    const key = step % 11 === 10 ? null : step % 2 === 0 ? `198.51.100.${rnd() % 64}` : `site-${rnd() % 23}.example/p`;
    const port = 1024 + (rnd() % 50);
    let exA: Set<ServerView> | null = null;
    let exB: Set<ServerView> | null = null;
    if (r % 7 === 0) {
      const i = rnd() % n;
      exA = new Set([real[i]]);
      exB = new Set([fake[i]]);
    }
    const ca: PickContext = { key, port, exclude: exA };
    const cb: PickContext = { key, port, exclude: exB };
    const pa = a.pick(ca);
    const pb = b.pick(cb);
    const ia = pa === null ? -1 : real.indexOf(pa as Server);
    const ib = pb === null ? -1 : fake.indexOf(pb as FakeServer);
    assert.equal(ia, ib, `${name} step ${step}: Servers picked ${ia}, fakes ${ib}`);
    if (ia >= 0) {
      real[ia].active++;
      fake[ia].active++;
      open.push(ia);
    }
    clocks[0].advance(997);
    clocks[1].advance(997);
  }
  a.close();
  b.close();
}

for (const name of Object.keys(schedulers) as (keyof typeof schedulers)[]) {
  test(`${name}: Servers (flat arrays) and fakes (objects) get the same picks`, () => {
    for (const flags of FLAGS) for (const [n, seed] of [[3, 11], [17, 12], [64, 13]] as const) lockstep(name, flags, n, seed);
  });
}

test("Server keeps the flat arrays and the eligibility epoch in step with its fields", () => {
  const s = new Server("10.8.0.1:80", "10.8.0.1", 80, 3, 4, false);
  const k = s.slot;
  s.active = 5;
  s.inactive = 2;
  assert.deepEqual([hot.active[k], hot.overhead[k]], [5, 5 * 256 + 2]);
  s.inactive = 7;
  s.active = 4;
  assert.deepEqual([s.active, s.inactive, hot.active[k], hot.overhead[k]], [4, 7, 4, 4 * 256 + 7]);
  const e0 = hot.epoch;
  s.thresholdOverloaded = true;
  assert.deepEqual([s.overloaded, s.available, hot.overloaded[k], hot.epoch > e0], [true, true, 1, true]);
  const e1 = hot.epoch;
  s.thresholdOverloaded = true; // no change: no new epoch
  assert.equal(hot.epoch, e1);
  s.thresholdOverloaded = false;
  s.flags = FAILED_ACTIVE;
  assert.deepEqual([s.overloaded, s.available, hot.overloaded[k], s.state], [true, false, 1, "down"]);
  s.flags = 0;
  s.listed = false;
  assert.deepEqual([s.overloaded, s.available, hot.overloaded[k]], [false, false, 0]);
});
