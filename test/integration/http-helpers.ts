// Test tools for the HTTP hardening suites (hardening.md sections 1, 2, 4): a recording backend that
// keeps every byte the proxy sent it and answers by script, a raw client that sends exact bytes and
// parses what comes back, and a proxy run as a child process (RSS and fd counts of its own).
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { sleep } from "../support/net.ts";

// ---- parsing (the tests' own, deliberately simple and strict) --------------------------------------

export interface ParsedHead {
  readonly line: string;
  readonly headers: [string, string][];
}

/** Header value (first match, case-insensitive) or undefined. */
export function header(h: readonly [string, string][], name: string): string | undefined {
  const n = name.toLowerCase();
  for (const [k, v] of h) if (k.toLowerCase() === n) return v;
  return undefined;
}

export function headerCount(h: readonly [string, string][], name: string): number {
  const n = name.toLowerCase();
  let c = 0;
  for (const [k] of h) if (k.toLowerCase() === n) c++;
  return c;
}

function parseHead(text: string): ParsedHead {
  const lines = text.split("\r\n");
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    headers.push([l.slice(0, c), l.slice(c + 1).trim()]);
  }
  return { line: lines[0], headers };
}

/** Body framing of one message: {length} | chunked | until close | none. Returns [body, consumed] or null when incomplete. */
function readBody(buf: Buffer, at: number, kind: { cl: number } | "chunked" | "close" | "none", closed: boolean): [Buffer, number, Buffer | null] | null {
  if (kind === "none") return [Buffer.alloc(0), at, null];
  if (kind === "close") return closed ? [buf.subarray(at), buf.length, null] : null;
  if (typeof kind === "object") return buf.length - at >= kind.cl ? [buf.subarray(at, at + kind.cl), at + kind.cl, null] : null;
  const parts: Buffer[] = [];
  let p = at;
  for (;;) {
    const eol = buf.indexOf("\r\n", p, "latin1");
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(p, eol).toString("latin1").split(";")[0], 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(buf.subarray(p, eol).toString("latin1"))}`);
    p = eol + 2;
    if (size === 0) {
      const end = buf.indexOf("\r\n\r\n", p - 2, "latin1");
      if (end < 0) return null;
      const trailers = buf.subarray(p, end + 2);
      return [Buffer.concat(parts), end + 4, trailers];
    }
    if (buf.length < p + size + 2) return null;
    parts.push(buf.subarray(p, p + size));
    if (buf.toString("latin1", p + size, p + size + 2) !== "\r\n") throw new Error("chunk data not followed by CRLF");
    p += size + 2;
  }
}

export interface ParsedMessage extends ParsedHead {
  readonly body: Buffer;
  /** Trailer section bytes (chunked only), or null. */
  readonly trailers: Buffer | null;
  /** The bytes of the whole message as received. */
  readonly raw: Buffer;
}

/** Responses in buf (1xx included as their own entries); `closed`: the connection ended (close-delimited bodies). */
export function parseResponses(buf: Buffer, closed: boolean, headRequests = 0): { messages: ParsedMessage[]; rest: Buffer } {
  const out: ParsedMessage[] = [];
  let p = 0;
  let heads = headRequests;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", p, "latin1");
    if (end < 0) break;
    const head = parseHead(buf.toString("latin1", p, end));
    const status = Number(head.line.split(" ")[1]);
    let kind: { cl: number } | "chunked" | "close" | "none";
    const te = header(head.headers, "transfer-encoding");
    const cl = header(head.headers, "content-length");
    if (status < 200 || status === 204 || status === 304) kind = "none";
    else if (heads > 0 && status >= 200) kind = "none";
    else if (te !== undefined) kind = "chunked";
    else if (cl !== undefined) kind = { cl: Number(cl) };
    else kind = "close";
    const r = readBody(buf, end + 4, kind, closed);
    if (r === null) break;
    if (status >= 200 && heads > 0) heads--;
    out.push({ ...head, body: r[0], trailers: r[2], raw: buf.subarray(p, r[1]) });
    p = r[1];
  }
  return { messages: out, rest: buf.subarray(p) };
}

export interface ParsedRequest extends ParsedMessage {
  readonly method: string;
  readonly target: string;
}

/** Requests as a server parses them: Content-Length or chunked bodies (never guessed otherwise). */
export function parseRequests(buf: Buffer): { requests: ParsedRequest[]; rest: Buffer } {
  const out: ParsedRequest[] = [];
  let p = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", p, "latin1");
    if (end < 0) break;
    const head = parseHead(buf.toString("latin1", p, end));
    const [method, target] = head.line.split(" ");
    const te = header(head.headers, "transfer-encoding");
    const cl = header(head.headers, "content-length");
    const kind = te !== undefined ? "chunked" as const : cl !== undefined ? { cl: Number(cl) } : "none" as const;
    const r = readBody(buf, end + 4, kind, false);
    if (r === null) break;
    out.push({ ...head, method, target, body: r[0], trailers: r[2], raw: buf.subarray(p, r[1]) });
    p = r[1];
  }
  return { requests: out, rest: buf.subarray(p) };
}

// ---- recording backend --------------------------------------------------------------------------

export interface BackendConn {
  readonly socket: net.Socket;
  /** Every byte received on this connection. */
  bytes: Buffer;
  /** The connection is closed (by either side). */
  closed: boolean;
}

/** What to do with one request: write these bytes (and keep the connection), or act on the socket yourself. */
export type Script = (req: ParsedRequest, conn: BackendConn, backend: RecordingBackend) => string | Buffer | null;

export function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** Answer: 200 with a JSON view of the request as received, and X-Rec-Seq = its index in backend.requests. */
export const echoScript: Script = (req, _conn, b) => ok(
  JSON.stringify({ method: req.method, target: req.target, headers: req.headers, body: req.body.toString("latin1") }),
  `Content-Type: application/json\r\nX-Rec-Seq: ${b.requests.length - 1}\r\n`);

export class RecordingBackend {
  readonly server: net.Server;
  readonly conns: BackendConn[] = [];
  readonly requests: ParsedRequest[] = [];
  /** Scripts by path prefix (longest first); the fallback answers with echoScript. */
  readonly scripts = new Map<string, Script>();
  /** Close idle connections after this many ms (0 = never). */
  idleCloseMs = 0;
  port = 0;

  constructor() {
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.#onConn(s));
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    const a = this.server.address();
    this.port = a !== null && typeof a === "object" ? a.port : 0;
    return this;
  }

  get address(): string { return `127.0.0.1:${this.port}`; }

  /** All bytes ever received, in connection order. */
  allBytes(): Buffer { return Buffer.concat(this.conns.map((c) => c.bytes)); }

  reset(): void { this.conns.length = 0; this.requests.length = 0; }

  on(prefix: string, s: Script): this { this.scripts.set(prefix, s); return this; }

  #script(target: string): Script {
    let best: string | null = null;
    for (const k of this.scripts.keys()) if (target.startsWith(k) && (best === null || k.length > best.length)) best = k;
    return best === null ? echoScript : (this.scripts.get(best) as Script);
  }

  #onConn(s: net.Socket): void {
    const conn: BackendConn = { socket: s, bytes: Buffer.alloc(0), closed: false };
    this.conns.push(conn);
    let pending = Buffer.alloc(0);
    let idle: NodeJS.Timeout | null = null;
    const armIdle = (): void => {
      if (this.idleCloseMs <= 0) return;
      if (idle !== null) clearTimeout(idle);
      idle = setTimeout(() => s.end(), this.idleCloseMs);
    };
    armIdle();
    s.on("error", () => {});
    s.on("end", () => { if (!s.destroyed) s.end(); });
    s.on("close", () => { conn.closed = true; if (idle !== null) clearTimeout(idle); });
    s.on("data", (d: Buffer) => {
      if (idle !== null) clearTimeout(idle);
      conn.bytes = Buffer.concat([conn.bytes, d]);
      pending = Buffer.concat([pending, d]);
      let parsed: ReturnType<typeof parseRequests>;
      try {
        parsed = parseRequests(pending);
      } catch {
        s.destroy();
        return;
      }
      pending = Buffer.from(parsed.rest);
      for (const r of parsed.requests) {
        this.requests.push(r);
        const out = this.#script(r.target)(r, conn, this);
        if (out !== null && !s.destroyed) s.write(out);
      }
      armIdle();
    });
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ---- raw client --------------------------------------------------------------------------------

export interface RawResult {
  readonly data: Buffer;
  readonly text: string;
  /** The proxy closed (or reset) the connection. */
  readonly closed: boolean;
  /** ms from the first write to the close (or to the end of waiting). */
  readonly ms: number;
  readonly responses: ParsedMessage[];
}

export interface RawOptions {
  /** Stop once this many complete final (>= 200) responses arrived (default: wait for close). */
  readonly responses?: number;
  /** Upper bound on waiting (default 3000 ms). */
  readonly timeoutMs?: number;
  /** HEAD requests among them (their responses carry no body). */
  readonly heads?: number;
  /** Extra wait after the wanted responses, to see whether the proxy closes (default 0). */
  readonly lingerMs?: number;
  /** Stop when nothing arrived for this long after the last byte (0 = off, the default). */
  readonly quietMs?: number;
}

/** Sends exact bytes (latin1 string or Buffer, or a list written with a pause between) and collects the answer. */
export function raw(port: number, payload: string | Buffer | readonly (string | Buffer)[], opts: RawOptions = {}): Promise<RawResult> {
  const parts = Array.isArray(payload) ? payload : [payload];
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let data = Buffer.alloc(0);
    let closed = false;
    const t0 = Date.now();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (quiet !== null) clearTimeout(quiet);
      const { messages } = parseResponsesSafe(data, closed, opts.heads ?? 0);
      s.destroy();
      resolve({ data, text: data.toString("latin1"), closed, ms: Date.now() - t0, responses: messages });
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 3000);
    const check = (): void => {
      if (opts.responses === undefined) return;
      const { messages } = parseResponsesSafe(data, closed, opts.heads ?? 0);
      if (messages.filter((m) => Number(m.line.split(" ")[1]) >= 200).length >= opts.responses) {
        if ((opts.lingerMs ?? 0) > 0) setTimeout(finish, opts.lingerMs); else finish();
      }
    };
    let quiet: NodeJS.Timeout | null = null;
    s.on("data", (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if ((opts.quietMs ?? 0) > 0) {
        if (quiet !== null) clearTimeout(quiet);
        quiet = setTimeout(finish, opts.quietMs);
      }
      check();
    });
    s.on("error", () => { closed = true; });
    s.on("close", () => { closed = true; finish(); });
    s.on("end", () => { closed = true; });
    s.on("connect", async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(60);
        if (s.destroyed) return;
        const p = parts[i];
        s.write(typeof p === "string" ? Buffer.from(p, "latin1") : p);
      }
    });
  });
}

function parseResponsesSafe(buf: Buffer, closed: boolean, heads: number): { messages: ParsedMessage[] } {
  try {
    return parseResponses(buf, closed, heads);
  } catch {
    return { messages: [] };
  }
}

export function statusOf(m: ParsedMessage | undefined): number {
  return m === undefined ? 0 : Number(m.line.split(" ")[1]);
}

// ---- the proxy as a child process -----------------------------------------------------------------

export interface ChildProxy {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resident set size in bytes (from /proc). */
  rss(): number;
  /** Open file descriptors. */
  fds(): number;
  stop(): Promise<void>;
  readonly output: string[];
}

/**
 * Starts `node src/main.ts -c <file>` with this YAML, waits until `port` accepts connections.
 * fdLimit > 0 runs it under `ulimit -n fdLimit` (the same pid: bash execs node).
 */
export async function startChildProxy(yaml: string, port: number, extraArgs: readonly string[] = [], fdLimit = 0): Promise<ChildProxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-child-"));
  const file = path.join(dir, "switchyard.yaml");
  fs.writeFileSync(file, yaml);
  const root = path.resolve(import.meta.dirname, "../..");
  const args = [...extraArgs, path.join(root, "src/main.ts"), "-c", file];
  const opts = { cwd: root, stdio: ["ignore", "pipe", "pipe"] as ("ignore" | "pipe")[], env: { ...process.env, SWITCHYARD_CONFIG: "" } };
  const proc = fdLimit > 0
    ? spawn("bash", ["-c", `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...args], opts)
    : spawn(process.execPath, args, opts);
  const output: string[] = [];
  proc.stdout?.on("data", (d: Buffer) => { if (output.length < 2000) output.push(d.toString()); });
  proc.stderr?.on("data", (d: Buffer) => { if (output.length < 2000) output.push(d.toString()); });
  const pid = proc.pid ?? 0;
  const end = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1");
      s.on("connect", () => { s.destroy(); r(true); });
      s.on("error", () => r(false));
    });
    if (up) break;
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`proxy did not start: ${output.join("")}`);
    await sleep(100);
  }
  return {
    proc, pid, output,
    rss: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      return m === null ? 0 : Number(m[1]) * 1024;
    },
    fds: () => fs.readdirSync(`/proc/${pid}/fd`).length,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      process.kill(pid, "SIGTERM");
      const t = setTimeout(() => { if (proc.exitCode === null) process.kill(pid, "SIGKILL"); }, 5000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Percentile (0..100) of a list of numbers. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

// ---- the results table (note-10) ----------------------------------------------------------------

export interface CaseRow { readonly id: string; readonly expected: string; readonly result: string; }

/** Appends rows for the note table to /tmp/note-10-rows/<suite>.json (the table is assembled from them). */
export function recordRows(suite: string, rows: readonly CaseRow[]): void {
  const dir = "/tmp/note-10-rows";
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${suite}.json`), JSON.stringify(rows, null, 1));
}
