// h1-server: the client side of HTTP/1.x without node:http's IncomingMessage / ServerResponse layers.
// Every byte a client sends still goes through llhttp, the parser node:http runs, in strict mode (never
// lenient: hardening.md 1.2); what it accepts is then checked by front.ts. Per connection: one parser,
// one exchange answering at a time (pipelined requests wait, parsed, in order, with the socket paused:
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
// - a client FIN while its request is open: see Exchange.#probe (hardening.md F09).
import type { Socket } from "node:net";
import { HTTPParser, METHODS, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, type ParserInstance } from "./llhttp.ts";
import type { BodySink, BodySource, ClientWatcher, Downstream } from "./downstream.ts";
import { errorHeaders, errorText, type HttpErrorCause } from "./responses.ts";

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
const TICK_MS = 250;
/** A response body chunk up to this size is copied behind its head into one write (one syscall). */
const COALESCE_MAX = 2 * 1024;

// what a connection's deadline is for
const D_NONE = 0;
const D_HEADER = 1;
const D_IDLE = 2;
const D_LINGER = 3;

// ---- shared ticker --------------------------------------------------------------------------------

const live = new Set<H1Conn>();
let ticker: NodeJS.Timeout | null = null;

function track(c: H1Conn): void {
  live.add(c);
  if (ticker === null) {
    ticker = setInterval(onTick, TICK_MS);
    ticker.unref();
  }
}

function onTick(): void {
  const now = performance.now();
  for (const c of live) if (c.deadline > 0 && now >= c.deadline) c.expired();
  if (live.size === 0 && ticker !== null) { clearInterval(ticker); ticker = null; }
}

let dateSecond = -1;
let dateLine = "";
/** "date: <IMF-fixdate>\r\n", rebuilt at most once a second. */
function dateHeader(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) { dateSecond = s; dateLine = `date: ${new Date(now).toUTCString()}\r\n`; }
  return dateLine;
}

/** The answer to a request the parser refused, closing the connection. */
function parseErrorAnswer(code: string): string {
  const [status, reason] = code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"]
    : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? [413, "Payload Too Large"]
      : code === "TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

function noop(): void { /* errors show as 'close' */ }

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

interface ParserWithConn extends ParserInstance { conn: H1Conn }

export class H1Conn {
  readonly server: H1Server;
  readonly socket: Socket;
  readonly parser: ParserWithConn;
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
  deadlineKind = D_NONE;
  #paused = false;

  constructor(server: H1Server, socket: Socket) {
    this.server = server;
    this.socket = socket;
    const p = new HTTPParser() as ParserWithConn;
    p.initialize(HTTPParser.REQUEST, {}, server.opts.maxHeaderSize, HTTPParser.kLenientNone);
    p[kOnHeaders] = onHeaders;
    p[kOnHeadersComplete] = onHeadersComplete;
    p[kOnBody] = onBody;
    p[kOnMessageComplete] = onMessageComplete;
    p.conn = this;
    this.parser = p;
    server.conns.add(this);
    track(this);
    this.#setDeadline(D_HEADER, server.opts.headerMs);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", noop);
    socket.on("close", this.onClose);
    if (server.draining) this.closing = true;
  }

  #setDeadline(kind: number, ms: number): void {
    this.deadlineKind = ms > 0 ? kind : D_NONE;
    this.deadline = ms > 0 ? performance.now() + ms : 0;
  }

  readonly onData = (d: Buffer): void => {
    if (this.lingering || this.dead) return;
    if (this.active === null && this.deadlineKind === D_IDLE) this.#setDeadline(D_HEADER, this.server.opts.headerMs);
    let r = this.parser.execute(d);
    // llhttp stops after a message that asked to upgrade; one not taken as a tunnel goes on as HTTP/1
    for (let n = 0; typeof r === "number" && r > 0 && r < d.length && this.tunnel === null && !this.lingering && n < 1024; n++) {
      d = d.subarray(r);
      r = this.parser.execute(d);
    }
    if (typeof r !== "number") { this.#parseError(r as NodeJS.ErrnoException); return; }
    if (this.tunnel !== null && this.tunnelRest === null) {
      this.tunnelRest = r < d.length ? d.subarray(r) : Buffer.alloc(0);
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
    s.removeListener("data", this.onData);
    s.removeListener("end", this.onEnd);
    s.removeListener("error", noop);
    s.removeListener("close", this.onClose);
    this.#paused = false;
    // as node:http leaves an upgraded socket: neither flowing nor paused, so a 'data' listener starts it
    (s as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    const p = this.parser;
    setImmediate(() => { p.close(); }); // not from inside its own callback
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
  expired(): void {
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
    this.parser.close();
    a?.lost();
  };
}

// ---- parser callbacks (this = the parser) ----------------------------------------------------------

function onHeaders(this: ParserWithConn, headers: string[], url: string): void {
  const c = this.conn;
  for (let i = 0; i < headers.length; i++) c.fields.push(headers[i]);
  if (url) c.url += url;
}

function onHeadersComplete(this: ParserWithConn, major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: unknown, _msg: unknown, upgrade: boolean, keepAlive: boolean): number {
  const c = this.conn;
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
  this.conn.cur?.pushBody(chunk);
}

function onMessageComplete(this: ParserWithConn): void {
  const c = this.conn;
  const x = c.cur;
  if (x === null) return;
  let trailers: string[] | null = null;
  if (c.fields.length > 0) { trailers = c.fields; c.fields = []; }
  x.endBody(trailers);
  c.requestEnded(x);
}

// ---- exchange -------------------------------------------------------------------------------------

/** One request and its answer: the Downstream Forward writes to, and the BodySource it reads from. */
export class H1Exchange implements Downstream, BodySource {
  readonly version: string;
  readonly req: H1Head;
  readonly conn: H1Conn;
  keepAlive: boolean;
  requestDone = false;
  /** The answer is complete (end, error or a cut). */
  answeredAll = false;
  #trailers: readonly string[] | null = null;
  #hasBody: boolean;
  #headSent = false;
  #cut = false;
  #gone = false;
  #chunked = false;
  #noBody = false;
  #pendingHead: string | null = null;
  #sent100 = false;
  #probes = 0;
  #watcher: ClientWatcher | null = null;
  // request body
  #sink: BodySink | null = null;
  #paused = true;
  #buffered: Buffer[] | null = null;
  #ended = false;

  constructor(conn: H1Conn, head: H1Head) {
    this.conn = conn;
    this.req = head;
    this.version = head.minor === 0 ? "1.0" : "1.1";
    this.keepAlive = head.keepAlive && !conn.closing;
    this.#hasBody = declaresBody(head.rawHeaders);
  }

  // ---- BodySource

  start(sink: BodySink): void {
    this.#sink = sink;
    this.resume();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
  }

  resume(): void {
    if (this.#sink === null) return;
    this.#paused = false;
    const b = this.#buffered;
    if (b !== null) {
      this.#buffered = null;
      for (let i = 0; i < b.length; i++) {
        if (this.#paused || this.#sink === null) { (this.#buffered ??= []).push(...b.slice(i)); return; }
        this.#sink.bodyData(b[i]);
      }
    }
    if (this.requestDone && !this.#ended && !this.#paused) this.#fireEnd();
    this.conn.bodyFlow();
  }

  trailers(): readonly string[] | null { return this.#trailers; }

  stop(): void {
    this.#sink = null;
    this.#buffered = null;
    this.#paused = true;
  }

  /** Bytes of the body are held back (the consumer paused or has not started): stop reading the socket. */
  holding(): boolean { return this.#buffered !== null; }

  pushBody(chunk: Buffer): void {
    if (!this.#paused && this.#sink !== null) { this.#sink.bodyData(chunk); return; }
    (this.#buffered ??= []).push(chunk);
    if (this.conn.active === this) this.conn.bodyFlow();
  }

  endBody(trailers: string[] | null): void {
    this.requestDone = true;
    if (trailers !== null) this.#trailers = trailers;
    if (!this.#paused && this.#sink !== null && this.#buffered === null) this.#fireEnd();
  }

  #fireEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink?.bodyEnd();
  }

  // ---- Downstream

  headersSent(): boolean { return this.#headSent || this.#cut; }
  gone(): boolean { return this.answeredAll || this.#gone; }

  info(status: number, raw: readonly string[]): void {
    if (this.version === "1.0" || this.#headSent || this.#gone || this.answeredAll) return;
    let line: string;
    if (status === 100) {
      if (this.#sent100) return;
      this.#sent100 = true;
      line = "HTTP/1.1 100 Continue\r\n\r\n";
    } else if (status === 102) {
      line = "HTTP/1.1 102 Processing\r\n\r\n";
    } else if (status === 103) {
      let links = "";
      for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === "link") links += `link: ${raw[i + 1]}\r\n`;
      if (links === "") return;
      line = `HTTP/1.1 103 Early Hints\r\n${links}\r\n`;
    } else {
      return; // other 1xx codes are informational only: dropped
    }
    this.conn.socket.write(line, "latin1");
  }

  head(status: number, reason: string, headers: string[], bodyless: boolean, _wantTrailers: boolean): void {
    if (this.#headSent || this.#gone) return;
    let s = `HTTP/1.1 ${status} ${reason}\r\n`;
    let hasLength = false;
    let hasDate = false;
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      if (n.length === 14) { if (!hasLength && n.toLowerCase() === "content-length") hasLength = true; }
      else if (n.length === 4 && !hasDate && n.toLowerCase() === "date") hasDate = true;
      s += `${n}: ${headers[i + 1]}\r\n`;
    }
    if (!hasDate) s += dateHeader();
    this.#noBody = bodyless || status === 204 || status === 304 || status < 200;
    if (!this.#noBody && !hasLength) {
      if (this.version === "1.1") { this.#chunked = true; s += "transfer-encoding: chunked\r\n"; }
      else this.keepAlive = false; // HTTP/1.0 without a length: the close ends the body
    }
    if (this.conn.closing || this.conn.server.draining) this.keepAlive = false;
    s += this.keepAlive ? this.conn.server.keepAliveLines() : "connection: close\r\n";
    this.#pendingHead = `${s}\r\n`;
    this.#headSent = true;
  }

  write(chunk: Buffer): boolean {
    if (this.#noBody || this.#gone || this.answeredAll || chunk.length === 0) return true;
    const sock = this.conn.socket;
    const head = this.#pendingHead;
    if (this.#chunked) {
      const pre = `${head ?? ""}${chunk.length.toString(16)}\r\n`;
      this.#pendingHead = null;
      if (chunk.length <= COALESCE_MAX) return sock.write(frame(pre, chunk, "\r\n"));
      sock.cork();
      sock.write(pre, "latin1");
      sock.write(chunk);
      const ok = sock.write("\r\n", "latin1");
      sock.uncork();
      return ok;
    }
    if (head === null) return sock.write(chunk);
    this.#pendingHead = null;
    if (chunk.length <= COALESCE_MAX) return sock.write(frame(head, chunk, ""));
    sock.cork();
    sock.write(head, "latin1");
    const ok = sock.write(chunk);
    sock.uncork();
    return ok;
  }

  onDrain(cb: () => void): void { this.conn.socket.once("drain", cb); }

  end(trailers: readonly string[] | null): void {
    if (this.answeredAll || this.#gone) return;
    let tail = "";
    if (this.#chunked) {
      tail = "0\r\n";
      if (trailers !== null) for (let i = 0; i < trailers.length; i += 2) tail += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
      tail += "\r\n";
    }
    const head = this.#pendingHead;
    this.#pendingHead = null;
    const out = head === null ? tail : head + tail;
    if (out !== "") this.conn.socket.write(out, "latin1");
    this.#done();
  }

  abort(): void {
    this.#cut = true;
    this.#pendingHead = null;
    this.answeredAll = true;
    this.conn.socket.destroy();
  }

  kill(): void {
    this.#cut = true;
    this.answeredAll = true;
    const s = this.conn.socket;
    if (!s.destroyed) s.resetAndDestroy();
  }

  closeAfter(): void { this.keepAlive = false; }

  error(status: number, cause: HttpErrorCause, detail: string | null): void {
    if (this.headersSent()) { this.abort(); return; }
    if (this.#gone || this.answeredAll) return;
    // an unread request body would be parsed as the next request: close instead (H26, F07)
    if (!this.requestDone && this.#hasBody) this.keepAlive = false;
    const body = errorText(status, cause, detail);
    this.head(status, reasonOf(status), errorHeaders(cause, body), false, false);
    this.#pendingHead = `${this.#pendingHead ?? ""}${body}`;
    this.end(null);
  }

  onClose(w: ClientWatcher): void { this.#watcher = w; }

  #done(): void {
    this.answeredAll = true;
    this.conn.answered(this);
  }

  /** The client connection closed (before this answer was complete, or after). */
  lost(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.stop();
    if (this.answeredAll) return;
    const w = this.#watcher;
    this.#watcher = null;
    w?.clientClosed();
  }

  /** Parsed but never started (the connection closed first). */
  dropped(): void { this.#gone = true; }

  /**
   * The client sent FIN while this request is open. A half-close (shutdown(WR) after a full request) must
   * still get its response (hardening.md F09, HAProxy without abortonclose); a client that closed for
   * good must not pin upstream work until a timeout. TCP cannot tell them apart, so the proxy sends an
   * interim "102 Processing" (RFC 9110 §15.2: clients parse any 1xx), twice, 250 ms apart: a closed
   * peer answers the first with RST and the second write fails, which ends the exchange as a client
   * abort; a half-closed peer reads them and then the real answer.
   */
  clientFin(): void {
    if (this.version === "1.0") return;
    if (!this.#probe()) return;
    setTimeout(() => { this.#probe(); }, 250).unref();
  }

  #probe(): boolean {
    if (this.#headSent || this.#gone || this.answeredAll || this.#probes >= 2) return false;
    this.#probes++;
    this.conn.socket.write("HTTP/1.1 102 Processing\r\n\r\n", "latin1");
    return true;
  }
}

// an early answer's reason phrases (the proxy's own errors); upstream answers carry their own
const REASONS: Record<number, string> = {
  400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
  431: "Request Header Fields Too Large", 499: "Client Closed Request", 500: "Internal Server Error", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};

function reasonOf(status: number): string {
  return REASONS[status] ?? "Error";
}

/** The request head announces a body (Transfer-Encoding, or a Content-Length other than 0). */
function declaresBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 17 && n.toLowerCase() === "transfer-encoding") return true;
    if (n.length === 14 && n.toLowerCase() === "content-length" && raw[i + 1].trim() !== "0") return true;
  }
  return false;
}

/** latin1 prefix + chunk + latin1 suffix in one buffer. */
function frame(pre: string, chunk: Buffer, post: string): Buffer {
  const b = Buffer.allocUnsafe(pre.length + chunk.length + post.length);
  b.write(pre, 0, "latin1");
  chunk.copy(b, pre.length);
  if (post.length > 0) b.write(post, pre.length + chunk.length, "latin1");
  return b;
}
