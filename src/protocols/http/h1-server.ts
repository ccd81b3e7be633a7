// h1-server: the client side of HTTP/1.x without node:http's IncomingMessage / ServerResponse layers.
// Every byte a client sends still goes through llhttp, the parser node:http runs, in strict mode (never
// lenient: hardening.md 1.2); what it accepts is then checked by front.ts. Per connection: a parser
// while a request head or body is being read (lent from a small free list, see acquireParser), one
// exchange answering at a time (pipelined requests wait, parsed, in order, with the socket paused:
// a later answer can never overtake an earlier one), the response head built as one string and written
// with the first body bytes, one shared coarse ticker for the header, keep-alive and lingering-close
// deadlines (no timer per request or per connection). This is the hot path (bench/).
//
// Connection rules (RFC 9112 §9, nginx/HAProxy practice):
// - header timeout: from the first byte of a request head (or the accept) until the head is complete:
//   408 and close. Keep-alive idle timeout between requests: close.
// - a parse error answers 400 (431 for an oversized head) once the answers to earlier requests are out,
//   then closes; an error inside a body being read ends the connection (hardening.md H25, H35).
// - closing after a response is a lingering close: FIN, then the client's late bytes are read and dropped
//   for a while, so an unread request body cannot turn into a TCP reset that eats the answer.
// - a client FIN while its request is open: see H1Exchange.clientFin (h1-exchange.ts; hardening.md F09).
import type { Socket } from "node:net";
import { DeadlineSweep } from "../../core/deadline-sweep.ts";
import { ioCall, ioNow } from "../../core/io-clock.ts";
import { normaliseIp } from "../../core/key.ts";
import { backToStreamReads, useUserReads } from "../../core/user-reads.ts";
import { HTTPParser, METHODS, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, type ParserInstance } from "./llhttp.ts";
import { H1Exchange } from "./h1-exchange.ts";
import { reasonPhrase } from "./responses.ts";
import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

/** One parsed request head. */
export interface H1Head {
  readonly method: string;
  readonly url: string;
  readonly major: number;
  readonly minor: number;
  /** Flat [name, value, ...] as the client sent them. */
  readonly rawHeaders: string[];
  /** llhttp's verdict: the client allows the connection to stay open after this exchange. */
  readonly keepAlive: boolean;
}

export interface H1Handler {
  /** A request head arrived and it is this request's turn; its body (if any) follows through x. */
  onRequest(x: H1Exchange): void;
  /** Whether a request that asks to upgrade becomes a tunnel (onUpgrade) rather than an ordinary request. */
  wantsTunnel(head: H1Head): boolean;
  /** A tunnel request or CONNECT: the socket, and the bytes that followed its head, are the handler's now. */
  onUpgrade(head: H1Head, socket: Socket, rest: Buffer): void;
}

export interface H1Options {
  readonly maxHeaderSize: number;
  readonly headerMs: number;
  readonly idleMs: number;
}

/** How long a closing connection keeps reading (and dropping) what the client still sends. */
const LINGER_MS = 2_000;

// what a connection's deadline is for
const D_NONE = 0;
const D_HEADER = 1;
const D_IDLE = 2;
const D_LINGER = 3;

// header, keep-alive idle and lingering-close deadlines of every client connection
const live = new DeadlineSweep<H1Conn>(250);


/** The answer to a request the parser refused, closing the connection. */
function parseErrorAnswer(code: string): string {
  const status = code === "HPE_HEADER_OVERFLOW" ? 431 : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? 413 : code === "TIMEOUT" ? 408 : 400;
  return `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

function noop(): void { /* errors show as 'close' */ }

// Plain client sockets read into one shared buffer (core/user-reads.ts): no Buffer and no stream push per
// read. Each read is parsed at once, and llhttp's callbacks copy what they hand on (header strings, body
// chunks as new Buffers); the one slice kept past a read (a tunnel's first bytes) is copied.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const kConn = Symbol("switchyard.h1.conn");
type ConnSocket = Socket & { [kConn]?: H1Conn };

function onClientRead(this: Socket, n: number): boolean {
  const c = (this as ConnSocket)[kConn];
  if (c !== undefined) ioCall(c.onData, READ_BUFFER.subarray(0, n));
  return true; // pausing is H1Conn's (socket.pause())
}

// llhttp parsers lent to client connections. Node's parser object holds about 10 KiB of native memory
// (its header-field tables); a connection between requests (keep-alive idle, or waiting for its
// answer) needs none, so it gives the parser back once a read ended exactly at the end of a keep-alive
// request (llhttp is then between messages, in the state a fresh parser starts in) and takes one again
// at its next read. Under wrk -c256 that is a handful of parsers instead of 256 (about 2.5 MiB of peak
// RSS), and an idle keep-alive connection costs no parser at all. Keyed by the header-size limit they
// were made with (a reload may change it).
const FREE_PARSERS_MAX = 16;
const freeParsers = new Map<number, ParserWithConn[]>();

function acquireParser(c: H1Conn, maxHeaderSize: number): ParserWithConn {
  const p = freeParsers.get(maxHeaderSize)?.pop();
  if (p !== undefined) { p.conn = c; return p; }
  const n = new HTTPParser() as ParserWithConn;
  n.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, HTTPParser.kLenientNone);
  n[kOnHeaders] = onHeaders;
  n[kOnHeadersComplete] = onHeadersComplete;
  n[kOnBody] = onBody;
  n[kOnMessageComplete] = onMessageComplete;
  n.conn = c;
  n.maxHeaderSize = maxHeaderSize;
  return n;
}

/** p is between messages (see above): kept for the next connection that reads, or freed. */
function releaseParser(p: ParserWithConn): void {
  p.conn = null;
  let list = freeParsers.get(p.maxHeaderSize);
  if (list === undefined) freeParsers.set(p.maxHeaderSize, list = []);
  if (list.length < FREE_PARSERS_MAX) list.push(p);
  else p.close();
}

/** d ends with the blank line that ends a head: with no body in progress, the last request ended there. */
function endsWithBlankLine(d: Buffer): boolean {
  const n = d.length;
  return n >= 4 && d[n - 1] === 10 && d[n - 2] === 13 && d[n - 3] === 10 && d[n - 4] === 13;
}

// ---- server (one per listener handler) -------------------------------------------------------------

export class H1Server {
  opts: H1Options;
  readonly handler: H1Handler;
  readonly conns = new Set<H1Conn>();
  draining = false;
  #keepAliveLines = "";
  #keepAliveFor = -1;

  constructor(opts: H1Options, handler: H1Handler) {
    this.opts = opts;
    this.handler = handler;
  }

  /** Takes a client connection (plain, or TLS that negotiated HTTP/1.1). */
  serve(socket: Socket): void {
    new H1Conn(this, socket);
  }

  /** "connection: keep-alive" plus the idle timeout as a hint (clients then avoid the keep-alive race). */
  keepAliveLines(): string {
    const ms = this.opts.idleMs;
    if (ms !== this.#keepAliveFor) {
      this.#keepAliveFor = ms;
      this.#keepAliveLines = `connection: keep-alive\r\nkeep-alive: timeout=${Math.max(1, Math.floor(ms / 1000))}\r\n`;
    }
    return this.#keepAliveLines;
  }

  /** Idle connections close now; busy ones answer "connection: close" and close after the response. */
  drain(): void {
    this.draining = true;
    for (const c of this.conns) c.drain();
  }

  forceClose(): void {
    for (const c of this.conns) c.socket.destroy();
  }
}

// ---- connection -----------------------------------------------------------------------------------

interface ParserWithConn extends ParserInstance {
  /** The connection it parses for; null while in the free list (no callback runs then). */
  conn: H1Conn | null;
  maxHeaderSize: number;
}

export class H1Conn {
  readonly server: H1Server;
  readonly socket: Socket;
  /** Lent while a request is being read (acquireParser); null between requests. */
  parser: ParserWithConn | null = null;
  /** The last request head said keep-alive and did not ask to upgrade: llhttp goes on to the next one. */
  reusable = false;
  /** Whole answers are built in buffers of their own, not the shared scratch (h1-exchange.ts whole()):
   *  TLS, or a connection one of whose writes was left partly queued. */
  ownAnswerBuffers: boolean;
  /** The exchange whose request is being parsed (head done, body not yet). */
  cur: H1Exchange | null = null;
  /** The exchange whose answer goes out now. */
  active: H1Exchange | null = null;
  /** Parsed requests waiting for their turn. */
  readonly queue: H1Exchange[] = [];
  /** Header fields flushed by kOnHeaders (a long head, or trailers) and the URL gathered so far. */
  fields: string[] = [];
  url = "";
  /** A tunnel request was parsed: its head, then the bytes after it. */
  tunnel: H1Head | null = null;
  tunnelRest: Buffer | null = null;
  /** A parse error to answer once earlier answers are out. */
  broken: string | null = null;
  /** No more requests: the connection ends after the current answer. */
  closing = false;
  /** Reading and dropping until the client closes or LINGER_MS passed. */
  lingering = false;
  clientEnded = false;
  dead = false;
  deadline = 0;
  /** Its slot in `live` (DeadlineSweep). */
  sweepSlot = -1;
  deadlineKind = D_NONE;
  #paused = false;
  /** The client's address (normalised, core/key.ts) and port, read once per connection. */
  #peerIp: string | null = null;
  #peerPort = 0;
  /** Reads land in READ_BUFFER (onClientRead), not 'data'. */
  readonly #userReads: boolean;

  constructor(server: H1Server, socket: Socket) {
    this.server = server;
    this.socket = socket;
    this.ownAnswerBuffers = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    server.conns.add(this);
    live.add(this);
    this.#setDeadline(D_HEADER, server.opts.headerMs);
    this.#userReads = useUserReads(socket, READ_BUFFER, onClientRead);
    if (this.#userReads) (socket as ConnSocket)[kConn] = this;
    else socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", noop);
    socket.on("close", this.onClose);
    if (server.draining) this.closing = true;
  }

  peerIp(): string {
    if (this.#peerIp === null) {
      this.#peerIp = normaliseIp(this.socket.remoteAddress);
      this.#peerPort = this.socket.remotePort ?? 0;
    }
    return this.#peerIp;
  }

  peerPort(): number {
    this.peerIp();
    return this.#peerPort;
  }

  #setDeadline(kind: number, ms: number): void {
    this.deadlineKind = ms > 0 ? kind : D_NONE;
    this.deadline = ms > 0 ? ioNow() + ms : 0;
  }

  readonly onData = (d: Buffer): void => {
    if (this.lingering || this.dead) return;
    if (this.active === null && this.deadlineKind === D_IDLE) this.#setDeadline(D_HEADER, this.server.opts.headerMs);
    const p = this.parser ??= acquireParser(this, this.server.opts.maxHeaderSize);
    let r = p.execute(d);
    // llhttp stops after a message that asked to upgrade; one not taken as a tunnel goes on as HTTP/1
    for (let n = 0; typeof r === "number" && r > 0 && r < d.length && this.tunnel === null && !this.lingering && n < 1024; n++) {
      d = d.subarray(r);
      r = p.execute(d);
    }
    if (typeof r !== "number") { this.#parseError(r as NodeJS.ErrnoException); return; }
    if (r === d.length && this.cur === null && this.reusable && this.tunnel === null && !this.lingering && !this.dead &&
        this.fields.length === 0 && this.url === "" && endsWithBlankLine(d)) {
      this.parser = null;
      releaseParser(p);
    }
    if (this.tunnel !== null && this.tunnelRest === null) {
      this.tunnelRest = r < d.length ? Buffer.from(d.subarray(r)) : Buffer.alloc(0); // d may be READ_BUFFER
      if (this.active === null && this.queue.length === 0) this.#handOver();
      else this.#flow();
    }
  };

  /** The request head is complete: start it now, or queue it behind the answer going out. */
  started(x: H1Exchange): void {
    this.cur = x;
    if (this.active === null && !this.lingering) {
      this.active = x;
      this.deadline = 0;
      this.deadlineKind = D_NONE;
      this.server.handler.onRequest(x);
      return;
    }
    if (this.closing) { x.dropped(); return; } // the answer going out says "close": later requests are dropped
    this.queue.push(x);
    this.#flow();
  }

  /** The exchange's answer is complete (or the proxy ended it). */
  answered(x: H1Exchange): void {
    if (this.active !== x || this.dead) return;
    if (!x.keepAlive) { this.active = null; this.#close(); return; }
    if (!x.requestDone) return; // its bodiless request completes in the same parse: see requestEnded
    this.#next();
  }

  /** kOnMessageComplete for x. */
  requestEnded(x: H1Exchange): void {
    if (this.cur === x) this.cur = null;
    if (this.active === x && x.answeredAll) this.#next();
  }

  #next(): void {
    this.active = null;
    if (this.dead) return;
    if (this.closing) { this.#close(); return; }
    const q = this.queue.shift();
    if (q !== undefined) {
      this.active = q;
      this.#flow();
      this.server.handler.onRequest(q);
      return;
    }
    if (this.tunnel !== null) { if (this.tunnelRest !== null) this.#handOver(); return; }
    if (this.broken !== null) { this.#endWith(this.broken); return; }
    if (this.clientEnded) { this.#close(); return; }
    this.#setDeadline(D_IDLE, this.server.opts.idleMs);
    this.#flow();
  }

  /** Reading stops while requests wait, a request body is held back, or a tunnel waits for its turn. */
  #flow(): void {
    const hold = this.queue.length > 0 || this.tunnel !== null || this.broken !== null || (this.active !== null && this.active.holding());
    if (hold === this.#paused || this.dead) return;
    this.#paused = hold;
    if (hold) this.socket.pause();
    else this.socket.resume();
  }

  /** The active exchange's body consumer paused or resumed. */
  bodyFlow(): void { this.#flow(); }

  #handOver(): void {
    const head = this.tunnel;
    const rest = this.tunnelRest;
    if (head === null || rest === null) return;
    this.#detach();
    this.server.handler.onUpgrade(head, this.socket, rest);
  }

  /** The socket leaves this engine (tunnel): no listeners, no deadlines, not drained or closed from here. */
  #detach(): void {
    this.dead = true;
    live.delete(this);
    this.server.conns.delete(this);
    const s = this.socket;
    if (this.#userReads) { (s as ConnSocket)[kConn] = undefined; backToStreamReads(s); }
    else s.removeListener("data", this.onData);
    s.removeListener("end", this.onEnd);
    s.removeListener("error", noop);
    s.removeListener("close", this.onClose);
    this.#paused = false;
    // as node:http leaves an upgraded socket: neither flowing nor paused, so a 'data' listener starts it
    (s as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    const p = this.parser;
    this.parser = null;
    if (p !== null) setImmediate(() => { p.close(); }); // not from inside its own callback
  }

  #parseError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? "HPE_INVALID";
    if (code === "HPE_CLOSED_CONNECTION") { this.closing = true; return; } // bytes after "close": dropped
    const answer = parseErrorAnswer(code);
    const x = this.cur;
    if (x !== null) {
      // inside a body being read: that request is broken, and so is the connection
      if (x === this.active && !x.headersSent()) this.socket.write(answer, "latin1");
      this.socket.destroy();
      return;
    }
    if (this.active === null && this.queue.length === 0) { this.#endWith(answer); return; }
    this.broken = answer;
    this.#flow();
  }

  /** Header timeout (408), keep-alive idle (close), lingering close over (destroy). */
  expired(_now: number): void {
    const kind = this.deadlineKind;
    this.deadline = 0;
    this.deadlineKind = D_NONE;
    if (kind === D_HEADER && this.active === null && this.cur === null) this.#endWith(parseErrorAnswer("TIMEOUT"));
    else if (kind === D_IDLE && this.active === null) this.socket.destroy();
    else if (kind === D_LINGER) this.socket.destroy();
  }

  /** Writes a last answer and closes. */
  #endWith(answer: string): void {
    if (this.socket.writable) this.socket.write(answer, "latin1");
    this.#close();
  }

  /** Lingering close: FIN now, read and drop what still comes, destroy at the latest after LINGER_MS. */
  #close(): void {
    if (this.lingering || this.dead) return;
    this.lingering = true;
    this.closing = true;
    for (const q of this.queue) q.dropped();
    this.queue.length = 0;
    const s = this.socket;
    if (this.#paused) { this.#paused = false; s.resume(); }
    s.end(); // once the client's FIN is in too, node destroys the socket
    this.#setDeadline(D_LINGER, LINGER_MS);
  }

  drain(): void {
    this.closing = true;
    if (this.active === null && this.cur === null) this.#close();
  }

  readonly onEnd = (): void => {
    this.clientEnded = true;
    if (this.lingering) return;
    const x = this.active;
    if (x === null && this.queue.length === 0) {
      if (this.tunnel === null) this.#close();
      return;
    }
    const c = this.cur;
    if (c !== null) {
      // the client stopped sending inside a request body: that request can never complete
      this.socket.destroy();
      return;
    }
    x?.clientFin();
  };

  readonly onClose = (): void => {
    if (this.dead) return;
    this.dead = true;
    live.delete(this);
    this.server.conns.delete(this);
    const a = this.active;
    this.active = null;
    this.queue.length = 0;
    const p = this.parser;
    this.parser = null;
    p?.close(); // it may be mid-message: never lent again
    a?.lost();
  };
}

// ---- parser callbacks (this = the parser) ----------------------------------------------------------

function onHeaders(this: ParserWithConn, headers: string[], url: string): void {
  const c = this.conn;
  if (c === null) return;
  for (let i = 0; i < headers.length; i++) c.fields.push(headers[i]);
  if (url) c.url += url;
}

function onHeadersComplete(this: ParserWithConn, major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: unknown, _msg: unknown, upgrade: boolean, keepAlive: boolean): number {
  const c = this.conn;
  if (c === null) return 0;
  c.reusable = keepAlive && !upgrade;
  let raw = headers ?? [];
  if (c.fields.length > 0) { raw = c.fields.concat(raw); c.fields = []; }
  let target = url ?? "";
  if (c.url !== "") { target = c.url + target; c.url = ""; }
  const name = METHODS[method] ?? "";
  const head: H1Head = { method: name, url: target, major, minor, rawHeaders: raw, keepAlive };
  if ((upgrade && c.server.handler.wantsTunnel(head)) || name === "CONNECT") {
    c.tunnel = head; // llhttp pauses after this message; onData hands the socket over
    return 0;
  }
  c.started(new H1Exchange(c, head));
  return 0;
}

function onBody(this: ParserWithConn, chunk: Buffer): void {
  this.conn?.cur?.pushBody(chunk);
}

function onMessageComplete(this: ParserWithConn): void {
  const c = this.conn;
  if (c === null) return;
  const x = c.cur;
  if (x === null) return;
  let trailers: string[] | null = null;
  if (c.fields.length > 0) { trailers = c.fields; c.fields = []; }
  x.endBody(trailers);
  c.requestEnded(x);
}
