// persistence: IPVS persistent service templates (`ipvsadm -p timeout -M netmask`, schedulers.md 3).
//
// The first unit from a client (address masked by netmask) creates a template client -> server; later units
// from that client reuse the server without asking the scheduler. A template lives `timeoutMs` after its last
// use, and never expires while a unit created under it is still open (IPVS: extended while any connection
// controlled by it is alive). It is ignored, deleted and the scheduler asked again only when its server is no
// longer in the list / available (removed or health-down) or, with expireQuiescent (sysctl
// expire_quiescent_template), when its weight is 0. By default a quiesced (drained) server keeps its sticky
// clients. The threshold OVERLOAD flag does not break a template (as IPVS).
//
// How the pool uses it (one Persistence per pool, built when upstream.persistence is non-null):
//   const s = persistence.lookup(ip, exclude) ?? scheduler.pick(ctx);   // lookup extends on a hit
//   ... bind s ...; persistence.remember(ip, s);                          // every bound unit, once
//   ... unit finished ...;  persistence.release(ip);                      // paired with each remember()
// Keys: IPv4 (and ::ffff:a.b.c.d) masked to netmask bits; other IPv6 addresses are keyed whole (/128);
// non-address strings as they are.
import type { Clock, TimerHandle } from "../core/clock.ts";
import type { ServerView } from "./server.ts";
import { clientTemplateKey } from "../schedulers/hash.ts";

export interface PersistencePlan {
  /** Template lifetime after its last use, ms (ipvsadm -p; default 300 s). */
  readonly timeoutMs: number;
  /** IPv4 prefix length the client address is masked to (ipvsadm -M; default 32). */
  readonly netmask: number;
  /** Break templates of weight-0 servers (sysctl expire_quiescent_template; default false). */
  readonly expireQuiescent: boolean;
}

/** Longest time between sweeps of expired templates; lookups also ignore expired ones on their own. */
const MAX_SWEEP_MS = 60_000;

class Template {
  server: ServerView;
  /** Time after which the template is gone, unless conns > 0. */
  expires: number;
  /** Units bound under this template and not yet released. */
  conns = 0;
  constructor(server: ServerView, expires: number) {
    this.server = server;
    this.expires = expires;
  }
}

export class Persistence {
  readonly #plan: PersistencePlan;
  readonly #clock: Clock;
  readonly #templates = new Map<number | string, Template>();
  readonly #sweepMs: number;
  #timer: TimerHandle | null;

  constructor(plan: PersistencePlan, clock: Clock) {
    this.#plan = plan;
    this.#clock = clock;
    this.#sweepMs = Math.max(1000, Math.min(plan.timeoutMs, MAX_SWEEP_MS));
    this.#timer = clock.setTimeout(this.#onTimer, this.#sweepMs);
  }

  /** Live templates (expired ones may linger until the next sweep). */
  get size(): number {
    return this.#templates.size;
  }

  /**
   * The client's template server, or null when there is none or it must be ignored (then the template is
   * deleted, except when the server is only in `exclude`: a retry after a failed connect keeps the template for
   * remember() to overwrite). A hit extends the template by timeoutMs.
   */
  lookup(clientIp: string, exclude: ReadonlySet<ServerView> | null = null): ServerView | null {
    const key = clientTemplateKey(clientIp, this.#plan.netmask);
    const t = this.#templates.get(key);
    if (t === undefined) return null;
    const now = this.#clock.now();
    const s = t.server;
    if (t.conns === 0 && now >= t.expires) {
      this.#templates.delete(key);
      return null;
    }
    if (!s.available || (this.#plan.expireQuiescent && s.weight === 0)) {
      this.#templates.delete(key);
      return null;
    }
    if (exclude !== null && exclude.has(s)) return null;
    t.expires = now + this.#plan.timeoutMs;
    return s;
  }

  /** A unit from clientIp was bound to server: create or repoint the template, extend it, count the unit. */
  remember(clientIp: string, server: ServerView): void {
    const key = clientTemplateKey(clientIp, this.#plan.netmask);
    const expires = this.#clock.now() + this.#plan.timeoutMs;
    const t = this.#templates.get(key);
    if (t === undefined) {
      const fresh = new Template(server, expires);
      fresh.conns = 1;
      this.#templates.set(key, fresh);
      return;
    }
    t.server = server;
    t.expires = expires;
    t.conns++;
  }

  /** A unit counted by remember() finished: the template now lives timeoutMs from here once none is open. */
  release(clientIp: string): void {
    const t = this.#templates.get(clientTemplateKey(clientIp, this.#plan.netmask));
    if (t === undefined) return;
    if (t.conns > 0) t.conns--;
    t.expires = this.#clock.now() + this.#plan.timeoutMs;
  }

  /** Deletes expired templates with no open unit (the timer runs it every min(timeout, 60 s), at least 1 s). */
  sweep(): void {
    const now = this.#clock.now();
    for (const [k, t] of this.#templates) if (t.conns === 0 && now >= t.expires) this.#templates.delete(k);
  }

  /** The sweep timer's callback (one per instance): sweep, then re-arm. */
  readonly #onTimer = (): void => {
    this.sweep();
    this.#timer = this.#clock.setTimeout(this.#onTimer, this.#sweepMs);
  };

  /** Pool removed: cancel the timer and drop every template. */
  close(): void {
    if (this.#timer !== null) this.#timer.cancel();
    this.#timer = null;
    this.#templates.clear();
  }
}
