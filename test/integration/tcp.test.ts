// TCP listener: relay both ways with half-close, server-speaks-first, retry, no-server close.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import crypto from "node:crypto";
import { freePort } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

let proxy: TestProxy;
let sink: net.Server;
let banner: net.Server;
let sinkPort = 0;
let bannerPort = 0;
let deadPort = 0;
const reply = crypto.randomBytes(10 * 1024 * 1024);

/** Reads everything until the client half-closes, then answers sha256(input) and 10 MB, then ends. */
function startSink(): Promise<net.Server> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    const h = crypto.createHash("sha256");
    let n = 0;
    c.on("data", (d) => { h.update(d); n += d.length; });
    c.on("end", () => {
      c.write(`${h.digest("hex")} ${n}\n`);
      c.end(reply);
    });
    c.on("error", () => {});
  });
  return new Promise((r) => s.listen(0, "127.0.0.1", () => r(s)));
}

before(async () => {
  sink = await startSink();
  sinkPort = (sink.address() as net.AddressInfo).port;
  banner = net.createServer((c) => { c.end("220 hello from a server that speaks first\r\n"); });
  await new Promise<void>((r) => banner.listen(0, "127.0.0.1", () => r()));
  bannerPort = (banner.address() as net.AddressInfo).port;
  deadPort = await freePort();
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  proxy = await startProxy(`
upstreams:
  sink:   { scheduler: rr, retries: 2, passive: { max_fails: 0 }, servers: [ { address: 127.0.0.1:${deadPort} }, { address: 127.0.0.1:${sinkPort} } ] }
  banner: { scheduler: rr, servers: [ { address: 127.0.0.1:${bannerPort} } ] }
  dead:   { scheduler: rr, retries: 1, servers: [ { address: 127.0.0.1:${deadPort} } ] }
listeners:
  - { name: relay,  protocol: tcp, listen: 127.0.0.1:${p1}, upstream: sink, idle_timeout: 2s }
  - { name: banner, protocol: tcp, listen: 127.0.0.1:${p2}, upstream: banner }
  - { name: dead,   protocol: tcp, listen: 127.0.0.1:${p3}, upstream: dead }
`);
});

after(async () => {
  await proxy?.stop();
  sink?.close();
  banner?.close();
});

test("relays 10 MB each way intact with half-close, retrying past a dead server", async () => {
  const payload = crypto.randomBytes(10 * 1024 * 1024);
  const want = crypto.createHash("sha256").update(payload).digest("hex");
  const c = net.connect({ port: proxy.port("relay"), host: "127.0.0.1", allowHalfOpen: true });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    c.on("data", (d) => chunks.push(d));
    c.on("end", () => resolve());
    c.on("error", reject);
  });
  c.end(payload); // half-close: we still read the answer after our FIN
  await done;
  const all = Buffer.concat(chunks);
  const nl = all.indexOf(10);
  const [hash, len] = all.subarray(0, nl).toString().split(" ");
  assert.equal(hash, want, "the server received exactly what the client sent");
  assert.equal(Number(len), payload.length);
  const body = all.subarray(nl + 1);
  assert.equal(body.length, reply.length);
  assert.ok(body.equals(reply), "the client received exactly what the server sent");
  c.destroy();
  // one access line with byte counts both ways
  await new Promise((r) => setTimeout(r, 50));
  const line = proxy.logs.find((l) => l.access === "session" && l.listener === "relay");
  assert.ok(line !== undefined);
  assert.equal(line.bytes_up, payload.length);
  assert.equal(line.bytes_down, reply.length + nl + 1);
  assert.equal(line.tries, 2, "the dead server was tried first, then the live one");
});

test("a server that speaks first is heard: the banner arrives before the client says anything", async () => {
  const c = net.connect(proxy.port("banner"), "127.0.0.1");
  const text = await new Promise<string>((resolve) => {
    let buf = "";
    c.on("data", (d) => { buf += d.toString(); });
    c.on("close", () => resolve(buf));
  });
  assert.equal(text, "220 hello from a server that speaks first\r\n");
});

test("no server reachable: the client is closed and the reason is logged", async () => {
  const c = net.connect(proxy.port("dead"), "127.0.0.1");
  c.on("error", () => {});
  const t0 = Date.now();
  await new Promise<void>((resolve) => c.on("close", () => resolve()));
  assert.ok(Date.now() - t0 < 3000);
  const warn = proxy.logs.find((l) => l.listener === "dead" && l.reason === "connect-failed");
  assert.ok(warn !== undefined, "a log line says why the client was closed");
  assert.match(String(warn.detail), /ECONNREFUSED/);
});

test("idle sessions are closed after idle_timeout", async () => {
  const c = net.connect({ port: proxy.port("relay"), host: "127.0.0.1", allowHalfOpen: true });
  c.on("error", () => {});
  const t0 = Date.now();
  // the proxy closes both sides: this half-open client sees the end of the stream
  await new Promise<void>((resolve) => { c.on("end", () => resolve()); c.on("close", () => resolve()); c.resume(); });
  const ms = Date.now() - t0;
  c.destroy();
  assert.ok(ms >= 1500 && ms < 5000, `closed after ${ms} ms`);
});
