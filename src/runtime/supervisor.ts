// Supervisor: starts the runtime from a plan, owns the pid file, the admin listener and the demo
// origins, and turns signals into reload (SIGHUP) and graceful stop (SIGTERM/SIGINT; SIGQUIT unlimited).
import path from "node:path";
import type { RuntimePlan } from "../config/schema.ts";
import type { CliOptions } from "../cli/args.ts";
import { load, type ConfigSource } from "../cli/commands.ts";
import { formatError } from "../config/load.ts";
import { systemClock } from "../core/clock.ts";
import { createRootLogger, flushLogger, type Logger } from "../observability/logger.ts";
import { Runtime } from "./runtime.ts";
import { reloadRuntime, type ReloadResult } from "./reload.ts";
import { AdminServer } from "../admin/server.ts";
import { adminRoutes } from "../admin/api.ts";
import { startDemoOrigins, type DemoOrigins } from "./demo.ts";
import { writePidFile, removePidFile } from "../cli/pid-file.ts";
import { syncWatcher, type ConfigWatcher } from "./watch.ts";

export class Supervisor {
  readonly #src: ConfigSource;
  readonly #opts: CliOptions;
  readonly #env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly runtime: Runtime;
  #admin: AdminServer | null = null;
  #demo: DemoOrigins | null = null;
  #pidFile: string | null = null;
  #reloading: Promise<ReloadResult> | null = null;
  #reloadAgain = false;
  #stopping = false;
  #watcher: ConfigWatcher | null = null;

  constructor(src: ConfigSource, plan: RuntimePlan, opts: CliOptions, env: NodeJS.ProcessEnv) {
    this.#src = src;
    this.#opts = opts;
    this.#env = env;
    this.log = createRootLogger(plan.log.level);
    this.runtime = new Runtime(plan, this.log, systemClock);
  }

  async start(): Promise<void> {
    const plan = this.runtime.plan;
    // signals first: a HUP during start-up must not kill the process
    process.on("SIGHUP", () => { void this.reload(); });
    process.on("SIGTERM", () => { void this.stop(plan.shutdownTimeoutMs, "SIGTERM"); });
    process.on("SIGINT", () => { void this.stop(this.runtime.plan.shutdownTimeoutMs, "SIGINT"); });
    process.on("SIGQUIT", () => { void this.stop(null, "SIGQUIT"); });
    try {
      if (plan.demo.length > 0) this.#demo = await startDemoOrigins(plan.demo);
      await this.runtime.start();
      if (plan.admin !== null) {
        this.#admin = new AdminServer(plan.admin, adminRoutes(this.runtime, { reload: () => this.reload() }), () => this.runtime.phase === "ready", this.log.child({ listener: "admin" }));
        await this.#admin.listen();
        this.log.info({ address: plan.admin.listen.text }, `admin listening on ${plan.admin.listen.text}`);
      }
    } catch (err) {
      this.log.fatal({ err: (err as Error).message }, `cannot start: ${(err as Error).message}`);
      flushLogger(this.log);
      await this.#demo?.close();
      process.exitCode = 1;
      process.exit(1);
    }
    const pidFile = this.#opts.pidFile ?? plan.pidFile;
    if (pidFile !== null) { this.#pidFile = path.resolve(pidFile); writePidFile(this.#pidFile); }
    this.log.info({ version: process.version, pid: process.pid, config: plan.file }, "switchyard ready");
    this.#syncWatcher();
  }

  /** Reload from the same source. Many HUPs in a burst settle on the file on disk. */
  async reload(): Promise<ReloadResult> {
    if (this.#reloading !== null) { this.#reloadAgain = true; return this.#reloading; }
    const run = async (): Promise<ReloadResult> => {
      let last: ReloadResult;
      do {
        this.#reloadAgain = false;
        last = await this.#reloadOnce();
      } while (this.#reloadAgain && !this.#stopping);
      return last;
    };
    this.#reloading = run().finally(() => { this.#reloading = null; });
    return this.#reloading;
  }

  async #reloadOnce(): Promise<ReloadResult> {
    if (this.#stopping) return { ok: false, errors: ["shutting down"] };
    const result = await load(this.#src, this.#env);
    if (!result.ok) {
      const errors = result.errors.map(formatError);
      this.log.error({ errors }, `reload refused: ${errors.length} configuration error(s); still serving the previous configuration`);
      return { ok: false, errors };
    }
    const r = await reloadRuntime(this.runtime, result.plan);
    if (r.ok && this.#admin !== null && result.plan.admin !== null) this.#admin.plan = result.plan.admin;
    if (r.ok) this.#syncWatcher();
    return r;
  }

  /** `watch: true` or --watch: reload when the file's content changes (watch.ts). */
  #syncWatcher(): void {
    const want = !this.#stopping && (this.#opts.watch || this.runtime.plan.watch);
    const file = this.#src.kind === "file" ? this.#src.file : null;
    this.#watcher = syncWatcher(this.#watcher, want, file, () => { void this.reload(); }, this.log);
  }

  async stop(timeoutMs: number | null, why: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#syncWatcher();
    this.log.info({ signal: why, timeout_ms: timeoutMs }, "stopping: no new connections, finishing work in flight");
    await this.runtime.stop(timeoutMs);
    this.#admin?.close();
    await this.#demo?.close();
    if (this.#pidFile !== null) removePidFile(this.#pidFile);
    this.log.info("stopped");
    flushLogger(this.log);
    setTimeout(() => process.exit(0), 50).unref();
    process.exitCode = 0;
  }
}
