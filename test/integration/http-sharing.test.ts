// What client connections share on the hot path, and must never leak between them.
// - llhttp parsers (h1-server.ts acquireParser): a connection holds one only while a request is being
//   read; a parser goes back to the free list when a read ended exactly at the end of a keep-alive
//   request. Each case leaves a connection where lending its parser would be wrong (a partial pipelined
//   head, a body whose bytes so far end in a blank line, a "Connection: close" request, an upgrade
//   refused), has other connections read through the proxy, then finishes the first one: every answer
//   must be the right one.
// - the scratch buffer whole answers are built in (h1-exchange.ts whole()): reused only after the
//   kernel took an answer whole. A client that does not read leaves answers queued in libuv; they must
//   reach it intact while other clients are answered.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { freePort, sleep } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { RecordingBackend, ok, parseResponses, statusOf, type ParsedMessage } from "./http-helpers.ts";

let backend: RecordingBackend;
let proxy: TestProxy;
let port = 0;

before(async () => {
  backend = await new RecordingBackend().listen();
  backend.on("/big/", (req) => ok(bigBody(req.target)));
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

/** 16 KiB that differ for every target. */
function bigBody(target: string): string {
  return `${target};`.repeat(Math.ceil(16384 / (target.length + 1))).slice(0, 16384);
}

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

test("answers queued for a client that does not read reach it intact while other clients are answered", async () => {
  const N = 600; // 600 x 16 KiB: more than loopback's socket buffers hold, so writes to it queue
  const slow = await open();
  slow.s.pause();
  let reqs = "";
  for (let i = 0; i < N; i++) reqs += `GET /big/s${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
  slow.s.write(reqs);
  await sleep(300);
  // meanwhile, other connections get 16 KiB answers (built in the scratch buffer, when it is free)
  for (let k = 0; k < 4; k++) {
    const o = await open();
    let more = "";
    for (let i = 0; i < 20; i++) more += `GET /big/o${k}-${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    o.s.write(more);
    const got = await answers(o, 20);
    assert.equal(got.length, 20);
    got.forEach((m, i) => { assert.equal(m.body.toString("latin1"), bigBody(`/big/o${k}-${i}`)); });
    o.s.destroy();
  }
  slow.s.resume();
  const deadline = Date.now() + 10_000;
  let got: ParsedMessage[] = [];
  while (Date.now() < deadline) {
    got = await answers(slow, N);
    if (got.length >= N) break;
  }
  assert.equal(got.length, N);
  let wrong = 0;
  got.forEach((m, i) => { if (m.body.toString("latin1") !== bigBody(`/big/s${i}`)) wrong++; });
  assert.equal(wrong, 0, `${wrong} of ${N} answers to the slow client were not their own bytes`);
  // its queue is out: its next answers may be built in the shared scratch again, alongside another client's
  const o = await open();
  let again = "";
  let more = "";
  for (let i = 0; i < 20; i++) { again += `GET /big/a${i} HTTP/1.1\r\nHost: x\r\n\r\n`; more += `GET /big/b${i} HTTP/1.1\r\nHost: x\r\n\r\n`; }
  slow.s.write(again);
  o.s.write(more);
  const [gs, go] = await Promise.all([answers(slow, N + 20), answers(o, 20)]);
  assert.equal(gs.length, N + 20);
  assert.equal(go.length, 20);
  gs.slice(N).forEach((m, i) => { assert.equal(m.body.toString("latin1"), bigBody(`/big/a${i}`)); });
  go.forEach((m, i) => { assert.equal(m.body.toString("latin1"), bigBody(`/big/b${i}`)); });
  o.s.destroy();
  slow.s.destroy();
});
