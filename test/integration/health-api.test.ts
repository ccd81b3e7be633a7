// GET /api/upstreams against a live proxy (issue 4): what users see of each server's state, weight,
// work and failures; the reason of an HTTP check answered 500; slow start's ramp; state over reloads.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { freePort, sleep, startOrigin, waitFor, type Origin } from "../support/net.ts";
import {
  apiServer, burst, get, startChecked, tally, transitions, upstreams, waitTransition, type ApiServer, testScope,
} from "./failover-helpers.ts";

const { proxyFor, keep } = testScope();

function pick(s: ApiServer): Record<string, unknown> {
  return { state: s.state, weight: s.weight, effective_weight: s.effective_weight, backup: s.backup, active: s.active, total: s.total, failures: s.failures };
}

test("an HTTP check answered 500 takes the server down with reason L7 status 500, in the log and the API history", async () => {
  const a = keep(await startChecked("a"));
  const b = keep(await startChecked("b"));
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: rr
    health: { type: http, path: /healthz, interval: 100ms, timeout: 1000ms, rise: 2, fall: 2 }
    servers: [ { address: ${a.address} }, { address: ${b.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, routes: [ { upstream: web } ] }
`);
  assert.deepEqual(tally(await burst(base, 4)), { a: 2, b: 2 });
  const m = proxy.logs.length;
  b.health.status = 500;
  const down = await waitTransition(proxy, b.address, "down", m, 3000);
  assert.match(String(down.reason), /^L7 status 500 \(http check, \d+ ms\)$/);
  assert.equal(down.level, 40, "a down transition is a warning");
  assert.equal(transitions(proxy, b.address, m).length, 1, "logged once");

  let s = await apiServer(proxy, "web", b.address);
  assert.equal(s.state, "down");
  assert.deepEqual(s.causes, ["health-check"]);
  assert.equal(s.last_check, "L7 status 500");
  assert.equal(s.history.length, 1);
  assert.equal(s.history[0].state, "down");
  assert.match(s.history[0].reason, /^L7 status 500 /);
  assert.deepEqual(tally(await burst(base, 6)), { a: 6 }, "no work for the server that answers 500");

  // healthy again: up after rise passes, history keeps both transitions, newest last
  const m2 = proxy.logs.length;
  b.health.status = 204;
  const up = await waitTransition(proxy, b.address, "up", m2, 3000);
  assert.match(String(up.reason), /^L7 ok \(204\) /);
  s = await apiServer(proxy, "web", b.address);
  assert.deepEqual(s.history.map((h) => h.state), ["down", "up"]);
  assert.ok(s.history[1].at >= s.history[0].at);
  assert.deepEqual(s.causes, []);
  assert.deepEqual(tally(await burst(base, 4)), { a: 2, b: 2 });
});

test("a check that gets no answer: down after fall probes, each given up after timeout", async (t) => {
  const interval = 200, timeout = 150, fall = 3;
  const a = keep(await startChecked("a"));
  const b = keep(await startChecked("b"));
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: rr
    health: { type: http, path: /healthz, interval: ${interval}ms, timeout: ${timeout}ms, rise: 1, fall: ${fall} }
    servers: [ { address: ${a.address} }, { address: ${b.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, routes: [ { upstream: web } ] }
`);
  const m = proxy.logs.length;
  const t0 = Date.now();
  b.health.status = 0;
  const down = await waitTransition(proxy, b.address, "down", m, 3000);
  const after = Number(down.time) - t0;
  t.diagnostic(`hung check -> down after ${after} ms (interval ${interval}, timeout ${timeout}, fall ${fall})`);
  assert.match(String(down.reason), new RegExp(`^timeout after ${timeout} ms \\(http check, \\d+ ms\\)$`));
  assert.ok(after >= (fall - 1) * interval * 0.9 + timeout - 20, `down too early: ${after} ms`);
  assert.ok(after <= fall * interval * 1.1 + timeout + 600, `down too late: ${after} ms`);
  assert.equal((await apiServer(proxy, "web", b.address)).last_check, `timeout after ${timeout} ms`);
  // the check never blocked traffic: a still answers at once, b (whose /healthz hangs) gets nothing
  assert.deepEqual(tally(await burst(base, 4)), { a: 4 });
});

test("/api/upstreams counts work exactly: state, weight, active and total work, failures", async () => {
  let release: (() => void) | null = null;
  const a = keep(await startOrigin("a"));
  const b = keep(await startOrigin("b", (req, res, o) => {
    const answer = (): void => { res.writeHead(200, { "x-origin": o.name }); res.end(o.name); };
    if (req.url === "/hold") release = answer; else answer();
  }));
  const deadPort = await freePort();
  const dead = `127.0.0.1:${deadPort}`;
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: wrr
    health: { type: none }
    servers: [ { address: ${a.address}, weight: 3 }, { address: ${b.address}, weight: 1 } ]
  flaky:
    scheduler: rr
    health: { type: none }
    passive: { max_fails: 100, fail_timeout: 10s }
    retries: 1
    servers: [ { address: ${dead} }, { address: ${a.address} }, { address: ${b.address}, backup: true } ]
listeners:
  - name: public
    protocol: http
    listen: 127.0.0.1:${listen}
    timeouts: { connect: 500ms }
    routes: [ { match: { path_prefix: /flaky }, upstream: flaky }, { upstream: web } ]
`);
  const before = await upstreams(proxy);
  assert.deepEqual(before.map((p) => [p.name, p.scheduler]), [["web", "wrr"], ["flaky", "rr"]]);
  assert.deepEqual(pick(before[0].servers[0]), { state: "up", weight: 3, effective_weight: 3, backup: false, active: 0, total: 0, failures: 0 });
  assert.equal(before[1].servers[2].backup, true);

  const n = 40;
  const r = await burst(base, n);
  assert.deepEqual(tally(r), { a: 30, b: 10 });
  let web = (await upstreams(proxy))[0];
  assert.deepEqual(web.servers.map(pick), [
    { state: "up", weight: 3, effective_weight: 3, backup: false, active: 0, total: 30, failures: 0 },
    { state: "up", weight: 1, effective_weight: 1, backup: false, active: 0, total: 10, failures: 0 },
  ]);

  // one request held at b: active 1 while it is in flight, 0 once answered
  // wrr sends 3 of 4 to a: ask until one /hold lands on b (bounded), counting the asks
  let asks = 0;
  const held = (async () => { for (let i = 0; i < 4; i++) { asks++; const x = await get(base, "/hold"); if (x.origin === "b") return x; } return null; })();
  assert.ok(await waitFor(() => release !== null, 3000), "a /hold request reached b");
  web = (await upstreams(proxy))[0];
  assert.deepEqual(web.servers.map((s) => s.active), [0, 1]);
  (release as unknown as () => void)();
  assert.equal((await held)?.status, 200);
  web = (await upstreams(proxy))[0];
  assert.deepEqual(web.servers.map((s) => s.active), [0, 0]);
  assert.deepEqual(web.servers.map((s) => s.total), [30 + asks - 1, 11], "every unit counted once");

  // flaky: rr over [dead, a]; the retry on a moves rr's cursor to a, so every request tries dead
  // first, fails to connect once, and is retried on a (passive ejection is far off: max_fails 100)
  const f = await burst(base, 10, "/flaky");
  assert.deepEqual(tally(f), { a: 10 });
  const flaky = (await upstreams(proxy))[1];
  assert.deepEqual(flaky.servers.map(pick), [
    { state: "up", weight: 1, effective_weight: 1, backup: false, active: 0, total: 10, failures: 10 },
    { state: "up", weight: 1, effective_weight: 1, backup: false, active: 0, total: 10, failures: 0 },
    { state: "up", weight: 1, effective_weight: 1, backup: true, active: 0, total: 0, failures: 0 },
  ]);
  assert.equal(flaky.retries, 10);
  assert.equal(flaky.refusals, 0);
});

test("slow_start: a returning server's effective weight ramps from 1 and its share of traffic grows", async (t) => {
  const slowStart = 2000;
  const a = keep(await startChecked("a"));
  let b = await startChecked("b");
  const bPort = b.port;
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: wrr
    health: { type: http, path: /healthz, interval: 100ms, timeout: 1000ms, rise: 1, fall: 1 }
    passive: false
    slow_start: ${slowStart}ms
    servers: [ { address: ${a.address}, weight: 10 }, { address: ${b.address}, weight: 10 } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, timeouts: { connect: 500ms }, routes: [ { upstream: web } ] }
`);
  try {
    // at start nothing ramps: both take their full weight
    let s = await apiServer(proxy, "web", b.address);
    assert.equal(s.effective_weight, 10);
    assert.deepEqual(tally(await burst(base, 20)), { a: 10, b: 10 });

    const m = proxy.logs.length;
    await b.close();
    await waitTransition(proxy, b.address, "down", m, 3000);
    b = await startChecked("b", bPort);
    const up = await waitTransition(proxy, b.address, "up", m, 3000);
    const tUp = Number(up.time);

    // sample the API and a burst of traffic until the ramp is over (bounded: 40 rounds)
    const rounds: { at: number; weight: number; configured: number; b: number; n: number }[] = [];
    for (let i = 0; i < 40 && Date.now() - tUp < slowStart + 500; i++) {
      s = await apiServer(proxy, "web", b.address);
      const at = Date.now() - tUp;
      const r = await burst(base, 11);
      rounds.push({ at, weight: s.effective_weight, configured: s.weight, b: r.filter((x) => x.origin === "b").length, n: r.length });
      await sleep(60);
    }
    t.diagnostic(`ramp (ms after up: effective weight, b's share of 11): ${rounds.map((r) => `${r.at}:${r.weight},${r.b}`).join(" ")}`);
    const weights = rounds.map((r) => r.weight);
    assert.ok(weights[0] <= 3, `starts low: ${weights[0]}`);
    for (let i = 1; i < weights.length; i++) assert.ok(weights[i] >= weights[i - 1], `never falls back: ${weights.join(",")}`);
    assert.equal(weights[weights.length - 1], 10, "full weight after slow_start");
    assert.ok(new Set(weights).size >= 5, `ramps in steps: ${weights.join(",")}`);
    assert.ok(rounds.every((r) => r.configured === 10), "the configured weight is untouched");
    // the weight follows the clock: tenths of slow_start, step k from k/10 of the ramp
    for (const r of rounds) if (r.at < slowStart - 150) assert.ok(r.weight <= Math.floor((r.at + 150) * 10 / slowStart) + 1, `weight ${r.weight} at ${r.at} ms`);

    const share = (rs: typeof rounds): number => rs.reduce((x, r) => x + r.b, 0) / rs.reduce((x, r) => x + r.n, 0);
    const early = share(rounds.filter((r) => r.at < slowStart * 0.3));
    const late = share(rounds.filter((r) => r.weight === 10));
    t.diagnostic(`b's share: first 30% of the ramp ${early.toFixed(2)}, at full weight ${late.toFixed(2)}`);
    assert.ok(early <= 0.25, `early share ${early}`);
    assert.ok(late >= 0.4, `late share ${late}`);
  } finally {
    await b.close();
  }
});

test("reload: a down server stays down with the same check; a changed or removed check starts it up", async () => {
  const a = keep(await startChecked("a"));
  const b = keep(await startChecked("b"));
  const listen = await freePort();
  const conf = (health: string): string => `
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: rr
    health: ${health}
    servers: [ { address: ${a.address} }, { address: ${b.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, routes: [ { upstream: web } ] }
`;
  const slow = "{ type: http, path: /healthz, interval: 100ms, timeout: 1000ms, rise: 20, fall: 1 }";
  const { proxy, base } = await proxyFor(conf(slow));
  b.health.status = 503;
  await waitTransition(proxy, b.address, "down", 0, 3000);

  // same plan: the state and the probe carry over
  assert.equal((await proxy.reload(conf(slow))).ok, true);
  await sleep(300);
  assert.equal((await apiServer(proxy, "web", b.address)).state, "down");

  // healthy now, but rise 20 x 100 ms is far off; a reload with another check plan starts a fresh
  // check, which (like any new check) starts up: the server must not stay down forever
  b.health.status = 200;
  const m = proxy.logs.length;
  assert.equal((await proxy.reload(conf("{ type: http, path: /healthz, interval: 150ms, timeout: 1000ms, rise: 2, fall: 2 }"))).ok, true);
  const up = await waitTransition(proxy, b.address, "up", m, 1500);
  assert.match(String(up.reason), /check changed/);
  assert.deepEqual(tally(await burst(base, 4)), { a: 2, b: 2 });

  // down again, then the check is removed: nothing will ever probe it, so it is up at once
  b.health.status = 500;
  await waitTransition(proxy, b.address, "down", m, 3000);
  const m2 = proxy.logs.length;
  assert.equal((await proxy.reload(conf("{ type: none }"))).ok, true);
  const up2 = await waitTransition(proxy, b.address, "up", m2, 500);
  assert.match(String(up2.reason), /check removed/);
  assert.deepEqual((await apiServer(proxy, "web", b.address)).causes, []);
});
