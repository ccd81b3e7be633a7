// Reload under load (issue 7 "Must show", hardening.md R01, R04, R09): switchyard runs as a child
// process; 32 clients send requests for 10 s while the file is rewritten and SIGHUP sent 20 times,
// alternating two valid configs (different weights; each config's servers answer their version in
// x-version), and once with a broken file. Then a burst of 10 HUPs within 100 ms.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Pool, request } from "undici";
import { freePort, sleep } from "../support/net.ts";
import { scratch, spawnSwitchyard, tail, versionOrigin, getFresh, probeConnect, type Child, type VersionOrigin } from "./reload-helpers.ts";

let dir = "";
let conf = "";
let port = 0;
let extraPort = 0;
let origins: VersionOrigin[] = [];
let sy: Child | null = null;

type Version = "v1" | "v2";

/** v1: the v1 servers carry weight 3:1 and the v2 ones 0 (quiesced); v2 the reverse, 1:3. v2 also opens extraPort. */
function config(v: Version): string {
  const [a1, b1, a2, b2] = origins;
  const w = v === "v1" ? [3, 1, 0, 0] : [0, 0, 1, 3];
  return `pid_file: ${path.join(dir, "sy.pid")}
shutdown_timeout: 5s
log: { level: info, access: false }
upstreams:
  web:
    scheduler: wrr
    servers:
      - { address: ${a1.address}, weight: ${w[0]} }
      - { address: ${b1.address}, weight: ${w[1]} }
      - { address: ${a2.address}, weight: ${w[2]} }
      - { address: ${b2.address}, weight: ${w[3]} }
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: web }
${v === "v2" ? `  - { name: extra, protocol: http, listen: 127.0.0.1:${extraPort}, upstream: web }\n` : ""}`;
}

/** Three mistakes: an unknown key, an unknown scheduler, a route to a missing upstream. */
const BROKEN = (): string => `upstreams:
  web:
    shceduler: wrr
    servers: [ { address: ${origins[0].address} } ]
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: nowhere }
`;

function writeConf(text: string): void {
  // as an editor or a config manager does: a new file renamed over the old one
  fs.writeFileSync(`${conf}.tmp`, text);
  fs.renameSync(`${conf}.tmp`, conf);
}

before(async () => {
  dir = scratch("reload-load");
  conf = path.join(dir, "switchyard.yaml");
  origins = [await versionOrigin("v1a", "v1"), await versionOrigin("v1b", "v1"), await versionOrigin("v2a", "v2"), await versionOrigin("v2b", "v2")];
  port = await freePort();
  extraPort = await freePort();
  writeConf(config("v1"));
  sy = spawnSwitchyard(conf);
  assert.ok(await sy.waitLog(/^switchyard ready$/), tail(sy));
});

after(async () => {
  sy?.kill();
  for (const o of origins) await o.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Done { readonly id: string; readonly t0: number; readonly t1: number; readonly status: number; readonly version: string; readonly error: string | null }

test("R01: 32 clients for 10 s across 20 reloads and a broken one: zero failures, each request answered once, the new version right after each reload", async () => {
  const child = sy as Child;
  const url = `http://127.0.0.1:${port}`;
  const keepAlive = new Pool(url, { connections: 16, pipelining: 1, keepAliveTimeout: 30_000 });
  const done: Done[] = [];
  let stop = false;
  // 16 clients on keep-alive connections, 16 opening a new connection per request
  const loop = async (c: number): Promise<void> => {
    for (let n = 0; !stop && n < 100_000; n++) {
      const id = `${c}-${n}`;
      const t0 = performance.now();
      try {
        const r = c < 16
          ? await keepAlive.request({ path: "/", method: "GET", headers: { "x-req-id": id } })
          : await request(url, { method: "GET", headers: { "x-req-id": id }, reset: true });
        const body = await r.body.text();
        done.push({ id, t0, t1: performance.now(), status: r.statusCode, version: String(r.headers["x-version"] ?? body), error: null });
      } catch (e) {
        done.push({ id, t0, t1: performance.now(), status: 0, version: "", error: (e as Error).message });
      }
    }
  };
  const t00 = performance.now();
  const loops = Array.from({ length: 32 }, (_, c) => loop(c));
  await sleep(300);

  // each step: the version in force, when the HUP was sent and when the log said it was applied
  const steps: { version: Version; sent: number; applied: number }[] = [{ version: "v1", sent: t00, applied: t00 }];
  let reloaded = child.count(/^configuration reloaded$/);
  let refused = child.count(/^reload refused/);
  for (let i = 1; i <= 20; i++) {
    const v: Version = i % 2 === 1 ? "v2" : "v1";
    writeConf(config(v));
    const sent = performance.now();
    child.signal("SIGHUP");
    assert.ok(await child.waitLog(/^configuration reloaded$/, ++reloaded, 5000), `reload ${i} was not applied\n${tail(child)}`);
    steps.push({ version: v, sent, applied: performance.now() });
    await sleep(330);
    if (i === 10) {
      // R04: a broken file keeps the current config serving; the errors are logged
      writeConf(BROKEN());
      const s = performance.now();
      child.signal("SIGHUP");
      assert.ok(await child.waitLog(/^reload refused/, ++refused, 5000), `broken reload not refused\n${tail(child)}`);
      steps.push({ version: v, sent: s, applied: performance.now() });
      await sleep(330);
    }
  }
  const rest = 10_000 - (performance.now() - t00);
  if (rest > 0) await sleep(rest);
  stop = true;
  await Promise.all(loops);
  await keepAlive.close();
  const seconds = (performance.now() - t00) / 1000;

  // zero failed requests, every one answered 200
  const failed = done.filter((d) => d.error !== null || d.status !== 200);
  assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 5))}`);
  // every request answered exactly once: one response per id here, one arrival per id at the origins
  const ids = new Set(done.map((d) => d.id));
  assert.equal(ids.size, done.length);
  let arrivals = 0;
  for (const o of origins) {
    for (const [id, n] of o.seen) {
      assert.equal(n, 1, `request ${id} reached ${o.name} ${n} times`);
      assert.ok(ids.has(id), `origin saw ${id} that the client never got an answer for`);
      arrivals++;
    }
  }
  assert.equal(arrivals, done.length, "each answered request reached exactly one origin once");
  // the broken file was refused with all three errors logged
  const refusal = child.logs.find((l) => typeof l.msg === "string" && /configuration error/.test(l.msg));
  assert.ok(refusal !== undefined && Array.isArray(refusal.errors) && refusal.errors.length >= 2, JSON.stringify(refusal));
  // after each reload was applied and before the next signal, every request that started and
  // ended in that window shows the version in force (weights 0 keep the other version's servers out)
  let checked = 0;
  for (let i = 0; i < steps.length; i++) {
    const from = steps[i].applied;
    const to = i + 1 < steps.length ? steps[i + 1].sent : Infinity;
    const inWindow = done.filter((d) => d.t0 >= from && d.t1 <= to);
    assert.ok(inWindow.length > 0, `no request completed within step ${i}`);
    const wrong = inWindow.filter((d) => d.version !== steps[i].version);
    assert.equal(wrong.length, 0, `step ${i} (${steps[i].version}): ${wrong.length} of ${inWindow.length} answered ${wrong[0]?.version}`);
    checked += inWindow.length;
  }
  // weights: within v1 windows, v1a:v1b is about 3:1
  const a = origins[0].seen.size;
  const b = origins[1].seen.size;
  assert.ok(a > 2 * b && a < 4.5 * b, `v1 weights 3:1, saw ${a}:${b}`);
  console.log(`# R01: ${done.length} requests in ${seconds.toFixed(1)} s (${Math.round(done.length / seconds)}/s), 0 failed, ${checked} checked for version, 21 HUPs (20 applied, 1 refused)`);
  assert.equal(await probeConnect(port), "open");
});

test("R09: 10 HUPs within 100 ms while the file changes settle on the file on disk, leaving no listener behind", async () => {
  const child = sy as Child;
  writeConf(config("v1"));
  child.signal("SIGHUP");
  assert.ok(await child.waitLog(/^configuration reloaded$/, child.count(/^configuration reloaded$/) + 1, 5000));
  await sleep(200);
  assert.equal(await probeConnect(extraPort), "refused", "v1 has no extra listener");
  const listenBefore = listeningSockets(child.pid);
  const before = child.count(/^configuration reloaded$/);
  for (let i = 0; i < 10; i++) {
    writeConf(config(i % 2 === 0 ? "v2" : "v1"));
    child.signal("SIGHUP");
    await sleep(9);
  }
  writeConf(config("v2")); // what is on disk at the end of the burst
  child.signal("SIGHUP");
  // settle: no new reload for 1 s
  let n = -1;
  for (let i = 0; i < 50 && n !== child.count(/^configuration reloaded$/); i++) { n = child.count(/^configuration reloaded$/); await sleep(1000); }
  const applied = n - before;
  assert.ok(applied >= 1 && applied <= 11, `${applied} reloads applied for 11 HUPs`);
  for (let i = 0; i < 10; i++) {
    const r = await getFresh(port);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-version"], "v2", "the file on disk (v2) is what serves");
  }
  assert.equal(await probeConnect(extraPort), "open", "v2's extra listener is open");
  assert.equal(listeningSockets(child.pid), listenBefore + 1, "exactly one more listening socket (extra), none leaked");
  console.log(`# R09: 11 HUPs in ~100 ms -> ${applied} reloads applied; listening sockets ${listenBefore} -> ${listeningSockets(child.pid)}`);
});

/** Listening TCP sockets held by pid: its socket fds whose inode is in LISTEN state in /proc/net/tcp{,6}. */
function listeningSockets(pid: number): number {
  const listen = new Set<string>();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = fs.readFileSync(f, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A") listen.add(cols[9]);
    }
  }
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try { target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m !== null && listen.has(m[1])) n++;
  }
  return n;
}
