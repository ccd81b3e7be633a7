// Schedulers through the running proxy over real sockets (issue 3 "Must show"): rr and wrr turns, sh/dh keys
// holding clients and hosts on one server, lc/wlc/lblc reacting to requests held open, sh on a TCP listener.
// Client addresses 127.0.0.2 .. 127.0.0.9 are distinct loopback sources (Linux routes all of 127/8 to lo).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import {
  get, sequence, startHoldingOrigin, startNameServer, readName, Holder, SOURCES, type HoldingOrigin,
} from "./balance-helpers.ts";
import type net from "node:net";

let a: Origin, b: Origin, c: Origin;
/** Holding origins: one group per scheduler, so each pool's counters start at zero. */
let lc1: HoldingOrigin, lc2: HoldingOrigin, lc3: HoldingOrigin;
let wlc1: HoldingOrigin, wlc2: HoldingOrigin;
let lb1: HoldingOrigin, lb2: HoldingOrigin;
let tcpA: { server: net.Server; address: string }, tcpB: { server: net.Server; address: string }, tcpC: { server: net.Server; address: string };
let proxy: TestProxy;
let port = 0;

const abc = () => `[ { address: ${a.address} }, { address: ${b.address} }, { address: ${c.address} } ]`;

before(async () => {
  a = await startOrigin("A");
  b = await startOrigin("B");
  c = await startOrigin("C");
  [lc1, lc2, lc3] = [await startHoldingOrigin("L1"), await startHoldingOrigin("L2"), await startHoldingOrigin("L3")];
  [wlc1, wlc2] = [await startHoldingOrigin("W1"), await startHoldingOrigin("W3")];
  [lb1, lb2] = [await startHoldingOrigin("K1"), await startHoldingOrigin("K2")];
  [tcpA, tcpB, tcpC] = [await startNameServer("TA"), await startNameServer("TB"), await startNameServer("TC")];
  proxy = await startProxy(`
log: { level: warn, access: false }
upstreams:
  rr:   { scheduler: rr, servers: ${abc()} }
  wrr:  { scheduler: wrr, servers: [ { address: ${a.address}, weight: 4 }, { address: ${b.address}, weight: 3 }, { address: ${c.address}, weight: 2 } ] }
  sh:   { scheduler: sh, servers: ${abc()} }
  dh:   { scheduler: dh, servers: ${abc()} }
  lc0:  { scheduler: lc, inactive_linger: 0s, servers: ${abc()} }
  lc5:  { scheduler: lc, inactive_linger: 5s, servers: ${abc()} }
  lc:   { scheduler: lc, inactive_linger: 0s, servers: [ { address: ${lc1.address} }, { address: ${lc2.address} }, { address: ${lc3.address} } ] }
  wlc:  { scheduler: wlc, inactive_linger: 0s, servers: [ { address: ${wlc1.address}, weight: 1 }, { address: ${wlc2.address}, weight: 3 } ] }
  lblc: { scheduler: lblc, inactive_linger: 10s, servers: [ { address: ${lb1.address} }, { address: ${lb2.address} } ] }
  tsh:  { scheduler: sh, servers: [ { address: ${tcpA.address} }, { address: ${tcpB.address} }, { address: ${tcpC.address} } ] }
listeners:
  - name: web
    protocol: http
    listen: 127.0.0.1:0
    routes:
      - { match: { path_prefix: /rr/ }, upstream: rr }
      - { match: { path_prefix: /wrr/ }, upstream: wrr }
      - { match: { path_prefix: /sh/ }, upstream: sh }
      - { match: { path_prefix: /dh/ }, upstream: dh, key: host }
      - { match: { path_prefix: /lc0/ }, upstream: lc0 }
      - { match: { path_prefix: /lc5/ }, upstream: lc5 }
      - { match: { path_prefix: /lc/ }, upstream: lc }
      - { match: { path_prefix: /wlc/ }, upstream: wlc }
      - { match: { path_prefix: /lblc/ }, upstream: lblc }
  - { name: tcp, protocol: tcp, listen: 127.0.0.1:0, upstream: tsh }
`);
  port = proxy.port("web");
});

after(async () => {
  await proxy?.stop(500);
  for (const o of [a, b, c]) await o?.close();
  for (const o of [lc1, lc2, lc3, wlc1, wlc2, lb1, lb2]) if (o !== undefined) { o.release(); await o.close(); }
  for (const t of [tcpA, tcpB, tcpC]) t?.server.close();
});

test("rr takes turns in config order from a fresh start", async () => {
  assert.deepEqual(await sequence(port, "/rr/x", 7), ["A", "B", "C", "A", "B", "C", "A"]);
});

test("wrr with weights 4, 3, 2 gives A A B A B C A B C, then the cycle repeats", async () => {
  const got = await sequence(port, "/wrr/x", 18);
  assert.deepEqual(got.slice(0, 9), ["A", "A", "B", "A", "B", "C", "A", "B", "C"]);
  assert.deepEqual(got.slice(9), got.slice(0, 9));
});

test("sh keeps each client address on one server, and different addresses spread", async () => {
  const where = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    for (const source of SOURCES) {
      const r = await get(port, `/sh/${round}`, { source });
      assert.equal(r.status, 200);
      const seen = where.get(source);
      if (seen === undefined) where.set(source, r.body);
      else assert.equal(r.body, seen, `${source} moved from ${seen} to ${r.body} on round ${round}`);
    }
  }
  assert.ok(new Set(where.values()).size > 1, `every source landed on one server: ${[...where]}`);
});

test("dh on key: host keeps each Host on one server whatever the path, and hosts spread", async () => {
  const hosts = ["alpha.example", "bravo.example", "charlie.example", "delta.example", "echo.example", "foxtrot.example", "golf.example", "hotel.example"];
  const where = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    for (const [i, host] of hosts.entries()) {
      // a different path and source each time: only the host may decide
      const r = await get(port, `/dh/${round}/${i}?q=${round}`, { host, source: SOURCES[(i + round) % SOURCES.length] });
      assert.equal(r.status, 200);
      const seen = where.get(host);
      if (seen === undefined) where.set(host, r.body);
      else assert.equal(r.body, seen, `${host} moved from ${seen} to ${r.body}`);
    }
  }
  assert.ok(new Set(where.values()).size > 1, `every host landed on one server: ${[...where]}`);
});

test("lc on sequential short requests: inactive_linger spreads them; linger 0 sends all to the first server", async () => {
  // with the linger window a finished request still counts (overhead 1), so the next goes to an idle server
  assert.deepEqual(await sequence(port, "/lc5/x", 6), ["A", "B", "C", "A", "B", "C"]);
  // without it every server is at 0 when the next request comes: the earliest wins every time (IPVS arithmetic)
  assert.deepEqual(await sequence(port, "/lc0/x", 4), ["A", "A", "A", "A"]);
});

test("lc sends new work to the server with the fewest requests in flight", async () => {
  const h = new Holder(port, [lc1, lc2, lc3]);
  try {
    const first: string[] = [];
    for (let i = 0; i < 6; i++) first.push(await h.send("/lc/hold"));
    assert.deepEqual(first, ["L1", "L2", "L3", "L1", "L2", "L3"]);
    // L2 finishes its two: it is now the least loaded, and takes new work until it is level again
    const done = await h.release(lc2);
    assert.deepEqual(done.map((r) => r.body), ["L2", "L2"]);
    const next: string[] = [];
    for (let i = 0; i < 3; i++) next.push(await h.send("/lc/hold"));
    assert.deepEqual(next, ["L2", "L2", "L1"], "2 to the idle server, then the earliest of the level ones");
  } finally {
    await h.releaseAll();
  }
});

test("wlc shares held requests 1:3 by weight and sends new work to the least loaded per weight", async () => {
  const h = new Holder(port, [wlc1, wlc2]);
  try {
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push(await h.send("/wlc/hold"));
    // idle pool: the first listed wins the tie; then overhead/weight decides, ties to the earlier server
    assert.deepEqual(got, ["W1", "W3", "W3", "W3", "W1", "W3", "W3", "W3"]);
    await h.release(wlc1);
    // W1 idle, W3 holds 6: new work goes to W1, though W3 is three times heavier
    assert.equal(await h.send("/wlc/hold"), "W1");
    await h.release(wlc2);
    // W1 holds 1 (256 / 1), W3 none: W3
    assert.equal(await h.send("/wlc/hold"), "W3");
  } finally {
    await h.releaseAll();
  }
});

test("lblc keeps a destination on its server until that server is overloaded, then moves it", async () => {
  const h = new Holder(port, [lb1, lb2]);
  try {
    // a destination (host + path, no query) sticks to its first server on sequential requests
    assert.deepEqual(await sequence(port, "/lblc/k", 4), ["K1", "K1", "K1", "K1"]);
    // another destination: wlc over the list (K1 has lingering inactive work), then it sticks too
    assert.deepEqual(await sequence(port, "/lblc/other", 3), ["K2", "K2", "K2"]);
    // held requests for the first destination: K1 keeps it at active 1 (not above weight 1)...
    assert.equal(await h.send("/lblc/k?hold=1"), "K1");
    assert.equal(await h.send("/lblc/k?hold=1"), "K1");
    // ...at active 2 > weight 1 with K2 under half load (0 active), K1 is lblc-overloaded: the key moves
    assert.equal(await h.send("/lblc/k?hold=1"), "K2");
    // the key now lives on K2; K2 at 2 active > weight 1, but nobody is under half load: it keeps the key
    assert.equal(await h.send("/lblc/k?hold=1"), "K2");
    assert.equal(await h.send("/lblc/k?hold=1"), "K2");
    await h.releaseAll();
    // once everything finished the key stays where it moved
    assert.equal((await get(port, "/lblc/k")).body, "K2");
    assert.equal((await get(port, "/lblc/k")).body, "K2");
  } finally {
    await h.releaseAll();
  }
});

test("TCP listener with sh keeps each client address on one server, and addresses spread", async () => {
  const tport = proxy.port("tcp");
  const where = new Map<string, string>();
  for (let round = 0; round < 3; round++) {
    for (const source of SOURCES) {
      const name = await readName(tport, source);
      assert.match(name, /^T[ABC]$/);
      const seen = where.get(source);
      if (seen === undefined) where.set(source, name);
      else assert.equal(name, seen, `${source} moved from ${seen} to ${name}`);
    }
  }
  assert.ok(new Set(where.values()).size > 1, `every source landed on one server: ${[...where]}`);
});
