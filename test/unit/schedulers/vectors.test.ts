// schedulers.md section 6, vectors T1-T23, one test each (tables where the vector is a table).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/core/clock.ts";
import { Server } from "../../../src/upstream/server.ts";
import { buildShTable } from "../../../src/schedulers/sh.ts";
import { createMh, populateMaglev } from "../../../src/schedulers/mh.ts";
import { createLblcr } from "../../../src/schedulers/lblcr.ts";
import { afterCount, afterRelease } from "../../../src/schedulers/thresholds.ts";
import { ctx, make, nameOf, options, picks, plan, seq32, srv, type FakeServer } from "./support.ts";

const HOUR = 3600_000;

describe("rr", () => {
  test("T1 skips weight 0 and overloaded servers", () => {
    const s = make("rr", [srv("A", 1), srv("B", 0), srv("C", 1), srv("D", 1, { ovl: true })]);
    assert.equal(picks(s, 5), "A C A C A");
  });

  test("T2 removing the cursor's server continues with the one that followed it", () => {
    const [A, B, C] = [srv("A", 1), srv("B", 1), srv("C", 1)];
    const s = make("rr", [A, B, C]);
    assert.equal(picks(s, 2), "A B");
    s.rebuild([A, C]);
    assert.equal(picks(s, 3), "C A C");
  });

  test("T3 a runtime add at the front gets its turn when the walk wraps", () => {
    const [A, B, C, D] = [srv("A", 1), srv("B", 1), srv("C", 1), srv("D", 1)];
    const s = make("rr", [A, B, C]);
    assert.equal(picks(s, 2), "A B");
    s.rebuild([D, A, B, C]);
    assert.equal(picks(s, 4), "C D A B");
  });
});

describe("wrr", () => {
  test("T4 worked example: bursty cycle A A B A B C A B C, repeated exactly", () => {
    const s = make("wrr", [srv("A", 4), srv("B", 3), srv("C", 2)]);
    assert.equal(picks(s, 9), "A A B A B C A B C");
    assert.equal(picks(s, 9), "A A B A B C A B C");
  });

  test("T5 gcd: weights 6 4 2 pass at cw 5, 3, 1", () => {
    const s = make("wrr", [srv("A", 6), srv("B", 4), srv("C", 2)]);
    assert.equal(picks(s, 12), "A A B A B C A A B A B C");
  });

  test("T6 raising a weight mid-cycle restarts from the front at cw 3", () => {
    const [A, B, C] = [srv("A", 4), srv("B", 3), srv("C", 2)];
    const s = make("wrr", [A, B, C]);
    assert.equal(picks(s, 4), "A A B A");
    B.weight = 6;
    s.rebuild([A, B, C]);
    assert.equal(picks(s, 12), "A B A B C B A B A B C B");
  });

  test("T7 quiescing a server keeps cw and restarts the walk", () => {
    const [A, B, C] = [srv("A", 4), srv("B", 3), srv("C", 2)];
    const s = make("wrr", [A, B, C]);
    assert.equal(picks(s, 5), "A A B A B");
    C.weight = 0;
    s.rebuild([A, B, C]);
    assert.equal(picks(s, 14), "A B A B A A B A B A B A A B");
  });

  test("T8 an overloaded server is skipped", () => {
    const s = make("wrr", [srv("A", 4), srv("B", 3, { ovl: true }), srv("C", 2)]);
    assert.equal(picks(s, 6), "A A A C A C");
  });

  test("T9 an add at the front resets the cursor, cw stays", () => {
    const [A, B, C, D] = [srv("A", 4), srv("B", 3), srv("C", 2), srv("D", 3)];
    const s = make("wrr", [A, B, C]);
    assert.equal(picks(s, 3), "A A B");
    s.rebuild([D, A, B, C]);
    assert.equal(picks(s, 14), "D A B D A B C D A B C A D A");
  });
});

describe("least-connection family", () => {
  test("T10 wlc on an idle pool: ties go to the earliest whatever the weights", () => {
    const s = make("wlc", [srv("A", 1), srv("B", 100)]);
    const expected = ["A", ...Array<string>(100).fill("B"), "A", "B"].join(" ");
    assert.equal(picks(s, 103, true), expected);
  });

  test("T11 wlc cross-multiplies: 171*3 > 256*2 picks A", () => {
    const s = make("wlc", [srv("B", 2, { i: 171 }), srv("A", 3, { a: 1 })]);
    assert.equal(nameOf(s.pick(ctx())), "A");
  });

  const t12 = [
    ["lc", "C"], ["wlc", "C"], ["sed", "B"], ["nq", "A"], ["fo", "B"], ["ovf", "B"],
  ] as const;
  for (const [name, want] of t12) {
    test(`T12 one pool, ${name} -> ${want}`, () => {
      const s = make(name, [srv("A", 1, { i: 50 }), srv("B", 4, { a: 1 }), srv("C", 1)]);
      assert.equal(nameOf(s.pick(ctx())), want);
    });
  }

  for (const [name, want] of [["sed", "B"], ["wlc", "A"]] as const) {
    test(`T13 idle pool A w1, B w100: ${name} -> ${want}`, () => {
      assert.equal(nameOf(make(name, [srv("A", 1), srv("B", 100)]).pick(ctx())), want);
    });
  }

  test("T14 nq: the first idle server wins regardless of weight and inactive", () => {
    const s = make("nq", [srv("A", 1, { a: 2 }), srv("B", 5, { a: 3 }), srv("C", 1, { i: 9 })]);
    assert.equal(nameOf(s.pick(ctx())), "C");
  });

  test("T15 fo takes the heaviest eligible; ovf is eligible up to active == weight", () => {
    const f = make("fo", [srv("A", 5, { ovl: true }), srv("B", 3), srv("C", 3), srv("D", 0)]);
    assert.equal(nameOf(f.pick(ctx())), "B");
    const A = srv("A", 2, { a: 2 });
    const o = make("ovf", [A, srv("B", 2), srv("C", 5, { a: 6 })]);
    assert.equal(nameOf(o.pick(ctx())), "A");
    A.active = 3;
    assert.equal(nameOf(o.pick(ctx())), "B");
  });
});

describe("twos", () => {
  const t16 = [
    { draws: [0, 5], cActive: 0, want: "C" },
    { draws: [3, 3], cActive: 0, want: "B" },
    { draws: [0, 5], cActive: 2, want: "C" },
    // the draws are reduced mod total + 1 = 7: 7 -> 0 and 12 -> 5 give the first case again
    { draws: [7, 12], cActive: 0, want: "C" },
  ];
  for (const { draws, cActive, want } of t16) {
    test(`T16 draws ${draws.join(",")} with C a${cActive} -> ${want}`, () => {
      const s = make("twos", [srv("A", 1, { a: 1 }), srv("B", 2), srv("C", 3, { a: cActive })], [],
        options(new FakeClock(), seq32(draws)));
      assert.equal(nameOf(s.pick(ctx())), want);
    });
  }
});

describe("mh", () => {
  const A = { offset: 3, skip: 4, turns: 1 };
  const B = { offset: 0, skip: 2, turns: 1 };
  const C = { offset: 3, skip: 1, turns: 2 };

  test("T17 population with table size 7 and injected parameters", () => {
    assert.deepEqual([...populateMaglev(7, [A, B, C])], [1, 0, 1, 0, 2, 2, 2]); // B A B A C C C
    assert.deepEqual([...populateMaglev(7, [A, B])], [1, 0, 1, 0, 0, 0, 1]);    // B A B A A A B
  });

  test("T17 through the scheduler: removing C keeps slots 0-3", () => {
    const sA = srv("A", 1), sB = srv("B", 1), sC = srv("C", 1);
    const byName: Record<string, typeof A> = { A, B, C };
    const s = createMh(plan([], "mh"), options(), {
      tableSize: 7,
      params: (server) => byName[(server as FakeServer).name],
    });
    s.rebuild([sA, sB, sC]);
    const names = (list: FakeServer[]) => [...s.slots].map((i) => list[i].name).join(" ");
    assert.equal(names([sA, sB, sC]), "B A B A C C C");
    s.rebuild([sA, sB]);
    assert.equal(names([sA, sB]), "B A B A A A B");
  });
});

describe("sh", () => {
  const servers = () => [srv("A", 2), srv("B", 1), srv("C", 0)];

  test("T18 table repeats A A B C: a quiesced server still owns a quarter", () => {
    const t = buildShTable(servers()).map((x) => (x as FakeServer).name);
    assert.equal(t.slice(0, 8).join(""), "AABCAABC");
    assert.deepEqual([t.filter((n) => n === "A").length, t.filter((n) => n === "B").length,
      t.filter((n) => n === "C").length], [128, 64, 64]);
  });

  const t18 = [
    { key: "10.0.0.2", port: 0, flags: [], want: "A" },
    { key: "10.0.0.5", port: 0, flags: [], want: "B" },
    { key: "10.0.0.1", port: 0, flags: [], want: "none" },
    { key: "10.0.0.1", port: 0, flags: ["sh-fallback"], want: "B" },
    { key: "10.0.1.1", port: 0, flags: [], want: "A" },
    { key: "10.0.0.1", port: 1001, flags: ["sh-port"], want: "A" },
    { key: "10.0.0.1", port: 1002, flags: ["sh-port"], want: "B" },
    // without sh-port the port is ignored
    { key: "10.0.0.1", port: 1001, flags: [], want: "none" },
    // dual-stack peers hash as IPv4
    { key: "::ffff:10.0.0.2", port: 0, flags: [], want: "A" },
  ];
  for (const { key, port, flags, want } of t18) {
    test(`T18 ${key} port ${port} [${flags.join(",")}] -> ${want}`, () => {
      assert.equal(nameOf(make("sh", servers(), flags).pick(ctx(key, port))), want);
    });
  }

  const t19 = [
    { weights: [200, 100], want: [200, 56] },
    { weights: [3, 2], want: [154, 102] },
  ];
  for (const { weights, want } of t19) {
    test(`T19 weights ${weights.join(":")} own ${want.join(" and ")} buckets`, () => {
      const list = weights.map((w, i) => srv(String.fromCharCode(65 + i), w));
      const t = buildShTable(list);
      assert.deepEqual(list.map((x) => t.filter((y) => y === x).length), want);
    });
  }

  test("T19 A w3, B w2: pattern A A A B B", () => {
    const t = buildShTable([srv("A", 3), srv("B", 2)]).map((x) => (x as FakeServer).name);
    assert.equal(t.slice(0, 10).join(""), "AAABBAAABB");
    assert.equal(t[255], "A"); // 51 full rounds plus one A
  });
});

describe("dh", () => {
  const t20 = [
    ["192.168.1.10", "C"], ["1.2.3.4", "B"], ["10.0.0.7", "A"], ["192.168.1.7", "B"],
  ] as const;
  for (const [key, want] of t20) {
    test(`T20 weights ignored: ${key} -> ${want}`, () => {
      assert.equal(nameOf(make("dh", [srv("A", 1), srv("B", 5), srv("C", 1)]).pick(ctx(key))), want);
    });
  }
});

describe("lblc", () => {
  test("T21 half-load rule", () => {
    const A = srv("A", 2), B = srv("B", 2);
    const s = make("lblc", [A, B]);
    const steps: [number, number, string][] = [
      [0, 0, "A"], // (1) idle: wlc, cache K -> A
      [3, 1, "A"], // (2) A above weight but nobody under half load
      [3, 0, "B"], // (3) B under half: reschedule, cache K -> B
      [0, 0, "B"], // (4) cached (wlc alone would say A)
      [0, 3, "A"], // (5) B overloaded, A under half
    ];
    for (const [a, b, want] of steps) {
      A.active = a;
      B.active = b;
      assert.equal(nameOf(s.pick(ctx("K"))), want, `A a${a}, B a${b}`);
    }
  });
});

describe("lblcr", () => {
  test("T22 replication, then the set maximum is dropped after 24 h without a set change", () => {
    const clock = new FakeClock();
    const A = srv("A", 4), B = srv("B", 4);
    const s = createLblcr(plan([], "lblcr"), options(clock));
    s.rebuild([A, B]);
    const K = ctx("K");
    assert.equal(nameOf(s.pick(K)), "A");
    assert.deepEqual(s.setOf("K")?.map(nameOf), ["A"]);
    A.active = 5;
    B.active = 1;
    clock.advance(1000);
    assert.equal(nameOf(s.pick(K)), "B");
    assert.deepEqual(s.setOf("K")?.map(nameOf), ["B", "A"]);
    B.active = 2;
    // used every hour (so housekeeping keeps the entry), the set unchanged for 24 h
    for (let h = 1; h <= 24; h++) {
      clock.advance(HOUR);
      assert.equal(nameOf(s.pick(K)), "B");
      assert.deepEqual(s.setOf("K")?.map(nameOf), ["B", "A"], `hour ${h}: not yet (now == lastMod + 24 h)`);
    }
    clock.advance(1);
    assert.equal(nameOf(s.pick(K)), "B");
    assert.deepEqual(s.setOf("K")?.map(nameOf), ["B"]);
    s.close();
  });
});

describe("thresholds", () => {
  test("T23 upper 4 with wlc: A takes 4, then only B; the flag clears below three quarters", () => {
    const A = new Server("10.0.0.1:80", "10.0.0.1", 80, 1, 4, false);
    const B = new Server("10.0.0.2:80", "10.0.0.2", 80, 1, 0, false);
    const s = make("wlc", [A, B]);
    const seq: string[] = [];
    for (let k = 0; k < 9; k++) {
      const p = s.pick(ctx());
      assert.ok(p instanceof Server);
      p.active++;
      afterCount(p);
      seq.push(p === A ? "A" : "B");
    }
    assert.equal(seq.join(" "), "A B A B A B A B B");
    assert.equal(A.thresholdOverloaded, true);
    A.active--;
    afterRelease(A);
    assert.equal(A.thresholdOverloaded, true, "total 3: 12 < 12 is false");
    A.active--;
    afterRelease(A);
    assert.equal(A.thresholdOverloaded, false, "total 2: 8 < 12");
    assert.equal(s.pick(ctx()), A);
  });

  for (const [lower, clearsAt] of [[3, 2], [1, 0]] as const) {
    test(`T23 with lower ${lower} the flag clears at total ${clearsAt}`, () => {
      const st = { active: 4, upper: 4, lower, thresholdOverloaded: false };
      afterCount(st);
      assert.equal(st.thresholdOverloaded, true);
      for (let total = 3; total >= 0; total--) {
        st.active = total;
        afterRelease(st);
        assert.equal(st.thresholdOverloaded, total > clearsAt, `total ${total}`);
      }
    });
  }
});
