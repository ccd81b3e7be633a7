// Per-listener first-match routing: (host, path_prefix) -> route with its pool and key.
import type { ListenerPlan, RoutePlan } from "../config/schema.ts";
import type { KeyKind } from "./types.ts";
import type { Pool } from "../upstream/pool.ts";

export interface Route {
  readonly plan: RoutePlan;
  readonly pool: Pool;
  /** The key to compute: the route's, else the scheduler's default, else null. */
  readonly key: KeyKind | null;
}

export class RouteTable {
  readonly routes: readonly Route[];
  constructor(listener: ListenerPlan, pools: ReadonlyMap<string, Pool>) {
    const out: Route[] = [];
    for (const r of listener.routes) {
      const pool = pools.get(r.upstream);
      if (pool === undefined) throw new Error(`route to unknown upstream ${r.upstream}`); // validated at load
      const key = r.key ?? pool.factory.defaultKey ?? (pool.plan.persistence !== null ? "source" : null);
      out.push({ plan: r, pool, key });
    }
    this.routes = out;
  }

  /** First route whose host and path prefix match; null when none does. */
  match(host: string, path: string): Route | null {
    for (const r of this.routes) {
      const m = r.plan.match;
      if (m.host !== null && m.host !== host) continue;
      if (m.pathPrefix !== null && !path.startsWith(m.pathPrefix)) continue;
      return r;
    }
    return null;
  }

  /** Single-upstream listeners (TCP, MySQL, mail). */
  get first(): Route { return this.routes[0]; }
}
