// HealthRunner with a FakeClock and scripted checks: jitter, no overlap, timeouts, rise/fall
// transitions logged once, and dedupe (the same server watched twice is probed once). One test
// runs real tcp probes against a net.Server to count the connections the server really sees.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { FakeClock } from "../../../src/core/clock.ts";
import type { HealthPlan } from "../../../src/config/schema.ts";
import type { HealthCheck, HealthCheckFactory, ProbeResult, ProbeTarget } from "../../../src/health/check.ts";
import { HealthRunner, reasonText, type HealthLog } from "../../../src/health/runner.ts";

function plan(over: Partial<HealthPlan> = {}): HealthPlan {
  return {
    type: "tcp", intervalMs: 1000, timeoutMs: 200, rise: 2, fall: 2, method: "GET", path: "/", host: null,
    expectLow: 200, expectHigh: 399, body: null, user: null, password: null, helo: "switchyard", port: null, ...over,
  };
}

interface Line { level: "info" | "warn"; obj: Record<string, unknown>; msg: string }
function sink(): HealthLog & { lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    info(obj, msg) { lines.push({ level: "info", obj: obj as Record<string, unknown>, msg }); },
    warn(obj, msg) { lines.push({ level: "warn", obj: obj as Record<string, unknown>, msg }); },
  };
}

const OK: ProbeResult = { ok: true, layer: "L4", code: null, ms: 1 };
const REFUSED: ProbeResult = { ok: false, layer: "L4", reason: "refused", code: "ECONNREFUSED", info: "connect refused", ms: 1 };
const STATUS_500: ProbeResult = { ok: false, layer: "L7", reason: "bad-status", code: "500", info: "status 500", ms: 3 };

/** A check whose answers the test sets; records every probe's target and start time. */
class Scripted implements HealthCheck {
  next: ProbeResult | "hang" | "ignore-abort" = OK;
  calls: { target: ProbeTarget; at: number }[] = [];
  readonly clock: FakeClock;
  constructor(clock: FakeClock) { this.clock = clock; }
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    this.calls.push({ target, at: this.clock.now() });
    const n = this.next;
    if (n === "hang") {
      return new Promise((resolve) => signal.addEventListener("abort", () =>
        resolve({ ok: false, layer: "L7", reason: "timeout", code: null, info: "timeout after 200 ms", ms: 200 })));
    }
    if (n === "ignore-abort") return new Promise(() => {});
    return Promise.resolve(n);
  }
}

function setup(random = () => 0.5) {
  const clock = new FakeClock();
  const log = sink();
  const check = new Scripted(clock);
  const created: HealthPlan[] = [];
  const factory: HealthCheckFactory = { type: "tcp", create: (p) => { created.push(p); return check; } };
  const runner = new HealthRunner(clock, log, { random, checks: (t) => (t === "none" ? null : factory) });
  return { clock, log, check, runner, created };
}

const target = { host: "127.0.0.1", port: 9001 };

test("runner: first probe at random within the interval, then every interval +-10%", async () => {
  const rnd = [0.25, 0, 0.999, 0.5];
  let i = 0;
  const { clock, check, runner } = setup(() => rnd[Math.min(i++, rnd.length - 1)]);
  runner.watch("p/a", target, plan(), () => {});
  clock.advance(249);
  assert.equal(check.calls.length, 0, "nothing before 0.25 * interval");
  clock.advance(1);
  await runner.settled();
  assert.deepEqual(check.calls.map((c) => c.at), [250]);
  clock.advance(900);                          // jitter factor 0.9 (random 0)
  await runner.settled();
  clock.advance(1100);                         // then ~1.1 (random 0.999)
  await runner.settled();
  assert.deepEqual(check.calls.map((c) => c.at), [250, 1150, 2250]);
  runner.close();
});

test("runner: the same server and plan watched twice (two pools) is probed once, verdict fanned out, logged once", async () => {
  const { clock, log, check, runner, created } = setup();
  const seen: string[] = [];
  runner.watch("poolA/127.0.0.1:9001", target, plan(), (up, _r, reason) => seen.push(`A ${up} ${reason}`));
  runner.watch("poolB/127.0.0.1:9001", target, plan(), (up, _r, reason) => seen.push(`B ${up} ${reason}`));
  assert.equal(runner.probeCount, 1);
  assert.equal(created.length, 1, "one check instance");
  check.next = STATUS_500;
  for (let k = 0; k < 3; k++) { clock.advance(1000); await runner.settled(); }
  assert.equal(check.calls.length, 3, "3 intervals = 3 probes, not 6");
  assert.deepEqual(seen, ["A false L7 status 500", "B false L7 status 500"]);
  const down = log.lines.filter((l) => l.level === "warn");
  assert.equal(down.length, 1, "one transition, one log line");
  assert.match(down[0].msg, /127\.0\.0\.1:9001 is DOWN: L7 status 500/);
  assert.equal(down[0].obj.code, "500");
  assert.equal(down[0].obj.ms, 3);
  assert.deepEqual(down[0].obj.watchers, ["poolA/127.0.0.1:9001", "poolB/127.0.0.1:9001"]);
  runner.close();
});

test("runner: a different plan (path) or port means a separate probe", () => {
  const { runner } = setup();
  runner.watch("a", target, plan({ type: "http", path: "/a" }), () => {});
  runner.watch("b", target, plan({ type: "http", path: "/b" }), () => {});
  runner.watch("c", target, plan({ type: "http", path: "/a", port: 9999 }), () => {});
  runner.watch("d", target, plan({ type: "http", path: "/a" }), () => {});
  assert.equal(runner.probeCount, 3);
  runner.close();
});

test("runner: plan.port is probed instead of the server's port", async () => {
  const { check, runner } = setup();
  runner.watch("a", target, plan({ port: 9999 }), () => {});
  await runner.runOnce("a");
  assert.deepEqual(check.calls[0].target, { host: "127.0.0.1", port: 9999 });
  runner.close();
});

test("runner: rise/fall transitions: down after fall failures, up after rise passes, logged once each", async () => {
  const { log, check, runner } = setup();
  const verdicts: boolean[] = [];
  runner.watch("a", target, plan({ rise: 3, fall: 2 }), (up) => verdicts.push(up));
  check.next = REFUSED;
  await runner.runOnce("a");
  assert.deepEqual(verdicts, [], "one failure of fall=2 is pending");
  await runner.runOnce("a");
  await runner.runOnce("a");
  await runner.runOnce("a");
  assert.deepEqual(verdicts, [false]);
  check.next = OK;
  await runner.runOnce("a");
  await runner.runOnce("a");
  assert.deepEqual(verdicts, [false], "2 of rise=3");
  await runner.runOnce("a");
  assert.deepEqual(verdicts, [false, true]);
  assert.deepEqual(log.lines.map((l) => `${l.level} ${l.msg}`), [
    "warn health check: 127.0.0.1:9001 is DOWN: L4 connect refused",
    "info health check: 127.0.0.1:9001 is UP: L4 ok",
  ]);
  assert.deepEqual(runner.status("a"), { up: true, last: OK, reason: "L4 ok", probes: 7 });
  runner.close();
});

test("runner: probes of one server never overlap; runOnce joins the probe in flight", async () => {
  const { clock, check, runner } = setup(() => 0);
  runner.watch("a", target, plan({ intervalMs: 100, timeoutMs: 500 }), () => {});
  check.next = "hang";
  const first = runner.runOnce("a");
  const second = runner.runOnce("a");
  assert.equal(first, second);
  clock.advance(0);                            // the scheduled first probe (random 0) joins too
  clock.advance(300);                          // past several intervals: still one probe
  assert.equal(check.calls.length, 1);
  clock.advance(200);                          // timeout 500 ms reached
  const r = await first;
  assert.equal(r?.ok, false);
  assert.equal(!r?.ok && r.reason, "timeout");
  await runner.settled();
  runner.close();
});

test("runner: a probe is aborted at timeoutMs, even when the check ignores its signal", async () => {
  const { clock, log, check, runner } = setup();
  runner.watch("a", target, plan({ timeoutMs: 200, fall: 1 }), () => {});
  check.next = "ignore-abort";
  const pending = runner.runOnce("a");
  clock.advance(199);
  let done = false;
  void pending.then(() => { done = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, "not before the timeout");
  clock.advance(1);
  const r = await pending;
  assert.ok(r !== null && !r.ok && r.reason === "timeout");
  assert.equal(reasonText(r), "timeout after 200 ms");
  assert.match(log.lines[0].msg, /DOWN: timeout after 200 ms/);
  runner.close();
});

test("runner: a watcher joining a server already down hears it at once; stop() ends probing", async () => {
  const { clock, check, runner } = setup();
  const a: boolean[] = [];
  const b: boolean[] = [];
  const wa = runner.watch("a", target, plan({ fall: 1 }), (up) => a.push(up));
  check.next = REFUSED;
  await runner.runOnce("a");
  assert.deepEqual(a, [false]);
  const wb = runner.watch("b", target, plan({ fall: 1 }), (up) => b.push(up));
  await Promise.resolve();
  assert.deepEqual(b, [false]);
  assert.equal(runner.probeCount, 1);
  wa.stop();
  assert.equal(runner.probeCount, 1, "b still watches");
  wb.stop();
  wb.stop();
  assert.equal(runner.probeCount, 0);
  const before = check.calls.length;
  clock.advance(10_000);
  await runner.settled();
  assert.equal(check.calls.length, before, "no probes after the last watcher stopped");
});

test("runner: re-watching a key with the same plan keeps the rise/fall state", async () => {
  const { check, runner } = setup();
  runner.watch("a", target, plan({ fall: 1 }), () => {});
  check.next = REFUSED;
  await runner.runOnce("a");
  const seen: boolean[] = [];
  runner.watch("a", target, plan({ fall: 1 }), (up) => seen.push(up));
  await Promise.resolve();
  assert.equal(runner.status("a")?.up, false);
  assert.deepEqual(seen, [false], "the new listener learns the server is down");
  assert.equal(runner.probeCount, 1);
  runner.close();
});

test("runner: type none watches nothing", async () => {
  const { clock, check, runner } = setup();
  const seen: boolean[] = [];
  const w = runner.watch("a", target, plan({ type: "none" }), (up) => seen.push(up));
  clock.advance(10_000);
  assert.equal(await runner.runOnce("a"), null);
  assert.equal(runner.status("a"), null);
  assert.equal(check.calls.length, 0);
  assert.equal(runner.probeCount, 0);
  w.stop();
  assert.deepEqual(seen, []);
});

test("runner: real tcp probes, two watchers of one server: the server sees one connection per round", async () => {
  let connections = 0;
  const server = net.createServer((s) => { connections++; s.end(); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const clock = new FakeClock();
  const runner = new HealthRunner(clock, sink());
  const verdicts: string[] = [];
  runner.watch("http-listener/pool", { host: "127.0.0.1", port }, plan({ fall: 1, rise: 1 }), (up) => verdicts.push(`1:${up}`));
  runner.watch("tcp-listener/pool", { host: "127.0.0.1", port }, plan({ fall: 1, rise: 1 }), (up) => verdicts.push(`2:${up}`));
  for (let i = 0; i < 3; i++) await runner.runAll();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(connections, 3);
  await new Promise<void>((r) => server.close(() => r()));
  const r = await runner.runOnce("tcp-listener/pool");
  assert.equal(r !== null && !r.ok && r.reason, "refused");
  assert.deepEqual(verdicts, ["1:false", "2:false"]);
  runner.close();
});
