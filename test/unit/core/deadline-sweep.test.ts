// DeadlineSweep (src/core/deadline-sweep.ts): the one coarse timer behind the HTTP engine's header,
// keep-alive, linger, connect and upstream-idle deadlines. Items come and go in any order (swap with
// the last slot); each passed deadline fires once, including when an expiring item ends others.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { DeadlineSweep, type Expiring } from "../../../src/core/deadline-sweep.ts";

class Item implements Expiring {
  deadline = 0;
  sweepSlot = -1;
  fired = 0;
  readonly name: number;
  onExpire: ((now: number) => void) | null = null;
  constructor(name: number) { this.name = name; }
  expired(now: number): void {
    this.fired++;
    this.deadline = 0;
    this.onExpire?.(now);
  }
}

test("every passed deadline fires once; deleted and not-yet-due items do not fire", async () => {
  const sweep = new DeadlineSweep<Item>(10);
  const items = Array.from({ length: 40 }, (_, i) => new Item(i));
  const now = performance.now();
  for (const x of items) { sweep.add(x); sweep.add(x); } // a second add is a no-op
  assert.equal(sweep.size, 40);
  // delete from the middle, the front and the end: the slots left are filled by the last items
  for (const i of [17, 0, 39, 5, 22]) sweep.delete(items[i]);
  sweep.delete(items[17]); // twice: a no-op
  assert.equal(sweep.size, 35);
  for (const x of items) x.deadline = x.name % 2 === 0 ? now + 1 : now + 60_000;
  await sleep(60);
  for (const x of items) {
    const deleted = [17, 0, 39, 5, 22].includes(x.name);
    assert.equal(x.fired, !deleted && x.name % 2 === 0 ? 1 : 0, `item ${x.name}`);
  }
  for (const x of items) sweep.delete(x);
  assert.equal(sweep.size, 0);
});

test("an expiring item that ends several others (as a closing connection does) leaves no one skipped or fired twice", async () => {
  const sweep = new DeadlineSweep<Item>(10);
  const items = Array.from({ length: 30 }, (_, i) => new Item(i));
  for (const x of items) sweep.add(x);
  const now = performance.now();
  for (const x of items) x.deadline = now + 1;
  // the last-added item, visited first, deletes itself and the ten items after the first
  items[29].onExpire = () => { for (let i = 1; i <= 10; i++) sweep.delete(items[i]); sweep.delete(items[29]); };
  // item 15 deletes itself and item 0 (a slot not yet visited)
  items[15].onExpire = () => { sweep.delete(items[0]); sweep.delete(items[15]); };
  await sleep(60);
  for (const x of items) {
    // items 1-10 were ended by item 29 and item 0 by item 15 before their turn; every other one fired once
    const expect = x.name <= 10 ? 0 : 1;
    assert.equal(x.fired, expect, `item ${x.name}`);
  }
  assert.equal(sweep.size, 30 - 10 - 3); // 1-10, and 29, 15 and 0 deleted
  // items added again after being deleted are tracked again
  for (const x of items) sweep.delete(x);
  sweep.add(items[3]);
  items[3].deadline = performance.now() + 1;
  await sleep(40);
  assert.equal(items[3].fired, 1); // ended unfired above, due now
  sweep.delete(items[3]);
  assert.equal(sweep.size, 0);
});
