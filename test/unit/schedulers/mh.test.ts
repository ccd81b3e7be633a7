// mh beyond T17: real hashes, weights from lastWeight, quiescing without reshuffle, fallback, port, spread.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMh, maglevParams, MH_DEFAULT_TABLE_SIZE } from "../../../src/schedulers/mh.ts";
import { ctx, nameOf, options, plan, srv, type FakeServer } from "./support.ts";

const ips = (n: number) => Array.from({ length: n }, (_, i) => `172.16.${(i >> 8) & 255}.${i & 255}`);
const servers = (n: number, w = 1) => Array.from({ length: n }, (_, i) => {
  const s = srv(`S${i}`, w);
  return { ...s, host: `10.1.0.${i + 1}`, address: `10.1.0.${i + 1}:80` } as FakeServer;
});

test("every slot is filled; shares follow lastWeight", () => {
  const list = [srv("A", 1), srv("B", 2), srv("C", 3)].map((s, i) => ({ ...s, host: `10.2.0.${i}` }) as FakeServer);
  const s = createMh(plan([], "mh"), options());
  s.rebuild(list);
  const counts = [0, 0, 0];
  for (const i of s.slots) counts[i]++;
  assert.equal(counts[0] + counts[1] + counts[2], MH_DEFAULT_TABLE_SIZE);
  // turns 1:2:3 per round -> about 682, 1364, 2047
  assert.ok(Math.abs(counts[0] - 682) <= 3 && Math.abs(counts[1] - 1364) <= 3, counts.join(","));
});

test("turns: shift keeps at most 6 bits of weight/gcd; lastWeight 0 gets nothing", () => {
  const list = [srv("A", 1000), srv("B", 10), srv("C", 0)];
  const p = maglevParams(list, 251);
  // g = 10, max/g = 100 -> bitLength 7 -> shift 1: A 100 >> 1 = 50, B 1 >> 1 = 0 -> at least 1, C 0
  assert.deepEqual(p.map((x) => x.turns), [50, 1, 0]);
  for (const x of p) assert.ok(x.offset < 251 && x.skip >= 1 && x.skip <= 250);
});

test("removing one of ten servers moves only keys that were on it, plus few others", () => {
  const list = servers(10);
  const s = createMh(plan([], "mh"), options());
  s.rebuild(list);
  const keys = ips(5000);
  const before = keys.map((k) => s.pick(ctx(k)));
  s.rebuild(list.slice(0, 9));
  let moved = 0;
  keys.forEach((k, i) => {
    const after = s.pick(ctx(k));
    if (before[i] !== list[9] && after !== before[i]) moved++;
  });
  assert.ok(moved < keys.length * 0.05, `${moved} keys of surviving servers moved`);
});

test("weight 0 by edit keeps the table (lastWeight); lookups there fail, or fall back with mh-fallback", () => {
  const list = servers(4);
  for (const flags of [[], ["mh-fallback"]]) {
    const s = createMh(plan(flags, "mh"), options());
    s.rebuild(list);
    const table = [...s.slots];
    list[1].weight = 0; // drain: lastWeight stays 1
    s.rebuild(list);
    assert.deepEqual([...s.slots], table);
    let none = 0;
    for (const k of ips(2000)) {
      const p = s.pick(ctx(k));
      if (p === null) none++;
      else assert.notEqual(p, list[1]);
    }
    if (flags.length === 0) assert.ok(none > 300 && none < 700, `about a quarter fail: ${none}`);
    else assert.equal(none, 0);
    list[1].weight = 1;
  }
});

test("mh-port spreads one client's connections; without it the port is ignored", () => {
  const list = servers(8);
  const withPort = createMh(plan(["mh-port"], "mh"), options());
  const plain = createMh(plan([], "mh"), options());
  withPort.rebuild(list);
  plain.rebuild(list);
  const seen = new Set<string>();
  const plainSeen = new Set<string>();
  for (let port = 1024; port < 1088; port++) {
    seen.add(nameOf(withPort.pick(ctx("192.0.2.7", port))));
    plainSeen.add(nameOf(plain.pick(ctx("192.0.2.7", port))));
  }
  assert.ok(seen.size >= 6, `${seen.size} servers`);
  assert.equal(plainSeen.size, 1);
});

test("keys spread roughly evenly over equal servers", () => {
  const list = servers(5);
  const s = createMh(plan([], "mh"), options());
  s.rebuild(list);
  const counts = new Map<string, number>();
  for (const k of ips(10_000)) {
    const n = nameOf(s.pick(ctx(k)));
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  for (const [n, c] of counts) assert.ok(c > 1500 && c < 2500, `${n}: ${c}`);
});
