// The admin API (config.md "Admin endpoints"): bearer token, clear JSON errors, runtime state and
// weight changes (ipvsadm -e) that show in /status.json and /api/upstreams at once, a drain under
// load with zero failed requests, and POST /api/reload against a real switchyard process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { Agent, request } from "undici";
import type { IncomingMessage, ServerResponse } from "node:http";
import { startOrigin, freePort, waitFor, sleep, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const TOKEN = "s3cret-token";
let A: Origin, B: Origin;
let proxy: TestProxy;
let open: TestProxy;
let base = "";
let admin = "";
let openAdmin = "";

/** Answers after a few ms, so a drain always finds requests in flight. */
const slowish = (_req: IncomingMessage, res: ServerResponse, o: Origin): void => {
  setTimeout(() => { res.writeHead(200, { "content-type": "text/plain", "x-origin": o.name }); res.end(o.name); }, 3);
};

before(async () => {
  A = await startOrigin("A", slowish);
  B = await startOrigin("B", slowish);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proxy = await startProxy(`
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:0, token: ${TOKEN} }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${A.address} }, { address: ${B.address} } ] }
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${port}, routes: [ { upstream: web } ] }
`);
  admin = `http://127.0.0.1:${proxy.adminPort()}`;
  const port2 = await freePort();
  open = await startProxy(`
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${A.address} } ] }
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${port2}, routes: [ { upstream: web } ] }
`);
  openAdmin = `http://127.0.0.1:${open.adminPort()}`;
});

after(async () => {
  await proxy.stop();
  await open.stop();
  await A.close();
  await B.close();
});

interface Answer { status: number; json: Record<string, unknown>; headers: Record<string, unknown> }

async function call(url: string, init: { method?: "GET" | "POST"; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const r = await request(url, { method: init.method ?? "GET", headers: init.headers, body: init.body });
  const text = await r.body.text();
  let json: Record<string, unknown> = {};
  if (String(r.headers["content-type"]).startsWith("application/json")) json = JSON.parse(text) as Record<string, unknown>;
  return { status: r.statusCode, json, headers: r.headers };
}

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
const serverUrl = (addr: string): string => `${admin}/api/upstreams/web/servers/${encodeURIComponent(addr)}`;

function serverOf(json: unknown, addr: string): Record<string, unknown> {
  const ups = json as { name: string; servers: Record<string, unknown>[] }[];
  const s = ups.find((u) => u.name === "web")?.servers.find((x) => x.address === addr);
  assert.ok(s !== undefined);
  return s;
}

test("the token guards /api/*; /status, /status.json and /metrics stay readable", async () => {
  assert.equal((await call(`${admin}/api/upstreams`)).status, 401);
  const wrong = await call(`${admin}/api/upstreams`, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers["www-authenticate"], "Bearer");
  assert.match(String(wrong.json.error), /bearer token/);
  assert.equal((await call(`${admin}/api/upstreams`, { headers: auth })).status, 200);
  assert.equal((await call(`${admin}/api/reload`, { method: "POST" })).status, 401);
  assert.equal((await call(serverUrl(A.address), { method: "POST", body: "{\"state\":\"drain\"}" })).status, 401);
  const page = await request(`${admin}/status`);
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers["content-type"]), /^text\/html/);
  const html = await page.body.text();
  assert.match(html, /<meta name="viewport"/);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no external assets");
  const st = await call(`${admin}/status.json`);
  assert.equal(st.status, 200);
  assert.equal(st.json.token_required, true);
  assert.equal((await call(`${admin}/metrics`)).status, 200);
});

test("bad input gets a clear JSON error", async () => {
  const post = (url: string, body: string, headers: Record<string, string> = auth): Promise<Answer> => call(url, { method: "POST", headers, body });
  let r = await post(serverUrl(A.address), "{\"state\":\"sleep\"}");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /state must be "up", "down" or "drain", got "sleep"/);
  r = await post(serverUrl(A.address), "{\"weight\":70000}");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /weight must be an integer 0-65535/);
  r = await post(serverUrl(A.address), "{\"weight\":1.5}");
  assert.equal(r.status, 400);
  r = await post(serverUrl(A.address), "{\"colour\":\"red\"}");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /unknown field "colour"/);
  r = await post(serverUrl(A.address), "{}");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /nothing to change/);
  r = await post(serverUrl(A.address), "[1]");
  assert.equal(r.status, 400);
  r = await post(serverUrl(A.address), "{state:");
  assert.equal(r.status, 400);
  assert.match(String(r.json.error), /not JSON/);
  r = await post(`${admin}/api/upstreams/nope/servers/1.2.3.4:5`, "{\"state\":\"up\"}");
  assert.equal(r.status, 404);
  assert.deepEqual((r.json.detail as { upstreams: string[] }).upstreams, ["web"]);
  r = await post(`${admin}/api/upstreams/web/servers/10.0.0.9%3A80`, "{\"state\":\"up\"}");
  assert.equal(r.status, 404);
  assert.match(String(r.json.error), /upstream web has no server 10\.0\.0\.9:80/);
  assert.deepEqual((r.json.detail as { servers: string[] }).servers, [A.address, B.address]);
  r = await call(serverUrl(A.address), { headers: auth });
  assert.equal(r.status, 405);
  r = await call(`${admin}/api/nothing`, { headers: auth });
  assert.equal(r.status, 404);
  // without a token a POST must say JSON (a cross-site form cannot)
  r = await post(`${openAdmin}/api/upstreams/web/servers/${encodeURIComponent(A.address)}`, "{\"state\":\"drain\"}", { "content-type": "text/plain" });
  assert.equal(r.status, 415);
  assert.equal(open.rt.pools.get("web")?.find(A.address)?.state, "up");
  r = await post(`${openAdmin}/api/upstreams/web/servers/${encodeURIComponent(A.address)}`, "{\"weight\":4}", { "content-type": "application/json" });
  assert.equal(r.status, 200);
  assert.equal((r.json.server as { weight: number }).weight, 4);
});

test("state and weight changes show in /api/upstreams and /status.json at once", async () => {
  let r = await call(serverUrl(B.address), { method: "POST", headers: auth, body: JSON.stringify({ state: "drain", weight: 5 }) });
  assert.equal(r.status, 200);
  assert.equal((r.json.server as { state: string }).state, "drain");
  const ups = await call(`${admin}/api/upstreams`, { headers: auth });
  const s = serverOf(ups.json, B.address);
  assert.equal(s.state, "drain");
  assert.equal(s.weight, 5);
  assert.equal(s.effective_weight, 0);
  const st = await call(`${admin}/status.json`);
  const sj = serverOf(st.json.upstreams, B.address);
  assert.equal(sj.state, "drain");
  assert.deepEqual(sj.causes, ["drain"]);
  r = await call(serverUrl(B.address), { method: "POST", headers: auth, body: JSON.stringify({ state: "up", weight: 1 }) });
  assert.equal(r.status, 200);
  assert.equal(serverOf((await call(`${admin}/api/upstreams`, { headers: auth })).json, B.address).state, "up");
});

test("draining a server under load fails no request", async () => {
  const C = 8;                // concurrent clients
  const MAX = 3000;           // requests in all (bound)
  const deadline = Date.now() + 30_000;
  const agent = new Agent({ connections: C });
  let sent = 0;
  let done = 0;
  const failures: string[] = [];
  let phase = 0;
  const client = async (): Promise<void> => {
    while (sent < MAX && phase < 4 && Date.now() < deadline) {
      sent++;
      try {
        const r = await request(`${base}/load/${sent}`, { dispatcher: agent });
        const body = await r.body.text();
        if (r.statusCode !== 200 || (body !== "A" && body !== "B")) failures.push(`${r.statusCode} ${body}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      done++;
    }
  };
  const load = Promise.all(Array.from({ length: C }, () => client()));
  const until = async (n: number): Promise<void> => { assert.ok(await waitFor(() => done >= n, 20_000), `reached ${n} requests`); };
  const set = async (addr: string, body: unknown): Promise<void> => {
    const r = await call(serverUrl(addr), { method: "POST", headers: auth, body: JSON.stringify(body) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  };

  await until(200);
  const aBefore = A.requests;
  await set(A.address, { state: "drain" });
  const aAtDrain = A.requests;
  const inflightA = proxy.rt.pools.get("web")?.find(A.address)?.active ?? -1;
  assert.ok(aBefore > 0, "A was serving before the drain");
  await until(done + 300);
  // after the drain answer, A only finished what it had: no new work reached it
  assert.ok(A.requests - aAtDrain <= C, `A got ${A.requests - aAtDrain} requests after the drain (in flight then: ${inflightA})`);
  assert.equal(proxy.rt.pools.get("web")?.find(A.address)?.active, 0, "A's work in flight finished");
  phase = 1;
  await set(A.address, { state: "up" });
  const aBack = A.requests;
  await until(done + 200);
  assert.ok(A.requests - aBack >= 50, "A serves again once enabled");
  phase = 2;
  await set(B.address, { state: "down" });
  const bAtDown = B.requests;
  await until(done + 200);
  assert.ok(B.requests - bAtDown <= C, "no new work to a server set down");
  await set(B.address, { state: "up" });
  phase = 3;
  await set(B.address, { weight: 0 });
  const bAtZero = B.requests;
  await until(done + 200);
  assert.ok(B.requests - bAtZero <= C, "weight 0 quiesces");
  await set(B.address, { weight: 1 });
  phase = 4;
  await load;
  await agent.close();
  assert.deepEqual(failures, [], `${failures.length} of ${done} requests failed`);
  assert.ok(done >= 900, `${done} requests sent`);
});

test("POST /api/reload reloads a real switchyard process and reports a bad file", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-admin-"));
  const file = path.join(dir, "switchyard.yaml");
  const adminPort = await freePort();
  const port = await freePort();
  const conf = (servers: string): string => `
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:${adminPort}, token: ${TOKEN} }
upstreams:
  web: { scheduler: rr, servers: [ ${servers} ] }
listeners:
  - { name: public, protocol: http, listen: 127.0.0.1:${port}, routes: [ { upstream: web } ] }
`;
  fs.writeFileSync(file, conf(`{ address: ${A.address} }`));
  const child = spawn(process.execPath, ["src/main.ts", "-c", file], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => { stderr += c.toString(); });
  try {
    const url = `http://127.0.0.1:${adminPort}`;
    assert.ok(await waitFor(async () => {
      try { return (await call(`${url}/readyz`)).status === 200; } catch { return false; }
    }, 15_000), `switchyard started (${stderr})`);
    fs.writeFileSync(file, conf(`{ address: ${A.address} }, { address: ${B.address} }`));
    let r = await call(`${url}/api/reload`, { method: "POST", headers: auth });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { ok: true });
    const ups = await call(`${url}/api/upstreams`, { headers: auth });
    assert.deepEqual((ups.json as unknown as { servers: { address: string }[] }[])[0].servers.map((s) => s.address), [A.address, B.address]);
    fs.writeFileSync(file, conf(`{ address: ${A.address}, weight: lots }`));
    r = await call(`${url}/api/reload`, { method: "POST", headers: auth });
    assert.equal(r.status, 422);
    assert.equal(r.json.ok, false);
    const errors = r.json.errors as string[];
    assert.ok(errors.length >= 1);
    assert.match(errors.join("\n"), /:\d+:\d+/, "errors say line:column");
    assert.match(errors.join("\n"), /weight/);
    const still = await call(`${url}/api/upstreams`, { headers: auth });
    assert.equal((still.json as unknown as { servers: unknown[] }[])[0].servers.length, 2, "the previous configuration keeps serving");
  } finally {
    child.kill("SIGTERM");
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(5000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
