// What a process served: per listener (connections, requests, status classes, bytes) and per upstream
// server (active, inactive, total, failures). With `workers: N` the supervisor holds the pools and the
// health checks but serves nothing, so /api/upstreams and /status.json ask every worker for these
// counters (workers.ts, as /metrics does) and show the sums: the supervisor's own pools alone read
// zero connections. A worker that died takes its counts with it, as its /metrics series do.
import type { MetricsSource } from "../observability/metrics.ts";

export interface ListenerTraffic {
  readonly name: string;
  /** Client connections open now. */
  readonly open: number;
  readonly connections: number;
  readonly requests: number;
  /** HTTP answers by status class: index 0..4 = 1xx..5xx. */
  readonly classes: readonly number[];
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface ServerTraffic {
  readonly address: string;
  readonly active: number;
  readonly inactive: number;
  readonly total: number;
  readonly failures: number;
}

export interface PoolTraffic {
  readonly name: string;
  readonly refusals: number;
  readonly retries: number;
  readonly servers: readonly ServerTraffic[];
}

export interface Traffic {
  readonly listeners: readonly ListenerTraffic[];
  readonly pools: readonly PoolTraffic[];
}

export const NO_TRAFFIC: Traffic = { listeners: [], pools: [] };

type ListenerCounts = Omit<ListenerTraffic, "name">;
type PoolCounts = Omit<PoolTraffic, "name" | "servers">;
type ServerCounts = Omit<ServerTraffic, "address">;
const noListener = (): ListenerCounts => ({ open: 0, connections: 0, requests: 0, classes: [0, 0, 0, 0, 0], bytesIn: 0, bytesOut: 0 });

/** This process's counters. */
export function trafficOf(rt: Omit<MetricsSource, "health">): Traffic {
  const listeners: ListenerTraffic[] = [];
  for (const [name, live] of rt.listeners) {
    const st = rt.stats.get(name);
    if (st === undefined) continue;
    listeners.push({
      name, open: live.listener.clients.size, connections: st.connections, requests: st.requests,
      classes: [st.classes[1], st.classes[2], st.classes[3], st.classes[4], st.classes[5]],
      ...st.bytes(live.listener.clients),
    });
  }
  const pools: PoolTraffic[] = [];
  for (const p of rt.pools.values()) {
    pools.push({
      name: p.name, refusals: p.refusals, retries: p.retries,
      servers: p.servers.map((s) => ({ address: s.address, active: s.active, inactive: s.inactive, total: s.total, failures: s.failures })),
    });
  }
  return { listeners, pools };
}

/** Counters summed over several processes, looked up by listener, pool, or pool and server address. */
export class TrafficSums {
  readonly #listeners = new Map<string, { -readonly [K in keyof ListenerCounts]: ListenerCounts[K] } & { classes: number[] }>();
  readonly #pools = new Map<string, { refusals: number; retries: number }>();
  readonly #servers = new Map<string, { active: number; inactive: number; total: number; failures: number }>();

  constructor(all: readonly Traffic[]) {
    for (const t of all) {
      for (const l of t.listeners) {
        const sum = this.#listeners.get(l.name) ?? { ...noListener(), classes: [0, 0, 0, 0, 0] };
        sum.open += l.open; sum.connections += l.connections; sum.requests += l.requests;
        sum.bytesIn += l.bytesIn; sum.bytesOut += l.bytesOut;
        for (let i = 0; i < 5; i++) sum.classes[i] += l.classes[i] ?? 0;
        this.#listeners.set(l.name, sum);
      }
      for (const p of t.pools) {
        const ps = this.#pools.get(p.name) ?? { refusals: 0, retries: 0 };
        ps.refusals += p.refusals; ps.retries += p.retries;
        this.#pools.set(p.name, ps);
        for (const s of p.servers) {
          const key = `${p.name}\0${s.address}`;
          const ss = this.#servers.get(key) ?? { active: 0, inactive: 0, total: 0, failures: 0 };
          ss.active += s.active; ss.inactive += s.inactive; ss.total += s.total; ss.failures += s.failures;
          this.#servers.set(key, ss);
        }
      }
    }
  }

  listener(name: string): ListenerCounts {
    return this.#listeners.get(name) ?? noListener();
  }

  pool(name: string): PoolCounts {
    return this.#pools.get(name) ?? { refusals: 0, retries: 0 };
  }

  server(pool: string, address: string): ServerCounts {
    return this.#servers.get(`${pool}\0${address}`) ?? { active: 0, inactive: 0, total: 0, failures: 0 };
  }
}
