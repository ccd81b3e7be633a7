// Every registered scheduler against the Scheduler contract (scheduler.ts, schedulers.md 1.3-1.5, 4.4):
// null when nothing is eligible, weight 0 / overloaded / tried servers never returned, determinism, total
// pick() with a null key, rebuild() replacing the list, close() leaving no timer. Runs each scheduler with no
// flags and with every flag set.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, type Clock, type TimerHandle } from "../../src/core/clock.ts";
import { schedulers } from "../../src/schedulers/index.ts";
import type { PickContext, Scheduler } from "../../src/schedulers/scheduler.ts";
import type { ServerView } from "../../src/upstream/server.ts";
import { ctx, options, plan, srv, xorshift32, type FakeServer } from "../unit/schedulers/support.ts";

/** Schedulers whose static tables may answer null for a key landing on an unusable server (1.5, 2.12-2.14). */
const HASHING = new Set(["sh", "dh", "mh"]);
const FLAG_SETS: readonly (readonly string[])[] = [[], ["sh-fallback", "sh-port", "mh-fallback", "mh-port"]];

function pool(n: number, seed: number): FakeServer[] {
  const rnd = xorshift32(seed);
  return Array.from({ length: n }, (_, i) => {
    const s = srv(`S${i}`, 1 + (rnd() % 5), { a: rnd() % 4, i: rnd() % 3 });
    return { ...s, host: `10.3.${i >> 8}.${i & 255}`, address: `10.3.${i >> 8}.${i & 255}:80` } as FakeServer;
  });
}

/** The unit contexts a test walks through: varied source IPs, destination strings, ports, and null. */
function contexts(count: number): PickContext[] {
  const out: PickContext[] = [];
  for (let i = 0; i < count; i++) {
    const key = i % 7 === 6 ? null : i % 2 === 0 ? `198.51.100.${i % 256}` : `site-${i % 37}.example/path`;
    out.push(ctx(key, 1024 + (i % 97)));
  }
  return out;
}

function create(name: keyof typeof schedulers, flags: readonly string[], clock: Clock = new FakeClock()): Scheduler {
  return schedulers[name].create(plan(flags, name), options(clock, xorshift32(99)));
}

for (const name of Object.keys(schedulers) as (keyof typeof schedulers)[]) {
  for (const flags of FLAG_SETS) {
    describe(`${name}${flags.length > 0 ? " (all flags)" : ""}`, () => {
      test("factory: name matches the registry key; defaultKey as config.md says", () => {
        const f = schedulers[name];
        assert.equal(f.name, name);
        const want = name === "sh" || name === "mh" ? "source"
          : name === "dh" || name === "lblc" || name === "lblcr" ? "destination" : null;
        assert.equal(f.defaultKey, want);
      });

      test("null before any rebuild, on an empty list, all weight 0, all overloaded, all tried", () => {
        const s = create(name, flags);
        const cs = contexts(40);
        for (const c of cs) assert.equal(s.pick(c), null, "no rebuild yet");
        s.rebuild([]);
        for (const c of cs) assert.equal(s.pick(c), null, "empty list");
        const list = pool(5, 1);
        for (const x of list) x.weight = 0; // lastWeight stays: mh keeps its table
        s.rebuild(list);
        for (const c of cs) assert.equal(s.pick(c), null, "all weight 0");
        for (const x of list) { x.weight = 3; x.overloaded = true; }
        s.rebuild(list);
        for (const c of cs) assert.equal(s.pick(c), null, "all overloaded");
        for (const x of list) x.overloaded = false;
        const all = new Set<ServerView>(list);
        for (const c of cs) assert.equal(s.pick({ ...c, exclude: all }), null, "all tried");
        s.close();
      });

      test("weight 0, overloaded and tried servers are never returned; others always get an answer", () => {
        const s = create(name, flags);
        const list = pool(12, 2);
        list[0].weight = 0;
        list[3].weight = 0;
        list[5].overloaded = true;
        list[8].overloaded = true;
        s.rebuild(list);
        const tried = new Set<ServerView>([list[1], list[6]]);
        let answered = 0;
        const open: FakeServer[] = []; // units in flight; the oldest finishes once 8 are open
        for (const c of contexts(300)) {
          for (const exclude of [null, tried]) {
            const p = s.pick({ ...c, exclude });
            if (p === null) {
              // hashing tables may land on an unusable server; ovf stops once every server has active > weight
              const overflowed = name === "ovf" &&
                list.every((x) => x.weight === 0 || x.overloaded || exclude?.has(x) || x.active > x.weight);
              assert.ok(HASHING.has(name) || overflowed, `${name} found nothing with usable servers`);
              continue;
            }
            answered++;
            assert.ok(list.includes(p as FakeServer), "a listed server");
            assert.ok(p.weight > 0, `weight 0 picked: ${(p as FakeServer).name}`);
            assert.equal(p.overloaded, false, `overloaded picked: ${(p as FakeServer).name}`);
            if (exclude !== null) assert.ok(!exclude.has(p), `tried server picked: ${(p as FakeServer).name}`);
            (p as FakeServer).active++;
            open.push(p as FakeServer);
            if (open.length > 8) (open.shift() as FakeServer).active--;
          }
        }
        assert.ok(answered > 300, `${answered} of 600 answered`);
        s.close();
      });

      test("deterministic: two instances fed the same sequence agree", () => {
        const run = (): string[] => {
          const clock = new FakeClock();
          const s = create(name, flags, clock);
          const list = pool(9, 3);
          s.rebuild(list);
          const out: string[] = [];
          contexts(200).forEach((c, i) => {
            const p = s.pick(c);
            out.push(p === null ? "-" : (p as FakeServer).name);
            if (p !== null) (p as FakeServer).active++;
            if (i % 3 === 0) list[i % 9].active = Math.max(0, list[i % 9].active - 1);
            if (i === 100) { list[2].weight = 0; s.rebuild(list); }
            clock.advance(1000);
          });
          s.close();
          return out;
        };
        assert.deepEqual(run(), run());
      });

      test("a null key never throws and answers like any other key", () => {
        const s = create(name, flags);
        s.rebuild(pool(4, 4));
        for (let i = 0; i < 10; i++) {
          const p = s.pick(ctx(null, i));
          if (!HASHING.has(name)) assert.notEqual(p, null);
        }
        s.close();
      });

      test("after rebuild() without a server it is never picked again", () => {
        const s = create(name, flags);
        const list = pool(6, 5);
        s.rebuild(list);
        const cs = contexts(120);
        for (const c of cs) s.pick(c);
        const gone = list[0];
        (gone as { available: boolean }).available = false; // the pool marks a removed server unlisted
        s.rebuild(list.slice(1));
        for (const c of cs) assert.notEqual(s.pick(c), gone);
        s.close();
      });

      test("close() leaves no live timer", () => {
        const inner = new FakeClock();
        let live = 0;
        const clock: Clock = {
          now: () => inner.now(),
          setTimeout(fn: () => void, ms: number): TimerHandle {
            live++;
            const h = inner.setTimeout(() => { live--; fn(); }, ms);
            return { cancel: () => { live--; h.cancel(); } };
          },
        };
        const s = create(name, flags, clock);
        s.rebuild(pool(3, 6));
        s.pick(ctx("203.0.113.1"));
        inner.advance(120_000);
        s.close();
        assert.equal(live, 0);
        assert.equal(s.pick(ctx("203.0.113.1")), null, "closed: nothing to pick from");
      });
    });
  }
}
