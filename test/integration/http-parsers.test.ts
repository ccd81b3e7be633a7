// Client connections borrow llhttp parsers only while a request is being read (h1-server.ts
// acquireParser): a parser goes back to the free list when a read ended exactly at the end of a
// keep-alive request, and the next connection that reads takes it. What a client must never see is one
// connection's half-read request leaking into another's parse. Each case leaves a connection in a state
// where lending its parser would be wrong (a partial pipelined head, a body whose bytes so far end in a
// blank line, a "Connection: close" request, an upgrade refused), then has other connections read
// through the proxy, then finishes the first one: every answer must be the right one.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { freePort, sleep } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { RecordingBackend, parseResponses, statusOf, type ParsedMessage } from "./http-helpers.ts";

let backend: RecordingBackend;
let proxy: TestProxy;
let port = 0;

before(async () => {
  backend = await new RecordingBackend().listen();
  port = await freePort();
  proxy = await startProxy(`
upstreams:
  o: { scheduler: rr, servers: [ { address: ${backend.address} } ] }
listeners:
  - { name: h, protocol: http, listen: 127.0.0.1:${port}, upstream: o }
`);
});

after(async () => {
  await proxy.stop();
  await backend.close();
});

interface Client { s: net.Socket; data: Buffer; closed: boolean }

async function open(): Promise<Client> {
  const c: Client = { s: net.connect(port, "127.0.0.1"), data: Buffer.alloc(0), closed: false };
  c.s.on("data", (d: Buffer) => { c.data = Buffer.concat([c.data, d]); });
  c.s.on("error", () => { c.closed = true; });
  c.s.on("close", () => { c.closed = true; });
  await new Promise<void>((r) => c.s.once("connect", () => r()));
  return c;
}

/** Waits (at most 3 s) until c holds n answers, and returns them. */
async function answers(c: Client, n: number): Promise<ParsedMessage[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    let got: ParsedMessage[] = [];
    try { got = parseResponses(c.data, c.closed).messages; } catch { /* incomplete */ }
    if (got.length >= n || Date.now() > deadline) return got;
    await sleep(5);
  }
}

/** The request target the backend saw for an answer (echoScript's JSON body). */
function targetOf(m: ParsedMessage | undefined): string {
  if (m === undefined || statusOf(m) !== 200) return `status ${statusOf(m)}`;
  return (JSON.parse(m.body.toString("latin1")) as { target: string }).target;
}

/** Full keep-alive requests on n fresh connections, each read alone: they must all be answered. */
async function others(tag: string, n = 3): Promise<void> {
  for (let i = 0; i < n; i++) {
    const o = await open();
    o.s.write(`GET /${tag}-${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [m] = await answers(o, 1);
    assert.equal(targetOf(m), `/${tag}-${i}`);
    o.s.destroy();
  }
}

test("a complete request and the start of the next in one read: the half-read head stays with its connection", async () => {
  const a = await open();
  a.s.write("GET /a1 HTTP/1.1\r\nHost: x\r\n\r\nGET /a2 HTTP/1.1\r\nHo");
  assert.equal(targetOf((await answers(a, 1))[0]), "/a1");
  await others("p");
  a.s.write("st: x\r\n\r\n");
  const got = await answers(a, 2);
  assert.equal(targetOf(got[1]), "/a2");
  a.s.destroy();
});

test("a request body whose bytes so far end in a blank line is still being read", async () => {
  const a = await open();
  a.s.write("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab\r\n\r\n");
  await sleep(50);
  await others("b");
  a.s.write("cdef");
  const [m] = await answers(a, 1);
  assert.equal(targetOf(m), "/body");
  assert.equal((JSON.parse(m.body.toString("latin1")) as { body: string }).body, "ab\r\n\r\ncdef");
  a.s.destroy();
});

test("a head split over several reads on many connections at once: each connection gets its own answers", async () => {
  const conns = await Promise.all(Array.from({ length: 12 }, () => open()));
  for (let round = 0; round < 3; round++) {
    const reqs = conns.map((_, i) => Buffer.from(`GET /c${i}-r${round} HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(i * 7)}\r\n\r\n`, "latin1"));
    // three cuts per request, written round-robin across the connections
    for (let part = 0; part < 3; part++) {
      for (let i = 0; i < conns.length; i++) {
        const r = reqs[i];
        const cut = [0, 5 + i, 20 + 2 * i, r.length];
        conns[i].s.write(r.subarray(cut[part], cut[part + 1]));
      }
      await sleep(15);
    }
    for (let i = 0; i < conns.length; i++) {
      const got = await answers(conns[i], round + 1);
      assert.equal(targetOf(got[round]), `/c${i}-r${round}`, `connection ${i}, round ${round}`);
    }
  }
  for (const c of conns) c.s.destroy();
});

test("after a Connection: close request, other connections are still parsed as new (no closed-connection state carried over)", async () => {
  const a = await open();
  a.s.write("GET /closing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const [m] = await answers(a, 1);
  assert.equal(targetOf(m), "/closing");
  await others("k");
  a.s.destroy();
});

test("after an upgrade request the proxy did not take as a tunnel, other connections parse normally", async () => {
  const a = await open();
  a.s.write("GET /upg HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n");
  await answers(a, 1);
  await others("u");
  a.s.destroy();
});

test("a bad request on one connection does not disturb the next one's parse", async () => {
  const a = await open();
  a.s.write("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n");
  const got = await answers(a, 2);
  assert.equal(targetOf(got[0]), "/ok");
  assert.equal(statusOf(got[1]), 400);
  await others("e");
  a.s.destroy();
});
