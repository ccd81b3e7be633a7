// The active health runner: probes every watched server on its own timer, feeds rise/fall, and
// tells the watchers when a server's verdict flips. HAProxy's check task per server, Caddy's
// active health checker minus the goroutine: the loop is a timer chain on the injected Clock,
// and runOnce()/runAll() expose one synchronous round so tests drive it by hand.
//
// - One probe per (check type, probed address, plan): pools and listeners that watch the same
//   server with the same plan share one timer, one probe and one rise/fall state; the verdict is
//   fanned out to every watcher and the transition is logged once.
// - The first probe runs at a random point within the interval (so a reload does not probe every
//   server at once), then every interval +-10%, counted from the start of the previous probe.
// - Probes of one server never overlap; each is aborted at plan.timeoutMs.
// - Servers start up (rise-fall.ts); type "none" watches nothing and never calls back.
import { channel } from "node:diagnostics_channel";
import type { HealthPlan } from "../config/schema.ts";
import type { Clock, TimerHandle } from "../core/clock.ts";
import type { HealthCheck, HealthCheckFactory, ProbeResult, ProbeTarget } from "./check.ts";
import { failure } from "./conn.ts";
import { getHealthCheck } from "./index.ts";
import { RiseFall } from "./rise-fall.ts";

/** The two levels the runner logs at (pino loggers fit). */
export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Called on each verdict change of a watched server (never for probes that change nothing). */
export type VerdictListener = (up: boolean, result: ProbeResult, reason: string) => void;

export interface HealthWatch {
  /** Stop this watch; the probe stops when its last watcher does. Idempotent. */
  stop(): void;
}

export interface HealthStatus {
  readonly up: boolean;
  /** The last probe's result; null before the first probe completes. */
  readonly last: ProbeResult | null;
  /** reasonText(last), "" before the first probe. */
  readonly reason: string;
  /** Probes completed. */
  readonly probes: number;
}

export interface HealthRunnerOptions {
  /** Uniform [0, 1) source for the jitter (default Math.random). */
  readonly random?: () => number;
  /** type -> factory (default the registry's getHealthCheck); tests pass scripted checks. */
  readonly checks?: (type: string) => HealthCheckFactory | null;
}

/** Published once per transition: { server, type, up, reason, result, watchers }. */
export const healthTransitionChannel = channel("switchyard:health:transition");

/** Jitter: each interval is scaled by a factor in [1 - JITTER, 1 + JITTER). */
const JITTER = 0.1;

/**
 * The text logged and handed to watchers for one result: "L7 status 500", "L4 connect refused",
 * "L4 connection reset", "timeout after 1000 ms", "L7 bad response: <info>", "L7 ok (200)".
 */
export function reasonText(r: ProbeResult): string {
  if (r.ok) return r.code === null ? `${r.layer} ok` : `${r.layer} ok (${r.code})`;
  switch (r.reason) {
    case "timeout": return r.info;
    case "refused": return `${r.layer} connect refused`;
    case "reset": return `${r.layer} connection reset`;
    case "bad-status": return `${r.layer} status ${r.code ?? "?"}`;
    case "bad-response": return `${r.layer} bad response: ${r.info}`;
  }
}

/** One shared probe: a server as seen through one plan. */
class Probe {
  readonly id: string;
  readonly target: ProbeTarget;
  readonly address: string;
  readonly plan: HealthPlan;
  readonly check: HealthCheck;
  readonly state: RiseFall;
  readonly watchers = new Map<string, VerdictListener>();
  timer: TimerHandle | null = null;
  inflight: Promise<ProbeResult> | null = null;
  abort: AbortController | null = null;
  last: ProbeResult | null = null;
  reason = "";
  probes = 0;
  closed = false;

  constructor(id: string, target: ProbeTarget, plan: HealthPlan, check: HealthCheck) {
    this.id = id;
    this.target = target;
    this.address = target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    this.plan = plan;
    this.check = check;
    this.state = new RiseFall(plan.rise, plan.fall);
  }
}

/** The dedupe key: check type, probed address and every plan field that shapes a probe. */
function probeId(target: ProbeTarget, p: HealthPlan): string {
  return JSON.stringify([p.type, target.host, target.port, p.intervalMs, p.timeoutMs, p.rise, p.fall, p.method, p.path,
    p.host, p.expectLow, p.expectHigh, p.body, p.user, p.password, p.helo]);
}

/** Resolves a timeout result one macrotask after signal aborts: the fallback for a check that
 *  ignores its signal (a bug), so a stuck probe can never block the server's next probe. */
function afterAbort(signal: AbortSignal, timeoutMs: number, t0: number, clock: Clock): Promise<ProbeResult> {
  return new Promise((resolve) => {
    signal.addEventListener("abort", () => {
      setImmediate(() => resolve(failure("L7", "timeout", null, `timeout after ${timeoutMs} ms`, clock.now() - t0)));
    }, { once: true });
  });
}

export class HealthRunner {
  readonly #clock: Clock;
  readonly #log: HealthLog;
  readonly #random: () => number;
  readonly #checks: (type: string) => HealthCheckFactory | null;
  /** Shared probes by probeId. */
  readonly #probes = new Map<string, Probe>();
  /** Watch key -> its probe (null for type "none"). */
  readonly #watches = new Map<string, { probe: Probe | null; listener: VerdictListener }>();

  constructor(clock: Clock, log: HealthLog, options: HealthRunnerOptions = {}) {
    this.#clock = clock;
    this.#log = log;
    this.#random = options.random ?? Math.random;
    this.#checks = options.checks ?? getHealthCheck;
  }

  /**
   * Watch target under key (unique per watcher, e.g. "pool/127.0.0.1:3306"; watching a key
   * again replaces the old watch). plan.port, when set, is probed instead of target.port.
   * onVerdict runs on each transition; a watcher joining a probe whose server is already down
   * hears that at once (next microtask). Returns the handle that ends this watch.
   */
  watch(key: string, target: ProbeTarget, plan: HealthPlan, onVerdict: VerdictListener): HealthWatch {
    const previous = this.#watches.get(key);
    const factory = this.#checks(plan.type);
    let probe: Probe | null = null;
    if (factory !== null) {
      const probed: ProbeTarget = { host: target.host, port: plan.port ?? target.port };
      const id = probeId(probed, plan);
      probe = this.#probes.get(id) ?? null;
      if (probe === null) {
        probe = new Probe(id, probed, plan, factory.create(plan));
        this.#probes.set(id, probe);
        this.#schedule(probe, Math.floor(this.#random() * plan.intervalMs));
      } else if (!probe.state.up && probe.last !== null) {
        const p = probe;
        const last = probe.last;
        queueMicrotask(() => { if (p.watchers.get(key) === onVerdict) onVerdict(false, last, p.reason); });
      }
      probe.watchers.set(key, onVerdict);
    }
    // re-watching a key keeps a shared probe (and its rise/fall state) when the plan is the same
    if (previous !== undefined && previous.probe !== null && previous.probe !== probe) this.#leave(previous.probe, key);
    const entry = { probe, listener: onVerdict };
    this.#watches.set(key, entry);
    return {
      stop: () => {
        if (this.#watches.get(key) !== entry) return;
        this.#watches.delete(key);
        if (entry.probe !== null) this.#leave(entry.probe, key);
      },
    };
  }

  #leave(p: Probe, key: string): void {
    p.watchers.delete(key);
    if (p.watchers.size === 0) this.#drop(p);
  }

  #drop(p: Probe): void {
    p.closed = true;
    p.timer?.cancel();
    p.timer = null;
    p.abort?.abort();
    this.#probes.delete(p.id);
  }

  #schedule(p: Probe, delayMs: number): void {
    if (p.closed) return;
    p.timer = this.#clock.setTimeout(() => { p.timer = null; void this.#tick(p); }, Math.max(0, delayMs));
  }

  async #tick(p: Probe): Promise<void> {
    const t0 = this.#clock.now();
    await this.#run(p);
    const interval = p.plan.intervalMs * (1 - JITTER + 2 * JITTER * this.#random());
    this.#schedule(p, Math.round(interval - (this.#clock.now() - t0)));
  }

  /** One probe of p now, or the one already in flight. */
  #run(p: Probe): Promise<ProbeResult> {
    if (p.inflight !== null) return p.inflight;
    const run = this.#probeOnce(p);
    p.inflight = run;
    return run;
  }

  async #probeOnce(p: Probe): Promise<ProbeResult> {
    const ac = new AbortController();
    p.abort = ac;
    const t0 = this.#clock.now();
    const timer = this.#clock.setTimeout(() => ac.abort(), p.plan.timeoutMs);
    let r: ProbeResult;
    try {
      r = await Promise.race([p.check.probe(p.target, ac.signal), afterAbort(ac.signal, p.plan.timeoutMs, t0, this.#clock)]);
    } catch (err) {
      // the contract says probes never reject; if one does, it is a failed probe, not a crash
      r = failure("L7", "bad-response", null, `check failed: ${err instanceof Error ? err.message : String(err)}`, this.#clock.now() - t0);
    }
    timer.cancel();
    p.inflight = null;
    p.abort = null;
    if (!p.closed) this.#apply(p, r);
    return r;
  }

  #apply(p: Probe, r: ProbeResult): void {
    p.last = r;
    p.probes++;
    p.reason = reasonText(r);
    if (p.state.record(r.ok) !== "changed") return;
    const up = p.state.up;
    const watchers = [...p.watchers.keys()];
    const fields = {
      server: p.address, check: p.plan.type, up, layer: r.layer, code: r.code, ms: r.ms,
      info: r.ok ? null : r.info, rise: p.state.rise, fall: p.state.fall, watchers,
    };
    const msg = `health check: ${p.address} is ${up ? "UP" : "DOWN"}: ${p.reason}`;
    if (up) this.#log.info(fields, msg);
    else this.#log.warn(fields, msg);
    if (healthTransitionChannel.hasSubscribers) {
      healthTransitionChannel.publish({ server: p.address, type: p.plan.type, up, reason: p.reason, result: r, watchers });
    }
    for (const listener of [...p.watchers.values()]) {
      try {
        listener(up, r, p.reason);
      } catch (err) {
        this.#log.warn({ server: p.address, err }, "health verdict listener threw");
      }
    }
  }

  /**
   * Probe the server watched under key now (or join the probe in flight) and apply the result
   * to rise/fall. Resolves the result; null for an unknown key or type "none".
   */
  runOnce(key: string): Promise<ProbeResult | null> {
    const w = this.#watches.get(key);
    if (w === undefined || w.probe === null) return Promise.resolve(null);
    return this.#run(w.probe);
  }

  /** One probe of every distinct watched server, in parallel; resolves when all are done. */
  async runAll(): Promise<void> {
    await Promise.all([...this.#probes.values()].map((p) => this.#run(p)));
  }

  /** Resolves when no probe is in flight (tests: after advancing a FakeClock). */
  async settled(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const running = [...this.#probes.values()].flatMap((p) => (p.inflight === null ? [] : [p.inflight]));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** The verdict and last result for a watch key; null for unknown keys and type "none". */
  status(key: string): HealthStatus | null {
    const p = this.#watches.get(key)?.probe ?? null;
    if (p === null) return null;
    return { up: p.state.up, last: p.last, reason: p.reason, probes: p.probes };
  }

  /** Distinct probes running (what dedupe is measured by). */
  get probeCount(): number { return this.#probes.size; }

  /** Stop every watch and timer; probes in flight are aborted and their results dropped. */
  close(): void {
    for (const p of [...this.#probes.values()]) this.#drop(p);
    this.#watches.clear();
  }
}
