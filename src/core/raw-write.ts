// Direct writes on a socket's handle for the HTTP hot path (issue 11). socket.write() runs the Writable
// state machine per call: a WriteWrap plus a callback record, a process.nextTick for the after-write step,
// buffering and corking checks. For the one or two small writes of a proxied request (the request head to
// the upstream, the response head with its body to the client) this does what net does underneath: a
// WriteWrap from Node's stream_wrap binding and the handle's writeLatin1String / writeBuffer, nothing more.
// The kernel normally takes the bytes at once; when it does not, libuv queues the rest in order (a later
// socket.write() or end() goes behind it) and the socket emits 'drain' when it is out.
//
// Falls back to socket.write() wherever the stream has its own say: TLS, a socket still connecting, ended,
// destroyed, corked, or with bytes of its own still queued (order would break), or where the binding is
// not there.
import type { Socket } from "node:net";
import { netSymbol } from "./net-internals.ts";

interface WriteReq {
  handle: unknown;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: string | Buffer | null;
  socket: Socket | null;
}
interface StreamWrap {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kBytesWritten: number;
  kLastWriteWasAsync: number;
}
interface RawHandle {
  writeLatin1String(req: WriteReq, s: string): number;
  writeBuffer(req: WriteReq, b: Buffer): number;
  writeQueueSize: number;
}
type RawSocket = Socket & Record<symbol, unknown> & { _handle?: RawHandle | null; encrypted?: boolean; [kWaiting]?: boolean };

const kWaiting = Symbol("switchyard.rawWrite.waiting");

function loadBinding(): StreamWrap | null {
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrap> }).binding("stream_wrap");
    return typeof b.WriteWrap === "function" && b.streamBaseState instanceof Int32Array && typeof b.kBytesWritten === "number" && typeof b.kLastWriteWasAsync === "number" ? b as StreamWrap : null;
  } catch {
    return null;
  }
}

/** net's count of bytes handed to the handle (what socket.bytesWritten reads). */
const BYTES = netSymbol("kBytesWritten");
const SW = BYTES === null ? null : loadBinding();

function writeError(status: number): NodeJS.ErrnoException {
  const e = new Error(`write failed (${status})`) as NodeJS.ErrnoException;
  e.errno = status;
  e.code = status === -32 ? "EPIPE" : status === -104 ? "ECONNRESET" : "EWRITE";
  return e;
}

/** The rest of an async raw write is out (or failed). */
function onComplete(this: WriteReq, status: number): void {
  const s = this.socket as RawSocket;
  this.buffer = null;
  this.socket = null;
  if (status < 0) { if (!s.destroyed) s.destroy(writeError(status)); return; }
  if (s[kWaiting] === true) {
    s[kWaiting] = false;
    s.emit("drain");
  }
}

/**
 * The request object of the last write the kernel took whole: Node's stream binding ties a request to
 * C++ state only when part of a write is left for libuv (or the write fails), so until then one object
 * serves every write.
 */
let spare: WriteReq | null = null;

/** Whether the last rawWrite's buffer is still referenced (by libuv's queue, or by the stream it went through). */
let held = false;

/**
 * After rawWrite(buf): false when the kernel took all of buf at once, so buf's memory may be written
 * again (a scratch buffer reused for the next answer); true when something still holds it.
 */
export function lastWriteHeld(): boolean {
  return held;
}

function newReq(sw: StreamWrap): WriteReq {
  const req = new sw.WriteWrap();
  req.handle = null;
  req.oncomplete = onComplete;
  req.async = false;
  req.buffer = null;
  req.socket = null;
  return req;
}

/**
 * Writes a latin1 string or a buffer, as socket.write() would; false: wait for 'drain' before writing more.
 * The buffer must not be changed afterwards (as with socket.write()).
 */
export function rawWrite(socket: Socket, data: string | Buffer): boolean {
  const s = socket as RawSocket;
  const h = s._handle;
  held = true;
  if (SW === null || BYTES === null || h == null || s.encrypted === true || s.connecting || s.destroyed || !s.writable || s.writableLength > 0 || s.writableCorked > 0) {
    return typeof data === "string" ? socket.write(data, "latin1") : socket.write(data);
  }
  const req = spare ?? newReq(SW);
  spare = null;
  const err = typeof data === "string" ? h.writeLatin1String(req, data) : h.writeBuffer(req, data);
  const st = SW.streamBaseState;
  s[BYTES] = (s[BYTES] as number) + st[SW.kBytesWritten];
  if (err !== 0) { s.destroy(writeError(err)); return false; }
  if (st[SW.kLastWriteWasAsync] === 0) { spare = req; held = false; return true; }
  // the kernel took part of it: libuv holds the rest (and the request, which keeps the data alive)
  req.handle = h;
  req.async = true;
  req.buffer = data;
  req.socket = s;
  if (h.writeQueueSize < s.writableHighWaterMark) return true;
  s[kWaiting] = true;
  return false;
}
