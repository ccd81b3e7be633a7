// MySQL listener against two real MariaDB servers (test/peers): mysql2 and the mariadb CLI through
// switchyard, TLS end to end, lc/sh spreading, PROXY v2, refusals as ERR 1040, retries before the
// greeting, servers dying and coming back, bounded memory for a slow client, graceful stop.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import mysql from "mysql2";
import mysqlp from "mysql2/promise";
import { freePort, sleep, waitFor } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { describeFlags } from "../../src/upstream/flags.ts";
import { openPeers, peerPorts, requirePeers, type PeerSet } from "../support/peers.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const USER = { user: "switchyard", password: "secret", database: "switchyard" };

let peers: PeerSet;
let proxy: TestProxy;
let A = 0;          // MariaDB ports
let B = 0;
const pids = new Map<number, number>();
let closer: net.Server;   // accepts and closes at once: dies before its greeting
let rejecter: net.Server; // answers with its own ERR packet (host blocked)

interface CliResult { readonly code: number; readonly stdout: string; readonly stderr: string }

function cli(port: number, args: readonly string[], sql: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile("mariadb", ["-h127.0.0.1", `-P${port}`, "-uswitchyard", "-psecret", "-N", "-B", ...args, "switchyard", "-e", sql],
      { timeout: 20_000 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      });
  });
}

type Conn = mysqlp.Connection;

/** A mysql2 connection; `from` binds the client socket to that local address (mysql2 has no option for it). */
function connect(port: number, extra: mysqlp.ConnectionOptions = {}, from: string | null = null): Promise<Conn> {
  const stream = from === null ? undefined : net.connect({ host: "127.0.0.1", port, localAddress: from });
  return mysqlp.createConnection({ host: "127.0.0.1", port, ...USER, connectTimeout: 10_000, ...extra, stream });
}

async function value(c: Conn, sql: string): Promise<unknown> {
  const [rows] = await c.query({ sql, rowsAsArray: true });
  return (rows as unknown[][])[0][0];
}

/** One connection, one query, closed: the first column of the first row. */
async function once(port: number, sql: string, from: string | null = null): Promise<unknown> {
  const c = await connect(port, {}, from);
  try { return await value(c, sql); } finally { await c.end(); }
}

function socketOf(c: Conn): net.Socket {
  return (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
}

function rejectionOf(p: Promise<unknown>): Promise<{ message: string; code: unknown; errno: unknown; sqlState: unknown }> {
  return p.then(
    () => { throw new Error("expected a rejection"); },
    (e: unknown) => e as { message: string; code: unknown; errno: unknown; sqlState: unknown },
  );
}

function serverState(pool: string, port: number): string {
  const s = proxy.rt.pools.get(pool)?.servers.find((x) => x.port === port);
  return s?.state ?? "missing";
}

before(async () => {
  requirePeers();
  peers = await openPeers("mysql");
  [A, B] = await peerPorts(2);
  // TLS on both servers: a throwaway self-signed certificate, appended to each my.cnf (extra.cnf)
  const tls = join(peers.dir, "tls");
  mkdirSync(tls, { recursive: true });
  await new Promise<void>((resolve, reject) => execFile("openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(tls, "key.pem"), "-out", join(tls, "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1"],
    { timeout: 30_000 }, (err) => (err === null ? resolve() : reject(err))));
  for (const p of [A, B]) {
    mkdirSync(join(peers.dir, `mariadb-${p}`), { recursive: true });
    writeFileSync(join(peers.dir, `mariadb-${p}`, "extra.cnf"), `[mariadbd]\nssl_cert=${join(tls, "cert.pem")}\nssl_key=${join(tls, "key.pem")}\n`);
  }
  for (const pr of await peers.startMariadb([A, B])) pids.set(pr.port, pr.pid);

  closer = net.createServer((s) => s.destroy());
  rejecter = net.createServer((s) => {
    const msg = Buffer.from("Host '127.0.0.1' is blocked because of many connection errors");
    const p = Buffer.alloc(7 + msg.length);
    p.writeUIntLE(3 + msg.length, 0, 3);
    p[4] = 0xff;
    p.writeUInt16LE(1129, 5);
    msg.copy(p, 7);
    s.end(p);
  });
  await new Promise<void>((r) => closer.listen(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => rejecter.listen(0, "127.0.0.1", () => r()));
  const closerPort = (closer.address() as net.AddressInfo).port;
  const rejecterPort = (rejecter.address() as net.AddressInfo).port;
  const [dead1, dead2] = [await freePort(), await freePort()];
  const ports: number[] = [];
  for (let i = 0; i < 8; i++) ports.push(await freePort());
  proxy = await startProxy(`
log: { level: info, access: true }
upstreams:
  rrdb:   { scheduler: rr, servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ] }
  lcdb:   { scheduler: lc, servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ] }
  shdb:   { scheduler: sh, servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ] }
  ppdb:   { scheduler: rr, servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ] }
  deaddb: { scheduler: rr, retries: 1, servers: [ { address: 127.0.0.1:${dead1} }, { address: 127.0.0.1:${dead2} } ] }
  flaky:  { scheduler: rr, retries: 2, passive: { max_fails: 0 }, servers: [ { address: 127.0.0.1:${closerPort} }, { address: 127.0.0.1:${rejecterPort} }, { address: 127.0.0.1:${A} } ] }
  blocked: { scheduler: rr, servers: [ { address: 127.0.0.1:${rejecterPort} } ] }
  faildb:
    scheduler: rr
    retries: 1
    health: { type: mysql, user: switchyard, password: secret, interval: 250ms, timeout: 2s, rise: 1, fall: 1 }
    passive: { max_fails: 0 }
    servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ]
listeners:
  - { name: rr,      protocol: mysql, listen: 127.0.0.1:${ports[0]}, upstream: rrdb }
  - { name: lc,      protocol: mysql, listen: 127.0.0.1:${ports[1]}, upstream: lcdb }
  - { name: sh,      protocol: mysql, listen: 127.0.0.1:${ports[2]}, upstream: shdb, key: source }
  - { name: pp,      protocol: mysql, listen: 127.0.0.1:${ports[3]}, upstream: ppdb, proxy_protocol: v2 }
  - { name: dead,    protocol: mysql, listen: 127.0.0.1:${ports[4]}, upstream: deaddb }
  - { name: flaky,   protocol: mysql, listen: 127.0.0.1:${ports[5]}, upstream: flaky }
  - { name: blocked, protocol: mysql, listen: 127.0.0.1:${ports[6]}, upstream: blocked }
  - { name: fail,    protocol: mysql, listen: 127.0.0.1:${ports[7]}, upstream: faildb }
`);
});

after(async () => {
  await proxy?.stop(1000);
  closer?.close();
  rejecter?.close();
  await peers?.stop();
});

test("mysql2 and the mariadb CLI query through switchyard; SELECT @@port shows where each landed", async (t) => {
  const seen: unknown[] = [];
  for (let i = 0; i < 4; i++) seen.push(await once(proxy.port("rr"), "SELECT @@port"));
  assert.deepEqual([...seen].sort(), [A, A, B, B].sort(), "rr alternates over both servers");
  const outs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await cli(proxy.port("rr"), [], "SELECT @@port, USER()");
    assert.equal(r.code, 0, r.stderr);
    outs.push(r.stdout.trim());
  }
  assert.deepEqual(outs.sort(), [`${A}\tswitchyard@127.0.0.1`, `${B}\tswitchyard@127.0.0.1`].sort());
  t.diagnostic(`mariadb CLI printed: ${JSON.stringify(outs)}`);
});

test("TLS requested by the client stays end to end (mysql2 ssl and mariadb --ssl)", async (t) => {
  const versions = new Map<unknown, unknown>();
  for (let i = 0; i < 2; i++) {
    const c = await connect(proxy.port("rr"), { ssl: { rejectUnauthorized: false } });
    const port = await value(c, "SELECT @@port");
    versions.set(port, await value(c, "SELECT variable_value FROM information_schema.session_status WHERE variable_name = 'Ssl_version'"));
    await c.end();
  }
  assert.deepEqual([...versions.keys()].sort(), [A, B].sort());
  for (const v of versions.values()) assert.match(String(v), /^TLSv1\.[23]$/);
  const r = await cli(proxy.port("rr"), ["--ssl"], "SELECT variable_value FROM information_schema.session_status WHERE variable_name = 'Ssl_cipher'");
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(r.stdout.trim(), "", "the CLI session is encrypted");
  t.diagnostic(`mysql2 Ssl_version per server: ${JSON.stringify([...versions])}; CLI Ssl_cipher: ${r.stdout.trim()}`);
});

test("lc spreads 20 held connections 10/10", async () => {
  const held: Conn[] = [];
  const count = new Map<unknown, number>();
  try {
    for (let i = 0; i < 20; i++) {
      const c = await connect(proxy.port("lc"));
      held.push(c);
      const p = await value(c, "SELECT @@port");
      count.set(p, (count.get(p) ?? 0) + 1);
    }
  } finally {
    await Promise.all(held.map((c) => c.end()));
  }
  assert.equal(count.get(A), 10);
  assert.equal(count.get(B), 10);
});

test("sh keeps each source address on one server", async () => {
  const byAddr = new Map<string, Set<unknown>>();
  for (let n = 2; n <= 9; n++) {
    const addr = `127.0.0.${n}`;
    const ports = new Set<unknown>();
    for (let i = 0; i < 3; i++) ports.add(await once(proxy.port("sh"), "SELECT @@port", addr));
    byAddr.set(addr, ports);
  }
  for (const [addr, ports] of byAddr) assert.equal(ports.size, 1, `${addr} always lands on the same server`);
  const used = new Set([...byAddr.values()].map((s) => [...s][0]));
  assert.deepEqual([...used].sort(), [A, B].sort(), "the 8 sources spread over both servers");
});

test("PROXY v2: USER() and the processlist show the original client address", async () => {
  const c = await connect(proxy.port("pp"), {}, "127.0.0.5");
  try {
    assert.equal(await value(c, "SELECT USER()"), "switchyard@127.0.0.5");
    const host = await value(c, "SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()");
    assert.equal(host, `127.0.0.5:${socketOf(c).localPort}`, "the client's own address and port");
  } finally { await c.end(); }
  assert.equal(await once(proxy.port("rr"), "SELECT USER()", "127.0.0.5"), "switchyard@127.0.0.1", "without PROXY MariaDB sees the proxy");
});

test("no server available: ERR 1040 naming the pool in place of the greeting (raw, mysql2, CLI)", async (t) => {
  const want = 'switchyard: no server available in upstream "deaddb"';
  // raw bytes: one ERR packet, sequence 0, no SQLSTATE, then FIN
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect(proxy.port("dead"), "127.0.0.1");
    const chunks: Buffer[] = [];
    s.on("data", (d) => chunks.push(d));
    s.on("end", () => { resolve(Buffer.concat(chunks)); s.destroy(); });
    s.on("error", reject);
  });
  assert.equal(raw.readUIntLE(0, 3), raw.length - 4, "exactly one packet");
  assert.equal(raw[3], 0);
  assert.equal(raw[4], 0xff);
  assert.equal(raw.readUInt16LE(5), 1040);
  assert.equal(raw.subarray(7).toString(), want);

  const e = await rejectionOf(connect(proxy.port("dead")));
  assert.equal(e.errno, 1040);
  assert.equal(e.code, "ER_CON_COUNT_ERROR");
  assert.equal(e.message, want);

  const plain = await cli(proxy.port("dead"), ["--skip-ssl"], "SELECT 1");
  assert.equal(plain.code, 1);
  assert.equal(plain.stderr.trim(), `ERROR 1040 (HY000): ${want}`);
  const dflt = await cli(proxy.port("dead"), [], "SELECT 1"); // this client asks for TLS by default
  assert.equal(dflt.code, 1);
  assert.match(dflt.stderr, new RegExp(`1040 - ${want.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  t.diagnostic(`mysql2: errno=${String(e.errno)} code=${String(e.code)} sqlState=${JSON.stringify(e.sqlState)} message=${e.message}`);
  t.diagnostic(`mariadb --skip-ssl: ${plain.stderr.trim()}`);
  t.diagnostic(`mariadb (default, TLS wanted): ${dflt.stderr.trim()}`);
});

test("before the greeting, a server that closes or refuses is skipped; nothing reached the client", async () => {
  for (let i = 0; i < 3; i++) assert.equal(await once(proxy.port("flaky"), "SELECT @@port"), A);
  const lines = proxy.logs.filter((l) => l.upstream === "flaky" && typeof l.msg === "string" && l.msg.includes("giving up on server"));
  assert.ok(lines.some((l) => l.reason === "upstream-reset"), "the closing server was tried and skipped");
  assert.ok(lines.some((l) => l.reason === "upstream-rejected"), "the refusing server was tried and skipped");
  // when no other server is left, the client gets the server's own refusal unchanged
  const e = await rejectionOf(connect(proxy.port("blocked")));
  assert.equal(e.errno, 1129);
  assert.match(e.message, /is blocked because of many connection errors/);
});

/** MariaDB's global Bytes_sent (all bytes the server wrote to its client sockets). */
async function bytesSent(port: number): Promise<number> {
  const out = await peers.mariadbRoot(port, "SHOW GLOBAL STATUS LIKE 'Bytes_sent'");
  return Number(out.trim().split("\t")[1]);
}

test("a 50 MB result to a slow client keeps the proxy's memory bounded (switchyard as a child process)", async (t) => {
  const port = await freePort();
  const file = join(peers.dir, "slow.yaml");
  writeFileSync(file, `log: { level: warn }
upstreams:
  db: { scheduler: rr, servers: [ { address: 127.0.0.1:${A} } ] }
listeners:
  - { name: my, protocol: mysql, listen: 127.0.0.1:${port}, upstream: db }
`);
  const child = spawn(process.execPath, ["src/main.ts", "-c", file], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const pid = child.pid ?? 0;
  const rss = (): number => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  const MiB = 2 ** 20;
  try {
    assert.ok(await waitFor(async () => { try { await once(port, "SELECT 1"); return true; } catch { return false; } }, 15_000), "switchyard started");
    for (let i = 0; i < 3; i++) await once(port, "SELECT 1");
    await sleep(200);
    const base = rss();
    let peak = base;
    const sampler = setInterval(() => { peak = Math.max(peak, rss()); }, 25);
    const conn = mysql.createConnection({ host: "127.0.0.1", port, ...USER });
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err === null ? resolve() : reject(err))));
    const sock = (conn as unknown as { stream: net.Socket }).stream;
    // A slow reader: at most 256 KiB per 25 ms (about 10 MB/s; the server could send far faster),
    // and after 10 MiB a full stop of 1 s, during which we ask the server how much it has sent.
    let budget = 0;
    let got = 0;
    let holdUntil = 0;
    let readAtHold = 0;
    let sentAtHold: Promise<number> | null = null;
    sock.on("data", (d: Buffer) => {
      got += d.length;
      budget += d.length;
      if (sentAtHold === null && got >= 10 * MiB) {
        readAtHold = got;
        holdUntil = Date.now() + 1000;
        sock.pause();
        sentAtHold = sleep(700).then(() => bytesSent(A));
      } else if (budget >= 256 * 1024) sock.pause();
    });
    const pacer = setInterval(() => { if (Date.now() < holdUntil) return; budget = 0; sock.resume(); }, 25);
    let rows = 0;
    let bytes = 0;
    const sent0 = await bytesSent(A);
    const t0 = Date.now();
    try {
      await new Promise<void>((resolve, reject) => {
        conn.query({ sql: "SELECT REPEAT('x', 1048576) AS x FROM seq_1_to_50", rowsAsArray: true })
          .on("result", (r: unknown) => { rows++; bytes += String((r as unknown[])[0]).length; })
          .on("error", reject)
          .on("end", () => resolve());
      });
    } finally {
      clearInterval(pacer);
      clearInterval(sampler);
      conn.destroy();
    }
    const secsTaken = (Date.now() - t0) / 1000;
    assert.equal(rows, 50);
    assert.equal(bytes, 50 * 1048576);
    assert.ok(sentAtHold !== null);
    const ahead = (await sentAtHold) - sent0 - readAtHold;
    const growth = peak - base;
    t.diagnostic(`proxy RSS ${(base / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB while relaying 50 MiB in ${secsTaken.toFixed(1)} s: growth ${(growth / MiB).toFixed(1)} MiB`);
    t.diagnostic(`client stopped after ${(readAtHold / MiB).toFixed(1)} MiB; the server had sent ${(ahead / MiB).toFixed(1)} MiB more (kernel buffers + proxy)`);
    assert.ok(secsTaken > 3, "the client really was slower than the server");
    assert.ok(ahead < 24 * MiB, `backpressure reaches the server: it was only ${(ahead / MiB).toFixed(1)} MiB ahead of the stopped client (a relay that ignores backpressure lets it send all 50)`);
    assert.ok(growth < 64 * MiB, `proxy RSS grew ${(growth / MiB).toFixed(1)} MiB (bounded: < 64 MiB)`);
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

test("a server that dies mid-session closes its clients promptly; others carry on", async () => {
  // find one connection on each server through rr
  const conns: Conn[] = [];
  const onPort = new Map<unknown, Conn>();
  for (let i = 0; i < 4 && onPort.size < 2; i++) {
    const c = await connect(proxy.port("rr"));
    conns.push(c);
    const p = await value(c, "SELECT @@port");
    if (!onPort.has(p)) onPort.set(p, c);
  }
  const victim = onPort.get(B) as Conn;
  const survivor = onPort.get(A) as Conn;
  victim.on("error", () => { /* reported through the pending query */ });
  const busy = rejectionOf(victim.query("SELECT SLEEP(30)"));
  await sleep(200);
  const t0 = Date.now();
  process.kill(pids.get(B) as number, "SIGKILL");
  const e = await busy;
  const took = Date.now() - t0;
  assert.equal(e.code, "PROTOCOL_CONNECTION_LOST");
  assert.ok(took < 2000, `client closed ${took} ms after the server died`);
  assert.equal(await value(survivor, "SELECT @@port"), A, "the other server's session is untouched");
  for (const c of conns) c.destroy();
  pids.set(B, await peers.restartOne("mariadb", B));
});

test("killing one server sends new connections to the other, health marks it down, restart brings it back; all down gives 1040", async () => {
  const port = proxy.port("fail");
  await peers.stopOne("mariadb", B);
  const landed: unknown[] = [];
  for (let i = 0; i < 6; i++) landed.push(await once(port, "SELECT @@port"));
  assert.deepEqual(landed, [A, A, A, A, A, A], "every new connection succeeded on the live server");
  assert.ok(await waitFor(() => serverState("faildb", B) === "down", 5000), "the dead server is marked down");
  const flags = proxy.rt.pools.get("faildb")?.servers.find((s) => s.port === B)?.flags ?? 0;
  assert.deepEqual(describeFlags(flags), ["health-check"], "the active MySQL check took it out (passive health is off here)");

  await peers.stopOne("mariadb", A);
  const e = await rejectionOf(connect(port));
  assert.equal(e.errno, 1040);
  assert.equal(e.message, 'switchyard: no server available in upstream "faildb"');
  const r = await cli(port, ["--skip-ssl"], "SELECT 1");
  assert.equal(r.stderr.trim(), 'ERROR 1040 (HY000): switchyard: no server available in upstream "faildb"');

  pids.set(A, await peers.restartOne("mariadb", A));
  pids.set(B, await peers.restartOne("mariadb", B));
  const back = new Set<unknown>();
  assert.ok(await waitFor(async () => {
    try { back.add(await once(port, "SELECT @@port")); } catch { /* still coming back */ }
    return back.has(A) && back.has(B);
  }, 15_000), `both servers serve again (saw ${[...back].join(", ")})`);
  assert.equal(serverState("faildb", B), "up");
});

test("graceful stop: a session between commands gets ERR 1053, a busy or TLS session is cut", async (t) => {
  const port = await freePort();
  const p2 = await startProxy(`
upstreams:
  db: { scheduler: rr, servers: [ { address: 127.0.0.1:${A} }, { address: 127.0.0.1:${B} } ] }
listeners:
  - { name: my, protocol: mysql, listen: 127.0.0.1:${port}, upstream: db }
`);
  let stopped = false;
  let cliProc: ChildProcessWithoutNullStreams | null = null;
  try {
    const idle = await connect(port, { multipleStatements: true });
    // walk the tracker through several response shapes before going idle
    await idle.query("SELECT 1 AS a; DO 1; SELECT 'x' AS b, '' AS c");
    await idle.execute("SELECT ? AS n, @@port AS p", [7]);
    await rejectionOf(idle.query("SELECT * FROM no_such_table"));
    const idlePort = await value(idle, "SELECT @@port");
    const idleId = idle.threadId;
    const idleErr = new Promise<{ code: unknown; message: string }>((r) => idle.once("error", (e: { code: unknown; message: string }) => r(e)));

    // the CLI reading statements from a pipe: one answered now, the next one sent after the stop
    const cp = spawn("mariadb", ["-h127.0.0.1", `-P${port}`, "-uswitchyard", "-psecret", "--skip-ssl", "--unbuffered", "-N", "-B", "switchyard"], { stdio: ["pipe", "pipe", "pipe"] });
    cliProc = cp;
    let cliOut = "";
    cp.stdout.on("data", (d: Buffer) => { cliOut += d.toString(); });
    cp.stderr.on("data", (d: Buffer) => { cliOut += d.toString(); });
    const cliExit = new Promise<number | null>((r) => cp.once("exit", (code) => r(code)));
    cp.stdin.write("SELECT 'first';\n");
    assert.ok(await waitFor(() => cliOut.includes("first"), 10_000), "the CLI answered before the stop");
    const busy = await connect(port);
    busy.on("error", () => { /* reported through the pending query */ });
    const busyErr = rejectionOf(busy.query("SELECT SLEEP(5)"));
    const tls = await connect(port, { ssl: { rejectUnauthorized: false } });
    await value(tls, "SELECT 1");
    const tlsErr = new Promise<{ code: unknown }>((r) => tls.once("error", (e: { code: unknown }) => r(e)));
    await sleep(100);

    const t0 = Date.now();
    await p2.stop(300);
    stopped = true;
    cp.stdin.end("SELECT 'second';\n");
    assert.equal(await cliExit, 1);
    assert.match(cliOut, /ERROR 1053 \(08S01\) at line 2: switchyard: shutting down, connection closed between commands/);
    t.diagnostic(`mariadb CLI printed: ${JSON.stringify(cliOut)}`);
    const ie = await idleErr;
    assert.equal(ie.code, 1053, "mysql2 reports the server-shutdown error");
    assert.equal(ie.message, "switchyard: shutting down, connection closed between commands");
    assert.equal((await busyErr).code, "PROTOCOL_CONNECTION_LOST", "mid-command: cut, never an injected packet");
    assert.equal((await tlsErr).code, "PROTOCOL_CONNECTION_LOST", "inside TLS nothing can be injected: cut");
    assert.ok(Date.now() - t0 < 2000);
    // the server saw a COM_QUIT, not an aborted connection
    await sleep(300);
    const log = readFileSync(join(peers.dir, `mariadb-${String(idlePort)}`, "error.log"), "utf8");
    assert.equal(log.includes(`Aborted connection ${idleId} `), false, "no aborted-connection warning for the idle session");
    t.diagnostic(`idle session: code=${String(ie.code)} message=${ie.message}`);
    for (const c of [idle, busy, tls]) c.destroy();
  } finally {
    if (!stopped) await p2.stop(300);
    if (cliProc !== null && cliProc.exitCode === null) cliProc.kill();
  }
});
