// The hot path's two socket shortcuts on real loopback sockets: rawWrite (core/raw-write.ts) keeps order
// with socket.write(), counts bytesWritten and emits 'drain' after a write the kernel could not take at
// once; useUserReads (core/user-reads.ts) delivers every byte and the FIN, obeys pause()/resume(), and
// backToStreamReads brings 'data' back (a connection handed to a tunnel).
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { rawWrite } from "../../../src/core/raw-write.ts";
import { backToStreamReads, useUserReads } from "../../../src/core/user-reads.ts";

/** A listening server and one connected client; `accepted` is the server's side. */
async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  const got = once(server, "connection");
  const client = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  await once(client, "connect");
  const [accepted] = (await got) as [net.Socket];
  return { server, client, accepted };
}

function collect(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  return once(s, "end").then(() => Buffer.concat(parts));
}

test("rawWrite: order with socket.write, bytesWritten, and 'drain' after a write larger than the socket buffer", async () => {
  const { server, client, accepted } = await pair();
  accepted.pause(); // nothing is read yet: the big write cannot go out at once
  const big = Buffer.alloc(16 << 20, 0x61);
  assert.equal(rawWrite(client, "HEAD "), true);
  const ok = rawWrite(client, big);
  assert.equal(ok, false, "a 16 MiB write to a peer that does not read must ask the caller to wait");
  client.write("|tail"); // goes behind the raw remainder
  const drained = once(client, "drain");
  const body = collect(accepted);
  accepted.resume();
  await drained;
  client.end();
  const all = await body;
  assert.equal(all.length, 5 + big.length + 5);
  assert.equal(all.subarray(0, 5).toString(), "HEAD ");
  assert.equal(all.subarray(all.length - 5).toString(), "|tail");
  assert.ok(all.subarray(5, 5 + big.length).every((b) => b === 0x61));
  assert.equal(client.bytesWritten, all.length);
  accepted.end();
  server.close();
});

test("useUserReads: every byte and the FIN arrive through the callback; pause() stops reading; backToStreamReads restores 'data'", async () => {
  const { server, client, accepted } = await pair();
  const buf = Buffer.alloc(4096);
  const seen: string[] = [];
  let onRead: (() => void) | null = null;
  assert.equal(useUserReads(accepted, buf, function (n) { seen.push(buf.subarray(0, n).toString()); onRead?.(); return true; }), true);
  assert.equal(useUserReads(accepted, buf, () => true), false, "a socket switched once is not switched again");
  let sawData = false;
  accepted.on("data", () => { sawData = true; });
  const first = new Promise<void>((r) => { onRead = r; });
  client.write("one");
  await first;
  assert.deepEqual(seen, ["one"]);
  accepted.pause();
  client.write("two");
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(seen, ["one"], "a paused socket reads nothing");
  const second = new Promise<void>((r) => { onRead = r; });
  accepted.resume();
  await second;
  assert.deepEqual(seen, ["one", "two"]);
  assert.equal(sawData, false, "no 'data' while reads go to the callback");
  backToStreamReads(accepted);
  const rest = collect(accepted);
  client.end("three");
  assert.equal((await rest).toString(), "three");
  assert.equal(accepted.bytesRead, 11);
  accepted.end();
  server.close();
});
