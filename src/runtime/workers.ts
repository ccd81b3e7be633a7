// `workers: N`: one supervising process, N worker processes (node:cluster).
//
// The supervisor (cluster primary) owns the listening sockets: a worker's listen() asks it for the
// address, and with the default round-robin policy it accepts every connection itself and hands
// each to a worker. A worker that dies therefore never closes a port: connections queue in the
// supervisor and go to the workers left, while the dead one is forked again (with backoff).
// Only the connections that worker had accepted are lost (hardening.md R11).
//
// The supervisor also runs the active health checks, once for all workers, and sends each verdict
// to every worker ({pool, address, up, reason}); a worker's Runtime runs no checks of its own
// (RuntimeOptions.health = "external"). A worker started later hears the down verdicts at start.
//
// Reload: the supervisor reads and validates the file once and sends the same text to every worker
// (so all run one config even if the file changes meanwhile). The first worker applies it alone:
// its new binds go through the supervisor, so a port already taken fails there and the reload is
// rejected whole, with every worker still on the old config. Then the others apply it (their binds
// join the sockets the first one opened). Stop is fanned out the same way.
//
// /metrics: the supervisor asks every worker for its snapshot and merges them (metrics.ts); /api/upstreams
// and /status.json likewise ask for every worker's listener and server counters (admin/traffic.ts).
// Admin API changes (state, weight) are made on the supervisor's pools and passed on to every worker;
// a worker started later gets them with its config.
//
// The messages both ways, and their narrowing on arrival, are in worker-messages.ts.
//
// This file is also the workers' entry point (nodeCluster().setupPrimary exec).
import type { Worker } from "node:cluster";
import { nodeCluster } from "../core/builtins.ts";
import { fileURLToPath } from "node:url";
import type { RuntimePlan } from "../config/schema.ts";
import { loadConfigText, formatError } from "../config/load.ts";
import { systemClock } from "../core/clock.ts";
import { createRootLogger, flushLogger, type Logger } from "../observability/logger.ts";
import { Runtime, type Verdict } from "./runtime.ts";
import { reloadRuntime, type ReloadResult } from "./reload.ts";
import { RuntimeMetrics, type MetricFamily } from "../observability/metrics.ts";
import type { Pool } from "../upstream/pool.ts";
import { NO_TRAFFIC, trafficOf, type Traffic } from "../admin/traffic.ts";
import { ADMIN_DOWN, ADMIN_DRAIN, type ServerState } from "../upstream/flags.ts";
import { parseFromWorker, parseToWorker, type AdminSetting, type FromWorker, type ToWorker, type WorkerSnapshot } from "./worker-messages.ts";

/** Admin settings of every server that differ from the config (admin-down/drain, a changed weight). */
export function adminSettings(pools: ReadonlyMap<string, Pool>): AdminSetting[] {
  const out: AdminSetting[] = [];
  for (const pool of pools.values()) {
    const planned = new Map(pool.plan.servers.map((sp) => [sp.address, sp.weight]));
    for (const s of pool.servers) {
      const state: ServerState | null = (s.flags & ADMIN_DOWN) !== 0 ? "down" : (s.flags & ADMIN_DRAIN) !== 0 ? "drain" : null;
      const weight = planned.get(s.address) === s.configWeight ? null : s.configWeight;
      if (state !== null || weight !== null) out.push({ pool: pool.name, address: s.address, state, weight });
    }
  }
  return out;
}

/** Apply one admin setting to a worker's pools (unknown pool or server: nothing). */
function applyAdmin(rt: Runtime, a: AdminSetting): void {
  const pool = rt.pools.get(a.pool);
  const s = pool?.find(a.address) ?? null;
  if (pool === undefined || s === null) return;
  if (a.weight !== null) pool.setWeight(s, a.weight);
  if (a.state !== null) pool.setAdminState(s, a.state);
}

/** A worker's answer to a reload must come within this. */
const RELOAD_ANSWER_MS = 30_000;
/** Restart backoff: first delay, doubling per early death, capped. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that lived this long resets the backoff. */
const STABLE_MS = 10_000;
/** After the stop deadline, workers get this long to exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** A worker's metrics snapshot or counters must come within this (a scrape does not wait for a stuck one). */
const METRICS_ANSWER_MS = 2_000;

interface Slot {
  readonly id: number;
  worker: Worker | null;
  /** Config generation the worker runs; -1 before it is ready. */
  gen: number;
  ready: boolean;
  bornAt: number;
  /** Consecutive early deaths (backoff exponent). */
  deaths: number;
  restart: NodeJS.Timeout | null;
  /** Reload answers awaited, by gen. */
  readonly waiting: Map<number, (errors: readonly string[] | null) => void>;
  /** Metrics snapshots and counters awaited, by request number (null: the worker went away). */
  readonly scrapes: Map<number, (answer: unknown) => void>;
  /** Start: settles when the worker reports ready or fails. */
  started: ((error: string | null) => void) | null;
  /** Asked to stop (retired by a resize or a failed reload): not restarted. */
  leaving: boolean;
}

export class WorkerSet {
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  #text = "";
  #name = "";
  #gen = 0;
  #stopping = false;
  /** The first start is in progress: a worker failing now fails the start (no restart). */
  #starting = false;
  readonly #snapshot: () => WorkerSnapshot;
  #shutdownMs: number | null = 30_000;
  #scrape = 0;
  /** Workers ever forked (restarts included); tests and logs read it. */
  forks = 0;

  constructor(log: Logger, snapshot: () => WorkerSnapshot) {
    this.#log = log.child({ component: "workers" });
    this.#snapshot = snapshot;
    nodeCluster().setupPrimary({ exec: fileURLToPath(import.meta.url), args: [], silent: false });
  }

  /** Fork count workers with this config; resolves when all are listening, rejects with the first failure. */
  async start(count: number, text: string, name: string, plan: RuntimePlan): Promise<void> {
    this.#text = text;
    this.#name = name;
    this.#gen = 1;
    this.#shutdownMs = plan.shutdownTimeoutMs;
    this.#starting = true;
    const starts: Promise<string | null>[] = [];
    for (let i = 0; i < count; i++) starts.push(this.#fork(this.#newSlot()));
    const results = await Promise.all(starts);
    this.#starting = false;
    const failed = results.find((r) => r !== null);
    if (failed !== undefined && failed !== null) {
      await this.stop(0);
      throw new Error(failed);
    }
  }

  /** Every slot has a worker that is serving the current config. */
  get allReady(): boolean {
    return this.#slots.every((s) => s.ready && s.gen === this.#gen);
  }

  /** Live worker pids (tests kill one). */
  get pids(): number[] {
    return this.#slots.flatMap((s) => (s.worker?.process.pid === undefined ? [] : [s.worker.process.pid]));
  }

  /** One active-check verdict to every worker. */
  verdict(v: Verdict): void {
    for (const s of this.#slots) if (s.worker !== null) send(s.worker, { t: "verdict", v });
  }

  /** One admin API change to every worker. */
  admin(a: AdminSetting): void {
    for (const s of this.#slots) if (s.worker !== null) send(s.worker, { t: "admin", a });
  }

  /**
   * Apply a validated config: the first ready worker alone, then the others. A failure on the first
   * one rejects the reload and nothing changed; a later worker that fails is replaced.
   */
  async reload(text: string, name: string, plan: RuntimePlan): Promise<ReloadResult> {
    if (this.#stopping) return { ok: false, errors: ["shutting down"] };
    const gen = this.#gen + 1;
    const live = this.#slots.filter((s) => s.worker !== null && s.ready && !s.leaving);
    const [first, ...rest] = live;
    if (first !== undefined) {
      const errors = await this.#ask(first, gen, text, name);
      if (errors !== null) return { ok: false, errors };
    }
    this.#text = text;
    this.#name = name;
    this.#gen = gen;
    this.#shutdownMs = plan.shutdownTimeoutMs;
    const answers = await Promise.all(rest.map(async (s) => ({ s, errors: await this.#ask(s, gen, text, name) })));
    for (const { s, errors } of answers) {
      if (errors === null) continue;
      // the first worker took this config, so this one is out of step: replace it
      this.#log.error({ worker: s.id, errors }, `worker ${s.id} could not apply the configuration; replacing it`);
      this.#retire(s, false);
    }
    await this.resize(plan.workers);
    return { ok: true };
  }

  /** Grow or shrink to n workers (extra ones stop gracefully). */
  async resize(n: number): Promise<void> {
    const active = this.#slots.filter((s) => !s.leaving);
    if (n > active.length) {
      this.#log.info({ from: active.length, to: n }, `workers: ${active.length} -> ${n}`);
      await Promise.all(Array.from({ length: n - active.length }, () => this.#fork(this.#newSlot())));
    } else if (n < active.length) {
      this.#log.info({ from: active.length, to: n }, `workers: ${active.length} -> ${n}`);
      for (const s of active.slice(n)) this.#retire(s, true);
    }
  }

  /** Every serving worker's metrics snapshot (a worker that does not answer in time is left out). */
  metrics(): Promise<(readonly MetricFamily[])[]> {
    return this.#gather((req) => ({ t: "metrics", req }));
  }

  /** Every serving worker's listener and server counters (a worker that does not answer in time is left out). */
  traffic(): Promise<Traffic[]> {
    return this.#gather((req) => ({ t: "traffic", req }));
  }

  /** One request to every serving worker, and the answers that came within METRICS_ANSWER_MS. */
  async #gather<T>(ask: (req: number) => ToWorker): Promise<T[]> {
    const req = ++this.#scrape;
    const asks = this.#slots.filter((s) => s.worker !== null && s.ready).map((s) => new Promise<T | null>((resolve) => {
      const timer = setTimeout(() => { s.scrapes.delete(req); resolve(null); }, METRICS_ANSWER_MS);
      s.scrapes.set(req, (answer) => { clearTimeout(timer); s.scrapes.delete(req); resolve(answer as T | null); });
      send(s.worker as Worker, ask(req));
    }));
    return (await Promise.all(asks)).filter((a): a is Awaited<T> => a !== null);
  }

  /** Graceful stop of every worker within timeoutMs (null: no limit), then SIGKILL what is left. */
  async stop(timeoutMs: number | null): Promise<void> {
    this.#stopping = true;
    const exits: Promise<void>[] = [];
    for (const s of this.#slots) {
      if (s.restart !== null) { clearTimeout(s.restart); s.restart = null; }
      const w = s.worker;
      if (w === null) continue;
      exits.push(new Promise((resolve) => { if (w.isDead()) resolve(); else w.once("exit", () => resolve()); }));
      send(w, { t: "stop", timeoutMs });
    }
    const all = Promise.all(exits).then(() => true);
    if (timeoutMs === null) { await all; return; }
    let timer: NodeJS.Timeout | null = null;
    const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs + STOP_GRACE_MS); });
    const done = await Promise.race([all, late]);
    if (timer !== null) clearTimeout(timer);
    if (!done) {
      for (const s of this.#slots) if (s.worker !== null && !s.worker.isDead()) s.worker.process.kill("SIGKILL");
      this.#log.warn("workers did not exit in time: killed");
      await all;
    }
  }

  #newSlot(): Slot {
    const slot: Slot = {
      id: this.#slots.length + 1, worker: null, gen: -1, ready: false, bornAt: 0, deaths: 0, restart: null,
      waiting: new Map(), scrapes: new Map(), started: null, leaving: false,
    };
    this.#slots.push(slot);
    return slot;
  }

  /** Fork a worker into slot; resolves null once it listens, or the error text. */
  #fork(slot: Slot): Promise<string | null> {
    const w = nodeCluster().fork({ SWITCHYARD_WORKER_ID: String(slot.id) });
    this.forks++;
    slot.worker = w;
    slot.ready = false;
    slot.gen = -1;
    slot.bornAt = performance.now();
    const started = new Promise<string | null>((resolve) => { slot.started = resolve; });
    w.on("message", (m: unknown) => this.#onMessage(slot, w, m));
    w.once("exit", (code: number | null, signal: string | null) => this.#onExit(slot, w, code, signal));
    w.on("error", (err: Error) => this.#log.warn({ worker: slot.id, err: err.message }, "worker channel error"));
    const snap = this.#snapshot();
    send(w, { t: "start", gen: this.#gen, text: this.#text, name: this.#name, verdicts: snap.verdicts, admin: snap.admin });
    return started;
  }

  #onMessage(slot: Slot, w: Worker, m: unknown): void {
    if (slot.worker !== w) return;
    const msg = parseFromWorker(m);
    if (msg === null) return;
    if (msg.t === "ready") {
      slot.ready = true;
      slot.gen = msg.gen;
      this.#log.info({ worker: slot.id, pid: w.process.pid }, `worker ${slot.id} listening (pid ${w.process.pid ?? "?"})`);
      slot.started?.(null);
      slot.started = null;
      // forked before a reload finished: bring it up to date
      if (msg.gen < this.#gen && !this.#stopping) void this.#ask(slot, this.#gen, this.#text, this.#name);
      return;
    }
    if (msg.t === "start-failed") {
      this.#log.error({ worker: slot.id, err: msg.error }, `worker ${slot.id} could not start: ${msg.error}`);
      slot.started?.(msg.error);
      slot.started = null;
      return;
    }
    if (msg.t === "metrics") { slot.scrapes.get(msg.req)?.(msg.families); return; }
    if (msg.t === "traffic") { slot.scrapes.get(msg.req)?.(msg.traffic); return; }
    const done = slot.waiting.get(msg.gen);
    if (msg.errors === null) slot.gen = Math.max(slot.gen, msg.gen);
    if (done !== undefined) { slot.waiting.delete(msg.gen); done(msg.errors); }
  }

  #onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return;
    slot.worker = null;
    slot.ready = false;
    for (const done of slot.waiting.values()) done([`worker ${slot.id} exited during the reload`]);
    slot.waiting.clear();
    for (const done of slot.scrapes.values()) done(null);
    slot.started?.(`worker ${slot.id} exited before it was ready (${signal ?? `code ${code ?? "?"}`})`);
    slot.started = null;
    if (this.#stopping || this.#starting) return;
    if (slot.leaving) {
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      return;
    }
    const lived = performance.now() - slot.bornAt;
    slot.deaths = lived >= STABLE_MS ? 0 : slot.deaths + 1;
    const delay = slot.deaths === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (slot.deaths - 1));
    this.#log.warn({ worker: slot.id, pid: w.process.pid, code, signal, restart_in_ms: delay },
      `worker ${slot.id} (pid ${w.process.pid ?? "?"}) died (${signal ?? `code ${code ?? "?"}`}); restarting in ${delay} ms`);
    slot.restart = setTimeout(() => {
      slot.restart = null;
      if (!this.#stopping) void this.#fork(slot);
    }, delay);
  }

  /** Reload one worker; null when it applied gen, else the errors. */
  #ask(slot: Slot, gen: number, text: string, name: string): Promise<readonly string[] | null> {
    const w = slot.worker;
    if (w === null) return Promise.resolve([`worker ${slot.id} is not running`]);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        slot.waiting.delete(gen);
        resolve([`worker ${slot.id} did not answer the reload within ${RELOAD_ANSWER_MS} ms`]);
      }, RELOAD_ANSWER_MS);
      slot.waiting.set(gen, (errors) => { clearTimeout(timer); resolve(errors); });
      send(w, { t: "reload", gen, text, name });
    });
  }

  /** Stop one worker gracefully; `gone` true: the slot is removed (resize), else it is forked again. */
  #retire(slot: Slot, gone: boolean): void {
    slot.leaving = gone;
    if (slot.worker !== null) send(slot.worker, { t: "stop", timeoutMs: this.#shutdownMs });
    else if (gone) this.#slots.splice(this.#slots.indexOf(slot), 1);
  }
}

function send(w: Worker, msg: ToWorker): void {
  if (!w.isConnected()) return;
  try { w.send(msg); } catch { /* the worker is going away; its exit is handled */ }
}

// --- the worker side ---

function toWorkerParent(msg: FromWorker): void {
  if (process.send !== undefined && process.connected) process.send(msg);
}

/** A worker process: runs one Runtime with external health, driven by the supervisor's messages. */
export function runWorker(): void {
  const id = Number(process.env.SWITCHYARD_WORKER_ID ?? "0");
  let rt: Runtime | null = null;
  /** Verdicts go to the runtime from the moment it exists (before it listens); buffered until then. */
  let health: Runtime | null = null;
  const early: Verdict[] = [];
  const earlyAdmin: AdminSetting[] = [];
  let log: Logger | null = null;
  let metrics: RuntimeMetrics | null = null;
  let stopping = false;
  let queue: Promise<void> = Promise.resolve();

  // signals are the supervisor's to act on (a terminal's ^C reaches the whole process group);
  // a worker without handlers would die on them
  for (const sig of ["SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT"] as const) process.on(sig, () => { /* the supervisor decides */ });

  const stop = async (timeoutMs: number | null): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (rt !== null) await rt.stop(timeoutMs);
    if (log !== null) { log.info(`worker ${id} stopped`); flushLogger(log); }
    setTimeout(() => process.exit(0), 50);
  };

  const handle = async (msg: ToWorker): Promise<void> => {
    if (msg.t === "start") {
      const r = loadConfigText(msg.text, msg.name, process.env);
      if (!r.ok) { toWorkerParent({ t: "start-failed", error: r.errors.map(formatError).join("; ") }); setTimeout(() => process.exit(1), 50); return; }
      log = createRootLogger(r.plan.log.level).child({ worker: id });
      const runtime = new Runtime(r.plan, log, systemClock, { health: "external" });
      for (const v of [...msg.verdicts, ...early]) runtime.applyVerdict(v);
      early.length = 0;
      health = runtime;
      try {
        // start() builds its pools before its first await: admin changes apply before the first client
        const started = runtime.start();
        for (const a of [...msg.admin, ...earlyAdmin]) applyAdmin(runtime, a);
        earlyAdmin.length = 0;
        await started;
      } catch (err) {
        toWorkerParent({ t: "start-failed", error: (err as Error).message });
        flushLogger(log);
        setTimeout(() => process.exit(1), 50);
        return;
      }
      rt = runtime;
      toWorkerParent({ t: "ready", gen: msg.gen });
      return;
    }
    if (msg.t === "reload") {
      if (rt === null || stopping) { toWorkerParent({ t: "reloaded", gen: msg.gen, errors: ["worker is not serving"] }); return; }
      const r = loadConfigText(msg.text, msg.name, process.env);
      if (!r.ok) { toWorkerParent({ t: "reloaded", gen: msg.gen, errors: r.errors.map(formatError) }); return; }
      const res = await reloadRuntime(rt, r.plan);
      toWorkerParent({ t: "reloaded", gen: msg.gen, errors: res.ok ? null : res.errors });
      return;
    }
    if (msg.t === "stop") await stop(msg.timeoutMs);
  };

  process.on("message", (m: unknown) => {
    const msg = parseToWorker(m);
    if (msg === null) return;
    // verdicts apply at once; config and stop messages run one after another
    if (msg.t === "verdict") { if (health !== null) health.applyVerdict(msg.v); else early.push(msg.v); return; }
    if (msg.t === "admin") {
      if (health !== null) applyAdmin(health, msg.a); else earlyAdmin.push(msg.a);
      return;
    }
    if (msg.t === "traffic") {
      toWorkerParent({ t: "traffic", req: msg.req, traffic: rt === null ? NO_TRAFFIC : trafficOf(rt) });
      return;
    }
    if (msg.t === "metrics") {
      // answered at once, between config messages: a scrape never waits for a reload
      if (rt === null) { toWorkerParent({ t: "metrics", req: msg.req, families: [] }); return; }
      metrics ??= new RuntimeMetrics(rt);
      metrics.snapshot().then(
        (families) => toWorkerParent({ t: "metrics", req: msg.req, families }),
        () => toWorkerParent({ t: "metrics", req: msg.req, families: [] }),
      );
      return;
    }
    queue = queue.then(() => handle(msg)).catch((err: unknown) => { log?.error({ err }, "worker message failed"); });
  });
  // the supervisor is gone (killed): finish what we have and leave
  process.on("disconnect", () => { void stop(rt?.plan.shutdownTimeoutMs ?? 0); });
}

if (import.meta.main && nodeCluster().isWorker) runWorker();
