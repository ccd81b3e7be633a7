// The upstream HTTP/1.1 client against real and scripted origins: framing, reuse, errors.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import { H1Pool, type H1Events, type H1RequestHead } from "../../src/protocols/http/h1-client.ts";

const closers: (() => void)[] = [];
after(() => { for (const c of closers) c(); });

interface Result { status: number; headers: string[]; body: Buffer; trailers: string[] | null; error: string | null; interim: number[] }

interface Req extends Partial<H1RequestHead> { body?: Buffer[] | null }

function send(pool: H1Pool, req: Req): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { status: 0, headers: [], body: Buffer.alloc(0), trailers: null, error: null, interim: [] };
    const chunks: Buffer[] = [];
    const body = req.body ?? null;
    const ev: H1Events = {
      onConnected() {
        if (body === null) return;
        for (const c of body) call.write(c);
        call.end(null);
      },
      onInfo(status) { r.interim.push(status); },
      onResponse(status, _m, headers) { r.status = status; r.headers = headers; return true; },
      onData(c) { chunks.push(Buffer.from(c)); return true; },
      onEnd(t) { r.trailers = t; r.body = Buffer.concat(chunks); resolve(r); },
      onError(e) { r.error = e.code ?? e.message; r.body = Buffer.concat(chunks); resolve(r); },
      onIdle() { return true; },
    };
    const call = pool.request({ method: "GET", target: "/", headers: ["host", "x"], chunked: false, idleMs: 2000, upgrade: null, flush: false, ...req }, ev);
    if (body === null) call.end(null);
  });
}

async function nodeOrigin(handler: http.RequestListener): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const s = http.createServer(handler);
  s.on("connection", (c: net.Socket) => sockets.add(c));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  closers.push(() => { s.closeAllConnections(); s.close(); });
  return { port: (s.address() as net.AddressInfo).port, sockets };
}

/** A scripted origin: answers every request (after its head) with the given raw bytes. */
async function rawOrigin(answer: string, close = false): Promise<number> {
  const s = net.createServer((c) => {
    c.on("data", () => { c.write(answer); if (close) c.end(); });
    c.on("error", () => {});
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  closers.push(() => s.close());
  return (s.address() as net.AddressInfo).port;
}

const opts = { connectTimeoutMs: 500, keepAliveTimeoutMs: 4000, maxIdle: 16, tls: null, maxHeaderSize: 16384 };

test("GET, keep-alive reuse, HEAD without body, 204, streamed and chunked request bodies", async () => {
  const o = await nodeOrigin((req, res) => {
    if (req.method === "POST") {
      const parts: Buffer[] = [];
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => res.end(`${req.headers["transfer-encoding"] ?? "cl"}:${Buffer.concat(parts).toString()}`));
      return;
    }
    if (req.url === "/204") { res.writeHead(204); res.end(); return; }
    res.writeHead(200, { "content-length": 5 });
    res.end(req.method === "HEAD" ? undefined : "hello");
  });
  const pool = new H1Pool("127.0.0.1", o.port, opts);
  for (let i = 0; i < 5; i++) {
    const r = await send(pool, {});
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), "hello");
  }
  assert.equal(o.sockets.size, 1, "sequential requests share one connection");
  const head = await send(pool, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await send(pool, { target: "/204" })).status, 204);
  assert.equal((await send(pool, {})).body.toString(), "hello", "the socket is still in step after HEAD and 204");
  const chunked = await send(pool, { method: "POST", chunked: true, body: [Buffer.from("ab"), Buffer.from("cd")] });
  assert.equal(chunked.body.toString(), "chunked:abcd");
  const withLength = await send(pool, { method: "POST", headers: ["host", "x", "content-length", "3"], body: [Buffer.from("xyz")] });
  assert.equal(withLength.body.toString(), "cl:xyz");
  pool.destroy();
});

test("interim 103 and trailers are handed over", async () => {
  const o = await nodeOrigin((_req, res) => {
    res.writeEarlyHints({ link: "</a.css>; rel=preload" });
    res.writeHead(200, { "transfer-encoding": "chunked", trailer: "x-sum" });
    res.write("abc");
    res.addTrailers({ "x-sum": "42" });
    res.end();
  });
  const pool = new H1Pool("127.0.0.1", o.port, opts);
  const r = await send(pool, {});
  assert.deepEqual(r.interim, [103]);
  assert.equal(r.body.toString(), "abc");
  assert.deepEqual(r.trailers, ["x-sum", "42"]);
  pool.destroy();
});

test("an invalid response (CL and TE) fails with the parser's code; bytes nobody asked for are not delivered", async () => {
  const bad = await rawOrigin("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  const p1 = new H1Pool("127.0.0.1", bad, opts);
  const r1 = await send(p1, {});
  assert.match(String(r1.error), /^HPE_/);
  const poison = await rawOrigin("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil");
  const p2 = new H1Pool("127.0.0.1", poison, opts);
  const r2 = await send(p2, {});
  assert.equal(r2.body.toString(), "ok");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(p2.size, 0, "the poisoned socket was discarded");
  p1.destroy(); p2.destroy();
});

test("a body delimited by the close arrives whole; a cut body is an error", async () => {
  const whole = await rawOrigin("HTTP/1.1 200 OK\r\n\r\nall of it", true);
  const r = await send(new H1Pool("127.0.0.1", whole, opts), {});
  assert.equal(r.error, null);
  assert.equal(r.body.toString(), "all of it");
  const cut = await rawOrigin("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true);
  const r2 = await send(new H1Pool("127.0.0.1", cut, opts), {});
  assert.equal(r2.error, "ECONNRESET");
});

test("errors: refused, headers timeout", async () => {
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", () => r()));
  const port = (dead.address() as net.AddressInfo).port;
  dead.close();
  assert.equal((await send(new H1Pool("127.0.0.1", port, opts), {})).error, "ECONNREFUSED");
  const silent = net.createServer((c) => { c.on("error", () => {}); });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  closers.push(() => silent.close());
  const t0 = Date.now();
  const r = await send(new H1Pool("127.0.0.1", (silent.address() as net.AddressInfo).port, opts), { idleMs: 300 });
  assert.equal(r.error, "ETIMEDOUT");
  assert.ok(Date.now() - t0 < 1500);
});

test("a reused socket is reported, so the caller can tell the keep-alive race apart", async () => {
  const o = await nodeOrigin((_req, res) => res.end("fresh"));
  const pool = new H1Pool("127.0.0.1", o.port, opts);
  assert.equal((await send(pool, {})).body.toString(), "fresh");
  // the origin drops its idle connection without a word (no FIN seen yet by the pool)
  for (const s of o.sockets) s.destroy();
  const r = await send(pool, {});
  // either the pool noticed the close first (a fresh socket: success) or the request met it (ECONNRESET)
  assert.ok(r.error === null ? r.body.toString() === "fresh" : r.error === "ECONNRESET", JSON.stringify(r));
  pool.destroy();
});

test("one keep-alive socket: fast-path heads, heads split across reads, bodies in pieces and a 100 interim, all in step", async () => {
  // each answer is a list of pieces written 15 ms apart (separate reads); the pieces of answer 1 split
  // the head (llhttp parses it), answer 2 comes whole (the JavaScript fast path), answer 3 has its body in
  // three reads, answer 4 is a 100 then the final answer in one read, answer 5 comes whole again
  const answers = [
    ["HTTP/1.1 200 OK\r\nContent-Le", "ngth: 5\r\n\r\nsp", "lit"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole"],
    ["HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\nbod", "y i", "n 3"],
    ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"],
    ["HTTP/1.1 404 Not Found\r\nX-A: b\r\nContent-Length: 4\r\n\r\ngone"],
  ];
  let n = 0;
  let conns = 0;
  const s = net.createServer((c) => {
    conns++;
    c.on("error", () => {});
    c.on("data", () => {
      const parts = answers[n++ % answers.length];
      parts.forEach((p, i) => setTimeout(() => c.write(p), 15 * i));
    });
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  closers.push(() => s.close());
  const pool = new H1Pool("127.0.0.1", (s.address() as net.AddressInfo).port, opts);
  const want: [number, string][] = [[200, "split"], [200, "whole"], [201, "body in 3"], [200, "after"], [404, "gone"]];
  for (let round = 0; round < 2; round++) {
    for (const [status, body] of want) {
      const r = await send(pool, {});
      assert.equal(r.error, null, body);
      assert.equal(r.status, status, body);
      assert.equal(r.body.toString(), body);
    }
  }
  assert.deepEqual([conns, pool.size], [1, 1], "every answer came on the one kept-alive socket");
  pool.destroy();
});
