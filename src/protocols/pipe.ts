// Bidirectional relay: backpressure (pipe), half-close both ways, idle timeout, byte counts.
import type { Socket } from "node:net";

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

/**
 * Relay until both directions finished. allowHalfOpen must be set on both sockets: a FIN from one
 * side is passed on with end() and the other direction keeps flowing.
 */
export function relay(client: Socket, upstream: Socket, idleMs: number, done: (s: RelaySummary) => void): Relay {
  let end: RelaySummary["end"] | null = null;
  let closed = 0;
  const upStart = upstream.bytesWritten;
  const downStart = client.bytesWritten;
  const finish = (): void => {
    if (++closed < 2) return;
    done({ bytesUp: upstream.bytesWritten - upStart, bytesDown: client.bytesWritten - downStart, end: end ?? "eof" });
  };
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => { end ??= "client-reset"; upstream.destroy(); });
  upstream.on("error", () => { end ??= "upstream-reset"; client.destroy(); });
  client.once("close", (hadError) => { if (hadError) { end ??= "client-reset"; } if (!upstream.destroyed && (hadError || !client.readableEnded)) upstream.destroy(); finish(); });
  upstream.once("close", (hadError) => { if (hadError) { end ??= "upstream-reset"; } if (!client.destroyed && (hadError || !upstream.readableEnded)) client.destroy(); finish(); });
  if (idleMs > 0) {
    const onIdle = (): void => { end ??= "idle"; client.destroy(); upstream.destroy(); };
    client.setTimeout(idleMs, onIdle);
    upstream.setTimeout(idleMs, onIdle);
  }
  return { destroy: () => { end ??= "forced"; client.destroy(); upstream.destroy(); } };
}
