// Persistence through the running proxy over real sockets (issue 3): IPVS-style client templates
// (`persistence: { timeout }`, schedulers.md 3) and the HTTP sticky cookie (`sticky: { cookie }`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, sleep, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { get, SOURCES, type Reply } from "./balance-helpers.ts";
import type { Pool } from "../../src/upstream/pool.ts";
import type { Server } from "../../src/upstream/server.ts";

let a: Origin, b: Origin, c: Origin;
/** Origins of the sticky pool (one of them is stopped by a test). */
let s1: Origin, s2: Origin, s3: Origin;
let proxy: TestProxy;
let port = 0;

before(async () => {
  [a, b, c] = [await startOrigin("A"), await startOrigin("B"), await startOrigin("C")];
  [s1, s2, s3] = [await startOrigin("S1"), await startOrigin("S2"), await startOrigin("S3")];
  proxy = await startProxy(`
log: { level: warn, access: false }
upstreams:
  pers:
    scheduler: rr
    persistence: { timeout: 2s }
    servers: [ { address: ${a.address} }, { address: ${b.address} }, { address: ${c.address} } ]
  persq:
    scheduler: rr
    persistence: { timeout: 30s, expire_quiescent: true }
    servers: [ { address: ${a.address} }, { address: ${b.address} }, { address: ${c.address} } ]
  sticky:
    scheduler: rr
    sticky: { cookie: SY }
    retries: 2
    servers: [ { address: ${s1.address} }, { address: ${s2.address} }, { address: ${s3.address} } ]
listeners:
  - name: web
    protocol: http
    listen: 127.0.0.1:0
    routes:
      - { match: { path_prefix: /pers/ }, upstream: pers }
      - { match: { path_prefix: /persq/ }, upstream: persq }
      - { match: { path_prefix: /sticky/ }, upstream: sticky }
`);
  port = proxy.port("web");
});

after(async () => {
  await proxy?.stop(500);
  for (const o of [a, b, c, s1, s2, s3]) await o?.close();
});

function pool(name: string): Pool {
  const p = proxy.rt.pools.get(name);
  if (p === undefined) throw new Error(`no pool ${name}`);
  return p;
}

function server(p: Pool, o: Origin): Server {
  const s = p.find(o.address);
  if (s === null) throw new Error(`no server ${o.address}`);
  return s;
}

/** The SY value a response sets, or null when it sets none. */
function setCookie(r: Reply): string | null {
  const all = r.headers["set-cookie"] ?? [];
  for (const line of all) {
    const m = /^SY=([^;]*)/.exec(line);
    if (m !== null) return m[1];
  }
  return null;
}

test("persistence: a client's new connections keep its first server; different clients spread; the template expires", async () => {
  const clients = SOURCES.slice(0, 4);
  const first = new Map<string, string>();
  // interleaved, one new connection per request: without templates rr would rotate every client
  for (let round = 0; round < 4; round++) {
    for (const source of clients) {
      const r = await get(port, `/pers/${round}`, { source });
      assert.equal(r.status, 200);
      const seen = first.get(source);
      if (seen === undefined) first.set(source, r.body);
      else assert.equal(r.body, seen, `${source} moved from ${seen} to ${r.body} on round ${round}`);
    }
  }
  // first requests were rr picks in order: A B C, then A again for the fourth client
  assert.deepEqual(clients.map((s) => first.get(s)), ["A", "B", "C", "A"]);
  // 2 s after its last request a template is gone: the scheduler picks again, and rr's cursor is at A
  await sleep(2300);
  const again = await get(port, "/pers/after", { source: clients[0] });
  assert.equal(again.body, "B", "after the timeout the client is scheduled afresh");
  // the new template holds
  for (let i = 0; i < 3; i++) assert.equal((await get(port, "/pers/again", { source: clients[0] })).body, "B");
});

test("persistence: a template whose server goes down is dropped and the client moves", async () => {
  const p = pool("pers");
  const source = SOURCES[5];
  const home = (await get(port, "/pers/x", { source })).body;
  const origin = home === "A" ? a : home === "B" ? b : c;
  p.setAdminState(server(p, origin), "down");
  try {
    const moved = (await get(port, "/pers/x", { source })).body;
    assert.notEqual(moved, home);
    // and it sticks to the new server, even once the old one is back
    p.setAdminState(server(p, origin), "up");
    for (let i = 0; i < 3; i++) assert.equal((await get(port, "/pers/x", { source })).body, moved);
  } finally {
    p.setAdminState(server(p, origin), "up");
  }
});

test("persistence: a drained server keeps its clients (IPVS default); with expire_quiescent they move", async () => {
  for (const [name, moves] of [["pers", false], ["persq", true]] as const) {
    const p = pool(name);
    const source = SOURCES[6];
    const home = (await get(port, `/${name}/x`, { source })).body;
    const origin = home === "A" ? a : home === "B" ? b : c;
    p.setAdminState(server(p, origin), "drain");
    try {
      const fresh = (await get(port, `/${name}/x`, { source: SOURCES[7] })).body;
      assert.notEqual(fresh, home, `${name}: a new client never lands on the drained server`);
      const again = (await get(port, `/${name}/x`, { source })).body;
      if (moves) assert.notEqual(again, home, `${name}: expire_quiescent breaks the template`);
      else assert.equal(again, home, `${name}: the template outlives the drain`);
    } finally {
      p.setAdminState(server(p, origin), "up");
    }
  }
});

test("sticky cookie: the first response sets it, later requests with it stay on that server", async () => {
  const r1 = await get(port, "/sticky/1");
  assert.equal(r1.status, 200);
  const id = setCookie(r1);
  assert.notEqual(id, null, "the first response sets the sticky cookie");
  assert.match(r1.headers["set-cookie"]?.[0] ?? "", /^SY=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax$/);
  const home = r1.body;
  for (let i = 0; i < 5; i++) {
    // requests without the cookie go on rotating...
    const other = await get(port, "/sticky/other");
    assert.notEqual(setCookie(other), null);
    // ...the client with the cookie does not, and gets no new cookie
    const r = await get(port, `/sticky/${i}`, { cookie: `x=1; SY=${id}` });
    assert.equal(r.body, home, `request ${i} with the cookie left ${home}`);
    assert.equal(setCookie(r), null, "no Set-Cookie while the server is kept");
  }
});

test("sticky cookie: an unknown value is replaced by a fresh pick and cookie", async () => {
  const r = await get(port, "/sticky/x", { cookie: "SY=00000000" });
  assert.equal(r.status, 200);
  const id = setCookie(r);
  assert.notEqual(id, null);
  assert.equal((await get(port, "/sticky/y", { cookie: `SY=${id}` })).body, r.body);
});

test("sticky cookie: a drained server's clients move with a new cookie, and stay moved", async () => {
  const p = pool("sticky");
  const r1 = await get(port, "/sticky/d");
  const id1 = setCookie(r1);
  assert.notEqual(id1, null);
  const home = r1.body;
  const homeOrigin = [s1, s2, s3].find((o) => o.name === home);
  assert.ok(homeOrigin !== undefined);
  p.setAdminState(server(p, homeOrigin), "drain");
  try {
    const r2 = await get(port, "/sticky/d", { cookie: `SY=${id1}` });
    assert.equal(r2.status, 200);
    assert.notEqual(r2.body, home, "a drained server takes no new requests, sticky or not");
    const id2 = setCookie(r2);
    assert.ok(id2 !== null && id2 !== id1, "the response re-points the cookie");
    p.setAdminState(server(p, homeOrigin), "up");
    // the client now carries the new cookie: it stays on the new server although the old one is back
    for (let i = 0; i < 3; i++) {
      const r = await get(port, "/sticky/d", { cookie: `SY=${id2}` });
      assert.equal(r.body, r2.body);
      assert.equal(setCookie(r), null);
    }
  } finally {
    p.setAdminState(server(p, homeOrigin), "up");
  }
});

test("sticky cookie: when the server stops answering, the request is retried elsewhere with a new cookie", async () => {
  // find a client cookie for S3, the origin this test stops
  let id: string | null = null;
  for (let i = 0; i < 6 && id === null; i++) {
    const r = await get(port, "/sticky/find");
    if (r.body === "S3") id = setCookie(r);
  }
  assert.notEqual(id, null, "rr reached S3 within 6 requests");
  await s3.close();
  const r = await get(port, "/sticky/after-stop", { cookie: `SY=${id}` });
  assert.equal(r.status, 200, "the connect failure was retried on another server");
  assert.ok(r.body === "S1" || r.body === "S2", r.body);
  const id2 = setCookie(r);
  assert.ok(id2 !== null && id2 !== id);
  assert.equal((await get(port, "/sticky/after-stop", { cookie: `SY=${id2}` })).body, r.body);
});
