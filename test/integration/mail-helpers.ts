// Helpers for the mail listener tests: a line-reading client (plain or TLS, bounded waits) and small
// scripted mail servers whose every received byte is recorded.
import net from "node:net";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { execFile } from "node:child_process";

export const TLS_CERT = fileURLToPath(new URL("../fixtures/tls/mail-cert.pem", import.meta.url));
export const TLS_KEY = fileURLToPath(new URL("../fixtures/tls/mail-key.pem", import.meta.url));

/** A client that reads CRLF lines; every wait is bounded. */
export class LineClient {
  socket: net.Socket;
  /** Everything received, as text (latin1). */
  received = "";
  #pos = 0;
  closed = false;
  #wake: (() => void) | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.#attach(socket);
  }

  #attach(s: net.Socket): void {
    s.on("data", (d: Buffer) => { this.received += d.toString("latin1"); this.#wake?.(); });
    s.on("close", () => { this.closed = true; this.#wake?.(); });
    s.on("error", () => { /* seen as close */ });
  }

  static connect(port: number, localAddress?: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: "127.0.0.1", localAddress });
      s.once("connect", () => resolve(new LineClient(s)));
      s.once("error", reject);
    });
  }

  static connectTls(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, servername: "mail.switchyard.test" });
      s.once("secureConnect", () => resolve(new LineClient(s)));
      s.once("error", reject);
    });
  }

  async #waitFor<T>(probe: () => T | null, timeoutMs: number, what: string): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v !== null) return v;
      const left = end - Date.now();
      if (left <= 0 || this.closed) {
        const v2 = probe();
        if (v2 !== null) return v2;
        throw new Error(`${what}: ${this.closed ? "connection closed" : "timed out"}; received so far: ${JSON.stringify(this.received.slice(this.#pos))}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.#wake = () => { clearTimeout(t); this.#wake = null; r(); };
      });
    }
  }

  /** The next CRLF-terminated line (without CRLF). */
  line(timeoutMs = 5000): Promise<string> {
    return this.#waitFor(() => {
      const i = this.received.indexOf("\r\n", this.#pos);
      if (i < 0) return null;
      const l = this.received.slice(this.#pos, i);
      this.#pos = i + 2;
      return l;
    }, timeoutMs, "waiting for a line");
  }

  /** Lines up to and including the first matching one. */
  async until(match: (l: string) => boolean, timeoutMs = 5000): Promise<string[]> {
    const out: string[] = [];
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const l = await this.line(Math.max(1, end - Date.now()));
      out.push(l);
      if (match(l)) return out;
    }
    throw new Error("too many lines");
  }

  /** A full SMTP reply (last line has a space after the code). */
  reply(timeoutMs = 5000): Promise<string[]> {
    return this.until((l) => l.length < 4 || l[3] !== "-", timeoutMs);
  }

  /** Exactly n bytes of text. */
  bytes(n: number, timeoutMs = 5000): Promise<string> {
    return this.#waitFor(() => {
      if (this.received.length - this.#pos < n) return null;
      const s = this.received.slice(this.#pos, this.#pos + n);
      this.#pos += n;
      return s;
    }, timeoutMs, `waiting for ${n} bytes`);
  }

  /** Unread text so far. */
  rest(): string {
    const s = this.received.slice(this.#pos);
    this.#pos = this.received.length;
    return s;
  }

  /** Resolves true once the proxy closed the connection (false after timeoutMs). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  write(s: string | Buffer): void {
    this.socket.write(s);
  }

  /** STARTTLS: the TLS handshake on the same connection; unread plaintext is dropped. */
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners("data");
    const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: "mail.switchyard.test" });
    await new Promise<void>((resolve, reject) => { s.once("secureConnect", () => resolve()); s.once("error", reject); });
    this.socket = s;
    this.received = "";
    this.#pos = 0;
    this.#attach(s);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A scripted server: greets, then answers each line with respond(line, conn). */
export interface Scripted {
  readonly port: number;
  readonly address: string;
  /** All bytes received, per connection, as text. */
  readonly conns: { received: string; socket: net.Socket }[];
  close(): Promise<void>;
}

export async function scriptedServer(greeting: string | null, onData: (conn: { received: string; socket: net.Socket }, chunk: string) => void): Promise<Scripted> {
  const conns: { received: string; socket: net.Socket }[] = [];
  const server = net.createServer((socket) => {
    const c = { received: "", socket };
    conns.push(c);
    socket.on("error", () => { /* test servers ignore resets */ });
    if (greeting !== null) socket.write(greeting);
    socket.on("data", (d: Buffer) => { const t = d.toString("latin1"); c.received += t; onData(c, t); });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, address: `127.0.0.1:${port}`, conns,
    close: () => new Promise<void>((r) => { for (const c of conns) c.socket.destroy(); server.close(() => r()); }),
  };
}

/** One message as a lenient (smuggling-prone) SMTP server saw it. */
export interface FakeMessage { from: string; rcpts: string[]; body: string }

/**
 * A deliberately lenient SMTP server: any LF ends a line and a "." line (CR stripped) ends DATA, as
 * the servers SMTP smuggling abused. Records commands and messages; RCPTs containing "reject" get 550;
 * endOfData is the reply to each end of DATA.
 */
export async function lenientSmtp(opts: { endOfData?: string; xclient?: boolean; dieInData?: boolean } = {}): Promise<Scripted & { messages: FakeMessage[]; commands: string[] }> {
  const messages: FakeMessage[] = [];
  const commands: string[] = [];
  const state = new Map<net.Socket, { buf: string; data: boolean; cur: FakeMessage }>();
  const srv = await scriptedServer("220 fake.test ESMTP\r\n", (c, chunk) => {
    let st = state.get(c.socket);
    if (st === undefined) { st = { buf: "", data: false, cur: { from: "", rcpts: [], body: "" } }; state.set(c.socket, st); }
    st.buf += chunk;
    for (let i = st.buf.indexOf("\n"); i >= 0; i = st.buf.indexOf("\n")) {
      const line = st.buf.slice(0, i).replace(/\r$/, "");
      st.buf = st.buf.slice(i + 1);
      if (st.data) {
        if (opts.dieInData === true) { c.socket.destroy(); return; }
        if (line === ".") {
          st.data = false;
          messages.push(st.cur);
          st.cur = { from: "", rcpts: [], body: "" };
          c.socket.write(opts.endOfData ?? "250 2.0.0 Ok: queued\r\n");
        } else {
          st.cur.body += `${line.startsWith(".") ? line.slice(1) : line}\n`;
        }
        continue;
      }
      commands.push(line);
      const verb = line.split(" ")[0].toUpperCase();
      if (verb === "EHLO") c.socket.write(`250-fake.test\r\n${opts.xclient === true ? "250-XCLIENT NAME ADDR PORT HELO PROTO\r\n" : ""}250-CHUNKING\r\n250 PIPELINING\r\n`);
      else if (verb === "HELO") c.socket.write("250 fake.test\r\n");
      else if (verb === "XCLIENT") c.socket.write("220 fake.test ESMTP\r\n");
      else if (verb === "MAIL") { st.cur.from = line; c.socket.write("250 2.1.0 Ok\r\n"); }
      else if (verb === "RCPT") {
        if (/reject/i.test(line)) c.socket.write("550 5.1.1 Recipient rejected\r\n");
        else { st.cur.rcpts.push(line); c.socket.write("250 2.1.5 Ok\r\n"); }
      } else if (verb === "DATA") { st.data = true; c.socket.write("354 End data with <CR><LF>.<CR><LF>\r\n"); }
      else if (verb === "QUIT") { c.socket.end("221 2.0.0 Bye\r\n"); return; }
      else if (verb === "RSET" || verb === "NOOP") c.socket.write("250 2.0.0 Ok\r\n");
      else c.socket.write("502 5.5.2 Error: command not recognized\r\n");
    }
  });
  return Object.assign(srv, { messages, commands });
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port on 127.0.0.1 that refuses connections (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** True when nothing listens on 127.0.0.1:port and it can be bound. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** n free ports in 25000..26999 (the mail tests' range), from a random start. */
export async function mailPeerPorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const start = Math.floor(Math.random() * 2000);
  for (let i = 0; i < 2000 && out.length < n; i++) {
    const p = 25000 + ((start + i) % 2000);
    if (await portFree(p)) out.push(p);
  }
  if (out.length < n) throw new Error(`only ${out.length} of ${n} free ports in 25000-26999`);
  return out;
}

/** Runs a command without blocking the event loop (the proxy runs in this process). */
export function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
