// `workers: 2` (issue 7, hardening.md R10, R11): a supervising process that owns the listening
// sockets, two workers behind it, health checks run once and shared, kill -9 of a worker, reload
// and stop fanned out. switchyard runs as a child process; which worker served a request is read
// from the pid on its access log line.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { freePort, sleep, waitFor } from "../support/net.ts";
import { scratch, spawnSwitchyard, tail, versionOrigin, getFresh, probeConnect, alive, type Child, type VersionOrigin } from "./reload-helpers.ts";

let dir = "";
let conf = "";
let port = 0;
let adminPort = 0;
let a: VersionOrigin;
let b: VersionOrigin;
let c: VersionOrigin;
let sy: Child;
const extra: (() => Promise<void>)[] = [];

function config(servers: readonly VersionOrigin[], extraListen: number | null = null): string {
  return `workers: 2
shutdown_timeout: 5s
pid_file: ${path.join(dir, "sy.pid")}
log: { level: info, access: true }
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  web:
    scheduler: rr
    health: { type: http, path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 1 }
    servers: [ ${servers.map((o) => `{ address: ${o.address} }`).join(", ")} ]
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: web }
${extraListen === null ? "" : `  - { name: more, protocol: http, listen: 127.0.0.1:${extraListen}, upstream: web }\n`}`;
}

/** Worker pids as the supervisor announced them, latest per worker number. */
function workerPids(): Map<number, number> {
  const out = new Map<number, number>();
  for (const l of sy.logs) {
    const m = typeof l.msg === "string" ? /^worker (\d+) listening \(pid (\d+)\)$/.exec(l.msg) : null;
    if (m !== null) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

/** n requests on fresh connections; returns each answer's version/origin and the worker pids that logged them. */
async function spread(n: number): Promise<{ versions: Set<string>; origins: string[]; pids: Set<number> }> {
  const mark = sy.logs.length;
  const versions = new Set<string>();
  const origins: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await getFresh(port);
    assert.equal(r.status, 200, r.error ?? r.body);
    versions.add(String(r.headers["x-version"]));
    origins.push(String(r.headers["x-origin"]));
  }
  await sleep(450); // access lines are flushed every 200 ms
  const pids = new Set<number>();
  for (const l of sy.logs.slice(mark)) if (l.access === "http" && typeof l.pid === "number") pids.add(l.pid);
  return { versions, origins, pids };
}

/** Lines the supervisor itself logged (workers log their own "configuration reloaded" too). */
function bySupervisor(msg: RegExp): number {
  return sy.logs.filter((l) => l.pid === sy.pid && typeof l.msg === "string" && msg.test(l.msg)).length;
}

async function readyz(): Promise<number> {
  const r = await getFresh(adminPort, "/readyz", 2000);
  return r.status;
}

before(async () => {
  dir = scratch("workers");
  conf = path.join(dir, "switchyard.yaml");
  [a, b, c] = [await versionOrigin("a", "v1"), await versionOrigin("b", "v1"), await versionOrigin("c", "v2")];
  port = await freePort();
  adminPort = await freePort();
  fs.writeFileSync(conf, config([a, b]));
});

after(async () => {
  sy?.kill();
  for (const p of workerPids().values()) { try { process.kill(p, "SIGKILL"); } catch { /* gone */ } }
  for (const o of [a, b, c]) await o?.close();
  for (const e of extra) await e();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("R10: one supervisor, two workers; /readyz 503 until both listen; a HUP during start-up is kept for after it; the pid file holds the supervisor", async () => {
  sy = spawnSwitchyard(conf);
  assert.ok(await sy.waitLog(/^admin listening/), tail(sy));
  sy.signal("SIGHUP"); // arrives while the workers are being forked
  const codes: number[] = [];
  for (let i = 0; i < 300 && !codes.includes(200); i++) { codes.push(await readyz()); await sleep(10); }
  assert.ok(codes.includes(503), `readyz said 503 while starting: ${codes.slice(0, 5).join(",")}`);
  assert.equal(codes.at(-1), 200);
  assert.ok(await sy.waitLog(/^switchyard ready$/), tail(sy));
  assert.ok(await waitFor(() => bySupervisor(/^configuration reloaded$/) === 1, 10_000), `the HUP from start-up ran once ready\n${tail(sy)}`);
  assert.equal(sy.proc.exitCode, null, "still running");
  assert.equal(fs.readFileSync(path.join(dir, "sy.pid"), "utf8").trim(), String(sy.pid));
  const pids = [...workerPids().values()];
  assert.equal(pids.length, 2);
  for (const p of pids) {
    assert.notEqual(p, sy.pid);
    const ppid = Number(fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1]);
    assert.equal(ppid, sy.pid, "each worker is the supervisor's child");
  }
  const s = await spread(24);
  assert.deepEqual([...s.pids].sort(), [...pids].sort(), "connections are handed to both workers");
  // /metrics (served by the supervisor) adds up both workers' counters
  const text = (await getFresh(adminPort, "/metrics")).body;
  let requests = 0;
  for (const m of text.matchAll(/^switchyard_listener_requests_total\{[^}]*listener="web"[^}]*\} (\d+)$/gm)) requests += Number(m[1]);
  assert.equal(requests, 24, "requests counted across both workers");
  // so do /api/upstreams and /status.json: the supervisor serves nothing, its own pools count nothing
  const served = (name: string): number => s.origins.filter((o) => o === name).length;
  const ups = JSON.parse((await getFresh(adminPort, "/api/upstreams")).body) as { name: string; servers: { address: string; total: number; active: number }[] }[];
  const web = ups.find((u) => u.name === "web");
  assert.deepEqual(web?.servers.map((x) => [x.address, x.total]), [[a.address, served("a")], [b.address, served("b")]], "each server's total is what it served, over both workers");
  const st = JSON.parse((await getFresh(adminPort, "/status.json")).body) as { listeners: { name: string; requests: number; connections: number; status: Record<string, number> }[]; upstreams: { name: string; servers: { address: string; total: number }[] }[] };
  const l = st.listeners.find((x) => x.name === "web");
  assert.equal(l?.requests, 24, "the status page's listener row counts both workers' requests");
  assert.equal(l?.connections, 24);
  assert.equal(l?.status["2xx"], 24);
  assert.deepEqual(st.upstreams.find((u) => u.name === "web")?.servers.map((x) => x.total), [served("a"), served("b")]);
});

test("health is probed once per server, not once per worker, and every worker follows the supervisor's verdicts", async () => {
  const [pa, pb] = [a.probes, b.probes];
  await sleep(3000);
  const na = a.probes - pa;
  const nb = b.probes - pb;
  // one prober at 300 ms +-10% gives about 10 in 3 s; a prober per process would give about 30
  assert.ok(na >= 6 && na <= 14 && nb >= 6 && nb <= 14, `probes in 3 s: a=${na} b=${nb}`);
  console.log(`# health: ${na} and ${nb} probes in 3 s at a 300 ms interval with 2 workers (one prober)`);
  b.healthStatus = 503;
  // the supervisor logs b down once, and each worker applies the verdict (3 lines)
  assert.ok(await sy.waitLog(new RegExp(`^server ${b.address} is down$`), 3, 5000), tail(sy));
  const down = await spread(20);
  assert.deepEqual(new Set(down.origins), new Set(["a"]), "no worker sends to b");
  assert.equal(down.pids.size, 2, "both workers served");
  b.healthStatus = 200;
  assert.ok(await sy.waitLog(new RegExp(`^server ${b.address} is up$`), 3, 5000), tail(sy));
  const up = await spread(20);
  assert.deepEqual(new Set(up.origins), new Set(["a", "b"]));
});

test("R11: kill -9 of a worker is invisible to clients that retry on a reset; the port never refuses; the worker comes back and hears the verdicts", async () => {
  b.healthStatus = 503; // b is down when the new worker starts: it must know at once
  assert.ok(await sy.waitLog(new RegExp(`^server ${b.address} is down$`), 6, 5000), tail(sy));
  const before = workerPids();
  const victim = before.get(1) ?? 0;
  let stop = false;
  let ok = 0;
  let retried = 0;
  let failed = 0;
  let refused = 0;
  const client = async (): Promise<void> => {
    while (!stop) {
      for (let attempt = 0; ; attempt++) {
        const r = await getFresh(port);
        if (r.status === 200) { ok++; break; }
        if (r.error === "ECONNREFUSED") refused++;
        if (attempt < 3 && r.error !== null) { retried++; continue; } // a reset or a close before the answer
        failed++;
        break;
      }
    }
  };
  const knock = async (): Promise<void> => {
    while (!stop) { if (await probeConnect(port, 500) === "refused") refused++; await sleep(5); }
  };
  const loops = [client(), client(), client(), client(), knock()];
  await sleep(500);
  process.kill(victim, "SIGKILL");
  assert.ok(await sy.waitLog(/^worker 1 \(pid \d+\) died \(SIGKILL\); restarting in \d+ ms$/, 1, 5000), tail(sy));
  assert.ok(await waitFor(() => (workerPids().get(1) ?? victim) !== victim, 10_000), `worker 1 came back\n${tail(sy)}`);
  await sleep(1000);
  stop = true;
  await Promise.all(loops);
  assert.equal(refused, 0, "the listening socket never closed");
  assert.equal(failed, 0, `${failed} requests failed after retries`);
  assert.ok(ok > 50, `${ok} requests answered`);
  const now = workerPids();
  assert.equal(alive([...now.values()]).length, 2, "two workers again");
  assert.equal(alive([victim]).length, 0);
  console.log(`# R11: ${ok} answered, ${retried} retried after the kill, 0 failed, 0 refused; worker 1 pid ${victim} -> ${now.get(1) ?? 0}`);
  const s = await spread(24);
  assert.ok(s.pids.has(now.get(1) ?? 0), "the new worker serves");
  assert.deepEqual(new Set(s.origins), new Set(["a"]), "the new worker started knowing b is down");
  b.healthStatus = 200;
  assert.ok(await sy.waitLog(new RegExp(`^server ${b.address} is up$`), 6, 5000), tail(sy));
});

/** POST JSON to the admin listener; resolves the status. */
function post(pathName: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request({ host: "127.0.0.1", port: adminPort, path: pathName, method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(text);
  });
}

test("an admin API drain reaches every worker, and a worker forked later starts with it", async () => {
  const url = `/api/upstreams/web/servers/${encodeURIComponent(b.address)}`;
  assert.equal(await post(url, { state: "drain" }), 200);
  const drained = await spread(20);
  assert.deepEqual(new Set(drained.origins), new Set(["a"]), "no worker sends new work to b");
  assert.equal(drained.pids.size, 2);
  const victim = workerPids().get(2) ?? 0;
  process.kill(victim, "SIGKILL");
  assert.ok(await waitFor(() => (workerPids().get(2) ?? victim) !== victim, 10_000), `worker 2 came back\n${tail(sy)}`);
  const after = await spread(24);
  assert.ok(after.pids.has(workerPids().get(2) ?? 0), "the new worker serves");
  assert.deepEqual(new Set(after.origins), new Set(["a"]), "the new worker started with b drained");
  assert.equal(await post(url, { state: "up" }), 200);
  const back = await spread(20);
  assert.deepEqual(new Set(back.origins), new Set(["a", "b"]));
});

test("reload fans out to every worker; a reload that binds a port already taken is rejected whole", async () => {
  const reloaded = bySupervisor(/^configuration reloaded$/);
  fs.writeFileSync(conf, config([c]));
  sy.signal("SIGHUP");
  assert.ok(await waitFor(() => bySupervisor(/^configuration reloaded$/) === reloaded + 1, 10_000), tail(sy));
  const v2 = await spread(24);
  assert.deepEqual(v2.versions, new Set(["v2"]));
  assert.equal(v2.pids.size, 2, "both workers run the new config");
  // R05: a port held by someone else
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
  extra.push(() => new Promise<void>((r) => squatter.close(() => r())));
  const taken = (squatter.address() as net.AddressInfo).port;
  const refusedBefore = bySupervisor(/^reload refused/);
  fs.writeFileSync(conf, config([a, b], taken));
  sy.signal("SIGHUP");
  // the first worker refuses it, then the supervisor reports it
  assert.ok(await waitFor(() => bySupervisor(/^reload refused/) > refusedBefore, 10_000), tail(sy));
  const line = sy.logs.filter((l) => l.pid === sy.pid && typeof l.msg === "string" && /^reload refused/.test(l.msg)).at(-1);
  assert.match(String(line?.msg), /cannot listen on 127\.0\.0\.1:\d+: bind EADDRINUSE/);
  const still = await spread(24);
  assert.deepEqual(still.versions, new Set(["v2"]), "the old config serves in every worker");
  assert.equal(still.pids.size, 2);
  assert.equal(bySupervisor(/^configuration reloaded$/), reloaded + 1, "nothing was applied");
});

test("stop fans out: SIGTERM lets work in flight finish in the workers, then every process exits 0", async () => {
  const pids = [...workerPids().values()];
  const slow = getFresh(port, "/slow?ms=1200");
  await sleep(200);
  const t0 = Date.now();
  sy.signal("SIGTERM");
  await sleep(300);
  assert.equal(await readyz().catch(() => 0), 503, "draining: not ready");
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 65536);
  const exit = await sy.exited;
  assert.equal(exit.code, 0, tail(sy));
  assert.ok(exit.at - t0 < 5000, "within shutdown_timeout");
  assert.ok(await waitFor(() => alive(pids).length === 0, 3000), "workers exited");
  assert.equal(fs.existsSync(path.join(dir, "sy.pid")), false, "pid file removed");
  assert.equal(await probeConnect(port), "refused");
});
