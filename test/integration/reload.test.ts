// Reload in place, in-process (hardening.md section 3): work in flight across a reload, sessions that
// survive it, server state carried by pool and address, drained listeners and servers, HTTP
// handlers replaced when their server-level settings change, a bind failure rejecting the whole
// reload, and 20 reloads leaving no listener, socket or timer behind.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import http from "node:http";
import net from "node:net";
import mysqlp from "mysql2/promise";
import { freePort, sleep, waitFor } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { openPeers, peerPorts, requirePeers, type PeerSet } from "../support/peers.ts";
import { versionOrigin, getFresh, probeConnect, type VersionOrigin } from "./reload-helpers.ts";

const proxies: TestProxy[] = [];
const closers: (() => Promise<void> | void)[] = [];
let peers: PeerSet | null = null;
let db = 0;

before(async () => {
  requirePeers();
  peers = await openPeers("reload");
  [db] = await peerPorts(1);
  await peers.startMariadb([db]);
});

after(async () => {
  for (const p of proxies) await p.stop(500);
  for (const c of closers) await c();
  await peers?.stop();
});

async function proxy(yaml: string): Promise<TestProxy> {
  const p = await startProxy(yaml);
  proxies.push(p);
  return p;
}

async function origin(name: string, version: string): Promise<VersionOrigin> {
  const o = await versionOrigin(name, version);
  closers.push(() => o.close());
  return o;
}

function server(p: TestProxy, pool: string, address: string) {
  const s = p.rt.pools.get(pool)?.find(address) ?? null;
  assert.ok(s !== null, `${address} in ${pool}`);
  return s;
}

/** A keep-alive GET on agent; resolves status, headers, body and the socket it used. */
function get(port: number, agent: http.Agent, path = "/"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("latin1"), socket: req.socket as net.Socket }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("R02/R07: a request in flight across a reload that drops its server completes in full; the dropped server gets no new picks", async () => {
  const a = await origin("a", "v1");
  const b = await origin("b", "v2");
  const port = await freePort();
  const yaml = (servers: string) => `upstreams:\n  web: { scheduler: rr, servers: [ ${servers} ] }\nlisteners:\n  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: web }\n`;
  const p = await proxy(yaml(`{ address: ${a.address} }`));
  const slow = getFresh(port, "/slow?ms=1500");
  await waitFor(() => server(p, "web", a.address).active === 1, 2000);
  const oldA = server(p, "web", a.address);
  assert.deepEqual(await p.reload(yaml(`{ address: ${b.address} }`)), { ok: true });
  for (let i = 0; i < 5; i++) assert.equal((await getFresh(port)).headers["x-version"], "v2", "new requests go to the new server only");
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 65536, "the full body arrived");
  assert.equal(r.headers["x-version"], "v1");
  assert.equal(oldA.active, 0, "the dropped server's lease went back to the old pool");
  assert.equal(oldA.listed, false);
  assert.equal(p.rt.pools.get("web")?.find(a.address), null);
});

test("a long TCP session and a MySQL session survive reloads that keep their pool, and a reload that removes their listener", async () => {
  const echo = net.createServer((s) => { s.on("error", () => {}); s.pipe(s); });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  closers.push(() => new Promise<void>((r) => echo.close(() => r())));
  const echoAddr = `127.0.0.1:${(echo.address() as net.AddressInfo).port}`;
  const [tp, mp, xp] = [await freePort(), await freePort(), await freePort()];
  const yaml = (w: number, withListeners: boolean) => `upstreams:
  echo: { scheduler: wrr, servers: [ { address: ${echoAddr}, weight: ${w} } ] }
  db: { scheduler: lc, servers: [ { address: 127.0.0.1:${db}, weight: ${w} } ] }
listeners:
  - { name: extra, protocol: tcp, listen: 127.0.0.1:${xp}, upstream: echo }
${withListeners ? `  - { name: tcp, protocol: tcp, listen: 127.0.0.1:${tp}, upstream: echo, idle_timeout: 1m }
  - { name: mysql, protocol: mysql, listen: 127.0.0.1:${mp}, upstream: db }
` : ""}`;
  const p = await proxy(yaml(1, true));
  const sock = net.connect({ port: tp, host: "127.0.0.1" });
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const say = (text: string) => new Promise<string>((resolve) => { sock.once("data", (d: Buffer) => resolve(d.toString())); sock.write(text); });
  const conn = await mysqlp.createConnection({ host: "127.0.0.1", port: mp, user: "switchyard", password: "secret", database: "switchyard" });
  const one = async (): Promise<unknown> => { const [rows] = await conn.query({ sql: "SELECT 40 + 2", rowsAsArray: true }); return (rows as unknown[][])[0][0]; };
  assert.equal(await say("before"), "before");
  assert.equal(await one(), 42);
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await p.reload(yaml(2 + i, true)), { ok: true });
    assert.equal(await say(`after reload ${i}`), `after reload ${i}`);
    assert.equal(await one(), 42);
  }
  // the listeners go away: no new clients, but the sessions they hold run on
  assert.deepEqual(await p.reload(yaml(9, false)), { ok: true });
  assert.equal(await probeConnect(tp), "refused");
  assert.equal(await probeConnect(mp), "refused");
  assert.equal(await say("still here"), "still here");
  assert.equal(await one(), 42);
  assert.equal(p.rt.retired.size, 2, "both drained handlers are tracked until their sessions end");
  await conn.end();
  sock.end();
  assert.ok(await waitFor(() => p.rt.retired.size === 0, 3000), "retired handlers forgotten once their last client left");
});

test("server state carries over a reload: active-check down, passive ejection and its failure window, slow start, counters", async () => {
  const up = await origin("up", "v1");
  const sick = await origin("sick", "v1");
  sick.healthStatus = 503;
  const dead = await freePort(); // nothing listens: every connect fails
  const ramp = await origin("ramp", "v1");
  const port = await freePort();
  const lonePort = await freePort();
  const yaml = (w: number, interval = "200ms") => `upstreams:
  web:
    scheduler: wrr
    health: { type: http, path: /healthz, interval: ${interval}, timeout: 500ms, rise: 2, fall: 2 }
    servers: [ { address: ${up.address}, weight: ${w} }, { address: ${sick.address} } ]
  lone:
    scheduler: rr
    retries: 0
    passive: { max_fails: 2, fail_timeout: 2s }
    servers: [ { address: 127.0.0.1:${dead} } ]
  slow:
    scheduler: wrr
    slow_start: 3s
    servers: [ { address: ${ramp.address}, weight: 10 } ]
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: web }
  - { name: lone, protocol: http, listen: 127.0.0.1:${lonePort}, upstream: lone }
`;
  const p = await proxy(yaml(1));
  // active check: sick goes down after two failed probes
  assert.ok(await waitFor(() => server(p, "web", sick.address).state === "down", 3000));
  for (let i = 0; i < 4; i++) await getFresh(port);
  const totalBefore = server(p, "web", up.address).total;
  // passive: one failure before the reload...
  assert.equal((await getFresh(lonePort)).status, 502);
  assert.equal(server(p, "lone", `127.0.0.1:${dead}`).state, "up");
  // slow start: ramp comes back up now and ramps over 3 s
  const slowPool = p.rt.pools.get("slow");
  const rs = server(p, "slow", ramp.address);
  slowPool?.setAdminState(rs, "down");
  slowPool?.setAdminState(rs, "up");
  await sleep(800);

  assert.deepEqual(await p.reload(yaml(5)), { ok: true });
  assert.equal(server(p, "web", sick.address).state, "down", "no 'unknown -> up' window: still down right after the reload");
  assert.equal(server(p, "web", up.address).total, totalBefore, "counters carried");
  assert.equal(server(p, "web", up.address).configWeight, 5, "new weight applied");
  const w = server(p, "slow", ramp.address).weight;
  assert.ok(w >= 1 && w < 10, `slow start still ramping after the reload (effective weight ${w})`);
  // ...and one after: two within fail_timeout eject the server
  assert.equal((await getFresh(lonePort)).status, 502);
  assert.equal(server(p, "lone", `127.0.0.1:${dead}`).state, "down", "the failure window spans the reload");
  assert.equal((await getFresh(lonePort)).status, 503, "ejected: no server");
  // another reload while ejected: it still ends after fail_timeout
  assert.deepEqual(await p.reload(yaml(6)), { ok: true });
  assert.equal(server(p, "lone", `127.0.0.1:${dead}`).state, "down");
  assert.ok(await waitFor(() => server(p, "lone", `127.0.0.1:${dead}`).state === "up", 4000), "ejection ends after fail_timeout");
  assert.ok(await waitFor(() => server(p, "slow", ramp.address).weight === 10, 4000), "slow start completes");
  // the probe carries on through reloads: no extra probe per reload, still one per interval
  const p0 = sick.probes;
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) assert.deepEqual(await p.reload(yaml(7 + i)), { ok: true });
  await sleep(1000);
  const probes = sick.probes - p0;
  const expected = (Date.now() - t0) / 200;
  assert.ok(probes <= expected + 2, `${probes} probes in ${Date.now() - t0} ms at a 200 ms interval across 5 reloads`);
  // a reload that changes the check itself: the new check starts the server up, then decides
  assert.deepEqual(await p.reload(yaml(6, "150ms")), { ok: true });
  assert.equal(server(p, "web", sick.address).state, "up");
  assert.ok(await waitFor(() => server(p, "web", sick.address).state === "down", 3000), "the new check takes it down again");
});

test("a server failure of work in flight across a reload ejects the server in the new pool, and the ejection ends", async () => {
  // accepts, reads the request, then resets: a failure after the request was sent (no retry)
  const resetter = net.createServer((s) => { s.on("error", () => {}); s.once("data", () => setTimeout(() => s.resetAndDestroy(), 600)); });
  await new Promise<void>((r) => resetter.listen(0, "127.0.0.1", () => r()));
  closers.push(() => new Promise<void>((r) => resetter.close(() => r())));
  const addr = `127.0.0.1:${(resetter.address() as net.AddressInfo).port}`;
  const port = await freePort();
  const yaml = (w: number) => `upstreams:\n  r: { scheduler: wrr, retries: 0, passive: { max_fails: 1, fail_timeout: 1s }, servers: [ { address: ${addr}, weight: ${w} } ] }\nlisteners:\n  - { name: r, protocol: http, listen: 127.0.0.1:${port}, upstream: r }\n`;
  const p = await proxy(yaml(1));
  const pending = getFresh(port, "/x");
  await sleep(200);
  assert.deepEqual(await p.reload(yaml(2)), { ok: true });
  assert.equal((await pending).status, 502);
  assert.equal(server(p, "r", addr).state, "down", "ejected in the pool that serves now");
  assert.equal((await getFresh(port)).status, 503);
  assert.ok(await waitFor(() => server(p, "r", addr).state === "up", 2500), "and back after fail_timeout");
});

test("HTTP: a reload that changes max_header_size replaces the handler; a keep-alive response in flight says Connection: close, an idle one is closed; new connections get the new settings", async () => {
  const o = await origin("o", "v1");
  const port = await freePort();
  const yaml = (idle: string, header = "16kb") => `upstreams:\n  web: { scheduler: rr, servers: [ { address: ${o.address} } ] }\nlisteners:\n  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: web, timeouts: { idle: ${idle} }, limits: { max_header_size: ${header} } }\n`;
  const p = await proxy(yaml("30s"));
  const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  closers.push(() => { busyAgent.destroy(); idleAgent.destroy(); });
  const first = await get(port, busyAgent);
  assert.equal(first.headers.connection, "keep-alive");
  const idle = await get(port, idleAgent);
  let idleClosed = false;
  idle.socket.once("close", () => { idleClosed = true; });
  const inFlight = get(port, busyAgent, "/slow?ms=800");
  await sleep(200);
  const handler = p.rt.listeners.get("web")?.listener.handler;
  assert.deepEqual(await p.reload(yaml("10s", "8kb")), { ok: true });
  assert.notEqual(p.rt.listeners.get("web")?.listener.handler, handler, "handler replaced");
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 65536);
  assert.equal(r.headers.connection, "close", "the drained connection's last response says close");
  assert.ok(await waitFor(() => idleClosed, 1000), "the idle keep-alive connection is closed (FIN before any request byte)");
  const next = await get(port, idleAgent);
  assert.equal(next.status, 200);
  assert.equal(next.headers.connection, "keep-alive", "new connections are kept alive by the new handler");
  assert.equal(next.headers["keep-alive"], "timeout=10", "with the new idle timeout");
  assert.ok(await waitFor(() => p.rt.retired.size === 0, 2000), "the old handler is forgotten once its connections closed");
  // a reload that changes timeouts and the scheduler keeps the handler (and its connections)
  const h2 = p.rt.listeners.get("web")?.listener.handler;
  assert.deepEqual(await p.reload(yaml("12s", "8kb").replace("scheduler: rr", "scheduler: wrr")), { ok: true });
  assert.equal(p.rt.listeners.get("web")?.listener.handler, h2);
  const again = await get(port, idleAgent);
  assert.equal(again.socket, next.socket, "same keep-alive connection");
  const fresh = await get(port, new http.Agent({ keepAlive: true }));
  assert.equal(fresh.headers["keep-alive"], "timeout=12", "new idle timeout without a new handler");
});

test("R05: a reload that binds a port already taken is rejected whole; R06: one that adds B and removes A moves at once", async () => {
  const v1 = await origin("one", "v1");
  const v2 = await origin("two", "v2");
  const [a, b] = [await freePort(), await freePort()];
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
  closers.push(() => new Promise<void>((r) => squatter.close(() => r())));
  const taken = (squatter.address() as net.AddressInfo).port;
  const yaml = (o: VersionOrigin, ports: number[]) => `upstreams:\n  web: { scheduler: rr, servers: [ { address: ${o.address} } ] }\nlisteners:\n${ports.map((pt, i) => `  - { name: l${i}_${pt}, protocol: http, listen: 127.0.0.1:${pt}, upstream: web }\n`).join("")}`;
  const p = await proxy(yaml(v1, [a]));
  const before = [...p.rt.listeners.keys()];
  const pool = p.rt.pools.get("web");
  const r = await p.reload(yaml(v2, [a, b, taken]));
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.errors.join("\n"), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`));
  assert.deepEqual([...p.rt.listeners.keys()], before, "listeners unchanged");
  assert.equal(p.rt.pools.get("web"), pool, "pools unchanged");
  assert.equal(await probeConnect(b), "refused", "B, bound before the failure, was closed again");
  assert.equal((await getFresh(a)).headers["x-version"], "v1", "the old config keeps serving");
  // R06
  const slow = getFresh(a, "/slow?ms=1000");
  await sleep(150);
  const t0 = Date.now();
  assert.deepEqual(await p.reload(yaml(v2, [b])), { ok: true });
  assert.equal((await getFresh(b)).headers["x-version"], "v2");
  assert.ok(Date.now() - t0 < 1000, "B accepts within 1 s");
  assert.equal(await probeConnect(a), "refused", "A refuses new connections");
  const done = await slow;
  assert.equal(done.status, 200, "A's established connection drained");
  assert.equal(done.body.length, 65536);
});

test("R09: 20 reloads (listeners added and removed, handlers replaced, checks re-watched) leave no listener, socket or timer behind", async () => {
  // the proxies of the tests above are done: stop them, so that only this one's timers are counted
  for (const done of proxies.splice(0)) await done.stop(500);
  const o1 = await origin("l1", "v1");
  const o2 = await origin("l2", "v2");
  const [a, b] = [await freePort(), await freePort()];
  const yaml = (i: number) => `upstreams:
  web:
    scheduler: wrr
    health: { type: http, path: /healthz, interval: 300ms, timeout: 200ms }
    servers: [ { address: ${o1.address}, weight: ${1 + (i % 3)} }${i % 2 === 1 ? `, { address: ${o2.address} }` : ""} ]
listeners:
  - { name: a, protocol: http, listen: 127.0.0.1:${a}, upstream: web, limits: { max_header_size: ${i % 2 === 0 ? "16kb" : "12kb"} } }
${i % 2 === 1 ? `  - { name: b, protocol: tcp, listen: 127.0.0.1:${b}, upstream: web }\n` : ""}`;
  const p = await proxy(yaml(0));
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) { if (type === "TCPSERVERWRAP" || type === "TCPWRAP" || type === "Timeout") live.set(id, type); },
    destroy(id) { live.delete(id); },
  });
  const count = (): Record<string, number> => {
    const c: Record<string, number> = { TCPSERVERWRAP: 0, TCPWRAP: 0, Timeout: 0 };
    for (const t of live.values()) c[t]++;
    return c;
  };
  const agent = new http.Agent({ keepAlive: false });
  closers.push(() => agent.destroy());
  hook.enable();
  try {
    for (let i = 1; i <= 20; i++) {
      assert.deepEqual(await p.reload(yaml(i)), { ok: true });
      assert.equal((await getFresh(a)).status, 200);
    }
    assert.deepEqual(await p.reload(yaml(0)), { ok: true });
    await sleep(1500); // closed sockets are destroyed, the upstream keep-alive pool idles out
    const c = count();
    assert.equal(c.TCPSERVERWRAP, 0, `listeners created by the reloads and still open: ${c.TCPSERVERWRAP}`);
    assert.ok(c.TCPWRAP <= 4, `sockets created during the reloads and still open: ${c.TCPWRAP}`);
    // legitimately pending: the current handler's connection check, a probe's next run, keep-alive
    // socket timers; a leak per reload would leave 20 or more
    assert.ok(c.Timeout <= 10, `timers created during the reloads and still pending: ${c.Timeout}`);
    assert.equal(p.rt.retired.size, 0);
    console.log(`# R09 in-process: after 21 reloads live TCPSERVERWRAP=${c.TCPSERVERWRAP} TCPWRAP=${c.TCPWRAP} Timeout=${c.Timeout} (created during the reloads)`);
  } finally {
    hook.disable();
  }
});
