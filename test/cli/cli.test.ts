// The command line as users type it: -t, --version, --help, signals and the pid file.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { request } from "undici";
import { freePort, startOrigin, waitFor, sleep } from "../support/net.ts";

const root = path.resolve(import.meta.dirname, "../..");
const main = path.join(root, "src/main.ts");

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, ...env }, timeout: 20000 });
}

test("-t on a file with three mistakes prints all three with line:column and exits 1", () => {
  const r = cli(["-t", "-c", "test/fixtures/conf/three-mistakes.yaml"]);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split("\n").filter((l) => /^test\/fixtures\/conf\/three-mistakes\.yaml:\d+:\d+: /.test(l));
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines[0], /:7:5: upstreams\.web\.shceduler: /);
  assert.match(lines[1], /:11:44: upstreams\.web\.servers\[1\]\.weight: /);
  assert.match(lines[2], /:17:15: listeners\[0\]\.upstream: /);
});

test("-t on the demo configuration says it is ok", () => {
  const r = cli(["-t", "-c", "conf/switchyard.yaml"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "configuration conf/switchyard.yaml is ok");
});

test("--version and --help", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
  const v = cli(["--version"]);
  assert.equal(v.status, 0);
  assert.match(v.stdout, new RegExp(`^switchyard ${pkg.version.replace(/\./g, "\\.")} `));
  const h = cli(["--help"]);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /-t, --test/);
  const bad = cli(["--nope"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --nope/);
});

test("runs from a file: survives SIGHUP, -s stop through the pid file stops it gracefully with exit 0", async () => {
  const origin = await startOrigin("o");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-cli-"));
  const port = await freePort();
  const pid = path.join(dir, "sy.pid");
  const conf = path.join(dir, "c.yaml");
  fs.writeFileSync(conf, `pid_file: ${pid}
shutdown_timeout: 5s
upstreams:
  o: { scheduler: rr, servers: [ { address: ${origin.address} } ] }
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${port}, upstream: o }
`);
  const child = spawn(process.execPath, [main, "-c", conf], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  try {
    assert.ok(await waitFor(() => out.includes("switchyard ready"), 10000), out);
    assert.equal(fs.readFileSync(pid, "utf8").trim(), String(child.pid));
    child.kill("SIGHUP");
    await sleep(300);
    const r = await request(`http://127.0.0.1:${port}/`);
    assert.equal(await r.body.text(), "o", "still serving after SIGHUP");
    const s = cli(["-s", "stop", "-c", conf]);
    assert.equal(s.status, 0, s.stderr);
    assert.equal(await exited, 0);
    assert.equal(fs.existsSync(pid), false, "the pid file is removed at exit");
    assert.match(out, /stopping/);
  } finally {
    child.kill("SIGKILL");
    await origin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
