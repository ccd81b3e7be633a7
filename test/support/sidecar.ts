// Run switchyard as a separate process (as a container or systemd would) and read its JSON log
// lines from stdout, for tests of the command line, signals, watching and privileges.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import path from "node:path";
import { sleep } from "./net.ts";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const MAIN = path.join(ROOT, "src/main.ts");

export interface LogLine { [k: string]: unknown }

export interface Running {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** stdout lines that were not JSON, and all of stderr. */
  readonly text: string[];
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** The first log line whose msg matches, waiting up to timeoutMs; null if none came. */
  waitLog(re: RegExp, timeoutMs?: number): Promise<LogLine | null>;
  /** The port a listener bound (from its "listening on" line). */
  port(listener: string, timeoutMs?: number): Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `command args` (by default `node src/main.ts ...args`) and collects its output. */
export function run(args: readonly string[], opts: SpawnOptions & { command?: string } = {}): Running {
  const command = opts.command ?? process.execPath;
  const argv = opts.command === undefined ? [MAIN, ...args] : [...args];
  const child = spawn(command, argv, { cwd: ROOT, ...opts, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  const text: string[] = [];
  let pending = "";
  child.stdout?.on("data", (d: Buffer) => {
    pending += d.toString("utf8");
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === "") continue;
      try { logs.push(JSON.parse(line) as LogLine); } catch { text.push(line); }
    }
  });
  child.stderr?.on("data", (d: Buffer) => { text.push(d.toString("utf8")); });
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, sig) => resolve(code ?? sig ?? -1));
  });
  const waitLog = async (re: RegExp, timeoutMs = 5000): Promise<LogLine | null> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find((l) => typeof l.msg === "string" && re.test(l.msg));
      if (hit !== undefined) return hit;
      if (Date.now() > end || child.exitCode !== null) return null;
      await sleep(20);
    }
  };
  return {
    child, logs, text, exited, waitLog,
    port: async (listener, timeoutMs = 8000) => {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end && child.exitCode === null) {
        const l = logs.find((x) => x.listener === listener && typeof x.port === "number" && typeof x.msg === "string" && x.msg.startsWith("listening on"));
        if (l !== undefined) return l.port as number;
        await sleep(20);
      }
      throw new Error(`listener ${listener} did not start: ${text.join("")}`);
    },
    kill: (signal = "SIGTERM") => { if (child.exitCode === null) child.kill(signal); },
  };
}
