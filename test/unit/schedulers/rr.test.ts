// rr beyond the vectors: removals of several servers at once, weight edits, exclude.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ctx, make, nameOf, picks, srv } from "./support.ts";

test("removing the cursor's server and its predecessor moves the cursor to the nearest earlier survivor", () => {
  const [A, B, C, D, E] = ["A", "B", "C", "D", "E"].map((n) => srv(n, 1));
  const s = make("rr", [A, B, C, D, E]);
  assert.equal(picks(s, 4), "A B C D");
  s.rebuild([A, B, E]); // C and D gone: cursor to B
  assert.equal(picks(s, 3), "E A B");
});

test("removing the first server while it is the cursor restarts from the front", () => {
  const [A, B, C] = ["A", "B", "C"].map((n) => srv(n, 1));
  const s = make("rr", [A, B, C]);
  assert.equal(picks(s, 1), "A");
  s.rebuild([B, C]);
  assert.equal(picks(s, 3), "B C B");
});

test("weight edits do not move the cursor; a quiesced server is passed over", () => {
  const [A, B, C] = ["A", "B", "C"].map((n) => srv(n, 1));
  const s = make("rr", [A, B, C]);
  assert.equal(picks(s, 1), "A");
  B.weight = 0;
  s.rebuild([A, B, C]);
  assert.equal(picks(s, 3), "C A C");
});

test("exclude: a tried server is passed over for that call; the cursor lands on the one chosen", () => {
  const [A, B, C] = ["A", "B", "C"].map((n) => srv(n, 1));
  const s = make("rr", [A, B, C]);
  assert.equal(nameOf(s.pick(ctx(null, 0, new Set([A])))), "B");
  assert.equal(picks(s, 2), "C A");
});
