// npm run bench:compare — the reference comparison (issue 11). One origin, then every target
// (direct, switchyard, http-proxy, a plain undici proxy, node-tcp-proxy, nginx and HAProxy when
// installed), one worker each, proxy and origin pinned to CPU 0 and `wrk -t1` to CPU 1, in
// interleaved rounds; medians of req/s, p50/p99, proxy CPU µs per request (from schedstat), peak
// RSS and errors, with ratios to direct and to nginx (of the medians, and the median of each round's
// own ratio to nginx). Writes bench/out/results.md and chart.svg.
// switchyard runs as shipped: dist/main.js, built first by scripts/build-dist.ts (what the npm
// package and the container run), with the heap flags its entry point adds (runtime/heap-flags.ts);
// SY_FROM=src runs the TypeScript sources instead (type stripping loads about 30 MiB more).
// Peak RSS is per scenario: each process's VmHWM is reset (/proc/PID/clear_refs) before every run
// and read after it, and the table gives the highest of the rounds (the sum over a process tree).
// Heaps and malloc arenas seldom shrink, so memory kept from an earlier scenario counts in later ones.
// Env: ROUNDS (3), SECONDS (5), SCENARIOS (comma list), STREAM_BYTES (1e9), WORKERS (1), SY_FROM (dist),
// TARGETS (comma list of target names; default all), WARMUP (2: seconds of untimed load per target first),
// multi-core runs (bench/device/run.sh): PROXY_CPUS, ORIGIN_CPUS (default PROXY_CPUS), ORIGIN_WORKERS (1),
// LOAD_CPUS, WRK_THREADS, CONNS_SCALE (1: connections = scenario's x this), NGINX_MODULES_DIR.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, "..");
const out = path.join(here, "out");
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 5);
const STREAM_BYTES = Number(process.env.STREAM_BYTES ?? 1e9);
const WORKERS = Number(process.env.WORKERS ?? 1);
const multi = os.cpus().length > 2 && WORKERS > 1;
const PROXY_CPUS = process.env.PROXY_CPUS ?? (multi ? `0-${WORKERS - 1}` : "0");
const LOAD_CPUS = process.env.LOAD_CPUS ?? (multi ? `${WORKERS}-${Math.min(os.cpus().length - 1, 2 * WORKERS)}` : "1");
const WRK_THREADS = Number(process.env.WRK_THREADS ?? (multi ? WORKERS : 1));
const ORIGIN_CPUS = process.env.ORIGIN_CPUS ?? PROXY_CPUS;
const ORIGIN_WORKERS = Number(process.env.ORIGIN_WORKERS ?? 1);
const CONNS_SCALE = Number(process.env.CONNS_SCALE ?? 1);
const WARMUP = Number(process.env.WARMUP ?? 2);
const TARGETS = process.env.TARGETS?.split(",") ?? null;
const want = (name: string): boolean => TARGETS === null || TARGETS.includes(name);
const children: ChildProcess[] = [];
const has = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

interface Target { name: string; kind: "http" | "tcp"; port: number; pids: () => number[] }
interface Scenario { id: string; kind: "http" | "tcp" | "stream"; path: string; conns: number }
interface Run { rps: number; p50: number; p99: number; cpuUs: number; errors: number; mbps: number; rssMiB: number }

const ALL: Scenario[] = [
  { id: "http-100B-c50", kind: "http", path: "/", conns: 50 },
  { id: "http-16KiB-c50", kind: "http", path: "/16k", conns: 50 },
  { id: "http-100B-c256", kind: "http", path: "/", conns: 256 },
  { id: "http-16KiB-c256", kind: "http", path: "/16k", conns: 256 },
  { id: "tcp-100B-c50", kind: "tcp", path: "/", conns: 50 },
  { id: "tcp-16KiB-c50", kind: "tcp", path: "/16k", conns: 50 },
  { id: "tcp-1GB-stream", kind: "stream", path: "/big", conns: 1 },
];
const wanted = process.env.SCENARIOS?.split(",") ?? null;
const SY_FROM = process.env.SY_FROM === "src" ? "src" : "dist";
const scenarios = ALL.filter((s) => wanted === null || wanted.includes(s.id));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function waitPort(port: number, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => { const s = net.connect(port, "127.0.0.1"); s.once("connect", () => { s.destroy(); r(true); }); s.once("error", () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

function start(cmd: string, args: string[], cpus = PROXY_CPUS, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const c = spawn("taskset", ["-c", cpus, cmd, ...args], { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] });
  children.push(c);
  return c;
}

/** The pid and its descendants (nginx/haproxy workers, cluster workers). */
function tree(pid: number): number[] {
  const out = [pid];
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (out.includes(ppid) && !out.includes(Number(p))) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

/** CPU time in ns of every thread of these processes. */
function cpuNs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    try {
      for (const t of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* gone */ }
  }
  return ns;
}

/**
 * Starts a new VmHWM window for these processes ("5" to clear_refs: peak RSS := current RSS, Linux
 * 4.0+). False where that is refused: the peaks read then are since the process started.
 */
function resetPeak(pids: number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try { fs.writeFileSync(`/proc/${pid}/clear_refs`, "5"); } catch { ok = false; }
  }
  return ok;
}
let peaksPerRun = true;

function peakRssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try { const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8")); if (m) kb += Number(m[1]); } catch { /* gone */ }
  }
  return Math.round(kb / 1024);
}

function ms(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (m === null) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

function wrk(port: number, p: string, conns: number, seconds = SECONDS): { rps: number; requests: number; p50: number; p99: number; errors: number } {
  const r = spawnSync("taskset", ["-c", LOAD_CPUS, "wrk", `-t${WRK_THREADS}`, `-c${conns * CONNS_SCALE}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}${p}`], { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  const o = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(o)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(o)?.[1] ?? 0);
  const p50 = ms(/^\s+50%\s+(\S+)/m.exec(o)?.[1] ?? "");
  const p99 = ms(/^\s+99%\s+(\S+)/m.exec(o)?.[1] ?? "");
  let errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(o)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(o);
  if (se) errors += Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]);
  return { rps, requests, p50, p99, errors };
}

function stream(port: number): { mbps: number; errors: number } {
  const r = spawnSync("taskset", ["-c", LOAD_CPUS, "curl", "-s", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", `http://127.0.0.1:${port}/big?bytes=${STREAM_BYTES}`], { encoding: "utf8", timeout: 300_000 });
  const [speed, size] = r.stdout.split(" ").map(Number);
  return { mbps: speed / 1e6, errors: size === STREAM_BYTES ? 0 : 1 };
}

async function main(): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const node = process.execPath;
  const originPort = await freePort();
  const origin = start(node, [path.join(here, "origin.ts"), String(originPort), "100"], ORIGIN_CPUS, { ...process.env, ORIGIN_WORKERS: String(ORIGIN_WORKERS) });
  await waitPort(originPort);
  const targets: Target[] = [];
  const add = async (name: string, kind: "http" | "tcp", port: number, proc: ChildProcess | null): Promise<void> => {
    await waitPort(port);
    if (!want(name)) return;
    const pid = proc?.pid;
    targets.push({ name, kind, port, pids: () => (pid === undefined ? [] : tree(pid)) });
  };
  // the origin's pids, for its RSS (its CPU column shows "-")
  const originPids = (): number[] => (origin.pid === undefined ? [] : tree(origin.pid));
  if (want("direct")) {
    targets.push({ name: "direct", kind: "http", port: originPort, pids: originPids });
    targets.push({ name: "direct", kind: "tcp", port: originPort, pids: originPids });
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-compare-"));
  const [syH, syT] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, "sy.yaml"), `workers: ${WORKERS}
log: { level: warn, access: false }
upstreams:
  o: { scheduler: rr, servers: [ { address: 127.0.0.1:${originPort} } ] }
listeners:
  - { name: h, protocol: http, listen: 127.0.0.1:${syH}, upstream: o, timeouts: { upstream_response: 120s }, limits: { max_connections: 100000 } }
  - { name: t, protocol: tcp, listen: 127.0.0.1:${syT}, upstream: o }
`);
  let syMain = path.join(root, "src/main.ts");
  if (SY_FROM === "dist" && process.env.SY_PREBUILT === "1" && fs.existsSync(path.join(root, "dist/main.js"))) {
    syMain = path.join(root, "dist/main.js"); // carried already built (bench/device/prepare.sh)
  } else if (SY_FROM === "dist") {
    const b = spawnSync(node, [path.join(root, "scripts/build-dist.ts")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    if (b.status !== 0) throw new Error("scripts/build-dist.ts failed");
    syMain = path.join(root, "dist/main.js");
  }
  const sy = start(node, [syMain, "-c", path.join(dir, "sy.yaml")]);
  await add("switchyard", "http", syH, sy);
  await add("switchyard", "tcp", syT, sy);
  if (want("http-proxy")) {
    const hp = await freePort();
    await add("http-proxy", "http", hp, start(node, [path.join(here, "http-proxy-baseline.ts"), String(hp), String(originPort)]));
  }
  if (want("undici proxy")) {
    const un = await freePort();
    await add("undici proxy", "http", un, start(node, [path.join(here, "undici-baseline.ts"), String(un), String(originPort)]));
  }
  if (want("node-tcp-proxy")) {
    const ntp = await freePort();
    await add("node-tcp-proxy", "tcp", ntp, start(node, [path.join(here, "tcp-proxy-baseline.ts"), String(ntp), String(originPort)]));
  }
  if (has("nginx") && want("nginx")) {
    const [nh, nt] = [await freePort(), await freePort()];
    const mod = path.join(process.env.NGINX_MODULES_DIR ?? "/usr/lib/nginx/modules", "ngx_stream_module.so");
    fs.writeFileSync(path.join(dir, "nginx.conf"), `${fs.existsSync(mod) ? `load_module ${mod};` : ""}
worker_processes ${WORKERS};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 8000; }
http {
  access_log off;
  client_body_temp_path ${dir}/nb; proxy_temp_path ${dir}/np; fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  upstream o { server 127.0.0.1:${originPort}; keepalive 256; }
  server { listen 127.0.0.1:${nh}; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; } }
}
stream { server { listen 127.0.0.1:${nt}; proxy_pass 127.0.0.1:${originPort}; } }
`);
    const ng = start("nginx", ["-c", path.join(dir, "nginx.conf"), "-p", dir]);
    await add("nginx", "http", nh, ng);
    await add("nginx", "tcp", nt, ng);
  }
  if (has("haproxy") && want("haproxy")) {
    const [hh, ht] = [await freePort(), await freePort()];
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), `global
  nbthread ${WORKERS}
  maxconn 8000
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fh
  mode http
  bind 127.0.0.1:${hh}
  default_backend bh
backend bh
  mode http
  http-reuse always
  server o 127.0.0.1:${originPort}
listen lt
  mode tcp
  bind 127.0.0.1:${ht}
  server o 127.0.0.1:${originPort}
`);
    const ha = start("haproxy", ["-f", path.join(dir, "haproxy.cfg"), "-db"]);
    await add("haproxy", "http", hh, ha);
    await add("haproxy", "tcp", ht, ha);
  }

  // untimed load first: every Node target gets its JIT warm and its heap grown before anything counts
  if (WARMUP > 0) {
    for (const t of targets) if (scenarios.some((sc) => sc.kind !== "stream" && (sc.kind === "http") === (t.kind === "http"))) wrk(t.port, "/", 50, WARMUP);
  }
  const results = new Map<string, Map<string, Run[]>>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const sc of scenarios) {
      const kind = sc.kind === "http" ? "http" : "tcp";
      // rotate the order each round so no target always runs first
      const ts = targets.filter((t) => t.kind === kind);
      const order = ts.map((_, i) => ts[(i + round) % ts.length]);
      for (const t of order) {
        const pids = t.pids();
        if (!resetPeak(pids)) peaksPerRun = false;
        const c0 = cpuNs(pids);
        let run: Run;
        if (sc.kind === "stream") {
          const s = stream(t.port);
          run = { rps: 0, p50: 0, p99: 0, cpuUs: 0, errors: s.errors, mbps: s.mbps, rssMiB: peakRssMiB(pids) };
        } else {
          const w = wrk(t.port, sc.path, sc.conns);
          const cpu = cpuNs(pids) - c0;
          run = { rps: w.rps, p50: w.p50, p99: w.p99, cpuUs: w.requests > 0 ? cpu / 1000 / w.requests : 0, errors: w.errors, mbps: 0, rssMiB: peakRssMiB(pids) };
        }
        const byT = results.get(sc.id) ?? new Map<string, Run[]>();
        results.set(sc.id, byT);
        const list = byT.get(t.name) ?? [];
        list.push(run);
        byT.set(t.name, list);
        process.stderr.write(`round ${round + 1} ${sc.id} ${t.name}: ${sc.kind === "stream" ? `${run.mbps.toFixed(0)} MB/s` : `${Math.round(run.rps)} req/s, p99 ${run.p99.toFixed(2)} ms, ${run.cpuUs.toFixed(1)} µs/req`}\n`);
      }
    }
  }
  // "-" where the reference did not run (TARGETS) or a value could not be read
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "-");
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const lines: string[] = [];
  lines.push(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), node ${process.version}, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians; proxy on CPU ${PROXY_CPUS}, origin (${ORIGIN_WORKERS} process${ORIGIN_WORKERS > 1 ? "es" : ""}) on CPU ${ORIGIN_CPUS}, wrk -t${WRK_THREADS} -c(scenario x ${CONNS_SCALE}) on CPU ${LOAD_CPUS}; workers ${WORKERS}; ${WARMUP} s warm-up per target`);
  lines.push(`switchyard ran ${SY_FROM === "dist" ? "dist/main.js as packaged (built by scripts/build-dist.ts)" : "src/main.ts (TypeScript sources, type stripping)"}; peak RSS = ${peaksPerRun ? "highest VmHWM of a run of the scenario (reset before each run; memory a process kept from earlier scenarios counts: SCENARIOS=<one> reads one alone)" : "VmHWM since start (clear_refs was refused): the same for every scenario"}`);
  lines.push("");
  for (const sc of scenarios) {
    const byT = results.get(sc.id);
    if (byT === undefined) continue;
    const metric = (r: Run[]): number => med(r.map((x) => (sc.kind === "stream" ? x.mbps : x.rps)));
    const direct = metric(byT.get("direct") ?? []);
    const nginx = byT.has("nginx") ? metric(byT.get("nginx") ?? []) : NaN;
    // the same ratio taken within each round (targets of one round ran within seconds of each other),
    // then the median: steadier where the machine's speed drifts from one round to the next
    const paired = (runs: Run[]): string => {
      const ng = byT.get("nginx");
      if (ng === undefined || ng.length !== runs.length) return "-";
      const v = (x: Run): number => (sc.kind === "stream" ? x.mbps : x.rps);
      return med(runs.map((r, i) => v(r) / v(ng[i]))).toFixed(2);
    };
    lines.push(`### ${sc.id}`);
    lines.push("");
    if (sc.kind === "stream") {
      lines.push("| target | MB/s | vs direct | vs nginx | vs nginx, per round | peak RSS MiB | errors |");
      lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const [name, runs] of byT) lines.push(`| ${name} | ${metric(runs).toFixed(0)} | ${ratio(metric(runs), direct)} | ${ratio(metric(runs), nginx)} | ${paired(runs)} | ${Math.max(...runs.map((r) => r.rssMiB))} | ${runs.reduce((a, r) => a + r.errors, 0)} |`);
    } else {
      lines.push("| target | req/s | p50 ms | p99 ms | proxy CPU µs/req | peak RSS MiB | errors | vs direct | vs nginx | vs nginx, per round |");
      lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const [name, runs] of byT) {
        const m = metric(runs);
        lines.push(`| ${name} | ${Math.round(m)} | ${med(runs.map((r) => r.p50)).toFixed(2)} | ${med(runs.map((r) => r.p99)).toFixed(2)} | ${name === "direct" ? "-" : med(runs.map((r) => r.cpuUs)).toFixed(1)} | ${Math.max(...runs.map((r) => r.rssMiB))} | ${runs.reduce((a, r) => a + r.errors, 0)} | ${ratio(m, direct)} | ${ratio(m, nginx)} | ${paired(runs)} |`);
      }
    }
    lines.push("");
  }
  const md = lines.join("\n");
  fs.writeFileSync(path.join(out, "results.md"), md);
  fs.writeFileSync(path.join(out, "chart.svg"), chart(results, scenarios, med));
  process.stdout.write(`${md}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A grouped bar chart, one group per scenario, bars normalised to the group's best. */
function chart(results: Map<string, Map<string, Run[]>>, scs: Scenario[], med: (x: number[]) => number): string {
  const names = ["direct", "switchyard", "nginx", "haproxy", "undici proxy", "http-proxy", "node-tcp-proxy"];
  const colors = ["#888", "#d9480f", "#2b8a3e", "#1971c2", "#ae3ec9", "#f08c00", "#0c8599"];
  const gw = 150, bw = 18, h = 240, top = 30, left = 40;
  const width = left + scs.length * gw + 20;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h + 110}" font-family="sans-serif" font-size="11">`;
  svg += `<text x="${left}" y="18" font-size="13">req/s (MB/s for the stream), relative to the best in each scenario</text>`;
  scs.forEach((sc, gi) => {
    const byT = results.get(sc.id);
    if (byT === undefined) return;
    const vals = names.map((n) => { const r = byT.get(n); return r === undefined ? 0 : med(r.map((x) => (sc.kind === "stream" ? x.mbps : x.rps))); });
    const best = Math.max(...vals, 1);
    const x0 = left + gi * gw;
    let k = 0;
    names.forEach((n, i) => {
      if (!byT.has(n)) return;
      const bh = Math.round((vals[i] / best) * h);
      const x = x0 + k * bw;
      svg += `<rect x="${x}" y="${top + h - bh}" width="${bw - 3}" height="${bh}" fill="${colors[i]}"><title>${n}: ${Math.round(vals[i])}</title></rect>`;
      k++;
    });
    svg += `<text x="${x0}" y="${top + h + 14}">${sc.id}</text>`;
  });
  names.forEach((n, i) => { svg += `<rect x="${left + i * 110}" y="${top + h + 30}" width="10" height="10" fill="${colors[i]}"/><text x="${left + i * 110 + 14}" y="${top + h + 39}">${n}</text>`; });
  return `${svg}</svg>\n`;
}

const cleanup = (): void => { for (const c of children) { try { c.kill("SIGTERM"); } catch { /* gone */ } } };
main().then(cleanup, (err: unknown) => { process.stderr.write(`compare failed: ${String(err)}\n`); cleanup(); process.exitCode = 1; });
