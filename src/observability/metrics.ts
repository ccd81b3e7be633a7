// Metrics: what /metrics serves, in the Prometheus text format, through prom-client.
//
// Cost model (style 3, 11): nothing is labelled or allocated per request.
//  * Per listener, a ListenerStats of plain numbers is made once per listener name (it survives
//    reloads) and bound into the listener's context: an HTTP request ends with one call,
//    `stats.request(status, ms)` (a few increments and a bucket scan); connections are counted by
//    one 'connection' handler per listener and one shared 'close' handler.
//  * Pools and servers already count their work (Server.total, failures, active, flags), and the
//    health runner keeps the last probe: those are read at scrape time, never on the hot path.
//  * Ejections are counted from the switchyard:server:state channel (rare events).
//
// Scrape: RuntimeMetrics.snapshot() returns the families as prom-client's getMetricsAsJSON()
// objects (plain JSON, process metrics included); renderMetrics() turns one or more snapshots into
// text with prom-client's AggregatorRegistry.aggregate(), summing counters per label set. With
// worker processes (issue 7) each worker sends its snapshot to the supervisor over IPC and the
// supervisor renders them all at once: one code path for one process and for many. Each family
// says how it merges (`aggregator`): counters and work gauges sum; configuration gauges take the
// first worker's value; a server's state takes the worst (max over down/drain flags).
//
// prom-client (with the OpenTelemetry API it pulls in: about 90 module files) is imported when the first
// RuntimeMetrics is made or the first render runs, not at start: a process that serves no /metrics
// (no admin listener) never loads it (issue 11: idle and peak RSS).
import type { Socket } from "node:net";
import type { Registry } from "prom-client";
import type { Pool } from "../upstream/pool.ts";
import type { Server } from "../upstream/server.ts";
import type { HealthStatus } from "../health/runner.ts";
import type { ListenerPlan } from "../config/schema.ts";
import { FAILED_ACTIVE, FAILED_PASSIVE } from "../upstream/flags.ts";
import { serverStateChannel, type ServerStateMessage } from "./diagnostics.ts";

/** Request and session duration buckets, seconds (upper bounds; +Inf is implied). */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const BUCKETS_MS: readonly number[] = DURATION_BUCKETS.map((s) => s * 1000);

/** Prometheus' text content type (prom-client's Registry.PROMETHEUS_CONTENT_TYPE, written out so it costs no import). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** How samples of one family merge across workers (prom-client's aggregator names). */
export type Aggregator = "sum" | "first" | "min" | "max" | "average" | "omit";

/** One sample as prom-client's getMetricsAsJSON() writes it. */
export interface MetricSample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
  /** The series name when it differs from the family's (histogram _bucket/_sum/_count). */
  readonly metricName?: string;
}

/** One metric family as prom-client's getMetricsAsJSON() writes it (what workers send). */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary";
  readonly aggregator: Aggregator;
  readonly values: MetricSample[];
}

/** A shape-only duration histogram: non-cumulative counts per bucket (last = over the top bound). */
class Durations {
  readonly counts = new Float64Array(BUCKETS_MS.length + 1);
  sumMs = 0;
  count = 0;

  observe(ms: number): void {
    let i = 0;
    const b = BUCKETS_MS;
    while (i < b.length && ms > b[i]) i++;
    this.counts[i]++;
    this.sumMs += ms;
    this.count++;
  }
}

const kAcceptedAt = Symbol("switchyard.acceptedAt");
type TrackedSocket = Socket & { [kAcceptedAt]?: number };

/**
 * The counters of one listener, by name; made once and kept across reloads. Every field is a plain
 * number; /metrics and /status read them. `request()` is the one call an HTTP request makes.
 */
export class ListenerStats {
  readonly name: string;
  /** Client connections accepted (refused ones not included). */
  connections = 0;
  /** Connections closed at once because max_connections was reached. */
  rejected = 0;
  /** Bytes of connections already closed (open ones are added at scrape time). */
  closedBytesIn = 0;
  closedBytesOut = 0;
  /** HTTP requests answered (any status, proxy errors included). */
  requests = 0;
  /** HTTP requests by status class: index 1..5 = 1xx..5xx, 0 = anything else. */
  readonly classes = new Float64Array(6);
  /** HTTP request time, from the request head to the last byte sent. */
  readonly requestTime = new Durations();
  /** Client connection lifetime (for TCP, MySQL and mail listeners: the session). */
  readonly sessionTime = new Durations();
  /** 'connection' handler for the listener's net.Server (bound once). */
  readonly onConnection: (sock: Socket) => void;
  readonly #onClose: (this: Socket) => void;

  constructor(name: string) {
    this.name = name;
    const stats = this;
    // one function per listener: the socket arrives as `this`, so nothing is made per connection
    this.#onClose = function onClientClose(this: Socket): void { stats.#closed(this); };
    this.onConnection = (sock: Socket): void => {
      // the Listener's own handler ran first: a socket it destroyed was refused (max_connections)
      if (sock.destroyed) { this.rejected++; return; }
      this.connections++;
      (sock as TrackedSocket)[kAcceptedAt] = performance.now();
      sock.on("close", this.#onClose);
    };
  }

  /** One HTTP request finished with this status (0 = no answer) after ms milliseconds. */
  request(status: number, ms: number): void {
    this.requests++;
    const c = (status / 100) | 0;
    this.classes[c >= 1 && c <= 5 ? c : 0]++;
    this.requestTime.observe(ms);
  }

  /** Bytes in and out of every connection so far: those closed, plus what the open ones moved. */
  bytes(open: ReadonlySet<Socket>): { readonly bytesIn: number; readonly bytesOut: number } {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    for (const c of open) { bytesIn += c.bytesRead; bytesOut += c.bytesWritten; }
    return { bytesIn, bytesOut };
  }

  #closed(sock: Socket): void {
    this.closedBytesIn += sock.bytesRead;
    this.closedBytesOut += sock.bytesWritten;
    const t0 = (sock as TrackedSocket)[kAcceptedAt];
    if (t0 !== undefined) this.sessionTime.observe(performance.now() - t0);
  }
}

/** What RuntimeMetrics reads (Runtime fits it). */
export interface MetricsSource {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly listeners: ReadonlyMap<string, { readonly state: { readonly plan: ListenerPlan }; readonly listener: { readonly clients: ReadonlySet<Socket> } }>;
  readonly stats: ReadonlyMap<string, ListenerStats>;
  readonly health: { status(key: string): HealthStatus | null };
}

/** Ejections per server, by cause; keyed by the Server object, which outlives reloads. */
interface Ejections { health: number; passive: number }
const ejections = new WeakMap<object, Ejections>();
serverStateChannel.subscribe((m) => {
  const msg = m as ServerStateMessage;
  if (msg.to !== "down" || !msg.on) return;
  const cause = msg.flag === FAILED_ACTIVE ? "health" : msg.flag === FAILED_PASSIVE ? "passive" : null;
  if (cause === null) return; // admin down is not an ejection
  let e = ejections.get(msg.server);
  if (e === undefined) { e = { health: 0, passive: 0 }; ejections.set(msg.server, e); }
  e[cause]++;
});

type PromClient = typeof import("prom-client");
let promClient: Promise<PromClient> | null = null;
/** prom-client, imported once on first use. */
function prom(): Promise<PromClient> {
  promClient ??= import("prom-client");
  return promClient;
}

/**
 * Process metrics (event-loop lag, memory, handles, CPU, GC): one registry per process, made on
 * first use (the event-loop and GC observers start then).
 */
let processRegistry: Promise<Registry> | null = null;
function processMetrics(): Promise<Registry> {
  processRegistry ??= prom().then((p) => {
    const r = new p.Registry();
    p.collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 10 });
    return r;
  });
  return processRegistry;
}

const TYPES = new Set(["counter", "gauge", "histogram", "summary"]);
const AGGREGATORS = new Set(["sum", "first", "min", "max", "average", "omit"]);

/** prom-client's JSON (typed loosely in its .d.ts) as MetricFamily; drops anything malformed. */
export function asFamilies(json: readonly unknown[]): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const m of json) {
    if (typeof m !== "object" || m === null) continue;
    const f = m as Record<string, unknown>;
    if (typeof f.name !== "string" || typeof f.help !== "string" || !TYPES.has(String(f.type)) || !Array.isArray(f.values)) continue;
    const aggregator = AGGREGATORS.has(String(f.aggregator)) ? String(f.aggregator) : "sum";
    out.push({ name: f.name, help: f.help, type: f.type as MetricFamily["type"], aggregator: aggregator as Aggregator, values: f.values as MetricSample[] });
  }
  return out;
}

function family(name: string, type: MetricFamily["type"], aggregator: Aggregator, help: string): MetricFamily {
  return { name, help, type, aggregator, values: [] };
}

function pushHistogram(f: MetricFamily, labels: Record<string, string>, d: Durations): void {
  let acc = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    acc += d.counts[i];
    f.values.push({ value: acc, labels: { ...labels, le: DURATION_BUCKETS[i] }, metricName: `${f.name}_bucket` });
  }
  f.values.push({ value: d.count, labels: { ...labels, le: "+Inf" }, metricName: `${f.name}_bucket` });
  f.values.push({ value: d.sumMs / 1000, labels, metricName: `${f.name}_sum` });
  f.values.push({ value: d.count, labels, metricName: `${f.name}_count` });
}

const CLASS_NAMES = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];
const STATES = ["up", "down", "drain"] as const;

/** Reads a runtime's state into metric families; holds no state of its own. */
export class RuntimeMetrics {
  readonly #src: MetricsSource;

  constructor(src: MetricsSource) {
    this.#src = src;
    // the process figures start being gathered now, as before the import became lazy;
    // a failed import shows at the first snapshot()
    processMetrics().catch(() => {});
  }

  /** Every family now, process metrics included (plain JSON: a worker can send it as is). */
  async snapshot(): Promise<MetricFamily[]> {
    const out = [...this.listenerFamilies(), ...this.poolFamilies()];
    out.push(...asFamilies(await (await processMetrics()).getMetricsAsJSON()));
    return out;
  }

  /** Per listener: connections, bytes, requests by status class, durations. */
  listenerFamilies(): MetricFamily[] {
    const info = family("switchyard_listener_info", "gauge", "first", "A listener: its protocol and address (always 1).");
    const conns = family("switchyard_listener_connections_total", "counter", "sum", "Client connections accepted.");
    const rejected = family("switchyard_listener_connections_rejected_total", "counter", "sum", "Client connections closed at once because max_connections was reached.");
    const open = family("switchyard_listener_connections_open", "gauge", "sum", "Client connections open now.");
    const rx = family("switchyard_listener_received_bytes_total", "counter", "sum", "Bytes received from clients (on the wire, TLS included).");
    const tx = family("switchyard_listener_sent_bytes_total", "counter", "sum", "Bytes sent to clients (on the wire, TLS included).");
    const reqs = family("switchyard_listener_requests_total", "counter", "sum", "HTTP requests answered, by status class (proxy errors included; other = no answer).");
    const reqTime = family("switchyard_listener_request_duration_seconds", "histogram", "sum", "HTTP request time: request head received to last byte sent.");
    const sessTime = family("switchyard_listener_session_duration_seconds", "histogram", "sum", "Client connection lifetime (the session, for TCP, MySQL and mail listeners).");
    for (const [name, live] of this.#src.listeners) {
      const st = this.#src.stats.get(name);
      if (st === undefined) continue;
      const plan = live.state.plan;
      const l = { listener: name };
      const { bytesIn, bytesOut } = st.bytes(live.listener.clients);
      info.values.push({ value: 1, labels: { listener: name, protocol: plan.protocol, address: plan.listen.text } });
      conns.values.push({ value: st.connections, labels: l });
      rejected.values.push({ value: st.rejected, labels: l });
      open.values.push({ value: live.listener.clients.size, labels: l });
      rx.values.push({ value: bytesIn, labels: l });
      tx.values.push({ value: bytesOut, labels: l });
      if (plan.protocol === "http") {
        for (let c = 1; c <= 5; c++) reqs.values.push({ value: st.classes[c], labels: { listener: name, class: CLASS_NAMES[c] } });
        reqs.values.push({ value: st.classes[0], labels: { listener: name, class: "other" } });
        pushHistogram(reqTime, l, st.requestTime);
      }
      pushHistogram(sessTime, l, st.sessionTime);
    }
    return [info, conns, rejected, open, rx, tx, reqs, reqTime, sessTime];
  }

  /** Per pool and server: state, weight, work, failures, ejections, health checks, retries. */
  poolFamilies(): MetricFamily[] {
    const eligible = family("switchyard_upstream_eligible_servers", "gauge", "min", "Servers able to take new work now (up, weight > 0, in the tier in use).");
    const retries = family("switchyard_upstream_retries_total", "counter", "sum", "Units sent to another server after a failure.");
    const refusals = family("switchyard_upstream_refusals_total", "counter", "sum", "Units refused because no server was eligible.");
    const state = family("switchyard_server_state", "gauge", "max", "1 for the server's current state (up, down or drain), 0 for the others.");
    const weight = family("switchyard_server_weight", "gauge", "first", "Configured weight (config or admin API).");
    const eff = family("switchyard_server_effective_weight", "gauge", "first", "Weight the scheduler sees (0 while draining, ramping during slow start).");
    const backup = family("switchyard_server_backup", "gauge", "first", "1 for a backup server.");
    const active = family("switchyard_server_active", "gauge", "sum", "Units (requests or sessions) in flight.");
    const inactive = family("switchyard_server_inactive", "gauge", "sum", "Units finished within inactive_linger (IPVS inactive).");
    const overloaded = family("switchyard_server_overloaded", "gauge", "max", "1 while max_conns is reached.");
    const total = family("switchyard_server_requests_total", "counter", "sum", "Units (HTTP requests or sessions) sent to the server, retries included.");
    const failures = family("switchyard_server_failures_total", "counter", "sum", "Failed units: connect refused or timed out, upstream reset or timeout.");
    const eject = family("switchyard_server_ejections_total", "counter", "sum", "Times the server was taken out, by cause (health-check or passive).");
    const checkUp = family("switchyard_server_check_up", "gauge", "min", "Last active health probe: 1 passed, 0 failed (absent before the first probe or without checks).");
    const checkTime = family("switchyard_server_check_duration_seconds", "gauge", "max", "Duration of the last active health probe.");
    const checks = family("switchyard_server_checks_total", "counter", "sum", "Active health probes completed.");
    const health = this.#src.health;
    for (const pool of this.#src.pools.values()) {
      const u = { upstream: pool.name };
      eligible.values.push({ value: pool.eligible.length, labels: u });
      retries.values.push({ value: pool.retries, labels: u });
      refusals.values.push({ value: pool.refusals, labels: u });
      for (const s of pool.servers) {
        const l = { upstream: pool.name, server: s.address };
        const st = s.state;
        for (const x of STATES) state.values.push({ value: st === x ? 1 : 0, labels: { ...l, state: x } });
        weight.values.push({ value: s.configWeight, labels: l });
        eff.values.push({ value: s.weight, labels: l });
        backup.values.push({ value: s.backup ? 1 : 0, labels: l });
        active.values.push({ value: s.active, labels: l });
        inactive.values.push({ value: s.inactive, labels: l });
        overloaded.values.push({ value: s.thresholdOverloaded ? 1 : 0, labels: l });
        total.values.push({ value: s.total, labels: l });
        failures.values.push({ value: s.failures, labels: l });
        const e = ejections.get(s as Server);
        eject.values.push({ value: e?.health ?? 0, labels: { ...l, cause: "health-check" } });
        eject.values.push({ value: e?.passive ?? 0, labels: { ...l, cause: "passive" } });
        const h = pool.plan.health.type === "none" ? null : health.status(`${pool.name}/${s.address}`);
        if (h !== null) {
          checks.values.push({ value: h.probes, labels: l });
          if (h.last !== null) {
            checkUp.values.push({ value: h.last.ok ? 1 : 0, labels: l });
            checkTime.values.push({ value: h.last.ms / 1000, labels: l });
          }
        }
      }
    }
    return [eligible, retries, refusals, state, weight, eff, backup, active, inactive, overloaded, total, failures, eject, checkUp, checkTime, checks];
  }
}

/**
 * Prometheus text for one or more snapshots (one per worker), merged family by family with each
 * family's aggregator. Rejects only on a malformed snapshot (a bug).
 */
export async function renderMetrics(snapshots: readonly (readonly MetricFamily[])[]): Promise<string> {
  const { AggregatorRegistry } = await prom();
  const text = await AggregatorRegistry.aggregate(snapshots.map((s) => [...s])).metrics();
  // prom-client writes NaN as "Nan" (the event-loop lag min/max before the first sample); the
  // format says "NaN", and strict parsers (and this project's tests) hold us to it
  return text.replace(/ Nan$/gm, " NaN");
}

/** Ejection counts of one server (for /status): health-check and passive. */
export function ejectionsOf(s: Server): { readonly health: number; readonly passive: number } {
  return ejections.get(s) ?? { health: 0, passive: 0 };
}
