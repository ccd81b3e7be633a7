// What a user of the npm package sees: `npm pack` (prepack builds dist/), install the tarball into
// an empty folder, then `npx switchyard` under each Node given. Supported versions (package.json
// "engines") must check a file (-t) and proxy a request, then stop on SIGTERM with exit 0; older
// ones must be refused with a clear message by bin/switchyard.js.
// Needs the npm registry (or its cache) for the package's dependencies, so it is a script, not a test.
// Usage: node scripts/pack-smoke.ts [NODE_BINARY...]   (default: node_modules/.bin/node, /usr/bin/node)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { execFileSync, spawn } from "node:child_process";

const root = path.resolve(import.meta.dirname, "..");
const nodes = (process.argv.length > 2 ? process.argv.slice(2) : [path.join(root, "node_modules/.bin/node"), "/usr/bin/node"]).map((n) => path.resolve(n));
const engines = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
const min = (/>=\s*(\d+)\.(\d+)/.exec(engines) ?? []).slice(1).map(Number);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sy-pack-"));
let failures = 0;

function say(ok: boolean, what: string): void {
  if (!ok) failures++;
  process.stdout.write(`${ok ? "ok  " : "FAIL"} ${what}\n`);
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 }) };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

try {
  const packed = sh("npm", ["pack", "--json", "--pack-destination", work], root);
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.out}`);
  const info = (JSON.parse(packed.out.slice(packed.out.indexOf("["))) as { filename: string; files: { path: string }[] }[])[0];
  say(info.files.some((f) => f.path === "dist/main.js") && !info.files.some((f) => f.path.endsWith(".ts")), `${info.filename}: ${info.files.length} files, dist/main.js and no .ts`);

  const app = path.join(work, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), '{ "name": "try-switchyard", "private": true }\n');
  const inst = sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", path.join(work, info.filename)], app);
  if (inst.code !== 0) throw new Error(`npm install of the tarball failed:\n${inst.out}`);
  say(true, `installed into an empty folder (${app})`);
  const conf = path.join(app, "node_modules/switchyard/conf/switchyard.yaml");

  const origin = http.createServer((_req, res) => res.end("through switchyard"));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
  const originPort = (origin.address() as { port: number }).port;
  const yamlFile = path.join(work, "smoke.yaml");
  fs.writeFileSync(yamlFile, `shutdown_timeout: 2s
upstreams: { app: { scheduler: rr, health: { type: none }, servers: [ { address: 127.0.0.1:${originPort} } ] } }
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0, upstream: app } ]
`);

  for (const node of nodes) {
    const version = sh(node, ["--version"], app).out.trim();
    const [maj, minr] = version.slice(1).split(".").map(Number);
    const supported = maj > min[0] || (maj === min[0] && minr >= min[1]);
    const env = { ...process.env, PATH: `${path.dirname(fs.realpathSync(node))}:${process.env.PATH ?? ""}` };
    const t = sh("npx", ["--no-install", "switchyard", "-t", "-c", conf], app, env);
    if (!supported) {
      say(t.code === 1 && /needs Node\.js/.test(t.out), `node ${version} (below ${engines}): refused: ${t.out.trim()}`);
      continue;
    }
    say(t.code === 0 && /is ok/.test(t.out), `node ${version}: npx switchyard -t -c ${path.relative(app, conf)}: ${t.out.trim()}`);
    // run the installed command under this node (npx would stand between it and the signal): one request, then SIGTERM
    const child = spawn(node, [path.join(app, "node_modules/.bin/switchyard"), "-c", yamlFile], { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    let port = 0;
    for (let i = 0; i < 100 && port === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const m = /"listener":"web"[^\n]*"port":(\d+)/.exec(out);
      if (m !== null) port = Number(m[1]);
    }
    let body = "";
    if (port !== 0) body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    say(body === "through switchyard", `node ${version}: proxied a request through the installed package`);
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 10_000))]);
    say(code === 0 && /"msg":"stopped"/.test(out), `node ${version}: SIGTERM -> exit ${code}`);
    if (code === "timeout") { child.kill("SIGKILL"); await exited; }
  }
  origin.close();
} catch (err) {
  say(false, (err as Error).message);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
process.stdout.write(failures === 0 ? "pack-smoke: all ok\n" : `pack-smoke: ${failures} failure(s)\n`);
process.exitCode = failures === 0 ? 0 : 1;
