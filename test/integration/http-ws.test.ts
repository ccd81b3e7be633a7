// WebSocket / Upgrade through the proxy: echo with `ws` as the client (ws:// and wss://), the tunnel held
// as active work, its own idle timeout, and H29 (an Upgrade answered without 101 is no tunnel).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import crypto from "node:crypto";
import { WebSocket, WebSocketServer } from "ws";
import { freePort, sleep, waitFor, startOrigin, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { RecordingBackend, raw, statusOf, recordRows, type CaseRow } from "./http-helpers.ts";

const FIX = path.resolve(import.meta.dirname, "../fixtures/tls");
const rows: CaseRow[] = [];
let wsOrigin: http.Server;
let wss: WebSocketServer;
let wsPort = 0;
let refuser: RecordingBackend;
let internal: Origin;
let proxy: TestProxy;
let port = 0;
let tlsPort = 0;
let deadPort = 0;

before(async () => {
  wsOrigin = http.createServer((_req, res) => res.end("plain"));
  wss = new WebSocketServer({ server: wsOrigin });
  wss.on("connection", (sock, req) => {
    sock.send(`hello ${req.headers["x-forwarded-for"] ?? "?"} ${req.url}`);
    sock.on("message", (data, isBinary) => sock.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => wsOrigin.listen(0, "127.0.0.1", () => r()));
  const a = wsOrigin.address();
  wsPort = a !== null && typeof a === "object" ? a.port : 0;
  // H29: a backend that answers every Upgrade with 426 and a body
  refuser = await new RecordingBackend().listen();
  refuser.on("/", () => "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nUpgrade: websocket\r\n\r\nnope");
  internal = await startOrigin("internal");
  port = await freePort();
  tlsPort = await freePort();
  deadPort = await freePort();
  proxy = await startProxy(`
log: { level: info }
upstreams:
  ws: { scheduler: rr, servers: [ { address: 127.0.0.1:${wsPort} } ] }
  refuser: { scheduler: rr, servers: [ { address: ${refuser.address} } ] }
  internal: { scheduler: rr, servers: [ { address: ${internal.address} } ] }
  dead: { scheduler: rr, retries: 0, servers: [ { address: 127.0.0.1:${deadPort} } ] }
listeners:
  - name: web
    protocol: http
    listen: 127.0.0.1:${port}
    timeouts: { tunnel: 1500ms, upstream_response: 2s }
    routes: &routes
      - { match: { path_prefix: /refuse }, upstream: refuser }
      - { match: { path_prefix: /internal }, upstream: internal }
      - { match: { path_prefix: /dead }, upstream: dead }
      - { match: { path_prefix: /ws }, upstream: ws }
  - name: secure
    protocol: http
    listen: 127.0.0.1:${tlsPort}
    tls: { cert: ${path.join(FIX, "http-default-cert.pem")}, key: ${path.join(FIX, "http-default-key.pem")} }
    routes: *routes
`);
});

after(async () => {
  await proxy?.stop();
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  wsOrigin?.closeAllConnections();
  await new Promise<void>((r) => wsOrigin?.close(() => r()));
  await refuser?.close();
  await internal?.close();
  recordRows("ws", rows);
});

function open(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once("message", (d) => resolve({ ws, first: String(d) }));
    ws.once("error", reject);
  });
}

function echo(ws: WebSocket, data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    ws.once("message", (d) => resolve(Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer)));
    ws.send(data);
  });
}

test("WebSocket echo through the proxy with ws as the client: text, binary, 1 MiB, then a clean close", async () => {
  const { ws, first } = await open(`ws://127.0.0.1:${port}/ws/chat?room=1`);
  assert.equal(first, "hello 127.0.0.1 /ws/chat?room=1", "the origin saw X-Forwarded-For and the path");
  assert.equal((await echo(ws, "ping")).toString(), "ping");
  const bin = crypto.randomBytes(1024 * 1024);
  assert.ok((await echo(ws, bin)).equals(bin), "1 MiB binary frame intact");
  for (let i = 0; i < 50; i++) assert.equal((await echo(ws, `m${i}`)).toString(), `m${i}`);
  const code = await new Promise<number>((resolve) => { ws.once("close", (c) => resolve(c)); ws.close(1000, "bye"); });
  assert.equal(code, 1000);
  const line = await waitFor(() => proxy.logs.some((l) => l.access === "http" && l.uri === "/ws/chat?room=1" && l.status === 101));
  assert.ok(line, "an access line with status 101 once the tunnel closed");
  rows.push({ id: "WS-ECHO", expected: "ws client echo via proxy (text, binary 1 MiB, close 1000)", result: "pass" });
});

test("wss:// through the TLS listener", async () => {
  const { ws, first } = await open(`wss://127.0.0.1:${tlsPort}/ws/secure`, { ca: fs.readFileSync(path.join(FIX, "http-ca.pem")) });
  assert.match(first, /^hello /);
  assert.equal((await echo(ws, "over tls")).toString(), "over tls");
  ws.close();
});

test("an open tunnel is active work on its server until it closes", async () => {
  const server = proxy.rt.pools.get("ws")?.servers[0];
  assert.ok(server !== undefined);
  await waitFor(() => server.active === 0, 3000); // earlier tests' tunnels are closed
  const before = server.active;
  const { ws } = await open(`ws://127.0.0.1:${port}/ws/held`);
  assert.equal(server.active, before + 1);
  await sleep(300);
  assert.equal(server.active, before + 1, "still active while idle");
  ws.close();
  assert.ok(await waitFor(() => server.active === before, 3000), `active back to ${before}, is ${server.active}`);
});

test("a tunnel with no byte either way for timeouts.tunnel is closed", async () => {
  const { ws } = await open(`ws://127.0.0.1:${port}/ws/idle`);
  const t0 = Date.now();
  // traffic keeps it open past the timeout
  for (let i = 0; i < 4; i++) { await sleep(500); await echo(ws, "keep"); }
  assert.equal(ws.readyState, WebSocket.OPEN);
  const closedAfter = await new Promise<number>((resolve) => {
    const t1 = Date.now();
    ws.once("close", () => resolve(Date.now() - t1));
    setTimeout(() => resolve(-1), 5000);
  });
  assert.ok(closedAfter >= 1200 && closedAfter < 3500, `idle tunnel closed after ${closedAfter} ms (opened ${Date.now() - t0} ms ago)`);
  rows.push({ id: "WS-IDLE", expected: "tunnel idle timeout (timeouts.tunnel)", result: `pass (closed ${closedAfter} ms after the last byte, limit 1500 ms)` });
});

test("H29: an Upgrade answered with 426 is no tunnel; the next request on the connection is routed on its own", async () => {
  refuser.reset();
  const r = await raw(port, [
    "GET /refuse HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "GET /internal HTTP/1.1\r\nHost: a\r\n\r\n",
  ], { responses: 2, timeoutMs: 3000 });
  assert.equal(statusOf(r.responses[0]), 426);
  assert.equal(r.responses[0].body.toString(), "nope");
  assert.equal(statusOf(r.responses[1]), 200);
  assert.equal(r.responses[1].body.toString(), "internal", "GET /internal went through routing to its own upstream");
  assert.equal(refuser.requests.length, 1, "the refusing backend saw only the Upgrade request");
  assert.doesNotMatch(refuser.allBytes().toString("latin1"), /internal/);
  // the same two requests in one write: the second is still parsed as HTTP after the 426
  refuser.reset();
  const r2 = await raw(port,
    "GET /refuse HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /internal HTTP/1.1\r\nHost: a\r\n\r\n",
    { responses: 2, timeoutMs: 3000 });
  assert.equal(statusOf(r2.responses[0]), 426);
  assert.equal(r2.responses[1]?.body.toString(), "internal");
  assert.doesNotMatch(refuser.allBytes().toString("latin1"), /internal/);
  rows.push({ id: "H29", expected: "426 to Upgrade: no tunnel, next request routed by the proxy", result: "pass" });
});

test("Upgrade to a server that refuses connections: 502; to no route: 404; h2c is never an upgrade", async () => {
  const dead = await raw(port, "GET /dead HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  assert.equal(statusOf(dead.responses[0]), 502);
  assert.ok(dead.closed);
  const none = await raw(port, "GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  assert.equal(statusOf(none.responses[0]), 404);
  const h2c = await raw(port, "GET /internal HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", { responses: 1 });
  assert.equal(statusOf(h2c.responses[0]), 200);
  assert.equal(h2c.responses[0].body.toString(), "internal");
  assert.match(h2c.responses[0].line, /^HTTP\/1\.1 200/, "answered in HTTP/1.1, no 101");
});
