// Failover end to end (issue 4): real HTTP origins on loopback killed and restarted under a client
// that never stops asking; backups; passive ejection and its trial; retries across servers.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { request } from "undici";
import { freePort, sleep, startOrigin, waitFor, type Origin } from "../support/net.ts";
import {
  agent, apiServer, burst, get, RequestLoop, startChecked, tally, transitions, upstreams, waitTransition, type Sample, testScope,
} from "./failover-helpers.ts";

const { proxyFor, keep } = testScope();

function logTime(l: Record<string, unknown>): number {
  return typeof l.time === "number" ? l.time : Number.NaN;
}

test("a killed server is marked down after fall x interval, comes back after rise x interval, and GETs never fail", async (t) => {
  const interval = 200, timeout = 500, rise = 2, fall = 2;
  const a = keep(await startChecked("a"));
  let b = await startChecked("b");
  const bPort = b.port;
  const listen = await freePort();
  // passive off: this test measures the active check alone
  const { proxy, base } = await proxyFor(`
log: { level: info }
upstreams:
  web:
    scheduler: rr
    health: { type: http, path: /healthz, interval: ${interval}ms, timeout: ${timeout}ms, rise: ${rise}, fall: ${fall} }
    passive: false
    retries: 1
    servers: [ { address: ${a.address} }, { address: ${b.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, timeouts: { connect: 500ms }, routes: [ { upstream: web } ] }
`);
  // three clients, each one GET at a time, for the whole episode (bounded: 3 x 3000 requests, 15 s)
  const loops = [0, 1, 2].map(() => new RequestLoop(base, { gapMs: 5, maxRequests: 3000, maxMs: 15_000 }));
  const samples = (): Sample[] => loops.flatMap((l) => l.samples);
  const since = (at: number): Sample[] => samples().filter((x) => x.at > at);
  try {
    assert.ok(await waitFor(() => samples().some((s) => s.origin === "b") && samples().some((s) => s.origin === "a"), 3000), "both serve at first");

    // kill b (listener closed, every connection to it dropped)
    const mark = proxy.logs.length;
    const tKill = Date.now();
    await b.close();
    const down = await waitTransition(proxy, b.address, "down", mark, 5000);
    const downAfter = logTime(down) - tKill;
    // fall probes: the first within one interval of the kill, the next one interval (+-10%) later
    assert.ok(downAfter >= (fall - 1) * interval * 0.9 - 20, `down too early: ${downAfter} ms`);
    assert.ok(downAfter <= fall * interval * 1.1 + timeout + 400, `down too late: ${downAfter} ms`);
    assert.match(String(down.reason), /^L4 connect refused \(http check, \d+ ms\)$/);
    assert.equal(transitions(proxy, b.address, mark).length, 1, "one line per transition");

    // traffic has moved: after the down line, only a answers
    const tDown = logTime(down);
    await sleep(400);
    const whileDown = since(tDown + 20);
    assert.ok(whileDown.length >= 10, `requests while down: ${whileDown.length}`);
    assert.deepEqual(tally(whileDown), { a: whileDown.length });

    // restart b on the same port
    const mark2 = proxy.logs.length;
    const tStart = Date.now();
    b = await startChecked("b", bPort);
    const up = await waitTransition(proxy, b.address, "up", mark2, 5000);
    const upAfter = logTime(up) - tStart;
    assert.ok(upAfter >= (rise - 1) * interval * 0.9 - 20, `up too early: ${upAfter} ms`);
    assert.ok(upAfter <= rise * interval * 1.1 + timeout + 400, `up too late: ${upAfter} ms`);
    assert.match(String(up.reason), /^L7 ok \(200\) \(http check, \d+ ms\)$/);
    const tUp = logTime(up);
    assert.ok(await waitFor(() => since(tUp).filter((s) => s.origin === "b").length >= 5, 3000), "b gets traffic again");
    for (const l of loops) await l.stop();

    const all = samples();
    const bad = all.filter((x) => x.status !== 200);
    t.diagnostic(`kill -> down ${downAfter} ms, restart -> up ${upAfter} ms; ${all.length} GETs, ${bad.length} failed; while down ${JSON.stringify(tally(whileDown))}`);
    assert.deepEqual(bad, [], `client errors during the episode: ${JSON.stringify(bad.slice(0, 5))}`);
    assert.ok(all.length >= 150, `requests in the episode: ${all.length}`);
    const back = since(tUp + 20);
    const share = tally(back);
    assert.ok((share.b ?? 0) >= back.length / 2 - 3 && (share.a ?? 0) >= back.length / 2 - 3, `rr again after the return: ${JSON.stringify(share)}`);
  } finally {
    for (const l of loops) await l.stop();
    await b.close();
  }
});

test("a backup serves only while every primary is down and gives the work back", async () => {
  const p1 = await startChecked("p1");
  const p2 = await startChecked("p2");
  const bk = keep(await startChecked("bk"));
  const p1Port = p1.port;
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
upstreams:
  web:
    scheduler: rr
    health: { type: http, path: /healthz, interval: 100ms, timeout: 1000ms, rise: 1, fall: 1 }
    passive: false
    retries: 2
    servers: [ { address: ${p1.address} }, { address: ${p2.address} }, { address: ${bk.address}, backup: true } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, timeouts: { connect: 500ms }, routes: [ { upstream: web } ] }
`);
  const all: { status: number }[] = [];
  const phase = async (n: number): Promise<Record<string, number>> => { const r = await burst(base, n); all.push(...r); return tally(r); };
  let p1b: Origin | null = null;
  try {
    assert.deepEqual(await phase(20), { p1: 10, p2: 10 }, "both primaries up: the backup idles");

    const m1 = proxy.logs.length;
    await p1.close();
    await waitTransition(proxy, p1.address, "down", m1, 3000);
    assert.deepEqual(await phase(20), { p2: 20 }, "one primary left: still no backup");

    const m2 = proxy.logs.length;
    await p2.close();
    // requests while p2 is dead but not yet marked: connect refused, then the backup (retries)
    all.push(...await burst(base, 5));
    await waitTransition(proxy, p2.address, "down", m2, 3000);
    assert.deepEqual(await phase(20), { bk: 20 }, "every primary down: the backup serves");

    const m3 = proxy.logs.length;
    p1b = await startChecked("p1", p1Port);
    await waitTransition(proxy, p1.address, "up", m3, 3000);
    assert.deepEqual(await phase(20), { p1: 20 }, "a primary is back: the backup gets nothing");
    assert.deepEqual(all.filter((r) => r.status !== 200), [], "no client errors at any step");
  } finally {
    await p1b?.close();
    await p2.close();
  }
});

test("passive: max_fails connect failures eject a server for fail_timeout, then one trial decides", async () => {
  const live = keep(await startOrigin("live"));
  const deadPort = await freePort();
  const dead = `127.0.0.1:${deadPort}`;
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: rr
    health: { type: none }
    passive: { max_fails: 3, fail_timeout: 1s }
    retries: 1
    servers: [ { address: ${dead} }, { address: ${live.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, timeouts: { connect: 500ms }, routes: [ { upstream: web } ] }
`);
  let revived: Origin | null = null;
  try {
    // rr: every other request tries the dead server first, fails to connect, and is retried on live
    const m0 = proxy.logs.length;
    const first = await burst(base, 10);
    assert.deepEqual(tally(first), { live: 10 });
    const down = await waitTransition(proxy, dead, "down", m0, 1000);
    assert.equal(down.reason, "passive: 3 failures within 1000 ms (last: connect-refused)");
    let s = await apiServer(proxy, "web", dead);
    assert.deepEqual({ state: s.state, causes: s.causes, total: s.total, failures: s.failures }, { state: "down", causes: ["passive"], total: 3, failures: 3 });

    // out for fail_timeout: not even tried
    assert.deepEqual(tally(await burst(base, 6)), { live: 6 });
    assert.equal((await apiServer(proxy, "web", dead)).total, 3);

    // fail_timeout over: a trial. Still dead, so the one failed trial takes it out again at once
    const m1 = proxy.logs.length;
    const trial = await waitTransition(proxy, dead, "up", m1, 2500);
    assert.ok(logTime(trial) - logTime(down) >= 950 && logTime(trial) - logTime(down) <= 1600, `out for ${logTime(trial) - logTime(down)} ms`);
    assert.equal(trial.reason, "passive: fail_timeout over, trial");
    assert.deepEqual(tally(await burst(base, 6)), { live: 6 });
    s = await apiServer(proxy, "web", dead);
    assert.deepEqual({ state: s.state, total: s.total, failures: s.failures }, { state: "down", total: 4, failures: 4 }, "exactly one trial request");
    const again = await waitTransition(proxy, dead, "down", m1, 100);
    assert.match(String(again.reason), /^passive: failed trial \(connect-refused\)$/);

    // the server comes back on its port: the next trial succeeds and it takes work again
    revived = await startOrigin("revived", undefined, deadPort);
    const m2 = proxy.logs.length;
    await waitTransition(proxy, dead, "up", m2, 2500);
    const after = await burst(base, 10);
    assert.deepEqual(tally(after), { revived: 5, live: 5 });
    s = await apiServer(proxy, "web", dead);
    assert.deepEqual({ state: s.state, total: s.total, failures: s.failures }, { state: "up", total: 9, failures: 4 });
    assert.deepEqual(transitions(proxy, dead).map((l) => l.to), ["down", "up", "down", "up"]);
  } finally {
    await revived?.close();
  }
});

test("retries never try one server twice: 3 dead servers and retries 5 give 502 after exactly 3 tries", async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const [listen, tcpListen] = [await freePort(), await freePort()];
  const { proxy, base } = await proxyFor(`
log: { level: info, access: true }
admin: { listen: 127.0.0.1:0 }
upstreams:
  dead3:
    scheduler: rr
    health: { type: none }
    passive: false
    retries: 5
    servers: [ ${ports.map((p) => `{ address: 127.0.0.1:${p} }`).join(", ")} ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, timeouts: { connect: 500ms }, routes: [ { upstream: dead3 } ] }
  - { name: relay, protocol: tcp, listen: 127.0.0.1:${tcpListen}, upstream: dead3 }
`);
  const r = await get(base, "/x");
  assert.equal(r.status, 502);
  assert.equal(r.error, "connect-failed");
  const access = proxy.logs.filter((l) => l.access === "http" && l.uri === "/x");
  assert.equal(access.length, 1);
  assert.equal(access[0].tries, 3);
  assert.equal(access[0].status, 502);
  let pool = (await upstreams(proxy)).find((p) => p.name === "dead3");
  assert.deepEqual(pool?.servers.map((s) => [s.total, s.failures]), [[1, 1], [1, 1], [1, 1]], "each server tried once");
  assert.equal(pool?.retries, 2);

  // the TCP dial path: same rule, the session is closed and logged with tries 3
  const c = net.connect(tcpListen, "127.0.0.1");
  c.on("error", () => {});
  await new Promise<void>((res) => { c.on("close", () => res()); c.resume(); });
  assert.ok(await waitFor(() => proxy.logs.some((l) => l.access === "session"), 2000));
  const sess = proxy.logs.filter((l) => l.access === "session");
  assert.equal(sess.length, 1);
  assert.equal(sess[0].tries, 3);
  assert.equal(sess[0].outcome, "connect-failed");
  pool = (await upstreams(proxy)).find((p) => p.name === "dead3");
  assert.deepEqual(pool?.servers.map((s) => [s.total, s.failures]), [[2, 2], [2, 2], [2, 2]]);
});

test("passive: client aborts are not the server's fault and never eject it", async () => {
  const slow = keep(await startOrigin("slow", (req, res, o) => {
    if (req.url === "/slow") return; // answers nothing: the client gives up first
    res.writeHead(200, { "x-origin": o.name });
    res.end(o.name);
  }));
  const listen = await freePort();
  const { proxy, base } = await proxyFor(`
log: { level: info }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:
    scheduler: rr
    health: { type: none }
    passive: { max_fails: 2, fail_timeout: 10s }
    servers: [ { address: ${slow.address} } ]
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${listen}, routes: [ { upstream: web } ] }
`);
  for (let i = 0; i < 4; i++) {
    const seen = slow.requests;
    const ac = new AbortController();
    const p = request(`${base}/slow`, { dispatcher: agent, signal: ac.signal }).catch((e: unknown) => e);
    assert.ok(await waitFor(() => slow.requests > seen, 2000), "the request reached the origin");
    ac.abort();
    assert.ok((await p) instanceof Error, "the client gave up");
  }
  assert.ok(await waitFor(async () => (await apiServer(proxy, "web", slow.address)).active === 0, 2000));
  const s = await apiServer(proxy, "web", slow.address);
  assert.deepEqual({ state: s.state, total: s.total, failures: s.failures, active: s.active }, { state: "up", total: 4, failures: 0, active: 0 });
  assert.equal(transitions(proxy, slow.address).length, 0);
  assert.deepEqual(tally(await burst(base, 2)), { slow: 2 });
});
