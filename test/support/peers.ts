// Real peer servers for tests: MariaDB, Dovecot (IMAP+POP3) and Postfix, started by the scripts
// in test/peers/ with all state in one scratch folder per test file (mkdtemp under /tmp).
// CI installs the peers (test/peers/install.sh), so a test that needs them must FAIL, never
// skip, when they are missing: call requirePeers() in a before() hook.
//
//   const peers = await openPeers("health");
//   const [db] = await peers.startMariadb([port]);
//   await peers.stopOne("mariadb", port);     // the server is gone: its port refuses
//   await peers.restartOne("mariadb", port);  // same folder, same data, same port
//   await peers.stop();                       // in after(): stops everything, removes the folder
import { execFile } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Folder holding the peer scripts (read-only use: they never write next to themselves). */
export const PEER_SCRIPTS = fileURLToPath(new URL("../peers/", import.meta.url));

/** Binaries the scripts run; a missing one means the peers are not installed. */
const NEEDED = [
  "/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mariadb-install-db", "/usr/sbin/dovecot",
  "/usr/sbin/postfix", "/usr/bin/curl", "/usr/bin/script", "/usr/sbin/runuser",
];

export type PeerName = "mariadb" | "dovecot" | "smtp";

export interface PeerProc {
  readonly name: PeerName;
  /** The instance's main port (MariaDB port, Dovecot IMAP port, Postfix SMTP port). */
  readonly port: number;
  readonly pid: number;
  /** The instance folder: DIR/<name>-<port>. */
  readonly dir: string;
}

/** What is missing for the real peers; empty when they can run here. */
export function peersMissing(): string[] {
  const missing: string[] = [];
  for (const bin of NEEDED) {
    try { accessSync(bin, constants.X_OK); } catch { missing.push(bin); }
  }
  if (process.getuid !== undefined && process.getuid() !== 0) missing.push("root (the scripts chown and runuser)");
  return missing;
}

export function peersAvailable(): boolean {
  return peersMissing().length === 0;
}

/** Throws a clear error when the peers cannot run: tests fail instead of silently skipping. */
export function requirePeers(): void {
  const missing = peersMissing();
  if (missing.length > 0) {
    throw new Error(`real peer servers are required but missing: ${missing.join(", ")}. ` +
      `Install them with: sudo bash ${join(PEER_SCRIPTS, "install.sh")}`);
  }
}

function run(script: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [join(PEER_SCRIPTS, script), ...args], { timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${script} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** "mariadb 23306 4711" lines -> pids by port. */
function parsePids(out: string, name: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === name && f.length >= 3) pids.set(Number(f[1]), Number(f[f.length - 1]));
  }
  return pids;
}

/** True when nothing listens on 127.0.0.1:port and it can be bound. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * n free ports in 23000..24999 (outside the kernel's ephemeral range), starting at a random
 * point so test files running side by side rarely try the same ones. Each is free now; the
 * start scripts refuse a port that got taken in between.
 */
export async function peerPorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const start = 23000 + Math.floor(Math.random() * 2000);
  for (let i = 0; i < 2000 && out.length < n; i++) {
    const p = 23000 + ((start - 23000 + i) % 2000);
    if (await portFree(p)) out.push(p);
  }
  if (out.length < n) throw new Error(`only ${out.length} of ${n} free ports in 23000-24999`);
  return out;
}

/** One scratch folder of peers; stop() ends them all and removes the folder. */
export class PeerSet {
  readonly dir: string;
  /** Start-script arguments per instance ("mariadb-23306"), for restartOne. */
  readonly #starts = new Map<string, { script: string; args: string[]; name: PeerName }>();

  constructor(dir: string) { this.dir = dir; }

  async #start(name: PeerName, script: string, args: string[], ports: readonly number[], timeoutMs: number): Promise<PeerProc[]> {
    const out = await run(script, [this.dir, ...args], timeoutMs);
    const pids = parsePids(out, name);
    const procs: PeerProc[] = [];
    for (const port of ports) {
      const pid = pids.get(port);
      if (pid === undefined || !Number.isInteger(pid)) throw new Error(`${script}: no pid for port ${port} in: ${out}`);
      const key = `${name}-${port}`;
      if (!this.#starts.has(key)) {
        this.#starts.set(key, { script, name, args: name === "mariadb" ? [String(port)] : args });
      }
      procs.push({ name, port, pid, dir: join(this.dir, key) });
    }
    return procs;
  }

  /** One MariaDB per port (user switchyard/secret, database switchyard). First start ~2 s. */
  startMariadb(ports: readonly number[]): Promise<PeerProc[]> {
    return this.#start("mariadb", "start-mariadb.sh", ports.map(String), ports, 90_000);
  }

  /** One Dovecot with IMAP and POP3 (alice/alice-pw, bob/bob-pw); proxy ports need a PROXY header. */
  async startDovecot(imap: number, pop3: number, proxyImap?: number, proxyPop3?: number): Promise<PeerProc> {
    const args = [imap, pop3];
    if (proxyImap !== undefined && proxyPop3 !== undefined) args.push(proxyImap, proxyPop3);
    const [p] = await this.#start("dovecot", "start-dovecot.sh", args.map(String), [imap], 45_000);
    return p;
  }

  /** One Postfix sink on port (mail lands in <dir>/mail/); proxyPort needs a PROXY header. */
  async startPostfix(port: number, proxyPort?: number): Promise<PeerProc> {
    const args = proxyPort === undefined ? [port] : [port, proxyPort];
    const [p] = await this.#start("smtp", "start-smtp.sh", args.map(String), [port], 45_000);
    return p;
  }

  /** Stop one instance (name + its main port) and wait until it is gone. */
  async stopOne(name: PeerName, port: number): Promise<void> {
    await run("stop.sh", [this.dir, `${name}-${port}`], 30_000);
  }

  /** Start a stopped instance again with its original arguments; resolves its new pid. */
  async restartOne(name: PeerName, port: number): Promise<number> {
    const s = this.#starts.get(`${name}-${port}`);
    if (s === undefined) throw new Error(`${name}-${port} was never started by this PeerSet`);
    const [p] = await this.#start(name, s.script, s.args, [port], 90_000);
    return p.pid;
  }

  /** Root's client for a MariaDB instance: runs sql over the unix socket, returns tab-separated rows. */
  mariadbRoot(port: number, sql: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile("mariadb", [`--defaults-file=${join(this.dir, `mariadb-${port}`, "my.cnf")}`, "-uroot", "-N", "-B", "-e", sql],
        { timeout: 15_000 }, (err, stdout, stderr) => {
          if (err !== null) reject(new Error(`mariadb root on ${port}: ${err.message}\n${stderr}`));
          else resolve(stdout);
        });
    });
  }

  /** Stop everything and remove the scratch folder. */
  async stop(): Promise<void> {
    await stopPeers(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A PeerSet in a fresh scratch folder /tmp/sy-peers-<label>-XXXXXX. */
export async function openPeers(label: string): Promise<PeerSet> {
  return new PeerSet(mkdtempSync(join("/tmp", `sy-peers-${label}-`)));
}

/** Stop every peer started under dir (idempotent; a missing dir is fine). */
export async function stopPeers(dir: string): Promise<void> {
  await run("stop.sh", [dir], 60_000);
}
