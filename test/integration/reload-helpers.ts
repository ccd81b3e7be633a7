// switchyard as a child process (`node src/main.ts -c FILE`) for the reload, shutdown and workers
// tests: real signals, real pid file, JSON log lines parsed as they come. Every wait is bounded.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";

const ROOT = path.resolve(import.meta.dirname, "../..");
const MAIN = path.join(ROOT, "src/main.ts");

export interface LogLine { readonly [k: string]: unknown }

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logs: LogLine[];
  /** stderr and non-JSON stdout, for failure messages. */
  readonly other: string[];
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Log lines whose msg matches. */
  count(msg: RegExp): number;
  /** Waits until at least n lines match (default 1); returns false on timeout. */
  waitLog(msg: RegExp, n?: number, timeoutMs?: number): Promise<boolean>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still running (after()). */
  kill(): void;
}

/** A scratch folder for one test file's configs and pid files. */
export function scratch(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sy-${prefix}-`));
}

export function spawnSwitchyard(conf: string, args: readonly string[] = []): Child {
  const proc = spawn(process.execPath, [MAIN, "-c", conf, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  const other: string[] = [];
  let wake: (() => void) | null = null;
  let buf = "";
  proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "") continue;
      try { logs.push(JSON.parse(line) as LogLine); } catch { other.push(line); }
    }
    wake?.();
  });
  proc.stderr?.on("data", (d: Buffer) => { other.push(d.toString("utf8")); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    proc.once("exit", (code, signal) => { resolve({ code, signal, at: Date.now() }); wake?.(); });
  });
  const count = (msg: RegExp): number => logs.filter((l) => typeof l.msg === "string" && msg.test(l.msg)).length;
  return {
    proc, pid: proc.pid ?? 0, logs, other, exited, count,
    async waitLog(msg, n = 1, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (count(msg) < n) {
        const left = end - Date.now();
        if (left <= 0 || proc.exitCode !== null || proc.signalCode !== null) return count(msg) >= n;
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(left, 100));
          wake = () => { clearTimeout(t); wake = null; r(); };
        });
      }
      return true;
    },
    signal(sig) { if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig); },
    kill() { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL"); },
  };
}

/** Messages of the lines logged so far (for assertion messages). */
export function tail(c: Child, n = 30): string {
  return [...c.logs.slice(-n).map((l) => `${String(l.pid ?? "")} ${String(l.msg ?? "")} ${l.err === undefined ? "" : JSON.stringify(l.err)}`), ...c.other.slice(-10)].join("\n");
}

/** Is anything accepting on 127.0.0.1:port? "refused" when the port is closed. */
export function probeConnect(port: number, timeoutMs = 1000): Promise<"open" | "refused" | "timeout"> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    const t = setTimeout(() => { s.destroy(); resolve("timeout"); }, timeoutMs);
    s.once("connect", () => { clearTimeout(t); s.destroy(); resolve("open"); });
    s.once("error", (e: NodeJS.ErrnoException) => { clearTimeout(t); resolve(e.code === "ECONNREFUSED" ? "refused" : "timeout"); });
  });
}

/** Live pids among these (signal 0 probes). */
export function alive(pids: readonly number[]): number[] {
  return pids.filter((p) => { try { process.kill(p, 0); return true; } catch { return false; } });
}

export interface VersionOrigin {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** x-req-id -> times seen (every request answered exactly once is checked against this). */
  readonly seen: Map<string, number>;
  /** GET /healthz requests (active checks). */
  probes: number;
  /** /healthz answers this status. */
  healthStatus: number;
  readonly server: http.Server;
  close(): Promise<void>;
}

/**
 * An origin that answers `version` in the body and an x-version header, records each x-req-id,
 * counts /healthz probes, and holds /slow?ms=N for N ms before a 64 KiB body.
 */
export async function versionOrigin(name: string, version: string): Promise<VersionOrigin> {
  const seen = new Map<string, number>();
  let self: VersionOrigin | null = null;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const o = self as VersionOrigin;
    const url = req.url ?? "/";
    if (url === "/healthz") {
      o.probes++;
      res.writeHead(o.healthStatus, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    const id = req.headers["x-req-id"];
    if (typeof id === "string") seen.set(id, (seen.get(id) ?? 0) + 1);
    const headers = { "content-type": "text/plain", "x-version": version, "x-origin": name };
    if (url.startsWith("/slow")) {
      const ms = Number(new URL(url, "http://x").searchParams.get("ms") ?? "1000");
      const t = setTimeout(() => { res.writeHead(200, headers); res.end(Buffer.alloc(65536, version)); }, ms);
      res.on("close", () => clearTimeout(t));
      return;
    }
    res.writeHead(200, headers);
    res.end(version);
  };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  self = {
    name, port, address: `127.0.0.1:${port}`, seen, probes: 0, healthStatus: 200, server,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return self;
}

/** A plain GET on a fresh connection (Connection: close); resolves status, headers and body, never rejects. */
export function getFresh(port: number, pathName = "/", timeoutMs = 10_000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; error: string | null }> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: pathName, agent: false, headers: { connection: "close" }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("latin1"), error: null }));
      res.on("error", (e) => resolve({ status: 0, headers: {}, body: "", error: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: "", error: e.code ?? e.message }));
    req.end();
  });
}
