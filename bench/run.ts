// npm run bench: load with autocannon straight to the origin, through switchyard and through the
// http-proxy baseline, in one run, and print req/s, p50/p99 and the ratios.
// Options (env): BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 50), BENCH_SIZE (default 100).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
type Result = { requests: { average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number; timeouts: number };
const autocannon = require("autocannon") as (o: object) => Promise<Result>;

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const size = Number(process.env.BENCH_SIZE ?? 100);
const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, "..");
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function start(args: string[], readyText: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`${args.join(" ")} did not start`)), 15000);
    c.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(readyText)) { clearTimeout(t); c.stdout!.resume(); resolve(c); }
    });
    c.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}`)));
  });
}

async function load(url: string): Promise<Result> {
  // short warm-up, then the measured run
  await autocannon({ url, connections, duration: 1 });
  return autocannon({ url, connections, duration: seconds });
}

async function main(): Promise<void> {
  const originPort = await freePort();
  const syPort = await freePort();
  const hpPort = await freePort();
  await start([path.join(here, "origin.ts"), String(originPort), String(size)], "ready");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-bench-"));
  const conf = path.join(dir, "bench.yaml");
  fs.writeFileSync(conf, `log: { level: info, access: false }
upstreams:
  origin: { scheduler: rr, health: { type: none }, servers: [ { address: 127.0.0.1:${originPort} } ] }
listeners:
  - { name: bench, protocol: http, listen: 127.0.0.1:${syPort}, upstream: origin }
`);
  await start([path.join(root, "src/main.ts"), "-c", conf], "switchyard ready");
  await start([path.join(here, "http-proxy-baseline.ts"), String(hpPort), String(originPort)], "ready");

  const rows: [string, Result][] = [];
  rows.push(["direct (origin)", await load(`http://127.0.0.1:${originPort}/`)]);
  rows.push(["switchyard", await load(`http://127.0.0.1:${syPort}/`)]);
  rows.push(["http-proxy", await load(`http://127.0.0.1:${hpPort}/`)]);

  const direct = rows[0][1].requests.average;
  const hp = rows[2][1].requests.average;
  const out: string[] = [];
  out.push(`HTTP ${size} B, c=${connections}, ${seconds} s each, ${os.cpus().length} CPUs, node ${process.version}`);
  out.push("");
  out.push("| target | req/s | p50 ms | p99 ms | errors | vs direct | vs http-proxy |");
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [name, r] of rows) {
    const rps = r.requests.average;
    out.push(`| ${name} | ${Math.round(rps)} | ${r.latency.p50} | ${r.latency.p99} | ${r.errors + r.non2xx + r.timeouts} | ${(rps / direct).toFixed(2)} | ${(rps / hp).toFixed(2)} |`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => { for (const c of children) c.kill("SIGTERM"); },
  (err: unknown) => { process.stderr.write(`bench failed: ${String(err)}\n`); for (const c of children) c.kill("SIGTERM"); process.exitCode = 1; },
);
