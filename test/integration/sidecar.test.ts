// switchyard as a sidecar / container process: configured from the environment alone, reloading a
// watched ConfigMap-style symlink swap (and ignoring a broken one), running as nobody on a
// read-only root file system, and stopping gracefully on SIGTERM as PID 1 of a PID namespace.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { request } from "undici";
import { startOrigin, freePort, sleep, type Origin } from "../support/net.ts";
import { run, MAIN, type Running } from "../support/sidecar.ts";

const exec = promisify(execFile);
let a: Origin, b: Origin, slow: Origin;
const tmp: string[] = [];
const procs: Running[] = [];

before(async () => {
  a = await startOrigin("a");
  b = await startOrigin("b");
  slow = await startOrigin("slow", (_req, res) => {
    setTimeout(() => { res.writeHead(200, { "content-type": "text/plain" }); res.end("slow but complete"); }, 1500);
  });
});

after(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all([a?.close(), b?.close(), slow?.close()]);
  for (const d of tmp) {
    try { fs.chmodSync(d, 0o755); } catch { /* gone */ }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "sy-sidecar-"));
  tmp.push(d);
  return d;
}

function start(args: string[], opts: Parameters<typeof run>[1] = {}): Running {
  const p = run(args, opts);
  procs.push(p);
  return p;
}

function config(origin: Origin, extra = ""): string {
  return `${extra}
shutdown_timeout: 5s
log: { level: info, access: false }
upstreams:
  app: { scheduler: rr, health: { type: none }, servers: [ { address: ${origin.address} } ] }
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:0, upstream: app }
`;
}

async function get(port: number): Promise<{ status: number; body: string }> {
  const r = await request(`http://127.0.0.1:${port}/`, { reset: true });
  return { status: r.statusCode, body: await r.body.text() };
}

test("configured by SWITCHYARD_CONFIG_YAML alone: no file, no flag, ${NAME} from the same environment", async () => {
  const cwd = tempDir(); // no conf/ here: the text in the environment is all it has
  const yaml = config(a).replace(a.address, '"${APP_ORIGIN}"'); // quoted: "{" opens a flow map in YAML
  const p = start([], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_CONFIG_YAML: yaml, APP_ORIGIN: a.address } });
  const port = await p.port("web");
  const { stdout } = await exec("curl", ["-sS", "--max-time", "5", `http://127.0.0.1:${port}/`]);
  assert.equal(stdout, "a");
  const ready = await p.waitLog(/switchyard ready/);
  assert.equal(ready?.config, "$SWITCHYARD_CONFIG_YAML");
  p.kill("SIGTERM");
  assert.equal(await p.exited, 0);
});

/** The layout the kubelet makes for a mounted ConfigMap, and its atomic update. */
class ConfigMapDir {
  readonly dir: string;
  #n = 0;
  constructor(dir: string, content: string) {
    this.dir = dir;
    const first = this.#write(content);
    fs.symlinkSync(first, path.join(dir, "..data"));
    fs.symlinkSync("..data/switchyard.yaml", path.join(dir, "switchyard.yaml"));
  }
  get file(): string { return path.join(this.dir, "switchyard.yaml"); }
  #write(content: string): string {
    const ts = `..2026_01_01_00_00_0${this.#n++}.${process.pid}`;
    fs.mkdirSync(path.join(this.dir, ts));
    fs.writeFileSync(path.join(this.dir, ts, "switchyard.yaml"), content);
    return ts;
  }
  /** New timestamped dir, `..data_tmp` -> it, rename over `..data`, remove the old dir. */
  swap(content: string): void {
    const old = fs.readlinkSync(path.join(this.dir, "..data"));
    const next = this.#write(content);
    fs.symlinkSync(next, path.join(this.dir, "..data_tmp"));
    fs.renameSync(path.join(this.dir, "..data_tmp"), path.join(this.dir, "..data"));
    fs.rmSync(path.join(this.dir, old), { recursive: true });
  }
}

/** Polls GET until the body is `want`; returns the ms it took, or -1 after limitMs. */
async function timeUntil(port: number, want: string, limitMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    const r = await get(port);
    if (r.body === want) return performance.now() - t0;
    await sleep(25);
  }
  return -1;
}

test("watch: a ConfigMap symlink swap reloads within 2 s; a broken swap is logged and ignored", async (t) => {
  const cm = new ConfigMapDir(tempDir(), config(a, "watch: true"));
  const p = start(["-c", cm.file]);
  const port = await p.port("web");
  assert.equal((await get(port)).body, "a");
  assert.ok(await p.waitLog(/^watching /), "the watcher says what it watches");

  cm.swap(config(b, "watch: true"));
  const took = await timeUntil(port, "b", 2000);
  assert.ok(took >= 0, "the new upstream serves within 2 s of the swap");
  t.diagnostic(`the new upstream served ${Math.round(took)} ms after the swap`);

  // broken: an unknown key. The reload is refused, the old configuration keeps serving
  cm.swap(config(a, "watch: true\nwatchh: oops"));
  const refused = await p.waitLog(/reload refused/, 2000);
  assert.ok(refused !== null, "the broken file is logged");
  assert.match(JSON.stringify(refused), /watchh/);
  for (let i = 0; i < 5; i++) assert.deepEqual(await get(port), { status: 200, body: "b" });
  assert.equal(p.child.exitCode, null, "still running");

  // and the watcher still works after a broken file
  cm.swap(config(a, "watch: true"));
  assert.ok(await timeUntil(port, "a", 2000) >= 0);
  await sleep(700); // log lines are flushed every 200 ms; a second reload of one swap would show by now
  const reloads = p.logs.filter((l) => l.msg === "configuration reloaded").length;
  assert.equal(reloads, 2, "one reload per good swap, none for the broken one");
  p.kill("SIGTERM");
  assert.equal(await p.exited, 0);
});

test("--watch on a plain file: an in-place edit reloads; the same content written again does not", async () => {
  const dir = tempDir();
  const file = path.join(dir, "sy.yaml");
  fs.writeFileSync(file, config(a));
  const p = start(["-c", file, "--watch"]);
  const port = await p.port("web");
  fs.writeFileSync(file, config(b));
  assert.ok(await timeUntil(port, "b", 2000) >= 0);
  fs.writeFileSync(file, config(b)); // same bytes: nothing to do
  await sleep(700);
  assert.equal(p.logs.filter((l) => l.msg === "configuration reloaded").length, 1);
  p.kill("SIGTERM");
  assert.equal(await p.exited, 0);
});

test("as nobody on a read-only root file system with a read-only config directory", async () => {
  const confDir = tempDir();
  const state = tempDir();
  fs.chownSync(state, 65534, 65534);
  const adminPort = await freePort();
  const pidFile = path.join(state, "switchyard.pid");
  fs.writeFileSync(path.join(confDir, "switchyard.yaml"), config(a, `watch: true\npid_file: ${pidFile}\nadmin: { listen: 127.0.0.1:${adminPort} }`));
  fs.chmodSync(path.join(confDir, "switchyard.yaml"), 0o444);
  fs.chmodSync(confDir, 0o555);
  // a private mount namespace: / read-only (like `docker run --read-only`), the state dir writable
  const script = [
    "set -e",
    `mount --bind ${state} ${state}`,
    "mount -o remount,bind,ro /",
    `if runuser -u nobody -- touch ${confDir}/x 2>/dev/null || runuser -u nobody -- touch /tmp/sy-probe 2>/dev/null; then echo WRITABLE; exit 3; fi`,
    `exec runuser -u nobody -- ${process.execPath} ${MAIN} -c ${confDir}/switchyard.yaml`,
  ].join("\n");
  const p = start(["--mount", "--propagation", "private", "sh", "-c", script], { command: "unshare" });
  const port = await p.port("web");
  assert.deepEqual(await get(port), { status: 200, body: "a" });
  assert.ok(await p.waitLog(/^watching /), "watching a directory it cannot write is fine");
  const ready = await request(`http://127.0.0.1:${adminPort}/readyz`);
  assert.equal(ready.statusCode, 200);
  await ready.body.text();
  // it runs as nobody, and wrote its pid file in the writable state dir
  const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  assert.match(status, /^Uid:\s+65534\s/m);
  assert.ok(!p.text.join("").includes("WRITABLE"));
  // SIGTERM through the pid file, as `-s stop` does
  process.kill(pid, "SIGTERM");
  assert.equal(await p.exited, 0);
  assert.ok(!fs.existsSync(pidFile), "the pid file is removed on exit");
});

test("SIGTERM to PID 1 of a PID namespace: stops accepting, finishes the request in flight, exits 0", async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, "sy.yaml"), config(slow));
  const p = start(["--pid", "--fork", "--mount-proc", process.execPath, MAIN, "-c", path.join(dir, "sy.yaml")], { command: "unshare" });
  const port = await p.port("web");
  // unshare --fork: the proxy is unshare's child, PID 1 inside its namespace
  const unsharePid = p.child.pid ?? 0;
  const children = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim().split(/\s+/).map(Number);
  assert.equal(children.length, 1);
  const pid = children[0];
  assert.match(fs.readFileSync(`/proc/${pid}/status`, "utf8"), /^NSpid:\s+\d+\s+1$/m, "PID 1 in its namespace");

  const t0 = performance.now();
  const inflight = get(port);
  const seen = slow.requests;
  while (slow.requests === seen && performance.now() - t0 < 3000) await sleep(10);
  process.kill(pid, "SIGTERM"); // what a container runtime does: from outside the namespace
  assert.ok(await p.waitLog(/^stopping/, 2000), "the signal reached the handler");
  // no new connections once stopping
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(false); });
    s.on("error", () => resolve(true));
  });
  assert.ok(refused, "new connections are refused while draining");
  assert.deepEqual(await inflight, { status: 200, body: "slow but complete" });
  assert.equal(await p.exited, 0, "exit status 0 (unshare passes on PID 1's)");
  assert.ok(performance.now() - t0 < 5000, "before shutdown_timeout");
  assert.ok(p.logs.some((l) => l.msg === "stopped"));
});
