// Test support for scheduler tests: mutable fake servers, an UpstreamPlan fixture, and pick helpers.
import type { UpstreamPlan } from "../../../src/config/schema.ts";
import type { PickContext, Scheduler, SchedulerOptions } from "../../../src/schedulers/scheduler.ts";
import type { ServerView } from "../../../src/upstream/server.ts";
import { FakeClock, type Clock } from "../../../src/core/clock.ts";
import { getScheduler } from "../../../src/schedulers/index.ts";

/** A ServerView the test may change between picks. `name` is what sequences are written in. */
export interface FakeServer extends ServerView {
  readonly name: string;
  index: number;
  weight: number;
  lastWeight: number;
  active: number;
  inactive: number;
  overloaded: boolean;
  available: boolean;
}

/** "A w2 a1 i3 OVL" from schedulers.md section 6 notation, as options. */
export function srv(name: string, weight: number, o: { a?: number; i?: number; ovl?: boolean; lw?: number } = {}):
    FakeServer {
  return {
    name, index: 0, address: `10.9.0.${name.charCodeAt(0)}:80`, host: `10.9.0.${name.charCodeAt(0)}`, port: 80,
    weight, lastWeight: o.lw ?? weight, active: o.a ?? 0, inactive: o.i ?? 0, overloaded: o.ovl ?? false,
    available: true,
  };
}

export function plan(schedFlags: readonly string[] = [], scheduler = "wlc"): UpstreamPlan {
  return {
    name: "test", scheduler, schedFlags,
    health: {
      type: "none", intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, method: "GET", path: "/", host: null,
      expectLow: 200, expectHigh: 399, body: null, user: null, password: null, helo: "switchyard", port: null,
    },
    passive: { maxFails: 3, failTimeoutMs: 10_000 },
    retries: 2, slowStartMs: 0, sticky: null, persistence: null, inactiveLingerMs: 1000, connectTimeoutMs: 5000,
    servers: [], dnsServers: [], resolver: null, resolveIntervalMs: 5000, tls: null,
  };
}

/** A fixed-sequence uint32 source (cycles). */
export function seq32(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

/** xorshift32: deterministic randomness for tests and the bench. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function options(clock: Clock = new FakeClock(), random32: () => number = xorshift32(7)): SchedulerOptions {
  return { clock, random32 };
}

export function make(name: string, servers: readonly ServerView[], flags: readonly string[] = [],
    opts: SchedulerOptions = options()): Scheduler {
  const f = getScheduler(name);
  if (f === null) throw new Error(`no scheduler ${name}`);
  const s = f.create(plan(flags, name), opts);
  s.rebuild(servers);
  return s;
}

export function ctx(key: string | null = null, port = 0, exclude: ReadonlySet<ServerView> | null = null):
    PickContext {
  return { key, port, exclude };
}

/** Name of the picked server, or "none". */
export function nameOf(s: ServerView | null): string {
  return s === null ? "none" : (s as FakeServer).name;
}

/** n picks as a space-separated name list; with count, the winner's active += 1 after each pick. */
export function picks(s: Scheduler, n: number, count = false, c: PickContext = ctx()): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const p = s.pick(c);
    if (count && p !== null) (p as FakeServer).active++;
    out.push(nameOf(p));
  }
  return out.join(" ");
}
