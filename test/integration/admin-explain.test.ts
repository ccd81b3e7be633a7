// GET /api/upstreams/NAME/explain and the debug-level `pick` field: the server that would be / was
// picked, and a reason for every other server (down with its cause, drain, weight 0, overloaded,
// excluded after a failure, backup tier unused, or the scheduler's rule). For the schedulers whose
// choice can be read without changing it, explain's answer is what the next real request gets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import type { IncomingMessage, ServerResponse } from "node:http";
import { startOrigin, freePort, waitFor, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const TOKEN = "explain-token";
let A: Origin, B: Origin, C: Origin, D: Origin, E: Origin, G: Origin;
let x1: Origin, x2: Origin, x3: Origin;
let deadPort = 0;
let proxy: TestProxy;
let base = "";
let admin = "";
const held: ServerResponse[] = [];
const SCHEDULERS = ["rr", "lc", "wlc", "sed", "nq", "fo", "ovf", "sh", "dh", "mh", "wrr", "twos", "lblc", "lblcr"];

before(async () => {
  A = await startOrigin("A"); B = await startOrigin("B"); C = await startOrigin("C"); D = await startOrigin("D");
  E = await startOrigin("E", (_req: IncomingMessage, res: ServerResponse) => { held.push(res); }); // holds every request
  G = await startOrigin("G");
  x1 = await startOrigin("x1"); x2 = await startOrigin("x2"); x3 = await startOrigin("x3");
  deadPort = await freePort();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const trio = `[ { address: ${x1.address}, weight: 1 }, { address: ${x2.address}, weight: 2 }, { address: ${x3.address}, weight: 3 } ]`;
  proxy = await startProxy(`
log: { level: info, access: false }
admin: { listen: 127.0.0.1:0, token: ${TOKEN} }
upstreams:
  mix:
    scheduler: wlc
    health: { type: tcp, interval: 100ms, timeout: 200ms, rise: 1, fall: 1 }
    servers:
      - { address: ${A.address} }
      - { address: ${B.address} }
      - { address: ${C.address} }
      - { address: ${D.address}, weight: 0 }
      - { address: ${E.address}, max_conns: 1 }
      - { address: 127.0.0.1:${deadPort} }
      - { address: ${G.address}, backup: true }
${SCHEDULERS.map((s) => `  p_${s}: { scheduler: ${s}, inactive_linger: 60s, servers: ${trio} }`).join("\n")}
listeners:
  - name: public
    protocol: http
    listen: 127.0.0.1:${port}
    routes:
${SCHEDULERS.map((s) => `      - { match: { path_prefix: /s/${s}/ }, upstream: p_${s} }`).join("\n")}
      - upstream: mix
`);
  admin = `http://127.0.0.1:${proxy.adminPort()}`;
});

after(async () => {
  for (const r of held) r.end("E");
  await proxy.stop();
  for (const o of [A, B, C, D, E, G, x1, x2, x3]) await o.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function api(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(`${admin}${path}`, { method, headers: { ...auth, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

async function setState(addr: string, state: string): Promise<void> {
  const r = await api("POST", `/api/upstreams/mix/servers/${encodeURIComponent(addr)}`, { state });
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

interface Report { address: string; picked: boolean; reason: string; tier: string; score: string | null }
interface Explained { would_pick: string | null; exact: boolean; tier: string; servers: Report[]; notes: string[]; summary: string }

async function explain(pool: string, query = ""): Promise<Explained> {
  const r = await api("GET", `/api/upstreams/${pool}/explain${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json as unknown as Explained;
}

function reasonOf(e: Explained, addr: string): string {
  const s = e.servers.find((x) => x.address === addr);
  assert.ok(s !== undefined, `no line for ${addr}`);
  return s.reason;
}

async function get(path: string): Promise<{ status: number; origin: string }> {
  const r = await request(`${base}${path}`);
  await r.body.text();
  return { status: r.statusCode, origin: String(r.headers["x-origin"] ?? "") };
}

test("explain names the pick and the reason for every skipped server", async () => {
  const dead = `127.0.0.1:${deadPort}`;
  assert.ok(await waitFor(() => proxy.rt.pools.get("mix")?.find(dead)?.state === "down", 3000), "the dead server goes down");
  // load E to its max_conns: only E may take the held request
  for (const s of [A, B, C]) await setState(s.address, "drain");
  const pending = request(`${base}/held`).then(async (r) => { await r.body.text(); return r.statusCode; });
  assert.ok(await waitFor(() => held.length === 1, 3000), "the held request reached E");
  await setState(A.address, "up");
  await setState(B.address, "down");

  const e = await explain("mix");
  assert.equal(e.would_pick, A.address);
  assert.equal(e.exact, true);
  assert.equal(e.tier, "primary");
  assert.equal(e.servers.length, 7);
  assert.equal(e.servers.filter((s) => s.picked).length, 1);
  for (const s of e.servers) assert.ok(s.reason.length > 0, `a reason for ${s.address}`);
  assert.match(reasonOf(e, B.address), /^down: set down by the admin API/);
  assert.match(reasonOf(e, C.address), /^drain/);
  assert.match(reasonOf(e, D.address), /^weight 0/);
  assert.match(reasonOf(e, E.address), /^overloaded: 1 in flight, max_conns 1/);
  assert.match(reasonOf(e, dead), /^down: health check failed \(L4 connect refused\)/);
  assert.match(reasonOf(e, G.address), /^backup tier unused/);
  assert.match(reasonOf(e, A.address), /lowest overhead\/weight/);

  // a retry after A failed: A is excluded, no primary can work, so the backup tier serves
  const r = await explain("mix", `?exclude=${encodeURIComponent(A.address)}`);
  assert.equal(r.would_pick, G.address);
  assert.equal(r.tier, "backup");
  assert.match(reasonOf(r, A.address), /^excluded: already tried for this unit/);
  assert.match(reasonOf(r, G.address), /backup tier/);
  assert.match(reasonOf(r, E.address), /^overloaded/);

  // and reality agrees: the next request goes to A, and the debug line says why the others lost
  const before = proxy.logs.length;
  const got = await get("/after-explain");
  assert.equal(got.status, 200);
  assert.equal(got.origin, "A");
  const line = proxy.logs.slice(before).find((l) => typeof l.pick === "object" && l.pick !== null && (l.pick as { server: string }).server === A.address);
  assert.ok(line !== undefined, "a debug line with the pick field");
  assert.equal(line.level, 20);
  const pick = line.pick as { scheduler: string; via: string; skipped: { address: string; reason: string }[] };
  assert.equal(pick.scheduler, "wlc");
  assert.equal(pick.via, "scheduler");
  assert.equal(pick.skipped.length, 6);
  const skipped = new Map(pick.skipped.map((s) => [s.address, s.reason]));
  assert.match(skipped.get(C.address) ?? "", /^drain/);
  assert.match(skipped.get(E.address) ?? "", /^overloaded/);
  assert.match(skipped.get(G.address) ?? "", /^backup tier unused/);

  held.shift()?.end("E");
  assert.equal(await pending, 200);
  for (const s of [B, C]) await setState(s.address, "up");
});

test("for every scheduler, each server gets a reason; where explain is exact, the next request agrees", async () => {
  for (const name of SCHEDULERS) {
    for (let i = 0; i < 6; i++) {
      const path = `/s/${name}/r${i}`;
      // the key a real request of this route hashes: source for sh/mh, host + path for dh/lblc/lblcr
      const key = name === "dh" || name === "lblc" || name === "lblcr" ? `127.0.0.1${path}` : "127.0.0.1";
      const e = await explain(`p_${name}`, `?key=${encodeURIComponent(key)}`);
      assert.equal(e.servers.length, 3);
      for (const s of e.servers) assert.ok(s.reason.length > 0, `${name}: a reason for ${s.address}`);
      const got = await get(path);
      assert.equal(got.status, 200);
      if (e.exact) {
        assert.ok(e.would_pick !== null, `${name}: exact answers name a server`);
        const want = [x1, x2, x3].find((o) => o.address === e.would_pick);
        assert.equal(got.origin, want?.name, `${name} request ${i}: explain said ${e.would_pick}`);
        assert.equal(e.servers.filter((s) => s.picked).length, 1);
      } else {
        assert.ok(["wrr", "twos", "lblc", "lblcr"].includes(name), `${name} should be exact`);
        assert.ok(e.notes.some((n) => n.startsWith(name)), `${name}: a note says what decides`);
      }
    }
  }
});

test("hash schedulers say which bucket the key lands in", async () => {
  const e = await explain("p_sh", "?source=10.1.2.3");
  const picked = e.servers.find((s) => s.picked);
  assert.ok(picked !== undefined);
  assert.match(picked.reason, /the key maps to bucket \d+, which belongs to it/);
  for (const s of e.servers.filter((x) => !x.picked)) assert.match(s.reason, new RegExp(`bucket \\d+, which belongs to ${picked.address.replace(/\./g, "\\.")}`));
});

test("explain answers clear errors", async () => {
  let r = await api("GET", "/api/upstreams/nope/explain");
  assert.equal(r.status, 404);
  assert.match(String(r.json.error), /no upstream named nope/);
  assert.ok(Array.isArray((r.json.detail as { upstreams: unknown }).upstreams));
  r = await api("GET", "/api/upstreams/mix/explain?port=99999");
  assert.equal(r.status, 400);
  r = await api("GET", "/api/upstreams/mix/explain?exclude=10.9.9.9:1");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /has no server 10\.9\.9\.9:1/);
  const noAuth = await request(`${admin}/api/upstreams/mix/explain`);
  assert.equal(noAuth.statusCode, 401);
  await noAuth.body.text();
});
