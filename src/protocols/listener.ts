// A listening socket: accept, max_connections, track clients for graceful stop, hand each
// socket to the protocol handler. The net.Server outlives reloads while its address is unchanged.
import net from "node:net";
import type { Socket } from "node:net";
import type { ProtocolHandler } from "./adapter.ts";
import type { Address } from "../core/types.ts";

export class Listener {
  readonly address: Address;
  readonly server: net.Server;
  handler: ProtocolHandler;
  readonly clients = new Set<Socket>();
  #maxConnections: number;

  constructor(address: Address, handler: ProtocolHandler, maxConnections: number) {
    this.address = address;
    this.handler = handler;
    this.#maxConnections = maxConnections;
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, this.#onConnection);
  }

  set maxConnections(n: number) { this.#maxConnections = n; }

  readonly #onConnection = (sock: Socket): void => {
    if (this.#maxConnections > 0 && this.clients.size >= this.#maxConnections) {
      sock.destroy();
      return;
    }
    this.clients.add(sock);
    sock.once("close", () => this.clients.delete(sock));
    this.handler.serve(sock);
  };

  /** Bind; rejects with the OS error text (EADDRINUSE ...). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      const host = this.address.host === "" ? undefined : this.address.host.replace(/^\[|\]$/g, "");
      // not exclusive: in a cluster worker the supervising process owns the socket and hands out
      // connections, so a worker that dies never closes the port (workers.ts)
      this.server.listen({ port: this.address.port, host, backlog: 1024, exclusive: false }, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
  }

  /** The port actually bound (port 0 in tests). */
  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === "object" ? a.port : 0;
  }

  /** Stop accepting; open clients stay (and keep being served). */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }
}
