// h1-client: the upstream side of HTTP proxying without a general-purpose client library.
// Keep-alive sockets per server; the request head is written as one string built from the parsed
// client request; responses are parsed by Node's own llhttp binding (the parser node:http uses,
// strict, never lenient). It speaks the subset of undici's legacy dispatch-handler interface that
// forward.ts uses (onConnect, onHeaders, onData, onComplete, onError, onUpgrade, onBodySent), so
// the two are interchangeable; it exists because it does far less work per request (bench/).
//
// Error codes match undici's where forward.ts reads them: ECONNREFUSED & co from net,
// UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET (closed
// before the response completed), HPE_* (an invalid response: the socket is discarded).
import net from "node:net";
import tls from "node:tls";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { createRequire } from "node:module";

interface ParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  [k: number]: unknown;
}
interface ParserCtor {
  new (): ParserInstance;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}
// node:http's own parser binding (llhttp); not in @types/node, so narrowed here once.
const HTTPParser = (createRequire(import.meta.url)("_http_common") as { HTTPParser: ParserCtor }).HTTPParser;
const kOnHeaders = HTTPParser.kOnHeaders | 0;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
const kOnBody = HTTPParser.kOnBody | 0;
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;

/** The handler contract (undici's legacy DispatchHandler subset). */
export interface H1Handler {
  onConnect?(abort: (err?: Error) => void): void;
  onHeaders?(statusCode: number, headers: string[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: string[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, headers: string[], socket: Socket): void;
  onBodySent?(chunkSize: number, totalBytesSent: number): void;
}

export interface H1Request {
  readonly method: string;
  readonly path: string;
  /** Flat [name, value, ...]; framing headers (content-length, transfer-encoding) are the caller's. */
  readonly headers: readonly string[];
  /** null: no body. A stream without content-length in headers is sent chunked. */
  readonly body: Readable | Buffer | null;
  /** ms to the response head (0 = none). */
  readonly headersTimeout: number;
  /** ms between body chunks of the response (0 = none). */
  readonly bodyTimeout: number;
  /** Upgrade token ("websocket") when the client asked for one; the request keeps its Connection: upgrade. */
  readonly upgrade?: string | null;
}

export interface H1PoolOptions {
  readonly connectTimeoutMs: number;
  /** Idle keep-alive sockets are closed after this (below the usual 5 s of Node origins). */
  readonly keepAliveTimeoutMs: number;
  readonly maxIdle: number;
  /** TLS to the upstream; null = plain. */
  readonly tls: { readonly ca: string | Buffer | null; readonly servername: string | null; readonly verify: boolean } | null;
  /** Response head limit (bytes). */
  readonly maxHeaderSize: number;
}

function codeError(code: string, message: string): Error {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/** Shared coarse timer: every TICK_MS, exchanges past their deadline fail. No timer per request. */
const TICK_MS = 100;
const live = new Set<Exchange>();
let ticker: NodeJS.Timeout | null = null;
function track(x: Exchange): void {
  live.add(x);
  if (ticker === null) {
    ticker = setInterval(onTick, TICK_MS);
    ticker.unref();
  }
}
function onTick(): void {
  const now = performance.now();
  for (const x of live) if (x.deadline > 0 && now >= x.deadline) x.timedOut();
  if (live.size === 0 && ticker !== null) { clearInterval(ticker); ticker = null; }
}

/** One request on one socket. */
class Exchange {
  readonly conn: Conn;
  readonly req: H1Request;
  handler: H1Handler;
  deadline = 0;
  status = 0;
  head = true;
  done = false;
  gotResponse = false;
  paused = false;
  bodyStream: Readable | null = null;
  trailers: string[] | null = null;

  constructor(conn: Conn, req: H1Request, handler: H1Handler) {
    this.conn = conn;
    this.req = req;
    this.handler = handler;
  }

  readonly resume = (): void => {
    if (!this.paused) return;
    this.paused = false;
    this.conn.socket.resume();
  };

  readonly abort = (err?: Error): void => { this.fail(err ?? codeError("UND_ERR_ABORTED", "request aborted"), true); };

  timedOut(): void {
    if (!this.conn.connected) this.fail(codeError("UND_ERR_CONNECT_TIMEOUT", `connect timeout after ${this.conn.pool.opts.connectTimeoutMs} ms`), true);
    else if (this.gotResponse) this.fail(codeError("UND_ERR_BODY_TIMEOUT", "upstream body timeout"), true);
    else this.fail(codeError("UND_ERR_HEADERS_TIMEOUT", "upstream headers timeout"), true);
  }

  /** Ends the exchange with an error; the socket cannot be reused. */
  fail(err: Error, destroySocket: boolean): void {
    if (this.done) return;
    this.done = true;
    live.delete(this);
    this.stopBody();
    if (destroySocket) this.conn.destroy();
    this.handler.onError?.(err);
  }

  stopBody(): void {
    const b = this.bodyStream;
    if (b !== null) {
      b.off("data", this.onBodyData);
      b.off("end", this.onBodyEnd);
      b.off("error", this.onBodyError);
      this.bodyStream = null;
    }
  }

  // request body streaming (with backpressure from the upstream socket)
  sent = 0;
  chunked = false;
  readonly onBodyData = (c: Buffer): void => {
    const sock = this.conn.socket;
    let ok: boolean;
    if (this.chunked) {
      sock.cork();
      sock.write(`${c.length.toString(16)}\r\n`);
      sock.write(c);
      ok = sock.write("\r\n");
      sock.uncork();
    } else ok = sock.write(c);
    this.sent += c.length;
    this.handler.onBodySent?.(c.length, this.sent);
    if (!ok && this.bodyStream !== null) {
      const b = this.bodyStream;
      b.pause();
      sock.once("drain", () => b.resume());
    }
  };
  readonly onBodyEnd = (): void => {
    if (this.chunked) this.conn.socket.write("0\r\n\r\n");
    this.stopBody();
  };
  readonly onBodyError = (err: Error): void => { this.fail(err, true); };
}

/** One upstream socket with its parser. */
class Conn {
  readonly pool: H1Pool;
  readonly socket: Socket;
  readonly parser: ParserInstance;
  x: Exchange | null = null;
  /** Requests completed on this socket (a reused socket may hit the keep-alive race). */
  served = 0;
  keepAlive = false;
  connected = false;
  dead = false;
  idleSince = 0;
  /** Response header fields gathered by kOnHeaders (many fields, or trailers). */
  fields: string[] | null = null;
  upgraded = false;

  constructor(pool: H1Pool, socket: Socket) {
    this.pool = pool;
    this.socket = socket;
    const p = new HTTPParser();
    p.initialize(HTTPParser.RESPONSE, {}, pool.opts.maxHeaderSize, HTTPParser.kLenientNone);
    p[kOnHeaders] = onHeaders;
    p[kOnHeadersComplete] = onHeadersComplete;
    p[kOnBody] = onBody;
    p[kOnMessageComplete] = onMessageComplete;
    (p as unknown as { conn: Conn }).conn = this;
    this.parser = p;
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  readonly onData = (d: Buffer): void => {
    if (this.x === null) {
      // bytes nobody asked for (H31 response-queue poisoning): discard the socket
      this.destroy();
      return;
    }
    const r = this.parser.execute(d);
    if (this.upgraded) {
      this.finishUpgrade(typeof r === "number" ? d.subarray(r) : Buffer.alloc(0));
      return;
    }
    if (r instanceof Error) {
      const code = (r as NodeJS.ErrnoException).code ?? "HPE_INVALID";
      this.x?.fail(codeError(code, `invalid upstream response: ${r.message}`), true);
      this.destroy();
    }
  };

  readonly onEnd = (): void => {
    const x = this.x;
    if (x !== null && x.gotResponse) {
      // a body delimited by the close (H33): the parser completes it now, or says it is cut off
      const r = this.parser.finish();
      if (r instanceof Error && !x.done) x.fail(codeError("UND_ERR_SOCKET", "upstream closed mid-response"), true);
    }
    this.destroy();
  };

  readonly onError = (err: Error): void => {
    const x = this.x;
    if (x !== null) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === undefined) e.code = "UND_ERR_SOCKET";
      x.fail(e, true);
    }
    this.destroy();
  };

  readonly onClose = (): void => {
    const x = this.x;
    if (x !== null && !x.done) x.fail(codeError("UND_ERR_SOCKET", "upstream closed the connection"), false);
    this.dead = true;
    this.pool.forget(this);
    this.parser.close();
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
    if (x === null || x.done) { this.socket.destroy(); return; }
    x.done = true;
    live.delete(x);
    if (rest.length > 0) this.socket.unshift(rest);
    const headers = this.fields ?? [];
    this.fields = null;
    x.handler.onUpgrade?.(x.status, headers, this.socket);
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

// parser callbacks: `this` is the parser; its conn is the Conn

function onHeaders(this: ParserInstance & { conn: Conn }, headers: string[]): void {
  const c = this.conn;
  if (c.fields === null) c.fields = headers.slice();
  else for (let i = 0; i < headers.length; i++) c.fields.push(headers[i]);
}

function onHeadersComplete(this: ParserInstance & { conn: Conn }, _vMajor: number, _vMinor: number, headers: string[] | undefined, _method: unknown, _url: unknown, statusCode: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean): number {
  const c = this.conn;
  const x = c.x;
  let fields = headers;
  if (fields === undefined) { fields = c.fields ?? []; }
  c.fields = null;
  if (x === null || x.done) { c.destroy(); return 1; }
  x.gotResponse = true;
  if (statusCode < 200) {
    if (statusCode === 101 && x.req.upgrade != null) {
      x.status = 101;
      c.fields = fields;
      c.upgraded = true;
      return 2; // upgrade: stop parsing, the rest of the bytes belong to the tunnel
    }
    // interim response (100, 103): handed over, then the real one follows on the same exchange
    x.handler.onHeaders?.(statusCode, fields, x.resume, statusMessage);
    return 0;
  }
  x.status = statusCode;
  c.keepAlive = shouldKeepAlive && !upgrade;
  x.deadline = x.req.bodyTimeout > 0 ? performance.now() + x.req.bodyTimeout : 0;
  const more = x.handler.onHeaders?.(statusCode, fields, x.resume, statusMessage) ?? true;
  if (more === false) { x.paused = true; c.socket.pause(); }
  // a HEAD response carries no body whatever its Content-Length says
  return x.req.method === "HEAD" ? 1 : 0;
}

function onBody(this: ParserInstance & { conn: Conn }, chunk: Buffer): void {
  const c = this.conn;
  const x = c.x;
  if (x === null || x.done) return;
  if (x.req.bodyTimeout > 0) x.deadline = performance.now() + x.req.bodyTimeout;
  if (x.handler.onData?.(chunk) === false && !x.paused) {
    x.paused = true;
    c.socket.pause();
  }
}

function onMessageComplete(this: ParserInstance & { conn: Conn }): void {
  const c = this.conn;
  const x = c.x;
  if (x === null || x.done) return;
  if (x.status < 200) return; // the end of an interim response
  const trailers = c.fields;
  c.fields = null;
  x.done = true;
  live.delete(x);
  c.x = null;
  c.served++;
  // a request body still streaming: the server answered early; this socket cannot be reused
  const bodyPending = x.bodyStream !== null;
  x.stopBody();
  if (c.keepAlive && !bodyPending) c.pool.release(c);
  else c.destroy();
  x.handler.onComplete?.(trailers);
}

/** Keep-alive sockets to one upstream server. */
export class H1Pool {
  readonly host: string;
  readonly port: number;
  readonly opts: H1PoolOptions;
  readonly #idle: Conn[] = [];
  readonly #all = new Set<Conn>();
  #closed = false;

  constructor(host: string, port: number, opts: H1PoolOptions) {
    this.host = host;
    this.port = port;
    this.opts = opts;
  }

  /** Send one request; the handler hears exactly one of onComplete / onError / onUpgrade. */
  dispatch(req: H1Request, handler: H1Handler): void {
    const now = performance.now();
    while (this.#idle.length > 0) {
      const c = this.#idle.pop() as Conn;
      if (c.dead || c.socket.readableEnded || now - c.idleSince > this.opts.keepAliveTimeoutMs) { c.destroy(); continue; }
      this.#start(c, req, handler, true);
      return;
    }
    this.#connect(req, handler);
  }

  #connect(req: H1Request, handler: H1Handler): void {
    const t = this.opts.tls;
    const socket = t === null
      ? net.connect({ host: this.host, port: this.port, noDelay: true })
      : tls.connect({ host: this.host, port: this.port, ca: t.ca ?? undefined, servername: t.servername ?? (net.isIP(this.host) === 0 ? this.host : undefined), rejectUnauthorized: t.verify, ALPNProtocols: ["http/1.1"] });
    const c = new Conn(this, socket);
    this.#all.add(c);
    const x = new Exchange(c, req, handler);
    c.x = x;
    handler.onConnect?.(x.abort);
    if (x.done) return;
    // connect timeout on the shared ticker; then the headers timeout takes over
    x.deadline = now() + this.opts.connectTimeoutMs;
    track(x);
    socket.once(t === null ? "connect" : "secureConnect", () => {
      c.connected = true;
      if (x.done) return;
      this.#send(x);
    });
  }

  #start(c: Conn, req: H1Request, handler: H1Handler, reused: boolean): void {
    const x = new Exchange(c, req, handler);
    c.x = x;
    handler.onConnect?.(x.abort);
    if (x.done) return;
    track(x);
    if (reused && req.body === null && isIdempotent(req.method)) {
      // keep-alive race: the server may have closed this idle socket just now. Before any response
      // byte, a bodiless idempotent request is sent again on a fresh connection, once.
      x.handler = retryOnStale(this, c, x, handler);
    }
    this.#send(x);
  }

  #send(x: Exchange): void {
    const req = x.req;
    const sock = x.conn.socket;
    x.deadline = req.headersTimeout > 0 ? now() + req.headersTimeout : 0;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    let hasLength = false;
    for (let i = 0; i < h.length; i += 2) {
      head += `${h[i]}: ${h[i + 1]}\r\n`;
      if (!hasLength && h[i].length === 14 && h[i].toLowerCase() === "content-length") hasLength = true;
    }
    if (req.upgrade != null) head += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
    const body = req.body;
    if (body === null) {
      sock.write(`${head}\r\n`, "latin1");
      return;
    }
    if (Buffer.isBuffer(body)) {
      if (!hasLength) head += `content-length: ${body.length}\r\n`;
      sock.cork();
      sock.write(`${head}\r\n`, "latin1");
      sock.write(body);
      sock.uncork();
      x.sent = body.length;
      x.handler.onBodySent?.(body.length, body.length);
      return;
    }
    x.chunked = !hasLength;
    if (x.chunked) head += "transfer-encoding: chunked\r\n";
    sock.write(`${head}\r\n`, "latin1");
    x.bodyStream = body;
    body.on("data", x.onBodyData);
    body.on("end", x.onBodyEnd);
    body.on("error", x.onBodyError);
    if (body.readableEnded) x.onBodyEnd();
  }

  release(c: Conn): void {
    if (this.#closed || this.#idle.length >= this.opts.maxIdle) { c.destroy(); return; }
    c.idleSince = now();
    this.#idle.push(c);
  }

  forget(c: Conn): void {
    this.#all.delete(c);
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** Idle and in-use sockets. */
  get size(): number { return this.#all.size; }

  destroy(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.destroy();
  }
}

function now(): number { return performance.now(); }

function isIdempotent(m: string): boolean {
  return m === "GET" || m === "HEAD" || m === "OPTIONS" || m === "PUT" || m === "DELETE" || m === "TRACE";
}

/** Wraps the handler: a socket error before any response byte re-sends the request once on a new socket. */
function retryOnStale(pool: H1Pool, c: Conn, x: Exchange, handler: H1Handler): H1Handler {
  return {
    onConnect: undefined,
    onHeaders: handler.onHeaders?.bind(handler),
    onData: handler.onData?.bind(handler),
    onComplete: handler.onComplete?.bind(handler),
    onUpgrade: handler.onUpgrade?.bind(handler),
    onBodySent: handler.onBodySent?.bind(handler),
    onError: (err: Error) => {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (!x.gotResponse && c.served > 0 && (code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE")) {
        pool.dispatch(x.req, handler);
        return;
      }
      handler.onError?.(err);
    },
  };
}
