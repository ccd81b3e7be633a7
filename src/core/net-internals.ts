// net keeps a socket's onread settings and its written-byte count under module-private symbols. The two
// hot-path shortcuts (user-reads.ts, raw-write.ts) find them once, by description, on one throwaway socket
// made with `onread` (which carries every one of them); null where this Node has no such symbol.
import net from "node:net";

const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
const own = Object.getOwnPropertySymbols(probe);
probe.destroy();

/** The socket's own symbol with this description (e.g. "kBuffer", "kBytesWritten"), or null. */
export function netSymbol(description: string): symbol | null {
  return own.find((s) => s.description === description) ?? null;
}
