// The deployment examples hold together: the Kubernetes ConfigMap passes `switchyard -t` and its
// shutdown_timeout fits the pod's grace period; the systemd unit passes systemd-analyze verify
// and waits longer than shutdown_timeout; the keepalived check script follows /readyz of a real
// switchyard (0 while ready, non-zero while draining); the Dockerfile ships the npm package.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { request } from "undici";
import { loadConfigText, formatError } from "../../src/config/load.ts";
import { startOrigin, freePort, sleep } from "../support/net.ts";
import { run, ROOT } from "../support/sidecar.ts";

const exec = promisify(execFile);
const deploy = (p: string): string => path.join(ROOT, "deploy", p);

interface K8sObject { kind?: string; data?: Record<string, string>; spec?: Record<string, unknown> }
interface Container {
  name: string; restartPolicy?: string; args?: string[];
  readinessProbe?: { httpGet?: { path?: string } }; startupProbe?: { httpGet?: { path?: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

test("kubernetes: native sidecar, /readyz probes, ConfigMap passes -t, grace period covers shutdown_timeout", () => {
  const docs = parseAllDocuments(fs.readFileSync(deploy("kubernetes/sidecar-pod.yaml"), "utf8")).map((d) => d.toJS() as K8sObject);
  const cm = docs.find((d) => d.kind === "ConfigMap");
  const pod = docs.find((d) => d.kind === "Pod");
  assert.ok(cm?.data !== undefined && pod?.spec !== undefined);
  const text = cm.data["switchyard.yaml"];
  const r = loadConfigText(text, "configmap:switchyard.yaml", { SWITCHYARD_ADMIN_TOKEN: "t" });
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatError).join("\n"));
  assert.equal(r.plan.watch, true);

  const side = (pod.spec.initContainers as Container[]).find((c) => c.name === "switchyard");
  assert.ok(side !== undefined);
  assert.equal(side.restartPolicy, "Always", "an init container that keeps running is a native sidecar");
  assert.equal(side.readinessProbe?.httpGet?.path, "/readyz");
  assert.equal(side.startupProbe?.httpGet?.path, "/readyz");
  assert.equal(side.securityContext?.readOnlyRootFilesystem, true);
  // -c points into the mounted ConfigMap directory (not a subPath mount, which never updates)
  const mount = side.volumeMounts?.find((m) => m.name === "switchyard-config");
  assert.ok(mount !== undefined);
  assert.deepEqual(side.args, ["-c", path.posix.join(mount.mountPath, "switchyard.yaml")]);
  const grace = pod.spec.terminationGracePeriodSeconds as number;
  assert.ok(grace * 1000 >= r.plan.shutdownTimeoutMs + 15_000, `grace ${grace}s leaves the app 15 s before switchyard's ${r.plan.shutdownTimeoutMs} ms`);
});

test("systemd: the unit verifies, reloads with HUP after a -t check, and outwaits shutdown_timeout", async () => {
  const unit = fs.readFileSync(deploy("systemd/switchyard.service"), "utf8");
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.match(unit, /^ExecReload=\/usr\/local\/bin\/switchyard -t -c /m);
  const stop = /^TimeoutStopSec=(\d+)s$/m.exec(unit);
  assert.ok(stop !== null && Number(stop[1]) > 30, "longer than the default shutdown_timeout of 30 s");
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, "V8 needs W+X pages");
  // systemd-analyze verify wants the binary to exist: point it at this checkout's
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-unit-"));
  try {
    const file = path.join(dir, "switchyard.service");
    fs.writeFileSync(file, unit.replaceAll("/usr/local/bin/switchyard", path.join(ROOT, "bin/switchyard.js")));
    const { stdout, stderr } = await exec("systemd-analyze", ["verify", file]);
    assert.equal(`${stdout}${stderr}`.trim(), "", "systemd-analyze verify has nothing to say");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("keepalived: the track script passes while /readyz is 200 and fails once switchyard drains", async () => {
  const conf = fs.readFileSync(deploy("keepalived/keepalived.conf"), "utf8");
  assert.match(conf, /vrrp_script chk_switchyard \{[^}]*script "\/usr\/local\/libexec\/switchyard\/check-readyz"/);
  assert.match(conf, /track_script \{\s*chk_switchyard\s*\}/);
  const slow = await startOrigin("slow", (_req, res) => { setTimeout(() => res.end("done"), 1500); });
  const admin = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-ka-"));
  const file = path.join(dir, "sy.yaml");
  fs.writeFileSync(file, `
shutdown_timeout: 5s
admin: { listen: 127.0.0.1:${admin} }
upstreams: { app: { scheduler: rr, health: { type: none }, servers: [ { address: ${slow.address} } ] } }
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0, upstream: app } ]
`);
  const p = run(["-c", file]);
  const check = async (): Promise<number> => {
    try {
      await exec(deploy("keepalived/check-readyz"), [], { env: { PATH: process.env.PATH, SWITCHYARD_READYZ: `http://127.0.0.1:${admin}/readyz` } });
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };
  try {
    const port = await p.port("web");
    await p.waitLog(/switchyard ready/);
    assert.equal(await check(), 0, "ready: keep the address");
    const inflight = request(`http://127.0.0.1:${port}/`, { reset: true }).then((r) => r.body.text());
    await sleep(200);
    p.kill("SIGTERM");
    assert.ok(await p.waitLog(/^stopping/, 2000));
    assert.notEqual(await check(), 0, "draining: give the address up");
    assert.equal(await inflight, "done");
    assert.equal(await p.exited, 0);
    assert.ok(!p.logs.some((l) => l.msg === "shutdown deadline reached: closing remaining sessions"), "drained, not cut");
    assert.notEqual(await check(), 0, "stopped: give the address up");
  } finally {
    p.kill("SIGKILL");
    await slow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("Dockerfile: non-root, EXPOSE, HEALTHCHECK on /healthz, STOPSIGNAL; it ships exactly the npm package", async () => {
  const df = fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  const final = df.slice(df.lastIndexOf("\nFROM "));
  assert.match(final, /^FROM node:24[\w.-]*slim$/m);
  assert.match(final, /^USER (\d+):(\d+)$/m);
  assert.doesNotMatch(final, /^USER 0\b/m);
  assert.match(final, /^EXPOSE \d+/m);
  assert.match(final, /^STOPSIGNAL SIGTERM$/m);
  assert.match(final, /^HEALTHCHECK .*\\\n\s+CMD \["node"/m);
  assert.match(final, /SWITCHYARD_HEALTH_URL=http:\/\/127\.0\.0\.1:9090\/healthz/);
  assert.match(final, /^ENTRYPOINT \["node", "\/app\/bin\/switchyard\.js"\]$/m, "exec form: node is PID 1 and gets the signals");
  assert.match(df, /npm ci --omit=dev/);
  const { stdout } = await exec(process.execPath, [path.join(ROOT, "scripts/check-image-files.ts")], { cwd: ROOT, timeout: 60_000 });
  assert.match(stdout, /check-image-files: ok/);
});
