// TCP relay edge cases (pipe.ts): a FIN before the upstream connected, a slow reader (queued writes keep
// their bytes), many sessions at once (no read buffer shared), idle_timeout with a trickle vs silence.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import crypto from "node:crypto";
import { freePort } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

let proxy: TestProxy;
const servers: net.Server[] = [];
const big = crypto.randomBytes(24 * 1024 * 1024);

async function serve(onConn: (c: net.Socket) => void): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => { c.on("error", () => {}); onConn(c); });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  servers.push(s);
  return (s.address() as net.AddressInfo).port;
}

before(async () => {
  // counts what it got until the client's FIN, then answers "got N" and ends
  const counter = await serve((c) => {
    let n = 0;
    c.on("data", (d: Buffer) => { n += d.length; });
    c.on("end", () => c.end(`got ${n}\n`));
  });
  // sends 24 MB of random bytes at once, then ends
  const firehose = await serve((c) => { c.end(big); c.resume(); });
  // sends the same 24 MB in 3000-byte writes, one per turn of the event loop (many small reads at the proxy)
  const dribble = await serve((c) => {
    let off = 0;
    const next = (): void => {
      if (c.destroyed) return;
      if (off >= big.length) { c.end(); return; }
      const end = Math.min(big.length, off + 3000);
      const ok = c.write(big.subarray(off, end));
      off = end;
      if (ok) setImmediate(next); else c.once("drain", next);
    };
    c.resume();
    next();
  });
  // echoes every byte back; ends after the client's FIN
  const echo = await serve((c) => { c.pipe(c); });
  const [p1, p2, p3, p4, p5] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  proxy = await startProxy(`
log: { level: info, access: true }
upstreams:
  counter:  { scheduler: rr, servers: [ { address: 127.0.0.1:${counter} } ] }
  firehose: { scheduler: rr, servers: [ { address: 127.0.0.1:${firehose} } ] }
  dribble:  { scheduler: rr, servers: [ { address: 127.0.0.1:${dribble} } ] }
  echo:     { scheduler: rr, servers: [ { address: 127.0.0.1:${echo} } ] }
listeners:
  - { name: counter,  protocol: tcp, listen: 127.0.0.1:${p1}, upstream: counter }
  - { name: firehose, protocol: tcp, listen: 127.0.0.1:${p2}, upstream: firehose }
  - { name: dribble,  protocol: tcp, listen: 127.0.0.1:${p5}, upstream: dribble }
  - { name: echo,     protocol: tcp, listen: 127.0.0.1:${p3}, upstream: echo }
  - { name: idle,     protocol: tcp, listen: 127.0.0.1:${p4}, upstream: echo, idle_timeout: 1s }
`);
});

after(async () => {
  await proxy?.stop();
  for (const s of servers) s.close();
});

function collect(c: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    c.on("data", (d: Buffer) => chunks.push(d));
    c.on("end", () => resolve(Buffer.concat(chunks)));
    c.on("error", reject);
  });
}

test("a client that half-closes before the upstream is connected still has its FIN passed on", async () => {
  for (let i = 0; i < 5; i++) {
    const c = net.connect({ port: proxy.port("counter"), host: "127.0.0.1", allowHalfOpen: true });
    c.end(); // FIN at once, nothing sent
    const got = await collect(c);
    assert.equal(got.toString(), "got 0\n", "the server saw the FIN and answered");
    c.destroy();
  }
});

async function slowRead(listener: string): Promise<void> {
  const c = net.connect({ port: proxy.port(listener), host: "127.0.0.1" });
  const chunks: Buffer[] = [];
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    c.on("data", (d: Buffer) => {
      chunks.push(d);
      n += d.length;
      // stall a few times so the proxy's writes to us queue up and its upstream reads pause
      if (n % (6 * 1024 * 1024) < d.length) { c.pause(); setTimeout(() => c.resume(), 150); }
    });
    c.on("end", () => resolve());
    c.on("error", reject);
  });
  const all = Buffer.concat(chunks);
  assert.equal(all.length, big.length);
  assert.ok(all.equals(big), "the bytes arrived unchanged and in order");
}

test("a slow reader gets every byte intact (the relay pauses, queued writes keep their bytes)", async () => {
  await slowRead("firehose"); // large reads: writes queue past the high-water mark
  await slowRead("dribble"); // small reads: writes queue below it, and reading goes on
});

test("40 sessions at once each get back exactly their own bytes", async () => {
  const one = async (i: number): Promise<void> => {
    const payload = crypto.randomBytes(256 * 1024 + i * 997);
    const c = net.connect({ port: proxy.port("echo"), host: "127.0.0.1", allowHalfOpen: true });
    const got = collect(c);
    // in pieces of varying size, so reads of all sizes interleave between sessions
    let off = 0;
    for (let k = 1; off < payload.length; k++) {
      const end = Math.min(payload.length, off + ((k * 7919 + i * 131) % 60_000) + 1);
      c.write(payload.subarray(off, end));
      off = end;
      if (k % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    c.end();
    const back = await got;
    assert.equal(back.length, payload.length, `session ${i}: length`);
    assert.ok(back.equals(payload), `session ${i}: its own bytes, in order`);
    c.destroy();
  };
  await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)));
  // every session wrote one access line with its byte counts
  await new Promise((r) => setTimeout(r, 100));
  const lines = proxy.logs.filter((l) => l.access === "session" && l.listener === "echo");
  assert.equal(lines.length, 40);
  for (const l of lines) assert.equal(l.bytes_up, l.bytes_down);
});

test("idle_timeout: a trickle keeps a session open, silence closes it", async () => {
  const c = net.connect({ port: proxy.port("idle"), host: "127.0.0.1" });
  c.on("error", () => {});
  let closedAt = 0;
  const closed = new Promise<void>((resolve) => c.on("close", () => { closedAt = Date.now(); resolve(); }));
  c.resume();
  await new Promise<void>((r) => c.once("connect", () => r()));
  // one byte every 300 ms for 2.4 s: never 1 s without traffic
  let lastByteAt = 0;
  for (let i = 0; i < 8; i++) {
    c.write("x");
    lastByteAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.destroyed, false, `still open after ${(i + 1) * 300} ms of trickle`);
  }
  await closed;
  const quiet = closedAt - lastByteAt;
  assert.ok(quiet >= 900 && quiet < 2500, `closed ${quiet} ms after the last byte`);
  await new Promise((r) => setTimeout(r, 50));
  const line = proxy.logs.find((l) => l.access === "session" && l.listener === "idle");
  assert.equal(line?.outcome, "idle");
});
