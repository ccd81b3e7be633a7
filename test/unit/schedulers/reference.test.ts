// The stateless schedulers against literal transcriptions of schedulers.md 2.3-2.9 (no early exits, no
// reordered tests, twos by subtraction), over random pools with weight 0, overloaded and tried servers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/core/clock.ts";
import { ctx, make, nameOf, options, seq32, srv, xorshift32, type FakeServer } from "./support.ts";

type Ex = ReadonlySet<FakeServer>;
const oh = (s: FakeServer) => s.active * 256 + s.inactive;
const ovl = (s: FakeServer, ex: Ex) => s.overloaded || ex.has(s);
const ok = (s: FakeServer, ex: Ex) => s.weight > 0 && !ovl(s, ex);

const reference: Record<string, (list: FakeServer[], ex: Ex, draws: [number, number]) => FakeServer | null> = {
  lc(list, ex) {
    let c: FakeServer | null = null;
    for (const s of list) if (ok(s, ex) && (c === null || oh(s) < oh(c))) c = s;
    return c;
  },
  wlc(list, ex) {
    const first = list.findIndex((s) => ok(s, ex));
    if (first < 0) return null;
    let c = list[first];
    for (const s of list.slice(first + 1)) if (!ovl(s, ex) && oh(c) * s.weight > oh(s) * c.weight) c = s;
    return c;
  },
  sed(list, ex) {
    const first = list.findIndex((s) => ok(s, ex));
    if (first < 0) return null;
    let c = list[first];
    for (const s of list.slice(first + 1)) {
      if (!ovl(s, ex) && (c.active + 1) * s.weight > (s.active + 1) * c.weight) c = s;
    }
    return c;
  },
  nq(list, ex) {
    const idle = list.find((s) => ok(s, ex) && s.active === 0);
    return idle ?? reference.sed(list, ex, [0, 0]);
  },
  fo(list, ex) {
    let c: FakeServer | null = null;
    for (const s of list) if (ok(s, ex) && (c === null || s.weight > c.weight)) c = s;
    return c;
  },
  ovf(list, ex) {
    let c: FakeServer | null = null;
    for (const s of list) if (ok(s, ex) && s.active <= s.weight && (c === null || s.weight > c.weight)) c = s;
    return c;
  },
  twos(list, ex, [d1, d2]) {
    const el = list.filter((s) => ok(s, ex));
    const total = el.reduce((a, s) => a + s.weight, 0);
    if (total === 0) return null;
    let r1 = d1 % (total + 1), r2 = d2 % (total + 1);
    let c1: FakeServer | null = null, c2: FakeServer | null = null;
    for (const s of el) {
      if (c1 === null) { r1 -= s.weight; if (r1 <= 0) c1 = s; }
      if (c2 === null) { r2 -= s.weight; if (r2 <= 0) c2 = s; }
    }
    if (c1 === null || c2 === null) throw new Error("unreachable");
    return c2.weight * oh(c1) > c1.weight * oh(c2) ? c2 : c1;
  },
};

for (const name of Object.keys(reference)) {
  test(`${name} agrees with the literal spec on 3000 random pools`, () => {
    const rnd = xorshift32(name.length * 7919 + name.charCodeAt(0));
    for (let k = 0; k < 3000; k++) {
      const n = 1 + (rnd() % 8);
      const list = Array.from({ length: n }, (_, i) => srv(`S${i}`, rnd() % 4 === 0 ? 0 : 1 + (rnd() % 6), {
        a: rnd() % 4 === 0 ? 0 : rnd() % 7, i: rnd() % 3 === 0 ? 0 : rnd() % 600, ovl: rnd() % 6 === 0,
      }));
      const ex = new Set(list.filter(() => rnd() % 7 === 0));
      const draws: [number, number] = [rnd(), rnd()];
      const s = make(name, list, [], options(new FakeClock(), seq32(draws)));
      const got = s.pick(ctx(null, 0, ex.size === 0 ? null : ex));
      const want = reference[name](list, ex, draws);
      assert.equal(nameOf(got), nameOf(want), `case ${k}: ${JSON.stringify(list.map(
        (x) => [x.weight, x.active, x.inactive, x.overloaded, ex.has(x)]))} draws ${draws}`);
    }
  });
}
