// h1-client: the upstream side of HTTP proxying without a general-purpose client library.
// Keep-alive sockets per server; the request head is written as one string built from the parsed
// client request; responses are parsed by Node's own llhttp binding (the very parser node:http
// uses: strict, never lenient, so hardening.md 1.2's response rules hold: CL+TE, duplicate CL,
// bare LF, obs-fold, bad chunks fail), except that a head in the plainly valid subset of
// response-head.ts is read in JavaScript, with its Content-Length body, and handed to the very same
// callbacks (no llhttp call and no C++-to-JS callback for the common response). No
// ClientRequest/IncomingMessage objects, no timer per request (one shared coarse ticker), no closure
// per request: this is the hot path (bench/).
//
// Error codes: ECONNREFUSED & co from net; ECONNTIMEOUT (connect timeout); ECONNRESET (the socket
// closed before the response was complete); ETIMEDOUT (the caller gave up on an idle exchange);
// HPE_* (an invalid response: the socket is discarded); HPE_UNEXPECTED_101 (101 nobody asked for).
import net from "node:net";
import type { Socket } from "node:net";
import { DeadlineSweep } from "../../core/deadline-sweep.ts";
import { ioCall, ioNow } from "../../core/io-clock.ts";
import { rawWrite } from "../../core/raw-write.ts";
import { nodeTls } from "../../core/builtins.ts";
import { fastHeadFields, fastHeadReason, parseFastHead, type FastHead } from "./response-head.ts";
import { HTTPParser, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, type ParserInstance } from "./llhttp.ts";
import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

export type H1Phase = "connect" | "request" | "response";

/** What the caller hears about one exchange. Exactly one of onEnd / onError / onUpgrade ends it. */
export interface H1Events {
  /** The socket is ready (a fresh connect, TLS included, or a reused keep-alive socket). */
  onConnected(): void;
  /** An interim 1xx response other than 101. */
  onInfo(status: number, rawHeaders: string[]): void;
  /** The response head; return false to pause the body (then call H1Call.resume()). */
  onResponse(status: number, message: string, rawHeaders: string[]): boolean;
  /** A body chunk; return false to pause (then call H1Call.resume()). */
  onData(chunk: Buffer): boolean;
  /** The response is complete; trailers as a flat list, or null. */
  onEnd(trailers: string[] | null): void;
  /** Failure. phase "response": the response had started and is cut off. */
  onError(err: NodeJS.ErrnoException, phase: H1Phase): void;
  /** No upstream activity for idleMs while the exchange is open: return true to give up (ETIMEDOUT). */
  onIdle(): boolean;
  /** 101 to a request that asked to upgrade: the socket is the caller's from now on. */
  onUpgrade?(status: number, rawHeaders: string[], socket: Socket): void;
  /**
   * Where given, a whole response in one read (a response-head.ts fast-path head, its whole body and
   * nothing after it, the request already sent) comes here instead of onResponse + onData + onEnd:
   * the exchange is over and the socket pooled before the call. `d` is a read buffer, valid only
   * during the call.
   */
  onWhole?(h: FastHead, d: Buffer): void;
}

export interface H1RequestHead {
  readonly method: string;
  /** Request target as sent (origin-form). */
  readonly target: string;
  /** Flat [name, value, ...]; a Host is added from the server address when absent, and
   *  Transfer-Encoding: chunked when `chunked` is set and the list has none. */
  readonly headers: readonly string[];
  /** The caller will write a body of unknown length: send it chunked. */
  readonly chunked: boolean;
  /** Upstream inactivity limit in ms (0 = none); see H1Events.onIdle. */
  readonly idleMs: number;
  /** "websocket" etc. when the request asks to upgrade; null otherwise. */
  readonly upgrade: string | null;
  /** Send the head as soon as the socket is ready (Expect: 100-continue) rather than with the first
   *  body bytes or end(): a request abandoned before its body started never reaches the server. */
  readonly flush: boolean;
  /** The caller sends no body (it calls end(null) right after request()): on a reused socket,
   *  onConnected may then come synchronously, from inside request(). */
  readonly bodyless?: boolean;
}

/** The caller's handle on one exchange. */
export interface H1Call {
  /** Sent on a keep-alive socket that served before (the keep-alive race is possible). */
  readonly reused: boolean;
  /** A body chunk (only after onConnected). false: wait for onceDrain. */
  write(chunk: Buffer): boolean;
  /** The body is complete (request trailers with a chunked body). */
  end(trailers: readonly (readonly [string, string])[] | null): void;
  onceDrain(cb: () => void): void;
  /** Resume a paused response body. */
  resume(): void;
  /** Abandon: no more events; the socket is discarded (unless the exchange already ended). */
  destroy(): void;
}

export interface H1PoolOptions {
  readonly connectTimeoutMs: number;
  /** Idle keep-alive sockets older than this are not reused (below the usual 5 s of Node origins). */
  readonly keepAliveTimeoutMs: number;
  readonly maxIdle: number;
  /** TLS to the upstream; null = plain. */
  readonly tls: { readonly ca: Buffer | null; readonly servername: string | undefined; readonly verify: boolean } | null;
  /** Response head limit (bytes). */
  readonly maxHeaderSize: number;
}

function codeError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/** How long a response that completed before its request body waits for the body to end. */
const EARLY_END_GRACE_MS = 50;
// one shared coarse ticker for connect and idle deadlines: no timer per request
const live = new DeadlineSweep<Exchange>(100);

/** One request on one socket; it is the caller's H1Call. */
class Exchange implements H1Call {
  readonly conn: Conn;
  readonly head: H1RequestHead;
  readonly ev: H1Events;
  readonly reused: boolean;
  deadline = 0;
  /** Its slot in `live` (DeadlineSweep). */
  sweepSlot = -1;
  status = 0;
  done = false;
  gotResponse = false;
  paused = false;
  /** The caller finished the body (or there is none). */
  bodyDone = false;
  headSent = false;
  /** The response completed while the request body was still coming: its trailers, until the body ends. */
  pendingEnd: string[] | null | undefined = undefined;

  constructor(conn: Conn, head: H1RequestHead, ev: H1Events, reused: boolean) {
    this.conn = conn;
    this.head = head;
    this.ev = ev;
    this.reused = reused;
  }

  write(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return true;
    const sock = this.conn.socket;
    if (!this.headSent) this.sendHead();
    this.touch();
    if (!this.head.chunked) return sock.write(chunk);
    sock.cork();
    sock.write(`${chunk.length.toString(16)}\r\n`, "latin1");
    sock.write(chunk);
    const ok = sock.write("\r\n", "latin1");
    sock.uncork();
    return ok;
  }

  end(trailers: readonly (readonly [string, string])[] | null): void {
    if (this.bodyDone) return;
    this.bodyDone = true;
    if (this.done || !this.conn.connected) return; // the head (and last chunk) go out on connect
    if (!this.headSent) { this.sendHead(); return; }
    if (this.head.chunked) {
      let tail = "0\r\n";
      if (trailers !== null) for (const [k, v] of trailers) tail += `${k}: ${v}\r\n`;
      this.conn.socket.write(`${tail}\r\n`, "latin1");
    }
    if (this.pendingEnd !== undefined) this.complete();
  }

  /** Delivers a response that completed early, once the request is whole (or its grace ran out). */
  complete(): void {
    const trailers = this.pendingEnd ?? null;
    this.pendingEnd = undefined;
    this.done = true;
    live.delete(this);
    this.conn.x = null;
    this.conn.destroy(); // never reused: the server answered before the request was whole
    this.ev.onEnd(trailers);
  }

  onceDrain(cb: () => void): void { this.conn.socket.once("drain", cb); }

  resume(): void {
    if (!this.paused || this.done) return;
    this.paused = false;
    this.conn.socket.resume();
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    live.delete(this);
    this.conn.destroy();
  }

  touch(now = ioNow()): void {
    if (this.head.idleMs > 0 && this.conn.connected && this.pendingEnd === undefined) this.deadline = now + this.head.idleMs;
  }

  expired(now: number): void {
    if (this.pendingEnd !== undefined) { this.complete(); return; }
    if (!this.conn.connected) {
      this.fail(codeError("ECONNTIMEOUT", `connect timeout after ${this.conn.pool.opts.connectTimeoutMs} ms`), "connect");
      return;
    }
    if (this.ev.onIdle()) this.fail(codeError("ETIMEDOUT", "upstream timeout"), this.gotResponse ? "response" : "request");
    else this.deadline = now + this.head.idleMs;
  }

  /** Ends the exchange with an error; the socket is discarded. */
  fail(err: NodeJS.ErrnoException, phase: H1Phase): void {
    if (this.done) return;
    this.done = true;
    live.delete(this);
    this.conn.destroy();
    this.ev.onError(err, phase);
  }

  /** Writes the request head (on connect, or at once on a reused socket). */
  sendHead(): void {
    const h = this.head;
    let s = `${h.method} ${h.target} HTTP/1.1\r\n`;
    const list = h.headers;
    let hasHost = false;
    let hasTe = false;
    for (let i = 0; i < list.length; i += 2) {
      const n = list[i];
      if (n.length === 4) { if (!hasHost && n.toLowerCase() === "host") hasHost = true; }
      else if (n.length === 17 && !hasTe && n.toLowerCase() === "transfer-encoding") hasTe = true;
      s += `${n}: ${list[i + 1]}\r\n`;
    }
    if (!hasHost) s += `host: ${this.conn.pool.hostHeader}\r\n`;
    if (h.upgrade !== null) s += `connection: upgrade\r\nupgrade: ${h.upgrade}\r\n`;
    else if (h.chunked && !hasTe) s += "transfer-encoding: chunked\r\n";
    this.headSent = true;
    // a bodiless chunked request (ended before connect) still needs its last chunk
    rawWrite(this.conn.socket, this.bodyDone && h.chunked ? `${s}\r\n0\r\n\r\n` : `${s}\r\n`);
  }
}

// Plain upstream sockets read into one shared buffer (net's onread): no Buffer and no stream machinery
// per read. Sharing is safe because each read is parsed at once and llhttp's callbacks copy what they
// hand on (header strings, body chunks as new Buffers).
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const kConn = Symbol("switchyard.h1.conn");
type OnreadSocket = Socket & { [kConn]?: Conn };
const ONREAD = {
  buffer: READ_BUFFER,
  // net calls it as a method of the socket; the buffer handed back is READ_BUFFER itself
  callback(this: unknown, n: number): boolean {
    const c = (this as OnreadSocket)[kConn];
    if (c !== undefined) ioCall(c.onData, READ_BUFFER.subarray(0, n));
    return true;
  },
};

type ParserWithConn = ParserInstance & { conn: Conn };

/** One upstream socket, and llhttp once a response needs it. */
class Conn {
  readonly pool: H1Pool;
  readonly socket: Socket;
  /**
   * Made on the first response that leaves the fast path (parseFastHead), then kept: a response with a
   * Content-Length head in the fast-path subset never needs one, and Node's parser object holds about
   * 10 KiB of native memory (256 upstream sockets: 2.5 MiB of RSS).
   */
  #parser: ParserWithConn | null = null;
  x: Exchange | null = null;
  keepAlive = false;
  connected = false;
  dead = false;
  idleSince = 0;
  /** Response header fields gathered by kOnHeaders (many fields, or trailers). */
  fields: string[] | null = null;
  upgraded = false;
  /** Body bytes still to come of a response whose head took the fast path (-1: none in progress). */
  fastLeft = -1;
  /** llhttp holds part of the current message (a head that did not take the fast path): it parses
   *  every byte until that response is complete. */
  slow = false;

  /** `viaOnread`: a plain socket whose reads land in the shared READ_BUFFER (net's onread), not 'data'. */
  constructor(pool: H1Pool, socket: Socket, viaOnread: boolean) {
    this.pool = pool;
    this.socket = socket;
    if (viaOnread) (socket as OnreadSocket)[kConn] = this;
    else socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  readonly onConnect = (): void => {
    this.connected = true;
    const x = this.x;
    if (x === null || x.done) return;
    x.deadline = 0;
    x.touch();
    if (x.bodyDone || x.head.flush) x.sendHead();
    x.ev.onConnected();
  };

  readonly onData = (d: Buffer): void => {
    const x = this.x;
    if (x === null) {
      // bytes nobody asked for (H31 response-queue poisoning): discard the socket
      this.destroy();
      return;
    }
    if (x.pendingEnd !== undefined) { x.complete(); return; } // bytes past the finished response: discard
    x.touch();
    if (this.fastLeft >= 0) { this.#fastBody(d, 0); return; }
    if (!this.slow && x.head.method !== "HEAD" && x.head.upgrade === null) {
      const h = parseFastHead(d);
      if (h !== null) {
        this.fields = null;
        if (h.bodyStart + h.contentLength === d.length && x.bodyDone && !x.done && x.ev.onWhole !== undefined) {
          // the whole response is in this read: what onHeadersComplete, onBody and onMessageComplete
          // would do for it, in one step
          x.gotResponse = true;
          x.status = h.status;
          this.keepAlive = h.keepAlive;
          this.endExchange(x);
          x.ev.onWhole(h, d);
          return;
        }
        if (headersComplete(this, fastHeadFields(d, h), h.status, fastHeadReason(d, h), false, h.keepAlive) !== 0 || this.dead) return;
        this.fastLeft = h.contentLength;
        this.#fastBody(d, h.bodyStart);
        return;
      }
      this.slow = true;
    }
    const r = this.#llhttp().execute(d);
    if (this.upgraded) {
      this.finishUpgrade(typeof r === "number" ? d.subarray(r) : Buffer.alloc(0));
      return;
    }
    if (r instanceof Error) {
      const code = (r as NodeJS.ErrnoException).code ?? "HPE_INVALID";
      const cur = this.x;
      if (cur !== null) cur.fail(codeError(code, `invalid upstream response: ${r.message}`), cur.gotResponse ? "response" : "request");
      this.destroy();
    }
  };

  #llhttp(): ParserWithConn {
    let p = this.#parser;
    if (p === null) {
      p = new HTTPParser() as ParserWithConn;
      p.initialize(HTTPParser.RESPONSE, {}, this.pool.opts.maxHeaderSize, HTTPParser.kLenientNone);
      p[kOnHeaders] = onHeaders;
      p[kOnHeadersComplete] = onHeadersComplete;
      p[kOnBody] = onBody;
      p[kOnMessageComplete] = onMessageComplete;
      p.conn = this;
      this.#parser = p;
    }
    return p;
  }

  /** x's response is complete: the exchange is over, the socket goes back to the pool (or closes). */
  endExchange(x: Exchange): void {
    x.done = true;
    live.delete(x);
    this.x = null;
    if (this.keepAlive) this.pool.release(this);
    else this.destroy();
  }

  /** Body bytes of a fast-path response from d[off]; its end completes it as llhttp's callback would. */
  #fastBody(d: Buffer, off: number): void {
    const n = Math.min(this.fastLeft, d.length - off);
    if (n > 0) {
      this.fastLeft -= n;
      const chunk = Buffer.allocUnsafe(n); // d may be the shared READ_BUFFER
      d.copy(chunk, 0, off, off + n);
      bodyChunk(this, chunk);
      off += n;
    }
    if (this.fastLeft > 0) return;
    this.fastLeft = -1;
    messageComplete(this);
    // bytes past the response nobody asked for (H31): the socket is not reused
    if (off < d.length) this.destroy();
  }

  readonly onEnd = (): void => {
    const x = this.x;
    if (x !== null && x.pendingEnd !== undefined) { x.complete(); return; }
    if (x !== null && x.gotResponse && !x.done) {
      // a body delimited by the close (H33): the parser completes it now, or it was cut off
      this.#parser?.finish(); // (none: a fast-path body, which has a Content-Length, was cut off)
    }
    this.destroy();
  };

  readonly onError = (err: NodeJS.ErrnoException): void => {
    const x = this.x;
    if (x !== null && x.pendingEnd !== undefined) { x.complete(); return; }
    if (x !== null && !x.done) {
      if (err.code === undefined) err.code = "ECONNRESET";
      x.fail(err, !this.connected ? "connect" : x.gotResponse ? "response" : "request");
    }
    this.destroy();
  };

  readonly onClose = (): void => {
    const x = this.x;
    if (x !== null && x.pendingEnd !== undefined) x.complete();
    else if (x !== null && !x.done) x.fail(codeError("ECONNRESET", "upstream closed the connection"), !this.connected ? "connect" : x.gotResponse ? "response" : "request");
    this.dead = true;
    this.pool.forget(this);
    this.#parser?.close();
  };

  finishUpgrade(rest: Buffer): void {
    const x = this.x;
    this.x = null;
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("error", this.onError);
    this.socket.off("close", this.onClose);
    this.dead = true;
    this.pool.forget(this);
    if (x === null || x.done || x.ev.onUpgrade === undefined) { this.socket.destroy(); return; }
    x.done = true;
    live.delete(x);
    if (rest.length > 0) this.socket.unshift(rest);
    const headers = this.fields ?? [];
    this.fields = null;
    x.ev.onUpgrade(x.status, headers, this.socket);
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

// llhttp's callbacks (`this` is the parser, its conn the Conn), and what they do, which the fast path
// calls directly

function onHeaders(this: ParserWithConn, headers: string[]): void {
  const c = this.conn;
  if (c.fields === null) c.fields = headers.slice();
  else for (let i = 0; i < headers.length; i++) c.fields.push(headers[i]);
}

function onHeadersComplete(this: ParserWithConn, _vMajor: number, _vMinor: number, headers: string[] | undefined, _method: unknown, _url: unknown, statusCode: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean): number {
  return headersComplete(this.conn, headers, statusCode, statusMessage, upgrade, shouldKeepAlive);
}

function onBody(this: ParserWithConn, chunk: Buffer): void {
  bodyChunk(this.conn, chunk);
}

function onMessageComplete(this: ParserWithConn): void {
  messageComplete(this.conn);
}

function headersComplete(c: Conn, headers: string[] | undefined, statusCode: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean): number {
  const x = c.x;
  const fields = headers ?? c.fields ?? [];
  c.fields = null;
  if (x === null || x.done) { c.destroy(); return 1; }
  if (statusCode === 101) {
    if (x.head.upgrade === null) {
      x.fail(codeError("HPE_UNEXPECTED_101", "101 to a request that did not ask to upgrade"), "request");
      return 1;
    }
    x.status = 101;
    c.fields = fields;
    c.upgraded = true;
    return 2; // stop parsing: the rest of the bytes belong to the tunnel
  }
  if (statusCode < 200) {
    // interim response (100, 102, 103): handed over; the final one follows on the same exchange
    x.ev.onInfo(statusCode, fields);
    return 0;
  }
  x.gotResponse = true;
  x.status = statusCode;
  c.keepAlive = shouldKeepAlive && !upgrade;
  if (!x.ev.onResponse(statusCode, statusMessage, fields) && !x.done) { x.paused = true; c.socket.pause(); }
  // a HEAD response carries no body whatever its Content-Length says
  return x.head.method === "HEAD" ? 1 : 0;
}

function bodyChunk(c: Conn, chunk: Buffer): void {
  const x = c.x;
  if (x === null || x.done) return;
  if (!x.ev.onData(chunk) && !x.paused && !x.done) {
    x.paused = true;
    c.socket.pause();
  }
}

function messageComplete(c: Conn): void {
  const x = c.x;
  if (x === null || x.done || !x.gotResponse) return; // the end of an interim response
  c.slow = false; // llhttp is between messages again
  const trailers = c.fields;
  c.fields = null;
  if (!x.bodyDone) {
    // the server answered before the whole request body was sent (an early 401/413, or an echo):
    // let the body already on its way finish (a short grace), so the server never sees a cut-off
    // request; then the half-used socket is discarded
    x.pendingEnd = trailers;
    x.deadline = ioNow() + EARLY_END_GRACE_MS;
    return;
  }
  c.endExchange(x);
  x.ev.onEnd(trailers);
}

// idle keep-alive sockets are closed once older than keepAliveTimeoutMs, by one shared sweep that
// runs only while some pool holds idle sockets
const IDLE_SWEEP_MS = 1000;
const withIdle = new Set<H1Pool>();
let idleSweeper: NodeJS.Timeout | null = null;
function sweepIdle(): void {
  const now = performance.now();
  for (const p of withIdle) if (p.sweep(now) === 0) withIdle.delete(p);
  if (withIdle.size === 0 && idleSweeper !== null) { clearInterval(idleSweeper); idleSweeper = null; }
}

/** Keep-alive sockets to one upstream server. */
export class H1Pool {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly opts: H1PoolOptions;
  readonly #idle: Conn[] = [];
  readonly #all = new Set<Conn>();
  #closed = false;

  constructor(host: string, port: number, opts: H1PoolOptions) {
    this.host = host;
    this.port = port;
    this.hostHeader = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    this.opts = opts;
  }

  /** Start one exchange. Events may fire synchronously only for onConnected on a reused socket. */
  request(head: H1RequestHead, ev: H1Events): H1Call {
    const now = ioNow();
    // an upgrade takes its socket away for good: it gets a fresh one that reads through 'data' events
    while (this.#idle.length > 0 && head.upgrade === null) {
      const c = this.#idle.pop() as Conn;
      if (c.dead || c.socket.readableEnded || now - c.idleSince > this.opts.keepAliveTimeoutMs) { c.destroy(); continue; }
      const x = new Exchange(c, head, ev, true);
      c.x = x;
      live.add(x);
      x.touch(now);
      c.socket.resume();
      if (head.flush) x.sendHead();
      // a request with a body starts sending it from onConnected, which must come after the caller holds
      // the H1Call; a bodiless one has nothing to start, so it hears at once (no closure per request)
      if (head.bodyless) ev.onConnected();
      else queueMicrotask(() => { if (!x.done) ev.onConnected(); });
      return x;
    }
    const t = this.opts.tls;
    const viaOnread = t === null && head.upgrade === null;
    const socket = t === null
      ? net.connect(viaOnread ? { host: this.host, port: this.port, noDelay: true, onread: ONREAD } : { host: this.host, port: this.port, noDelay: true })
      : nodeTls().connect({ host: this.host, port: this.port, ca: t.ca ?? undefined, servername: t.servername, rejectUnauthorized: t.verify, minVersion: "TLSv1.2", ALPNProtocols: ["http/1.1"] });
    if (t !== null) socket.setNoDelay(true);
    const c = new Conn(this, socket, viaOnread);
    this.#all.add(c);
    const x = new Exchange(c, head, ev, false);
    c.x = x;
    x.deadline = now + this.opts.connectTimeoutMs;
    live.add(x);
    socket.once(t === null ? "connect" : "secureConnect", c.onConnect);
    return x;
  }

  release(c: Conn): void {
    if (this.#closed || this.#idle.length >= this.opts.maxIdle) { c.destroy(); return; }
    c.idleSince = ioNow();
    this.#idle.push(c);
    if (!withIdle.has(this)) {
      withIdle.add(this);
      if (idleSweeper === null) { idleSweeper = setInterval(sweepIdle, IDLE_SWEEP_MS); idleSweeper.unref(); }
    }
  }

  /** Closes idle sockets past keepAliveTimeoutMs (oldest are first in the stack); returns how many stay idle. */
  sweep(now: number): number {
    const idle = this.#idle;
    let n = 0;
    while (n < idle.length && now - idle[n].idleSince > this.opts.keepAliveTimeoutMs) n++;
    if (n > 0) for (const c of idle.splice(0, n)) c.destroy();
    return idle.length;
  }

  forget(c: Conn): void {
    this.#all.delete(c);
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** Open sockets, idle and in use. */
  get size(): number { return this.#all.size; }

  /** destroy() was called (shutdown): the pool takes no more requests. */
  get closed(): boolean { return this.#closed; }

  destroy(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.destroy();
  }
}
