// Supervisor: starts the runtime from a plan, owns the pid file, the admin listener and the demo
// origins, and turns signals into reload (SIGHUP) and graceful stop (SIGTERM/SIGINT; SIGQUIT unlimited).
// With `workers` above 1 it is the cluster primary (workers.ts): the workers serve, this process
// owns the listening sockets, runs the health checks once for all of them, and fans reload and
// stop out. /readyz answers 503 until every listener is bound and again from the start of a stop.
import path from "node:path";
import { readText } from "../core/builtins.ts";
import type { RuntimePlan } from "../config/schema.ts";
import type { CliOptions } from "../cli/args.ts";
import { load, type ConfigSource } from "../cli/commands.ts";
import { formatError, loadConfigText, type LoadResult } from "../config/load.ts";
import { systemClock } from "../core/clock.ts";
import { createRootLogger, flushLogger, type Logger } from "../observability/logger.ts";
import { Runtime } from "./runtime.ts";
import { reloadRuntime, type ReloadResult } from "./reload.ts";
import { AdminServer } from "../admin/server.ts";
import { adminRoutes, type ServerChange } from "../admin/api.ts";
import { startDemoOrigins, type DemoOrigins } from "./demo.ts";
import { writePidFile, removePidFile } from "../cli/pid-file.ts";
import { syncWatcher, type ConfigWatcher } from "./watch.ts";
import { WorkerSet, adminSettings } from "./workers.ts";
import { RuntimeMetrics, renderMetrics } from "../observability/metrics.ts";

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
  /** Cluster mode (workers above 1 at start): the workers; null in a single process. */
  #workers: WorkerSet | null = null;
  /** Settles when start() is over (a stop signal during start-up waits for it). */
  #started: Promise<void> | null = null;
  /** A reload asked for during start-up runs once start-up is over. */
  #reloadAfterStart = false;

  constructor(src: ConfigSource, plan: RuntimePlan, opts: CliOptions, env: NodeJS.ProcessEnv) {
    this.#src = src;
    this.#opts = opts;
    this.#env = env;
    this.log = createRootLogger(plan.log.level);
    // cluster primary: its runtime holds pools and health checks only, and shares each verdict
    this.runtime = new Runtime(plan, this.log, systemClock, plan.workers > 1 ? { onVerdict: (v) => this.#workers?.verdict(v) } : {});
  }

  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const plan = this.runtime.plan;
    // signals first: a HUP during start-up must not kill the process; the timeouts are the current plan's
    process.on("SIGHUP", () => { void this.reload(); });
    process.on("SIGTERM", () => { void this.stop(this.runtime.plan.shutdownTimeoutMs, "SIGTERM"); });
    process.on("SIGINT", () => { void this.stop(this.runtime.plan.shutdownTimeoutMs, "SIGINT"); });
    process.on("SIGQUIT", () => { void this.stop(null, "SIGQUIT"); });
    try {
      if (plan.demo.length > 0) this.#demo = await startDemoOrigins(plan.demo);
      // admin first, so /readyz can say 503 while the listeners are being bound
      if (plan.admin !== null) {
        // with workers, /metrics merges every worker's snapshot with this process's (health, process figures)
        const own = new RuntimeMetrics(this.runtime);
        const metricsText = plan.workers > 1 ? async () => renderMetrics([await own.snapshot(), ...(await this.#workers?.metrics() ?? [])]) : undefined;
        // with workers, admin API changes made on this process's pools go to every worker as well
        const onServerChange = plan.workers > 1 ? (pool: string, address: string, c: ServerChange) => this.#workers?.admin({ pool, address, state: c.state, weight: c.weight }) : undefined;
        // with workers, /api/upstreams and /status.json add up the workers' listener and server counters
        const workerTraffic = plan.workers > 1 ? async () => await this.#workers?.traffic() ?? [] : undefined;
        this.#admin = new AdminServer(plan.admin, adminRoutes(this.runtime, { reload: () => this.reload(), metricsText, onServerChange, workerTraffic }), () => this.runtime.phase === "ready", this.log.child({ listener: "admin" }));
        await this.#admin.listen();
        this.log.info({ address: plan.admin.listen.text }, `admin listening on ${plan.admin.listen.text}`);
      }
      if (plan.workers > 1) await this.#startWorkers(plan);
      else await this.runtime.start();
    } catch (err) {
      this.log.fatal({ err: (err as Error).message }, `cannot start: ${(err as Error).message}`);
      flushLogger(this.log);
      this.#admin?.close();
      await this.#demo?.close();
      process.exitCode = 1;
      process.exit(1);
    }
    const pidFile = this.#opts.pidFile ?? plan.pidFile;
    if (pidFile !== null) { this.#pidFile = path.resolve(pidFile); writePidFile(this.#pidFile); }
    this.log.info({ version: process.version, pid: process.pid, config: plan.file, workers: this.#workers === null ? 1 : plan.workers }, "switchyard ready");
    this.#syncWatcher();
    if (this.#reloadAfterStart) { this.#reloadAfterStart = false; void this.reload(); }
  }

  /** Cluster primary: health checks here, N workers serving (workers.ts). */
  async #startWorkers(plan: RuntimePlan): Promise<void> {
    const src = await this.#readSource();
    if ("errors" in src) throw new Error(src.errors.join("; "));
    const rt = this.runtime;
    rt.pools = rt.buildPools(plan, null);
    rt.watchHealth(rt.pools);
    await rt.discovery.start();
    this.#workers = new WorkerSet(this.log, () => ({ verdicts: rt.downVerdicts(), admin: adminSettings(rt.pools) }));
    await this.#workers.start(plan.workers, src.text, src.name, plan);
    rt.phase = "ready";
  }

  /** The config text and its name, read once: the same text goes to every worker. */
  async #readSource(): Promise<{ text: string; name: string } | { errors: string[] }> {
    const src = this.#src;
    if (src.kind === "yaml") return { text: src.text, name: "$SWITCHYARD_CONFIG_YAML" };
    try {
      return { text: await readText(src.file), name: src.file };
    } catch {
      const r = await load(src, this.#env); // says why, in the loader's words
      return { errors: r.ok ? [`cannot read ${src.file}`] : r.errors.map(formatError) };
    }
  }

  /** Reload from the same source. Many HUPs in a burst settle on the file on disk. */
  async reload(): Promise<ReloadResult> {
    if (this.runtime.phase === "starting") {
      this.#reloadAfterStart = true;
      return { ok: false, errors: ["still starting: the reload runs once every listener is bound"] };
    }
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
    const src = await this.#readSource();
    const result: LoadResult = "errors" in src ? { ok: false, errors: [] } : loadConfigText(src.text, src.name, this.#env);
    if (!result.ok) {
      const errors = "errors" in src ? src.errors : result.errors.map(formatError);
      this.log.error({ errors }, `reload refused: ${errors.length} configuration error(s); still serving the previous configuration`);
      return { ok: false, errors };
    }
    const r = this.#workers === null || "errors" in src ? await this.#reloadSingle(result.plan) : await this.#reloadWorkers(src.text, src.name, result.plan);
    if (r.ok && this.#admin !== null && result.plan.admin !== null) this.#admin.plan = result.plan.admin;
    if (r.ok) this.#syncWatcher();
    return r;
  }

  async #reloadSingle(plan: RuntimePlan): Promise<ReloadResult> {
    if (plan.workers > 1) this.log.warn({ workers: plan.workers }, "workers: a single process becomes a cluster at the next start, not on reload");
    return reloadRuntime(this.runtime, plan);
  }

  /** Workers first (the first one alone can reject the whole reload), then this process's pools and checks. */
  async #reloadWorkers(text: string, name: string, plan: RuntimePlan): Promise<ReloadResult> {
    const workers = this.#workers as WorkerSet;
    const r = await workers.reload(text, name, plan);
    if (!r.ok) {
      this.log.error({ errors: r.errors }, `reload refused: ${r.errors.join("; ")}`);
      return r;
    }
    const rt = this.runtime;
    const old = rt.pools;
    rt.pools = rt.buildPools(plan, old);
    rt.plan = plan;
    rt.watchHealth(rt.pools);
    for (const p of old.values()) p.close();
    this.log.info({ workers: plan.workers }, "configuration reloaded");
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
    // a stop during start-up lets start-up finish first (nothing half-bound is left behind)
    await this.#started?.catch(() => undefined);
    this.log.info({ signal: why, timeout_ms: timeoutMs }, "stopping: no new connections, finishing work in flight");
    if (this.#workers !== null) {
      this.runtime.phase = "draining"; // /readyz: 503 from now on
      await this.#workers.stop(timeoutMs);
      await this.runtime.stop(0); // no listeners here: pools, checks, discovery
    } else {
      await this.runtime.stop(timeoutMs);
    }
    this.#admin?.close();
    await this.#demo?.close();
    if (this.#pidFile !== null) removePidFile(this.#pidFile);
    this.log.info("stopped");
    flushLogger(this.log);
    setTimeout(() => process.exit(0), 50).unref();
    process.exitCode = 0;
  }
}
