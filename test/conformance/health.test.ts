// Every registered health check against real servers of its protocol (MariaDB, Dovecot, Postfix,
// node:http), up and down, and against scripted misbehaving servers: silent (must time out
// quickly), garbage (bad-response) and protocol refusals (bad-status with the code). The MySQL
// part also proves the politeness claim: 100 probes leave Aborted_connects where it was.
// Needs the real peers (test/peers/install.sh); without them this file FAILS, it never skips.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { systemClock } from "../../src/core/clock.ts";
import type { HealthPlan } from "../../src/config/schema.ts";
import type { ProbeResult, ProbeTarget } from "../../src/health/check.ts";
import { healthChecks, getHealthCheck, healthTypeNames, type CheckType } from "../../src/health/index.ts";
import { PROBE_USER } from "../../src/health/mysql.ts";
import { HealthRunner } from "../../src/health/runner.ts";
import { openPeers, peerPorts, requirePeers, type PeerSet } from "../support/peers.ts";

const LOCAL = "127.0.0.1";
/** Probe timeout used throughout; the silent-server cases must fail close to it. */
const TIMEOUT_MS = 400;

function plan(type: HealthPlan["type"], over: Partial<HealthPlan> = {}): HealthPlan {
  return {
    type, intervalMs: 1000, timeoutMs: TIMEOUT_MS, rise: 2, fall: 3, method: "GET", path: "/", host: null,
    expectLow: 200, expectHigh: 399, body: null, user: null, password: null, helo: "probe.switchyard.test", port: null, ...over,
  };
}

function probe(type: CheckType, target: ProbeTarget, over: Partial<HealthPlan> = {}): Promise<ProbeResult> {
  const p = plan(type, over);
  return healthChecks[type].create(p).probe(target, AbortSignal.timeout(p.timeoutMs));
}

function assertFail(r: ProbeResult, layer: string, reason: string, code?: string | null): void {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  if (r.ok) return;
  assert.equal(r.layer, layer, JSON.stringify(r));
  assert.equal(r.reason, reason, JSON.stringify(r));
  if (code !== undefined) assert.equal(r.code, code, JSON.stringify(r));
}

function assertOk(r: ProbeResult, layer: string): void {
  assert.equal(r.ok, true, `expected ok, got ${JSON.stringify(r)}`);
  assert.equal(r.layer, layer);
}

// ---------------------------------------------------------------- scripted servers (port 0)

interface Scripted {
  readonly target: ProbeTarget;
  /** Everything each client sent, one string per connection (latin1). */
  readonly received: string[];
  close(): Promise<void>;
}

/** A server running onConn for every client; collects what clients send. */
async function scripted(onConn: (s: net.Socket, received: string[], i: number) => void): Promise<Scripted> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const i = received.push("") - 1;
    sockets.add(s);
    s.on("data", (d) => { received[i] += d.toString("latin1"); });
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onConn(s, received, i);
  });
  await new Promise<void>((r) => server.listen(0, LOCAL, r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    target: { host: LOCAL, port },
    received,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Accepts and never writes a byte. */
const silent = (): Promise<Scripted> => scripted(() => {});
/** Writes fixed bytes on connect and keeps the connection open. */
const says = (bytes: string | Buffer): Promise<Scripted> => scripted((s) => { s.write(bytes); });

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<ProbeTarget> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOCAL, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return { host: LOCAL, port };
}

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ------------------------------------------------------------------------- MySQL wire helpers

function myPacket(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}

function myErr(seq: number, errno: number, message: string, sqlstate: string | null): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(errno, 1);
  return myPacket(seq, Buffer.concat([head, Buffer.from(sqlstate === null ? message : `#${sqlstate}${message}`)]));
}

const MY_OK = myPacket(2, Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]));

/** Handshake v10 with the given 20-byte scramble and auth plugin. */
function myGreeting(scramble: Buffer, plugin: string): Buffer {
  const caps = 0x0001 | 0x0200 | 0x8000 | 0x80000 | 0x0008;
  const fixed = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let at = 0;
  fixed.writeUInt32LE(42, at); at += 4;                 // connection id
  scramble.copy(fixed, at, 0, 8); at += 8;
  fixed[at++] = 0;                                       // filler
  fixed.writeUInt16LE(caps & 0xffff, at); at += 2;
  fixed[at++] = 45;                                      // charset
  fixed.writeUInt16LE(2, at); at += 2;                   // status
  fixed.writeUInt16LE(caps >>> 16, at); at += 2;
  fixed[at++] = 21;                                      // auth data length
  return myPacket(0, Buffer.concat([Buffer.from([10]), Buffer.from("8.0.99-fake\0"), fixed,
    scramble.subarray(8), Buffer.from([0]), Buffer.from(`${plugin}\0`)]));
}

/** Fields of a HandshakeResponse41 payload. */
function parseResponse(p: Buffer): { user: string; token: Buffer; plugin: string } {
  let at = 32;
  const userEnd = p.indexOf(0, at);
  const user = p.toString("utf8", at, userEnd);
  at = userEnd + 1;
  const len = p[at++];
  const token = p.subarray(at, at + len);
  at += len;
  const plugin = p.toString("latin1", at, Math.max(at, p.indexOf(0, at)));
  return { user, token, plugin };
}

const sha1 = (...b: Buffer[]): Buffer => { const h = createHash("sha1"); for (const x of b) h.update(x); return h.digest(); };
const sha256 = (...b: Buffer[]): Buffer => { const h = createHash("sha256"); for (const x of b) h.update(x); return h.digest(); };
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((v, i) => v ^ b[i]));

/** Server-side check of a native token: SHA1(token XOR SHA1(scramble + stored)) == stored. */
function nativeTokenOk(token: Buffer, scramble: Buffer, password: string): boolean {
  const stored = sha1(sha1(Buffer.from(password)));
  return token.length === 20 && sha1(xor(token, sha1(scramble, stored))).equals(stored);
}

function cachingSha2TokenOk(token: Buffer, scramble: Buffer, password: string): boolean {
  const h1 = sha256(Buffer.from(password));
  return token.length === 32 && xor(token, sha256(sha256(h1), scramble)).equals(h1);
}

/** Packets of a byte stream (complete ones only). */
function packets(bytes: Buffer): { seq: number; payload: Buffer }[] {
  const out: { seq: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 4 <= bytes.length) {
    const len = bytes.readUIntLE(at, 3);
    if (at + 4 + len > bytes.length) break;
    out.push({ seq: bytes[at + 3], payload: bytes.subarray(at + 4, at + 4 + len) });
    at += 4 + len;
  }
  return out;
}

/** n random printable bytes (a scramble never contains NUL). */
function printable(n: number): Buffer {
  return Buffer.from(randomBytes(n).map((b) => (b % 94) + 33));
}

/**
 * A fake MySQL 8 server speaking `plugin`; with switchTo set it answers the first response with
 * an AuthSwitchRequest. It accepts password "pw" only and records what it saw.
 */
function fakeMysql(plugin: string, switchTo: string | null) {
  const log: string[] = [];
  return scripted((s) => {
    const scramble = printable(20);
    s.write(myGreeting(scramble, plugin));
    let buf = Buffer.alloc(0);
    let stage = 0;
    let scr2 = scramble;
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (const pk of packets(buf)) {
        buf = buf.subarray(4 + pk.payload.length);
        if (stage === 0) {
          const r = parseResponse(pk.payload);
          log.push(`response seq=${pk.seq} user=${r.user} plugin=${r.plugin}`);
          if (switchTo !== null) {
            scr2 = printable(20);
            s.write(myPacket(pk.seq + 1, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${switchTo}\0`), scr2, Buffer.from([0])])));
            stage = 1;
            continue;
          }
          const good = plugin === "caching_sha2_password" ? cachingSha2TokenOk(r.token, scramble, "pw") : nativeTokenOk(r.token, scramble, "pw");
          log.push(`token ${good ? "valid" : "invalid"}`);
          if (!good) { s.end(myErr(pk.seq + 1, 1045, "Access denied for user", "28000")); return; }
          if (plugin === "caching_sha2_password") s.write(myPacket(pk.seq + 1, Buffer.from([0x01, 0x03])));
          s.write(myPacket(pk.seq + (plugin === "caching_sha2_password" ? 2 : 1), MY_OK.subarray(4)));
          stage = 2;
        } else if (stage === 1) {
          const good = nativeTokenOk(pk.payload, scr2, "pw");
          log.push(`switch reply seq=${pk.seq} token ${good ? "valid" : "invalid"}`);
          if (!good) { s.end(myErr(pk.seq + 1, 1045, "Access denied", "28000")); return; }
          s.write(myPacket(pk.seq + 1, MY_OK.subarray(4)));
          stage = 2;
        } else {
          log.push(`command seq=${pk.seq} 0x${pk.payload[0].toString(16)}`);
          if (pk.payload[0] === 0x01) s.end();
        }
      }
    });
  }).then((srv) => ({ ...srv, log }));
}

// ------------------------------------------------------------------------------ the suite

let peers: PeerSet;
let ports: { dbA: number; dbB: number; imap: number; pop3: number; smtp: number };
const http200 = { server: null as http.Server | null, target: { host: LOCAL, port: 0 }, seen: [] as http.IncomingHttpHeaders[] };

async function httpServer(handler: http.RequestListener): Promise<{ server: http.Server; target: ProbeTarget }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, LOCAL, r));
  return { server, target: { host: LOCAL, port: (server.address() as net.AddressInfo).port } };
}

const servers: http.Server[] = [];

before(async () => {
  requirePeers();
  peers = await openPeers("health");
  const [dbA, dbB, imap, pop3, smtp] = await peerPorts(5);
  ports = { dbA, dbB, imap, pop3, smtp };
  await Promise.all([peers.startMariadb([dbA, dbB]), peers.startDovecot(imap, pop3), peers.startPostfix(smtp)]);
  const h = await httpServer((req, res) => {
    http200.seen.push(req.headers);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("status: all good\n");
  });
  http200.server = h.server;
  http200.target = h.target;
  servers.push(h.server);
});

after(async () => {
  for (const s of servers) { s.closeAllConnections(); s.close(); }
  if (peers !== undefined) await peers.stop();
});

/** A real, running server for each registered check type. */
function upTarget(type: CheckType): ProbeTarget {
  switch (type) {
    case "tcp": return http200.target;
    case "http": return http200.target;
    case "mysql": return { host: LOCAL, port: ports.dbA };
    case "smtp": return { host: LOCAL, port: ports.smtp };
    case "pop3": return { host: LOCAL, port: ports.pop3 };
    case "imap": return { host: LOCAL, port: ports.imap };
  }
}

/** Per type: the plan extras for the real server, its ok layer, and garbage a server may send. */
const contract: { readonly [K in CheckType]: { over: Partial<HealthPlan>; layer: "L4" | "L7"; garbage: string } } = {
  tcp: { over: {}, layer: "L4", garbage: "" },
  http: { over: {}, layer: "L7", garbage: "SSH-2.0-OpenSSH_9.2\r\n\r\n" },
  mysql: { over: { user: "switchyard", password: "secret" }, layer: "L7", garbage: "\x05\x00\x00\x00hello" },
  smtp: { over: {}, layer: "L7", garbage: "HTTP/1.1 400 Bad Request\r\n" },
  pop3: { over: {}, layer: "L7", garbage: "220 mail.example ESMTP\r\n" },
  imap: { over: {}, layer: "L7", garbage: "+OK POP3 ready\r\n" },
};

describe("health conformance: every registered check", () => {
  test("the registry covers every health type but none, and each factory names its own key", () => {
    assert.deepEqual([...healthTypeNames].sort(), ["http", "imap", "mysql", "none", "pop3", "smtp", "tcp"]);
    for (const [k, f] of Object.entries(healthChecks)) assert.equal(f.type, k);
    assert.equal(getHealthCheck("none"), null);
    assert.equal(getHealthCheck("toString"), null);
  });

  for (const type of Object.keys(healthChecks) as CheckType[]) {
    const c = contract[type];

    test(`${type}: up against a real server`, async () => {
      const r = await probe(type, upTarget(type), c.over);
      assertOk(r, c.layer);
      assert.ok(r.ms >= 0 && r.ms < TIMEOUT_MS);
    });

    test(`${type}: down (closed port) is L4 refused`, async () => {
      const r = await probe(type, await closedPort(), c.over);
      assertFail(r, "L4", "refused", "ECONNREFUSED");
      assert.equal(r.ok === false && r.info, "connect refused");
    });

    test(`${type}: a server that accepts and says nothing fails by timeout, quickly`, async () => {
      const srv = await silent();
      const t0 = Date.now();
      const r = await probe(type, srv.target, c.over);
      const took = Date.now() - t0;
      await srv.close();
      if (type === "tcp") { assertOk(r, "L4"); return; }    // L4 only: accepting is enough
      assertFail(r, "L7", "timeout");
      assert.equal(r.ok === false && r.info, `timeout after ${TIMEOUT_MS} ms`);
      assert.ok(took >= TIMEOUT_MS - 20 && took < TIMEOUT_MS + 500, `took ${took} ms`);
    });

    test(`${type}: garbage from the server`, async () => {
      const srv = await says(c.garbage);
      const r = await probe(type, srv.target, c.over);
      await srv.close();
      if (type === "tcp") { assertOk(r, "L4"); return; }
      assertFail(r, "L7", "bad-response");
    });

    test(`${type}: a server that closes at once`, async () => {
      const srv = await scripted((s) => s.end());
      const r = await probe(type, srv.target, c.over);
      await srv.close();
      if (type === "tcp") { assertOk(r, "L4"); return; }
      assertFail(r, "L7", "bad-response");
      assert.match(r.ok === false ? r.info : "", /closed by server/);
    });
  }

  test("an already aborted signal gives a timeout without waiting", async () => {
    for (const type of Object.keys(healthChecks) as CheckType[]) {
      const ac = new AbortController();
      ac.abort();
      const r = await healthChecks[type].create(plan(type, contract[type].over)).probe(upTarget(type), ac.signal);
      assertFail(r, "L4", "timeout");
    }
  });
});

describe("health: tcp", () => {
  test("closes with FIN after connecting (the server sees a clean end, not a reset)", async () => {
    let ended = false;
    let reset = false;
    const srv = await scripted((s) => { s.on("end", () => { ended = true; s.end(); }); s.on("error", () => { reset = true; }); });
    assertOk(await probe("tcp", srv.target), "L4");
    await waitFor("FIN", () => ended);
    assert.equal(reset, false);
    await srv.close();
  });
});

describe("health: http", () => {
  test("200 passes with code 200; one fresh connection per probe, Connection: close, default Host", async () => {
    http200.seen.length = 0;
    const r1 = await probe("http", http200.target);
    const r2 = await probe("http", http200.target);
    assertOk(r1, "L7");
    assert.equal(r1.code, "200");
    assertOk(r2, "L7");
    assert.equal(http200.seen.length, 2);
    assert.equal(http200.seen[0].connection, "close");
    assert.equal(http200.seen[0].host, `${LOCAL}:${http200.target.port}`);
  });

  test("500 is bad-status 500; 404 outside a custom range too; 404 inside 200-404 passes", async () => {
    const h = await httpServer((req, res) => { res.writeHead(req.url === "/missing" ? 404 : 500); res.end("nope"); });
    servers.push(h.server);
    const r = await probe("http", h.target);
    assertFail(r, "L7", "bad-status", "500");
    assert.match(r.ok === false ? r.info : "", /status 500, expected 200-399/);
    assertFail(await probe("http", h.target, { path: "/missing" }), "L7", "bad-status", "404");
    assertOk(await probe("http", h.target, { path: "/missing", expectHigh: 404 }), "L7");
  });

  test("body substring: present passes, absent is bad-response with the status as code", async () => {
    assertOk(await probe("http", http200.target, { body: "all good" }), "L7");
    const r = await probe("http", http200.target, { body: "database: up" });
    assertFail(r, "L7", "bad-response", "200");
    assert.match(r.ok === false ? r.info : "", /does not contain "database: up"/);
  });

  test("method, path and Host come from the plan", async () => {
    let seen = "";
    const h = await httpServer((req, res) => { seen = `${req.method} ${req.url} ${req.headers.host}`; res.end(); });
    servers.push(h.server);
    assertOk(await probe("http", h.target, { method: "HEAD", path: "/healthz?full=1", host: "api.example.test" }), "L7");
    assert.equal(seen, "HEAD /healthz?full=1 api.example.test");
  });

  test("a server that sends headers and never the body is a timeout at L7", async () => {
    const h = await httpServer((_req, res) => { res.writeHead(200, { "content-length": "100" }); res.write("par"); });
    servers.push(h.server);
    assertFail(await probe("http", h.target, { body: "never" }), "L7", "timeout");
  });
});

describe("health: mysql", () => {
  test("with user: logs in to MariaDB (switchyard/secret) and ends with COM_QUIT", async () => {
    for (const port of [ports.dbA, ports.dbB]) {
      const r = await probe("mysql", { host: LOCAL, port }, { user: "switchyard", password: "secret" });
      assertOk(r, "L7");
      assert.equal(r.code, null);
    }
  });

  test("with user and a wrong password: bad-status 1045", async () => {
    const r = await probe("mysql", { host: LOCAL, port: ports.dbA }, { user: "switchyard", password: "wrong" });
    assertFail(r, "L7", "bad-status", "1045");
    assert.match(r.ok === false ? r.info : "", /Access denied/);
  });

  test("without user: the server answering the probe account's login is up (1698 when the account is missing)", async () => {
    const r = await probe("mysql", { host: LOCAL, port: ports.dbB });
    assertOk(r, "L7");
    assert.equal(r.code, "1698");
  });

  test("ERR instead of the greeting: 1040 too many connections, 1129 host blocked (with or without SQLSTATE)", async () => {
    for (const [errno, msg, state] of [[1040, "Too many connections", "08004"], [1129, "Host '10.0.0.5' is blocked because of many connection errors", null]] as const) {
      const srv = await says(myErr(0, errno, msg, state));
      const r = await probe("mysql", srv.target);
      await srv.close();
      assertFail(r, "L7", "bad-status", String(errno));
      assert.equal(r.ok === false && r.info, `greeting: ${errno} ${msg}`);
    }
  });

  test("auth switch to mysql_native_password is followed with the new scramble", async () => {
    const srv = await fakeMysql("caching_sha2_password", "mysql_native_password");
    const r = await probe("mysql", srv.target, { user: "app", password: "pw" });
    await waitFor("COM_QUIT", () => srv.log.some((l) => l.startsWith("command")));
    await srv.close();
    assertOk(r, "L7");
    assert.deepEqual(srv.log, [
      "response seq=1 user=app plugin=caching_sha2_password",
      "switch reply seq=3 token valid",
      "command seq=0 0x1",
    ]);
  });

  test("mysql_native_password token is right, and caching_sha2_password fast auth works", async () => {
    for (const plugin of ["mysql_native_password", "caching_sha2_password"]) {
      const srv = await fakeMysql(plugin, null);
      const r = await probe("mysql", srv.target, { user: "app", password: "pw" });
      await waitFor("COM_QUIT", () => srv.log.some((l) => l.startsWith("command")));
      await srv.close();
      assertOk(r, "L7");
      assert.deepEqual(srv.log, [`response seq=1 user=app plugin=${plugin}`, "token valid", "command seq=0 0x1"]);
    }
  });

  test("a stopped MariaDB is refused; restarted, it is up again", async () => {
    const t = { host: LOCAL, port: ports.dbB };
    const over = { user: "switchyard", password: "secret" };
    await peers.stopOne("mariadb", ports.dbB);
    assertFail(await probe("mysql", t, over), "L4", "refused");
    await peers.restartOne("mariadb", ports.dbB);
    assertOk(await probe("mysql", t, over), "L7");
  });

  test("probing every 100 ms for 10 s leaves Aborted_connects and Aborted_clients flat (user set, and probe account)", async () => {
    // dbA: plan.user = switchyard; dbB: no user, with the password-less probe account created
    await peers.mariadbRoot(ports.dbB, `CREATE USER IF NOT EXISTS '${PROBE_USER}'@'%'`);
    const counters = async (port: number): Promise<Map<string, number>> => {
      const out = await peers.mariadbRoot(port, "SHOW GLOBAL STATUS WHERE Variable_name IN " +
        "('Aborted_connects','Aborted_connects_preauth','Aborted_clients','Access_denied_errors','Connections')");
      return new Map(out.trim().split("\n").map((l) => { const [k, v] = l.split("\t"); return [k, Number(v)] as const; }));
    };
    const before = [await counters(ports.dbA), await counters(ports.dbB)];
    const lines: string[] = [];
    const runner = new HealthRunner(systemClock, { info: (_o, m) => lines.push(m), warn: (_o, m) => lines.push(m) });
    const verdicts: boolean[] = [];
    runner.watch("a", { host: LOCAL, port: ports.dbA }, plan("mysql", { intervalMs: 100, timeoutMs: 1000, user: "switchyard", password: "secret" }), (up) => verdicts.push(up));
    runner.watch("b", { host: LOCAL, port: ports.dbB }, plan("mysql", { intervalMs: 100, timeoutMs: 1000 }), (up) => verdicts.push(up));
    await new Promise((r) => setTimeout(r, 10_000));
    runner.close();
    await new Promise((r) => setTimeout(r, 300));   // let the last COM_QUITs land
    const afterAll = [await counters(ports.dbA), await counters(ports.dbB)];
    for (const i of [0, 1]) {
      const d = (k: string) => (afterAll[i].get(k) ?? NaN) - (before[i].get(k) ?? NaN);
      const name = i === 0 ? "with user" : "probe account";
      assert.ok(d("Connections") >= 80 && d("Connections") <= 115, `${name}: ${d("Connections")} probes in 10 s`);
      assert.equal(d("Aborted_connects"), 0, `${name}: Aborted_connects`);
      assert.equal(d("Aborted_connects_preauth"), 0, `${name}: Aborted_connects_preauth`);
      assert.equal(d("Aborted_clients"), 0, `${name}: Aborted_clients`);
      assert.equal(d("Access_denied_errors"), 0, `${name}: Access_denied_errors`);
    }
    assert.deepEqual(verdicts, [], "both stayed up");
    assert.deepEqual(lines, []);
    const errlog = readFileSync(join(peers.dir, `mariadb-${ports.dbA}`, "error.log"), "utf8");
    assert.doesNotMatch(errlog, /Aborted connection/);
  });
});

describe("health: smtp", () => {
  test("Postfix: 220, EHLO, 250, QUIT, 221; its log shows a clean session (ehlo=1 quit=1)", async () => {
    const r = await probe("smtp", { host: LOCAL, port: ports.smtp });
    assertOk(r, "L7");
    assert.equal(r.code, "221");
    const maillog = join(peers.dir, `smtp-${ports.smtp}`, "maillog");
    await waitFor("postfix disconnect line", () => /disconnect from .* ehlo=1 quit=1 commands=2/.test(readFileSync(maillog, "utf8")));
    assert.doesNotMatch(readFileSync(maillog, "utf8"), /lost connection/);
  });

  test("EHLO carries plan.helo; a multi-line greeting and EHLO reply are read whole", async () => {
    const srv = await scripted((s) => {
      s.write("220-mx.example.test ESMTP\r\n220 welcome\r\n");
      s.on("data", (d) => {
        const t = d.toString();
        if (t.startsWith("EHLO")) s.write("250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        if (t.startsWith("QUIT")) s.end("221 2.0.0 bye\r\n");
      });
    });
    assertOk(await probe("smtp", srv.target, { helo: "lb1.example.test" }), "L7");
    await srv.close();
    assert.equal(srv.received[0], "EHLO lb1.example.test\r\nQUIT\r\n");
  });

  test("421 greeting is bad-status 421, and QUIT is still sent", async () => {
    const srv = await says("421 4.3.2 mx.example.test Service not available\r\n");
    const r = await probe("smtp", srv.target);
    await waitFor("QUIT", () => srv.received[0] === "QUIT\r\n");
    await srv.close();
    assertFail(r, "L7", "bad-status", "421");
  });

  test("554 to EHLO is bad-status 554", async () => {
    const srv = await scripted((s) => { s.write("220 hi\r\n"); s.on("data", () => s.write("554 5.7.1 go away\r\n")); });
    const r = await probe("smtp", srv.target);
    await srv.close();
    assertFail(r, "L7", "bad-status", "554");
  });

  test("a stopped Postfix is refused; restarted, it is up again", async () => {
    const t = { host: LOCAL, port: ports.smtp };
    await peers.stopOne("smtp", ports.smtp);
    assertFail(await probe("smtp", t), "L4", "refused");
    await peers.restartOne("smtp", ports.smtp);
    assertOk(await probe("smtp", t), "L7");
  });
});

describe("health: pop3 and imap", () => {
  test("Dovecot POP3: +OK, QUIT, +OK", async () => {
    const r = await probe("pop3", { host: LOCAL, port: ports.pop3 });
    assertOk(r, "L7");
    assert.equal(r.code, "+OK");
  });

  test("Dovecot IMAP: * OK, LOGOUT, * BYE + tagged OK", async () => {
    const r = await probe("imap", { host: LOCAL, port: ports.imap });
    assertOk(r, "L7");
    assert.equal(r.code, "OK");
  });

  test("POP3 -ERR greeting is bad-status -ERR (QUIT still sent)", async () => {
    const srv = await says("-ERR [SYS/TEMP] maintenance\r\n");
    const r = await probe("pop3", srv.target);
    await waitFor("QUIT", () => srv.received[0] === "QUIT\r\n");
    await srv.close();
    assertFail(r, "L7", "bad-status", "-ERR");
  });

  test("IMAP * BYE greeting is bad-status BYE; a PREAUTH greeting passes", async () => {
    const bye = await says("* BYE [UNAVAILABLE] try later\r\n");
    assertFail(await probe("imap", bye.target), "L7", "bad-status", "BYE");
    await bye.close();
    const pre = await scripted((s) => {
      s.write("* PREAUTH ready\r\n");
      s.on("data", () => s.end("* BYE logging out\r\nsy1 OK LOGOUT done\r\n"));
    });
    assertOk(await probe("imap", pre.target), "L7");
    await pre.close();
    assert.equal(pre.received[0], "sy1 LOGOUT\r\n");
  });

  test("an endless greeting line is bad-response, not unbounded memory", async () => {
    const srv = await scripted((s) => { s.write("* OK " + "x".repeat(100_000)); });
    const r = await probe("imap", srv.target);
    await srv.close();
    assertFail(r, "L7", "bad-response");
  });

  test("a stopped Dovecot is refused on both ports; restarted, both are up again", async () => {
    await peers.stopOne("dovecot", ports.imap);
    assertFail(await probe("imap", { host: LOCAL, port: ports.imap }), "L4", "refused");
    assertFail(await probe("pop3", { host: LOCAL, port: ports.pop3 }), "L4", "refused");
    await peers.restartOne("dovecot", ports.imap);
    assertOk(await probe("imap", { host: LOCAL, port: ports.imap }), "L7");
    assertOk(await probe("pop3", { host: LOCAL, port: ports.pop3 }), "L7");
  });
});
