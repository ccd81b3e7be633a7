// Bidirectional relay: backpressure, half-close both ways, idle timeout, byte counts.
//
// Per chunk this does as little as Node allows (issue 11; bench/compare.ts measures it against nginx stream):
//  * one module-level handler per event and direction, the session found through a symbol on the socket:
//    no closures, no stream.pipe() bookkeeping;
//  * upstream sockets dialed for a relay (connectRelayed) read through `onread` into a buffer the session
//    owns, skipping the Readable machinery and the allocation of a fresh buffer per read. The buffer starts at
//    16 KiB (nginx's proxy_buffer_size), doubles after a read that filled it (up to 256 KiB, so bulk transfers
//    make few large reads) and halves after a run of small reads; when the client's socket keeps a reference
//    to the bytes (its write was queued), the next read goes into a new buffer;
//  * idle time is found by one shared coarse sweep (IDLE_SWEEP_MS) over the open sessions, not by a timer per
//    socket refreshed on every read and write; a chunk only sets a flag.
// Client sockets of a plain TCP listener read the same way (relay's adoptClientReads, core/user-reads.ts);
// other client sockets (MySQL, mail: read before the relay began) keep ordinary 'data' events.
import net from "node:net";
import type { Socket } from "node:net";
import { useUserReads } from "../core/user-reads.ts";
import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

export interface RelaySummary {
  /** Bytes client -> upstream and upstream -> client. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Who ended it: "eof" both sides closed cleanly, "idle", "client-reset", "upstream-reset", "forced". */
  readonly end: "eof" | "idle" | "client-reset" | "upstream-reset" | "forced";
}

export interface Relay {
  /** Destroy both sides now (deadline). */
  destroy(): void;
}

type End = RelaySummary["end"];

/** Idle sweep period: an idle session closes between idle_timeout and idle_timeout + 2 periods after its last byte. */
export const IDLE_SWEEP_MS = 250;
/** Read buffer of a relayed upstream socket: first size, largest size. */
const READ_MIN = 16 * 1024;
const READ_MAX = 256 * 1024;
/** This many reads in a row under a quarter of the buffer halve it. */
const SMALL_READS = 4;

const kRelay = Symbol("switchyard.relay");
const kEarly = Symbol("switchyard.relay.early");
const kOnRead = Symbol("switchyard.relay.onread");
type Tagged = Socket & { [kRelay]?: RelaySession; [kEarly]?: Buffer[]; [kOnRead]?: true };

class RelaySession implements Relay {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly idleMs: number;
  readonly done: (s: RelaySummary) => void;
  readonly upStart: number;
  readonly downStart: number;
  end: End | null = null;
  closed = 0;
  /** A byte moved (or a write drained) since the last sweep. */
  active = true;
  /** performance.now() of the sweep that last saw activity. */
  seenAt: number;
  /** Consecutive small reads into the upstream read buffer. */
  smallReads = 0;

  constructor(client: Socket, upstream: Socket, idleMs: number, done: (s: RelaySummary) => void) {
    this.client = client;
    this.upstream = upstream;
    this.idleMs = idleMs;
    this.done = done;
    this.upStart = upstream.bytesWritten;
    this.downStart = client.bytesWritten;
    this.seenAt = performance.now();
  }

  destroy(): void {
    this.end ??= "forced";
    this.client.destroy();
    this.upstream.destroy();
  }

  idle(): void {
    this.end ??= "idle";
    this.client.destroy();
    this.upstream.destroy();
  }

  finish(): void {
    if (++this.closed < 2) return;
    if (this.idleMs > 0) live.delete(this);
    this.done({ bytesUp: this.upstream.bytesWritten - this.upStart, bytesDown: this.client.bytesWritten - this.downStart, end: this.end ?? "eof" });
  }
}

// --- the shared idle sweep ---

const live = new Set<RelaySession>();
let sweeper: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = performance.now();
  for (const r of live) {
    if (r.active) {
      r.active = false;
      r.seenAt = now;
    } else if (now - r.seenAt >= r.idleMs) {
      live.delete(r);
      r.idle();
    }
  }
  if (live.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

// --- per-event handlers, `this` is the socket ---

function onClientData(this: Tagged, chunk: Buffer): void {
  const r = this[kRelay] as RelaySession;
  r.active = true;
  if (!r.upstream.write(chunk)) this.pause();
}

function onUpstreamData(this: Tagged, chunk: Buffer): void {
  const r = this[kRelay] as RelaySession;
  r.active = true;
  if (!r.client.write(chunk)) this.pause();
}

function onClientDrain(this: Tagged): void {
  const r = this[kRelay] as RelaySession;
  r.active = true;
  r.upstream.resume();
}

function onUpstreamDrain(this: Tagged): void {
  const r = this[kRelay] as RelaySession;
  r.active = true;
  r.client.resume();
}

function onClientEnd(this: Tagged): void {
  (this[kRelay] as RelaySession).upstream.end();
}

function onUpstreamEnd(this: Tagged): void {
  (this[kRelay] as RelaySession).client.end();
}

function onClientError(this: Tagged): void {
  const r = this[kRelay] as RelaySession;
  r.end ??= "client-reset";
  r.upstream.destroy();
}

function onUpstreamError(this: Tagged): void {
  const r = this[kRelay] as RelaySession;
  r.end ??= "upstream-reset";
  r.client.destroy();
}

function onClientClose(this: Tagged, hadError: boolean): void {
  const r = this[kRelay] as RelaySession;
  if (hadError) r.end ??= "client-reset";
  if (!r.upstream.destroyed && (hadError || !this.readableEnded)) r.upstream.destroy();
  r.finish();
}

function onUpstreamClose(this: Tagged, hadError: boolean): void {
  const r = this[kRelay] as RelaySession;
  if (hadError) r.end ??= "upstream-reset";
  if (!r.client.destroyed && (hadError || !this.readableEnded)) r.client.destroy();
  r.finish();
}

// --- onread for relayed sockets (upstreams dialed by connectRelayed, adopted clients) ---

/** The buffer for the next read of the socket just read, set by its read callback; null while a socket is set up. */
let nextBuffer: Buffer | null = null;

/** onread.buffer: net.js asks for it when a socket is set up (a fresh buffer) and right after each read callback. */
function readBuffer(): Buffer {
  const b = nextBuffer;
  if (b === null) return Buffer.allocUnsafe(READ_MIN);
  nextBuffer = null;
  return b;
}

/** onread.callback: n bytes of buf are in; false pauses the socket (resumed by the other side's 'drain'). */
function onRelayRead(this: Tagged, n: number, buf: Buffer): boolean {
  nextBuffer = buf; // the same buffer again unless decided otherwise below
  const r = this[kRelay];
  if (r === undefined) {
    // bytes before the relay began (the dial's caller has not taken the socket yet): keep a copy, wait
    (this[kEarly] ??= []).push(Buffer.from(buf.subarray(0, n)));
    return false;
  }
  r.active = true;
  const peer = this === r.client ? r.upstream : r.client;
  if (peer.destroyed) return false;
  const ok = peer.write(buf.subarray(0, n));
  const size = buf.length;
  if (peer.writableLength > 0) {
    // the write was queued and holds these bytes. Below the high-water mark reading goes on: into another
    // buffer. Above it (ok false) this socket is paused until the peer's 'drain', which comes only once every
    // queued write is done, so the buffer is free again by the next read (nothing else resumes this socket).
    if (n === size && size < READ_MAX) nextBuffer = Buffer.allocUnsafe(size * 2);
    else if (ok) nextBuffer = Buffer.allocUnsafe(size);
    r.smallReads = 0;
  } else if (n === size) {
    if (size < READ_MAX) nextBuffer = Buffer.allocUnsafe(size * 2);
    r.smallReads = 0;
  } else if (size > READ_MIN && n < size >>> 2) {
    if (++r.smallReads >= SMALL_READS) {
      nextBuffer = Buffer.allocUnsafe(size >>> 1);
      r.smallReads = 0;
    }
  } else {
    r.smallReads = 0;
  }
  return ok;
}

const relayedRead = { buffer: readBuffer, callback: onRelayRead };

/**
 * net.connect for an upstream socket that will be relayed: reads bypass the stream machinery (onread).
 * Its 'data' event never fires, so use it only for a socket that goes to relay() and nothing else reads.
 */
export function connectRelayed(options: net.TcpNetConnectOpts): Socket {
  nextBuffer = null; // the buffer request made while the socket is set up gets a fresh buffer
  const s = net.connect({ ...options, onread: relayedRead }) as Tagged;
  s[kOnRead] = true;
  return s;
}

/**
 * Relay until both directions finished. allowHalfOpen must be set on both sockets: a FIN from one
 * side is passed on with end() and the other direction keeps flowing. idleMs 0 = no idle limit.
 * Either socket may already have other 'data' listeners (they keep seeing every chunk), except an
 * upstream made by connectRelayed. adoptClientReads: a client socket nothing else has read (a plain TCP
 * listener's) is switched to onread-style reads too; what it buffered during the dial goes first.
 */
export function relay(client: Socket, upstream: Socket, idleMs: number, done: (s: RelaySummary) => void, adoptClientReads = false): Relay {
  const r = new RelaySession(client, upstream, idleMs, done);
  const c = client as Tagged;
  const u = upstream as Tagged;
  c[kRelay] = r;
  u[kRelay] = r;
  let adopted = false;
  if (adoptClientReads && client.listenerCount("data") === 0) {
    for (let b = client.read() as Buffer | null; b !== null; b = client.read() as Buffer | null) upstream.write(b);
    nextBuffer = null;
    adopted = useUserReads(client, readBuffer(), onRelayRead, readBuffer);
  }
  if (!adopted) c.on("data", onClientData);
  c.on("drain", onClientDrain);
  c.on("end", onClientEnd);
  c.on("error", onClientError);
  c.on("close", onClientClose);
  u.on("drain", onUpstreamDrain);
  u.on("end", onUpstreamEnd);
  u.on("error", onUpstreamError);
  u.on("close", onUpstreamClose);
  const early = u[kEarly];
  if (early !== undefined) {
    u[kEarly] = undefined;
    for (const b of early) client.write(b);
  }
  // without onread the upstream reads through 'data' (connectRelayed sockets never emit it)
  if (u[kOnRead] !== true) u.on("data", onUpstreamData);
  // as pipe() does: a socket paused before (by the caller, during dial) flows now, and a FIN that came
  // before the relay (its 'end' already emitted) is passed on
  client.resume();
  upstream.resume();
  if (client.readableEnded) upstream.end();
  if (upstream.readableEnded) client.end();
  if (idleMs > 0) {
    live.add(r);
    if (sweeper === null) {
      sweeper = setInterval(sweep, IDLE_SWEEP_MS);
      sweeper.unref();
    }
  }
  return r;
}
