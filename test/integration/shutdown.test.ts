// Graceful stop of switchyard as a child process (issue 7, hardening.md R10): SIGTERM / -s stop
// finish work in flight within shutdown_timeout and exit 0; sessions still open at the deadline are
// closed with their protocol's goodbye (HTTP Connection: close, SMTP 421, IMAP * BYE, POP3 -ERR,
// MySQL ERR between commands); SIGQUIT / -s quit wait without a limit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { spawnSync } from "node:child_process";
import mysqlp from "mysql2/promise";
import { freePort, sleep, waitFor } from "../support/net.ts";
import { openPeers, peerPorts, requirePeers, type PeerSet } from "../support/peers.ts";
import { LineClient, lenientSmtp, scriptedServer, type Scripted } from "./mail-helpers.ts";
import { scratch, spawnSwitchyard, tail, versionOrigin, getFresh, probeConnect, type Child, type VersionOrigin } from "./reload-helpers.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
let dir = "";
let o: VersionOrigin;
let echo: net.Server;
let echoAddr = "";
let smtpBackend: Scripted;
let imapBackend: Scripted;
let pop3Backend: Scripted;
let peers: PeerSet | null = null;
let db = 0;
const children: Child[] = [];

before(async () => {
  requirePeers();
  dir = scratch("shutdown");
  o = await versionOrigin("o", "v1");
  echo = net.createServer((s) => { s.on("error", () => {}); s.pipe(s); });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  echoAddr = `127.0.0.1:${(echo.address() as net.AddressInfo).port}`;
  smtpBackend = await lenientSmtp();
  imapBackend = await scriptedServer("* OK fake\r\n", (c, chunk) => { c.socket.write(`${chunk.split(" ")[0]} OK done\r\n`); });
  pop3Backend = await scriptedServer("+OK fake\r\n", (c) => { c.socket.write("+OK\r\n"); });
  peers = await openPeers("shutdown");
  [db] = await peerPorts(1);
  await peers.startMariadb([db]);
});

after(async () => {
  for (const c of children) c.kill();
  await o?.close();
  echo?.close();
  for (const s of [smtpBackend, imapBackend, pop3Backend]) await s?.close();
  await peers?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Ports { http: number; tcp: number; mysql: number; smtp: number; imap: number; pop3: number; admin: number }

async function start(name: string, timeout: string): Promise<{ sy: Child; conf: string; ports: Ports }> {
  const ports: Ports = { http: await freePort(), tcp: await freePort(), mysql: await freePort(), smtp: await freePort(), imap: await freePort(), pop3: await freePort(), admin: await freePort() };
  const conf = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(conf, `shutdown_timeout: ${timeout}
pid_file: ${path.join(dir, `${name}.pid`)}
log: { level: info }
admin: { listen: 127.0.0.1:${ports.admin} }
upstreams:
  web:  { scheduler: rr, servers: [ { address: ${o.address} } ] }
  echo: { scheduler: rr, servers: [ { address: ${echoAddr} } ] }
  db:   { scheduler: rr, servers: [ { address: 127.0.0.1:${db} } ] }
  mx:   { scheduler: rr, servers: [ { address: ${smtpBackend.address} } ] }
  imap: { scheduler: rr, servers: [ { address: ${imapBackend.address} } ] }
  pop3: { scheduler: rr, servers: [ { address: ${pop3Backend.address} } ] }
listeners:
  - { name: http,  protocol: http,  listen: 127.0.0.1:${ports.http}, upstream: web }
  - { name: tcp,   protocol: tcp,   listen: 127.0.0.1:${ports.tcp}, upstream: echo }
  - { name: mysql, protocol: mysql, listen: 127.0.0.1:${ports.mysql}, upstream: db }
  - { name: smtp,  protocol: smtp,  listen: 127.0.0.1:${ports.smtp}, upstream: mx, hostname: px.test }
  - { name: imap,  protocol: imap,  listen: 127.0.0.1:${ports.imap}, upstream: imap }
  - { name: pop3,  protocol: pop3,  listen: 127.0.0.1:${ports.pop3}, upstream: pop3 }
`);
  const sy = spawnSwitchyard(conf);
  children.push(sy);
  assert.ok(await sy.waitLog(/^switchyard ready$/), tail(sy));
  return { sy, conf, ports };
}

/** `switchyard -s WHAT -c conf`, as a user types it. */
function cliSignal(what: "stop" | "quit", conf: string): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, "src/main.ts"), "-s", what, "-c", conf], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** A keep-alive GET on agent: status, headers, body length. */
function get(port: number, agent: http.Agent, p = "/"): Promise<{ status: number; headers: http.IncomingHttpHeaders; length: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: p, agent }, (res) => {
      let n = 0;
      res.on("data", (c: Buffer) => { n += c.length; });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, length: n, socket: req.socket as net.Socket }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("SIGTERM: stop accepting at once, /readyz 503, finish the request in flight (Connection: close), close idle keep-alive connections, exit 0 long before the deadline", async () => {
  const { sy, ports } = await start("term", "10s");
  const busy = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await get(ports.http, idle);
  let idleClosed = false;
  first.socket.once("close", () => { idleClosed = true; });
  const slow = get(ports.http, busy, "/slow?ms=1500");
  await sleep(300);
  const t0 = Date.now();
  sy.signal("SIGTERM");
  assert.ok(await waitFor(async () => await probeConnect(ports.http) === "refused", 1000), "new connections refused at once");
  assert.equal((await getFresh(ports.admin, "/readyz")).status, 503, "not ready while draining");
  assert.ok(await waitFor(() => idleClosed, 1000), "idle keep-alive connection closed");
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.length, 65536, "full body");
  assert.equal(r.headers.connection, "close", "the last response of a drained connection says close");
  const exit = await sy.exited;
  assert.equal(exit.code, 0, tail(sy));
  const took = exit.at - t0;
  assert.ok(took < 4000, `exited ${took} ms after SIGTERM, without waiting for the 10 s deadline`);
  busy.destroy();
  idle.destroy();
  console.log(`# SIGTERM with a 1.5 s request in flight: exit 0 after ${took} ms (shutdown_timeout 10 s)`);
});

test("-s stop: at shutdown_timeout every open session is closed with its protocol's goodbye", async () => {
  const { sy, conf, ports } = await start("stop", "1500ms");
  // TCP: a long session
  const tcp = await LineClient.connect(ports.tcp);
  tcp.write("ping\r\n");
  assert.equal(await tcp.line(), "ping");
  // MySQL: logged in, idle between commands
  const conn = await mysqlp.createConnection({ host: "127.0.0.1", port: ports.mysql, user: "switchyard", password: "secret", database: "switchyard" });
  let dbError: { errno?: number; code?: number | string; message?: string } | null = null;
  conn.on("error", (e: { errno?: number; code?: number | string; message?: string }) => { dbError = e; });
  // SMTP: one session still talking to the proxy (EHLO only), one relayed to the server (after MAIL)
  const smtpIdle = await LineClient.connect(ports.smtp);
  await smtpIdle.reply();
  smtpIdle.write("EHLO c.test\r\n");
  await smtpIdle.reply();
  const smtpRelay = await LineClient.connect(ports.smtp);
  await smtpRelay.reply();
  smtpRelay.write("EHLO c.test\r\n");
  await smtpRelay.reply();
  smtpRelay.write("MAIL FROM:<a@c.test>\r\n");
  assert.match((await smtpRelay.reply()).join("\n"), /^250 /m);
  smtpRelay.write("RCPT TO:<b@c.test>\r\n"); // the first RCPT hands the session to the server
  assert.match((await smtpRelay.reply()).join("\n"), /^250 /m);
  // IMAP and POP3 before login (talking to the proxy alone)
  const imap = await LineClient.connect(ports.imap);
  await imap.line();
  const pop3 = await LineClient.connect(ports.pop3);
  await pop3.line();
  // HTTP: a keep-alive client
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await get(ports.http, agent);
  const long = get(ports.http, new http.Agent({ keepAlive: true }), "/slow?ms=10000").catch((e: Error) => e);

  const t0 = Date.now();
  assert.match(cliSignal("stop", conf), new RegExp(`^sent SIGTERM to ${sy.pid}$`));
  // sessions talking to the proxy alone say goodbye at once
  assert.match(await imap.line(2000), /^\* BYE \[UNAVAILABLE\] /);
  assert.match(await pop3.line(2000), /^-ERR \[SYS\/TEMP\] /);
  assert.match((await smtpIdle.reply(2000)).join("\n"), /^421 4\.3\.2 px\.test /);
  // the others keep working until the deadline
  await sleep(600);
  tcp.write("still\r\n");
  assert.equal(await tcp.line(), "still");
  const [rows] = await conn.query({ sql: "SELECT 1 + 1", rowsAsArray: true });
  assert.equal((rows as unknown[][])[0][0], 2);
  smtpRelay.write("RCPT TO:<c@c.test>\r\n");
  assert.match((await smtpRelay.reply()).join("\n"), /^250 /m, "the relayed session still works while draining");
  // the deadline: goodbyes between commands, then close
  assert.match((await smtpRelay.reply(3000)).join("\n"), /^421 4\.3\.2 px\.test Service shutting down/);
  assert.ok(await tcp.waitClosed(3000), "TCP session closed at the deadline");
  assert.ok(await waitFor(() => dbError !== null, 3000), "MySQL client told");
  const e = dbError as { errno?: number; code?: number | string; message?: string } | null;
  // mysql2 reports an ERR packet that answers no command with the number as its code
  assert.ok(e?.errno === 1053 || e?.code === 1053 || e?.code === "ER_SERVER_SHUTDOWN", `MySQL ERR 1053 (server shutdown): ${JSON.stringify(e)}`);
  assert.match(String(e?.message), /shutting down/);
  const cut = await long;
  assert.ok(cut instanceof Error, "the 10 s request was cut at the deadline");
  const exit = await sy.exited;
  assert.equal(exit.code, 0, tail(sy));
  const took = exit.at - t0;
  assert.ok(took >= 1400 && took < 3500, `exited ${took} ms after -s stop (shutdown_timeout 1.5 s)`);
  assert.ok(sy.count(/^shutdown deadline reached/) === 1, tail(sy));
  agent.destroy();
  await conn.destroy();
  console.log(`# -s stop with 7 open sessions: goodbyes sent, exit 0 after ${took} ms (shutdown_timeout 1.5 s)`);
});

test("-s quit: no time limit, a request longer than shutdown_timeout completes; SIGINT stops like SIGTERM", async () => {
  const { sy, conf, ports } = await start("quit", "300ms");
  const slow = getFresh(ports.http, "/slow?ms=2000");
  await sleep(200);
  const t0 = Date.now();
  assert.match(cliSignal("quit", conf), new RegExp(`^sent SIGQUIT to ${sy.pid}$`));
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 65536);
  const exit = await sy.exited;
  assert.equal(exit.code, 0, tail(sy));
  assert.ok(exit.at - t0 >= 1500, "it waited for the request, not for shutdown_timeout");
  assert.equal(fs.existsSync(path.join(dir, "quit.pid")), false, "pid file removed");

  const second = await start("int", "5s");
  second.sy.signal("SIGINT");
  const e2 = await second.sy.exited;
  assert.equal(e2.code, 0, tail(second.sy));
});
