// wrr beyond the vectors: the failure-state rule and the cw jump checked against a literal pass-by-pass model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ctx, make, nameOf, picks, srv, xorshift32, type FakeServer } from "./support.ts";

/** schedulers.md 2.2 written out literally: one pass per threshold, no shortcuts. */
class ReferenceWrr {
  list: FakeServer[] = [];
  cursor = -1;
  cw = 0;
  di = 1;
  mw = 0;
  rebuild(list: FakeServer[]): void {
    const ws = list.map((s) => s.weight).filter((w) => w > 0);
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    const di = ws.length === 0 ? 1 : ws.reduce(gcd);
    const mw = ws.length === 0 ? 0 : Math.max(...ws) - (di - 1);
    if (this.cw > mw || this.cw === 0) this.cw = mw;
    else if (di > 1) this.cw = Math.floor(this.cw / di) * di + 1;
    this.list = list;
    this.cursor = -1;
    this.di = di;
    this.mw = mw;
  }
  pick(): FakeServer | null {
    if (this.mw === 0) return null;
    if (!this.list.some((s) => s.weight > 0 && !s.overloaded)) {
      if (this.cw > this.di) {
        this.cursor = -1;
        this.cw = this.mw;
      }
      return null;
    }
    let i = this.cursor + 1;
    for (;;) {
      for (; i < this.list.length; i++) {
        const s = this.list[i];
        if (!s.overloaded && s.weight > 0 && s.weight >= this.cw) {
          this.cursor = i;
          return s;
        }
      }
      this.cw -= this.di;
      if (this.cw <= 0) this.cw = this.mw;
      i = 0;
    }
  }
}

test("wrr matches the literal pass-by-pass model under random weights, edits and overloads", () => {
  const rnd = xorshift32(12345);
  for (let round = 0; round < 200; round++) {
    const n = 1 + (rnd() % 6);
    const mult = 1 + (rnd() % 4); // shared factors make di > 1
    const list = Array.from({ length: n }, (_, i) => srv(String.fromCharCode(65 + i), (rnd() % 5) * mult));
    const ref = new ReferenceWrr();
    ref.rebuild(list);
    const s = make("wrr", list);
    const got: string[] = [];
    const want: string[] = [];
    for (let step = 0; step < 60; step++) {
      const r = rnd() % 20;
      if (r === 0) {
        const x = list[rnd() % n];
        x.weight = (rnd() % 5) * mult * (rnd() % 3 === 0 ? 7 : 1);
        s.rebuild(list);
        ref.rebuild(list);
      } else if (r === 1) {
        const x = list[rnd() % n];
        x.overloaded = !x.overloaded;
      }
      got.push(nameOf(s.pick(ctx())));
      want.push(nameOf(ref.pick()));
    }
    assert.equal(got.join(" "), want.join(" "), `round ${round}: ${list.map((x) => x.weight).join(",")}`);
  }
});

test("a weight spread of 65535 to 1 with the heavy server overloaded costs one pick, not 65535 passes", () => {
  const A = srv("A", 65535, { ovl: true });
  const s = make("wrr", [A, srv("B", 1), srv("C", 2)]);
  const t0 = performance.now();
  assert.equal(picks(s, 3), "C B C");
  assert.ok(performance.now() - t0 < 50);
});

test("failure with cw > di resets the walk; with cw <= di the state is kept", () => {
  const [A, B, C] = [srv("A", 4), srv("B", 3), srv("C", 2)];
  const s = make("wrr", [A, B, C]);
  assert.equal(picks(s, 2), "A A"); // cw 4, cursor on A
  for (const x of [A, B, C]) x.overloaded = true;
  assert.equal(picks(s, 1), "none"); // began at cw 4 > di 1: cursor to start, cw = mw = 4
  for (const x of [A, B, C]) x.overloaded = false;
  assert.equal(picks(s, 4), "A A B A", "restarted from the front at cw 4");

  const s2 = make("wrr", [A, B, C]);
  assert.equal(picks(s2, 7), "A A B A B C A"); // cw 1, cursor on A
  for (const x of [A, B, C]) x.overloaded = true;
  assert.equal(picks(s2, 1), "none"); // began at cw 1 <= di: unchanged
  for (const x of [A, B, C]) x.overloaded = false;
  assert.equal(picks(s2, 2), "B C", "continues after A at cw 1");
});

test("exclude skips a server for one call only", () => {
  const [A, B] = [srv("A", 1), srv("B", 1)];
  const s = make("wrr", [A, B]);
  assert.equal(nameOf(s.pick(ctx(null, 0, new Set([A])))), "B");
  assert.equal(nameOf(s.pick(ctx())), "A");
});
