// The proxy's V8 heap flags (src/runtime/heap-flags.ts): a run re-executes Node with them, keeping
// its pid; flags the operator gave win; SWITCHYARD_HEAP_FLAGS replaces the list.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { freePort, waitFor } from "../support/net.ts";
import { HEAP_FLAGS, missingHeapFlags } from "../../src/runtime/heap-flags.ts";

const root = path.resolve(import.meta.dirname, "../..");
const main = path.join(root, "src/main.ts");

test("missingHeapFlags: the defaults, less what node flags or NODE_OPTIONS already set, in either spelling", () => {
  assert.deepEqual(missingHeapFlags([], {}), [...HEAP_FLAGS]);
  const rest = HEAP_FLAGS.filter((f) => !f.startsWith("--max-semi-space-size"));
  assert.ok(rest.includes("--heap-growing-percent=20") && rest.length === HEAP_FLAGS.length - 1, HEAP_FLAGS.join(" "));
  assert.deepEqual(missingHeapFlags(["--max-semi-space-size=8"], {}), rest);
  assert.deepEqual(missingHeapFlags(["--max_semi_space_size=8"], {}), rest);
  assert.deepEqual(missingHeapFlags([], { NODE_OPTIONS: "--max-old-space-size=512  --max-semi-space-size=1" }), rest);
  assert.deepEqual(missingHeapFlags([...HEAP_FLAGS], {}), []);
  assert.deepEqual(missingHeapFlags([], { SWITCHYARD_HEAP_FLAGS: "" }), []);
  // an operator who wants Maglev back says --maglev: the default --no-maglev is then not added
  assert.ok(HEAP_FLAGS.includes("--no-maglev"), HEAP_FLAGS.join(" "));
  assert.ok(!missingHeapFlags(["--maglev"], {}).includes("--no-maglev"));
  assert.ok(!missingHeapFlags([], { NODE_OPTIONS: "--no_maglev" }).includes("--no-maglev"));
  assert.deepEqual(missingHeapFlags([], { SWITCHYARD_HEAP_FLAGS: " --max-semi-space-size=4 " }), ["--max-semi-space-size=4"]);
});

/**
 * Starts `node [nodeArgs] src/main.ts -c conf` (no NODE_OPTIONS; SWITCHYARD_HEAP_FLAGS as given, null:
 * unset; extraEnv added), waits for "switchyard ready"; returns its argv and environment as Linux shows
 * them, and its pid as it logged it.
 */
async function runOnce(nodeArgs: string[], heapFlags: string | null, extraEnv: Record<string, string> = {}): Promise<{ argv: string[]; env: string[]; loggedPid: number; childPid: number }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.SWITCHYARD_HEAP_FLAGS;
  delete env.MALLOC_ARENA_MAX;
  Object.assign(env, extraEnv);
  if (heapFlags !== null) env.SWITCHYARD_HEAP_FLAGS = heapFlags;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-heap-"));
  const conf = path.join(dir, "c.yaml");
  fs.writeFileSync(conf, `log: { level: info, access: false }
upstreams:
  o: { scheduler: rr, servers: [ { address: 127.0.0.1:9 } ] }
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:${await freePort()}, upstream: o }
`);
  const child = spawn(process.execPath, [...nodeArgs, main, "-c", conf], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    assert.ok(await waitFor(() => out.includes("switchyard ready"), 15000), out);
    const argv = fs.readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    const procEnv = fs.readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
    const ready = out.split("\n").find((l) => l.includes("switchyard ready")) ?? "{}";
    return { argv, env: procEnv, loggedPid: (JSON.parse(ready) as { pid: number }).pid, childPid: child.pid ?? -1 };
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("a run re-executes with the heap flags and keeps its pid", async () => {
  const r = await runOnce([], null);
  for (const f of HEAP_FLAGS) assert.ok(r.argv.includes(f), r.argv.join(" "));
  assert.ok(r.argv.indexOf(HEAP_FLAGS[0]) < r.argv.indexOf(main), "node flags come before the script");
  assert.equal(r.loggedPid, r.childPid);
  assert.ok(r.env.includes("MALLOC_ARENA_MAX=2"), "the re-executed image caps glibc's malloc arenas");
  const own = await runOnce([], null, { MALLOC_ARENA_MAX: "4" });
  assert.ok(own.env.includes("MALLOC_ARENA_MAX=4") && !own.env.includes("MALLOC_ARENA_MAX=2"), "the operator's MALLOC_ARENA_MAX wins");
});

test("a flag the operator gave wins; SWITCHYARD_HEAP_FLAGS=\"\" runs Node as started", async () => {
  const own = await runOnce(["--max-semi-space-size=8"], null);
  assert.ok(own.argv.includes("--max-semi-space-size=8"), own.argv.join(" "));
  assert.ok(!own.argv.includes("--max-semi-space-size=2"), own.argv.join(" "));
  assert.ok(own.argv.includes("--heap-growing-percent=20"), own.argv.join(" "));
  const none = await runOnce([], "");
  assert.deepEqual(none.argv.slice(1, 2), [main], none.argv.join(" "));
});
