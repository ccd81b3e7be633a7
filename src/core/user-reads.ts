// Reads of an accepted socket into a buffer the caller owns (issue 11). A socket we dial gets this from
// net's `onread` option: no stream push, no 'data' event and no fresh 64 KiB allocation per read. Sockets a
// net.Server accepts cannot be given that option, so this switches one over after the fact, the way net
// sets up an `onread` socket: the handle's useUserBuffer(), plus the three properties net's read path
// looks for (net-internals.ts finds their module-private symbols). Where they cannot be found (another
// Node), nothing is switched and the caller keeps reading through 'data'.
import type { Socket } from "node:net";
import { netSymbol } from "./net-internals.ts";

/** Called with the number of bytes read into the buffer; return false to pause the socket. */
export type ReadCallback = (this: Socket, n: number, buf: Buffer) => boolean;

interface Keys { readonly buffer: symbol; readonly callback: symbol; readonly gen: symbol }

function findKeys(): Keys | null {
  const buffer = netSymbol("kBuffer");
  const callback = netSymbol("kBufferCb");
  const gen = netSymbol("kBufferGen");
  return buffer !== null && callback !== null && gen !== null ? { buffer, callback, gen } : null;
}

const KEYS = findKeys();

interface UserBufferHandle { useUserBuffer?: (buf: Buffer) => void; reading?: boolean }
type Keyed = Socket & Record<symbol, unknown> & { _handle?: UserBufferHandle | null; encrypted?: boolean };

/**
 * From now on the socket's reads land in `buffer` and call `callback` (this = the socket), and 'data'
 * never fires; 'end', pause() and resume() work as before. `next`, when given, is asked after each read
 * for the buffer of the following read (net's onread.buffer as a function). Only for a plain TCP socket
 * that nothing has read from yet (call it in the connection handler), once. Returns false, changing
 * nothing, where it cannot.
 */
export function useUserReads(socket: Socket, buffer: Buffer, callback: ReadCallback, next: (() => Buffer) | null = null): boolean {
  const s = socket as Keyed;
  const h = s._handle;
  if (KEYS === null || s.encrypted === true || s.destroyed || h == null || typeof h.useUserBuffer !== "function") return false;
  if (s[KEYS.callback] != null) return false; // switched before (and back: backToStreamReads); stays on 'data'

  h.useUserBuffer(buffer);
  s[KEYS.buffer] = buffer;
  s[KEYS.callback] = callback;
  s[KEYS.gen] = next;
  return true;
}

/** The bytes read go through the stream again ('data', pipe()), copied out of the shared buffer. */
export function backToStreamReads(socket: Socket): void {
  if (KEYS === null) return;
  (socket as Keyed)[KEYS.callback] = pushCopy;
}

function pushCopy(this: Socket, n: number, buf: Buffer): boolean {
  return this.push(Buffer.from(buf.subarray(0, n)));
}
