// A whole upstream answer in one read goes to an HTTP/1 client as the upstream's own bytes, less the
// hop-by-hop lines (forward.ts onWhole, h1-exchange.ts whole()). The client must get exactly what the
// general paths write: the same answer, sent by the origin (a) in one write, (b) head first and body
// 40 ms later (fast head, body through onData), (c) with the head itself split (llhttp), must reach
// the client byte for byte alike, on one keep-alive connection to the proxy.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { freePort, sleep } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const ANSWERS: Record<string, string> = {
  // what a node:http origin writes
  "/node": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello",
  // hop-by-hop lines between the others, in any case; no Date (the proxy adds one)
  "/hops": "HTTP/1.1 404 Not Found\r\nkeep-alive: timeout=5\r\nX-A: 1\r\nTE: trailers\r\nX-B: 2\r\nUPGRADE: h2c\r\nCONNECTION: Keep-Alive\r\nContent-Length: 3\r\n\r\nnot",
  // what the proxy rewrites: "name:value" and a Content-Length with leading zeros
  "/rewrite": "HTTP/1.1 200 OK\r\nX-Tight:value\r\nX-Wide:   v  w\r\nContent-Length: 004\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\nabcd",
  "/empty": "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\n",
  // the upstream closes after it: the answer is the same, the upstream socket is not reused
  "/close": "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 4\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\noops",
};
const MODES = ["whole", "body-later", "head-split"] as const;

let origin: net.Server;
let proxy: TestProxy;
let port = 0;
/** Requests the origin received on a connection after it had answered "Connection: close" on it. */
let afterClose = 0;

before(async () => {
  origin = net.createServer((c) => {
    let buf = "";
    let closing = false;
    c.on("error", () => {});
    c.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
        const [line] = buf.slice(0, end).split("\r\n");
        buf = buf.slice(end + 4);
        const [, target] = line.split(" ");
        const [path, mode] = target.split("?");
        const answer = ANSWERS[path];
        if (closing) afterClose++;
        const close = path === "/close";
        closing ||= close;
        const bodyAt = answer.indexOf("\r\n\r\n") + 4;
        if (mode === "whole") c.write(answer);
        else if (mode === "body-later") { c.write(answer.slice(0, bodyAt)); setTimeout(() => { c.write(answer.slice(bodyAt)); }, 40); }
        else { c.write(answer.slice(0, 20)); setTimeout(() => { c.write(answer.slice(20)); }, 40); }
        if (close) setTimeout(() => c.end(), 80);
      }
    });
  });
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
  port = await freePort();
  proxy = await startProxy(`
upstreams:
  o: { scheduler: rr, servers: [ { address: 127.0.0.1:${(origin.address() as net.AddressInfo).port} } ] }
listeners:
  - { name: h, protocol: http, listen: 127.0.0.1:${port}, upstream: o, timeouts: { idle: 7s } }
`);
});

after(async () => {
  await proxy.stop();
  origin.close();
});

/** Sends each request in turn on one connection and returns each answer's bytes (read up to its body's end). */
async function exchange(requests: string[]): Promise<string[]> {
  const s = net.connect(port, "127.0.0.1");
  await new Promise<void>((r) => s.once("connect", () => r()));
  let data = "";
  s.on("data", (d: Buffer) => { data += d.toString("latin1"); });
  const out: string[] = [];
  for (const req of requests) {
    data = "";
    s.write(req);
    const deadline = Date.now() + 3000;
    for (;;) {
      const headEnd = data.indexOf("\r\n\r\n");
      const cl = /\r\ncontent-length: *(\d+)/i.exec(data);
      if (headEnd >= 0 && cl !== null && data.length >= headEnd + 4 + Number(cl[1])) break;
      assert.ok(Date.now() < deadline, `no whole answer to ${JSON.stringify(req)}: ${JSON.stringify(data)}`);
      await sleep(5);
    }
    out.push(data);
  }
  s.destroy();
  return out;
}

test("whole answers in one read reach the client exactly as the general paths write them", async () => {
  for (const path of Object.keys(ANSWERS)) {
    const got = await exchange(MODES.map((m) => `GET ${path}?${m} HTTP/1.1\r\nHost: x\r\n\r\n`));
    // a Date the proxy adds may be a second apart between the three
    const same = got.map((g) => g.replace(/\r\ndate: [^\r]*/, "\r\ndate: (added)"));
    assert.equal(same[0], same[1], `${path}: one read vs body later`);
    assert.equal(same[0], same[2], `${path}: one read vs split head`);
    const head = got[0].slice(0, got[0].indexOf("\r\n\r\n") + 2).toLowerCase();
    assert.doesNotMatch(head, /\r\n(keep-alive: timeout=5|te: |upgrade: |connection: close)/, `${path}: the upstream's hop-by-hop lines are gone`);
    assert.match(head, /\r\ndate: /, `${path}: a Date is always there`);
  }
  const [rewrite] = await exchange(["GET /rewrite?whole HTTP/1.1\r\nHost: x\r\n\r\n"]);
  assert.ok(rewrite.startsWith("HTTP/1.1 200 OK\r\nX-Tight: value\r\nX-Wide: v  w\r\nContent-Length: 4\r\n"), JSON.stringify(rewrite));
  const [hops] = await exchange(["GET /hops?whole HTTP/1.1\r\nHost: x\r\n\r\n"]);
  assert.ok(hops.startsWith("HTTP/1.1 404 Not Found\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 3\r\ndate: "), JSON.stringify(hops));
  assert.ok(hops.endsWith("\r\nconnection: keep-alive\r\nkeep-alive: timeout=7\r\n\r\nnot"), JSON.stringify(hops));
});

test("an HTTP/1.0 client gets the one-read answer with connection: close, and the upstream's close is kept to", async () => {
  const [a, b] = await exchange(["GET /close?whole HTTP/1.1\r\nHost: x\r\n\r\n", "GET /node?whole HTTP/1.1\r\nHost: x\r\n\r\n"]);
  assert.ok(a.startsWith("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\nconnection: keep-alive\r\n"), JSON.stringify(a));
  assert.ok(b.endsWith("hello"));
  // the upstream said close: the next request went on another upstream connection
  assert.equal(afterClose, 0);
  const s = net.connect(port, "127.0.0.1");
  let data = "";
  s.on("data", (d: Buffer) => { data += d.toString("latin1"); });
  const closed = new Promise<void>((r) => s.on("close", () => r()));
  s.write("GET /node?whole HTTP/1.0\r\n\r\n");
  await closed;
  assert.equal(data, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\nconnection: close\r\n\r\nhello");
});
