// Server: one upstream address with its weights, counters and state flags.
// Schedulers read it only through ServerView; the pool and health code write it.
import { DOWN_MASK, verdict, type ServerState } from "./flags.ts";

/** What a scheduler may read, never write. */
export interface ServerView {
  /** Position in the pool's tier list (config order, runtime adds at the front). */
  readonly index: number;
  /** "host:port" as configured; identity for state carried across reloads. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Effective integer weight (slow start, drain = 0); 0 = quiesced, never picked. */
  readonly weight: number;
  /** Most recent non-zero weight (only mh reads it). */
  readonly lastWeight: number;
  /** Units in flight now. */
  readonly active: number;
  /** Units finished within inactive_linger (IPVS "inactive"). */
  readonly inactive: number;
  /** max_conns flag (schedulers.md 1.6) OR health-down: every scheduler skips it. */
  readonly overloaded: boolean;
  /** In the list and not health-down (the lblc cached path checks this, not `overloaded`). */
  readonly available: boolean;
}

/** overhead = active * 256 + inactive (schedulers.md 1.4). */
export function overhead(s: ServerView): number {
  return s.active * 256 + s.inactive;
}

export class Server implements ServerView {
  index = 0;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Weight from the config or the admin API. */
  configWeight: number;
  /** Effective weight seen by schedulers. */
  weight: number;
  lastWeight: number;
  active = 0;
  inactive = 0;
  /** max_conns (IPVS upper threshold); 0 = none. */
  upper: number;
  /** The threshold OVERLOAD flag alone. */
  thresholdOverloaded = false;
  backup: boolean;
  /** FAILED_ACTIVE | FAILED_PASSIVE | ADMIN_DOWN | ADMIN_DRAIN */
  flags = 0;
  /** Still in its pool's list (false once removed by reload or the admin API). */
  listed = true;
  /** Units ever started (requests or sessions). */
  total = 0;
  /** Failures counted by passive health or failed connects, ever. */
  failures = 0;
  /** Time of the last up transition (slow start), -1 = never went down. */
  upSince = -1;
  /** Last health check result text, for status and the API. */
  lastCheck: string | null = null;
  /** Recent state changes, newest last (bounded). */
  readonly history: { at: number; state: ServerState; reason: string }[] = [];

  constructor(address: string, host: string, port: number, weight: number, upper: number, backup: boolean) {
    this.address = address;
    this.host = host;
    this.port = port;
    this.configWeight = weight;
    this.weight = weight;
    this.lastWeight = weight;
    this.upper = upper;
    this.backup = backup;
  }

  get state(): ServerState { return verdict(this.flags); }
  // bit tests, not verdict(): schedulers read these for every server on every pick
  get overloaded(): boolean { return this.thresholdOverloaded || (this.flags & DOWN_MASK) !== 0; }
  get available(): boolean { return this.listed && (this.flags & DOWN_MASK) === 0; }
}
