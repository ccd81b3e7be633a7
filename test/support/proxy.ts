// Start switchyard in-process from YAML text, with log lines captured for assertions.
import { Writable } from "node:stream";
import { pino } from "pino";
import { loadConfigText, formatError } from "../../src/config/load.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { reloadRuntime, type ReloadResult } from "../../src/runtime/reload.ts";
import { systemClock } from "../../src/core/clock.ts";
import { AdminServer } from "../../src/admin/server.ts";
import { adminRoutes } from "../../src/admin/api.ts";

export interface LogLine { [k: string]: unknown }

export interface TestProxy {
  readonly rt: Runtime;
  readonly logs: LogLine[];
  port(listener: string): number;
  /** The admin listener's port (0 when the config has no admin block). */
  adminPort(): number;
  reload(yaml: string): Promise<ReloadResult>;
  stop(timeoutMs?: number): Promise<void>;
}

export function planFrom(yaml: string, env: Record<string, string> = {}) {
  const r = loadConfigText(yaml, "test.yaml", env);
  if (!r.ok) throw new Error(`config errors:\n${r.errors.map(formatError).join("\n")}`);
  return r.plan;
}

export async function startProxy(yaml: string, env: Record<string, string> = {}): Promise<TestProxy> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const plan = planFrom(yaml, env);
  const log = pino({ level: plan.log.level === "info" ? "debug" : plan.log.level }, sink);
  const rt = new Runtime(plan, log, systemClock);
  await rt.start();
  let admin: AdminServer | null = null;
  // POST /api/reload re-applies the YAML last given (startProxy's, or reload()'s)
  let current = yaml;
  if (plan.admin !== null) {
    admin = new AdminServer(plan.admin, adminRoutes(rt, { reload: () => reloadRuntime(rt, planFrom(current, env)) }), () => rt.phase === "ready", log);
    await admin.listen();
  }
  return {
    rt, logs,
    port: (name) => rt.port(name),
    adminPort: () => admin?.port ?? 0,
    reload: (y) => { current = y; return reloadRuntime(rt, planFrom(y, env)); },
    stop: async (ms = 2000) => { admin?.close(); await rt.stop(ms); },
  };
}
