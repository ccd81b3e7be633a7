// RiseFall: a server starts up, goes down after `fall` consecutive failures, comes back after
// `rise` consecutive passes; a probe that agrees with the state resets a run in progress.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RiseFall, type RiseFallStep } from "../../../src/health/rise-fall.ts";

interface Case {
  readonly name: string;
  readonly rise: number;
  readonly fall: number;
  /** probe outcomes, "+" pass, "-" fail */
  readonly probes: string;
  readonly steps: readonly RiseFallStep[];
  /** state after each probe, "U" up, "D" down */
  readonly states: string;
}

const u = "unchanged", c = "changed", p = "pending";

const cases: readonly Case[] = [
  { name: "starts up; passes change nothing", rise: 2, fall: 3, probes: "+++", steps: [u, u, u], states: "UUU" },
  { name: "fall=3: the third consecutive failure takes it down", rise: 2, fall: 3, probes: "---", steps: [p, p, c], states: "UUD" },
  { name: "a pass in between resets the failure run", rise: 2, fall: 3, probes: "--+---", steps: [p, p, u, p, p, c], states: "UUUUUD" },
  { name: "rise=2: two passes bring it back", rise: 2, fall: 1, probes: "-++", steps: [c, p, c], states: "DDU" },
  { name: "a failure while down resets the pass run", rise: 2, fall: 1, probes: "-+-++", steps: [c, p, u, p, c], states: "DDDDU" },
  { name: "rise=1 fall=1 flips on every disagreement", rise: 1, fall: 1, probes: "-+-+", steps: [c, c, c, c], states: "DUDU" },
  { name: "further failures while down are unchanged", rise: 3, fall: 2, probes: "-----", steps: [p, c, u, u, u], states: "UDDDD" },
  { name: "rise and fall below 1 count as 1", rise: 0, fall: -5, probes: "-+", steps: [c, c], states: "DU" },
];

for (const k of cases) {
  test(`rise-fall: ${k.name}`, () => {
    const rf = new RiseFall(k.rise, k.fall);
    assert.equal(rf.up, true, "a new server starts up");
    const steps: RiseFallStep[] = [];
    let states = "";
    for (const ch of k.probes) {
      steps.push(rf.record(ch === "+"));
      states += rf.up ? "U" : "D";
    }
    assert.deepEqual(steps, k.steps);
    assert.equal(states, k.states);
  });
}

test("rise-fall: streak counts the disagreeing run and is 0 after a change", () => {
  const rf = new RiseFall(2, 3);
  rf.record(false);
  rf.record(false);
  assert.equal(rf.streak, 2);
  rf.record(false);
  assert.equal(rf.up, false);
  assert.equal(rf.streak, 0);
});
