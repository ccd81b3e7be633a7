// Service discovery by DNS against a DNS server the test runs and changes: A answers going from 2
// to 3 addresses and back move traffic with no failed request; a failing DNS server keeps the last
// good set; TTLs below resolve_interval win; SRV priorities and ports; slow start for joiners;
// a reload keeps the discovered servers without waiting for DNS.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { request, Agent } from "undici";
import { sleep, waitFor } from "../support/net.ts";
import { startProxy, type TestProxy, type LogLine } from "../support/proxy.ts";
import { startDnsServer, type DnsServer } from "../support/dns-server.ts";

interface HostOrigin { readonly name: string; requests: number; readonly server: http.Server }

/** An HTTP origin on host:port answering with its name (three loopback addresses share one port). */
async function originAt(host: string, port: number): Promise<HostOrigin> {
  const o = { name: host, requests: 0, server: http.createServer((_req, res) => { o.requests++; res.writeHead(200, { "x-origin": host }); res.end(host); }) };
  await new Promise<void>((resolve, reject) => {
    o.server.once("error", reject);
    o.server.listen(port, host, () => resolve());
  });
  return o;
}

/** One port free on 127.0.0.1, .2 and .3, with an origin on each. */
async function threeOrigins(): Promise<{ port: number; origins: HostOrigin[] }> {
  for (let tries = 0; tries < 20; tries++) {
    const first = await originAt("127.0.0.1", 0);
    const port = (first.server.address() as { port: number }).port;
    try {
      return { port, origins: [first, await originAt("127.0.0.2", port), await originAt("127.0.0.3", port)] };
    } catch {
      first.server.close();
    }
  }
  throw new Error("no port free on 127.0.0.1-3");
}

interface Load { readonly statuses: Map<number | string, number>; readonly byOrigin: Map<string, number>; stop(): Promise<void> }

/** Four clients sending GETs back to back until stop(), at most 20 000 requests or 30 s in all. */
function load(base: string): Load {
  const statuses = new Map<number | string, number>();
  const byOrigin = new Map<string, number>();
  const agent = new Agent({ connections: 4 });
  let running = true;
  let sent = 0;
  const end = Date.now() + 30_000;
  const worker = async (): Promise<void> => {
    while (running && sent < 20_000 && Date.now() < end) {
      sent++;
      try {
        const r = await request(`${base}/`, { dispatcher: agent });
        const body = await r.body.text();
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode === 200) byOrigin.set(body, (byOrigin.get(body) ?? 0) + 1);
      } catch (err) {
        const k = `error ${(err as Error).message}`;
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  return {
    statuses, byOrigin,
    stop: async () => { running = false; await Promise.all(workers); await agent.close(); },
  };
}

function logged(logs: readonly LogLine[], re: RegExp): LogLine | undefined {
  return logs.find((l) => typeof l.msg === "string" && re.test(l.msg));
}

let dns: DnsServer;
let port = 0;
let origins: HostOrigin[] = [];
const proxies: TestProxy[] = [];

before(async () => {
  dns = await startDnsServer();
  ({ port, origins } = await threeOrigins());
});

after(async () => {
  for (const p of proxies) await p.stop(500);
  for (const o of origins) { o.server.closeAllConnections(); o.server.close(); }
  await dns.close();
});

function yaml(name: string, extra = "", server = `{ dns: ${name}, port: ${port} }`): string {
  return `
upstreams:
  api:
    scheduler: rr
    health: { type: none }
    resolver: ${dns.address}
    resolve_interval: 200ms
${extra}
    servers:
      - ${server}
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:0, upstream: api }
`;
}

async function start(y: string): Promise<TestProxy> {
  const p = await startProxy(y);
  proxies.push(p);
  return p;
}

function addresses(p: TestProxy): string[] {
  return (p.rt.pools.get("api")?.servers ?? []).map((s) => s.address).sort();
}

test("A answers going 2 -> 3 -> 2 addresses move traffic with zero failed requests", async () => {
  dns.zones.set("api.svc.test", { a: ["127.0.0.1", "127.0.0.2"], ttl: 1 });
  const p = await start(yaml("api.svc.test"));
  // the first answer is in the pool before the listener opens
  assert.deepEqual(addresses(p), [`127.0.0.1:${port}`, `127.0.0.2:${port}`]);
  const before3 = origins[2].requests;
  const l = load(`http://127.0.0.1:${p.port("web")}`);
  await sleep(300);
  assert.equal(origins[2].requests, before3, "127.0.0.3 gets nothing while DNS does not name it");

  dns.zones.set("api.svc.test", { a: ["127.0.0.1", "127.0.0.2", "127.0.0.3"], ttl: 1 });
  assert.ok(await waitFor(() => origins[2].requests > before3 + 20, 3000), "the third address takes traffic within 3 s");
  assert.ok(logged(p.logs, /now has 3 discovered servers \(\+1 -0\)/), "the change is logged");

  dns.zones.set("api.svc.test", { a: ["127.0.0.1", "127.0.0.2"], ttl: 1 });
  assert.ok(await waitFor(() => addresses(p).length === 2, 3000), "the gone address leaves the pool");
  await sleep(100); // a request picked just before the removal may still be arriving
  const after3 = origins[2].requests;
  const before1 = origins[0].requests;
  await sleep(400);
  await l.stop();
  assert.equal(origins[2].requests, after3, "no new work reaches the removed address");
  assert.ok(origins[0].requests > before1, "the others keep serving");
  const total = [...l.statuses.values()].reduce((a, b) => a + b, 0);
  assert.ok(total > 200, `enough load to mean something (${total} requests)`);
  assert.deepEqual([...l.statuses.keys()], [200], `every request answered 200: ${JSON.stringify([...l.statuses])}`);
  assert.equal(l.byOrigin.size, 3);
  await p.stop(500);
});

test("a failing DNS server keeps the last good set, logs it once, and recovers", async () => {
  dns.zones.set("keep.svc.test", { a: ["127.0.0.1", "127.0.0.2"], ttl: 1 });
  const p = await start(yaml("keep.svc.test"));
  assert.equal(addresses(p).length, 2);
  dns.mode = "fail";
  try {
    assert.ok(await waitFor(() => logged(p.logs, /DNS A keep\.svc\.test failed \(ESERVFAIL\); keeping the last good answer \(2 records\)/) !== undefined, 3000));
    const queries = dns.queries.length;
    assert.ok(await waitFor(() => dns.queries.length > queries + 2, 3000), "it keeps asking");
    assert.equal(p.logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("DNS A keep.svc.test failed")).length, 1, "one line per failure, not per retry");
    assert.equal(addresses(p).length, 2, "both servers still listed");
    const r = await request(`http://127.0.0.1:${p.port("web")}/`);
    assert.equal(r.statusCode, 200);
    await r.body.text();
    dns.mode = "silent"; // timeouts: same rule
    await sleep(1200);
    assert.equal(addresses(p).length, 2);
  } finally {
    dns.mode = "answer";
  }
  assert.ok(await waitFor(() => logged(p.logs, /DNS A keep\.svc\.test answers again/) !== undefined, 5000));
  // NOERROR with no A records is an answer: the set empties and requests get 503
  dns.zones.set("keep.svc.test", { ttl: 1 });
  assert.ok(await waitFor(() => addresses(p).length === 0, 3000));
  const r = await request(`http://127.0.0.1:${p.port("web")}/`);
  assert.equal(r.statusCode, 503);
  await r.body.text();
  await p.stop(500);
});

test("a TTL below resolve_interval decides when to ask again", async () => {
  dns.zones.set("ttl.svc.test", { a: ["127.0.0.1"], ttl: 1 });
  const p = await start(yaml("ttl.svc.test").replace("resolve_interval: 200ms", "resolve_interval: 1m"));
  const count = (): number => dns.queries.filter((q) => q === "A ttl.svc.test").length;
  const first = count();
  await sleep(2600);
  assert.ok(count() >= first + 2, `TTL 1 s re-asks about every second under a 1 m interval (${count() - first} queries)`);
  dns.zones.set("ttl.svc.test", { a: ["127.0.0.1"], ttl: 3600 });
  await sleep(1200);
  const settled = count();
  await sleep(1500);
  assert.equal(count(), settled, "a long TTL stretches to resolve_interval, no further queries");
  await p.stop(500);
});

test("SRV: lowest priority serves, higher priorities are backups, ports come from the records", async () => {
  const b = await originAt("127.0.0.1", 0);
  const bPort = (b.server.address() as { port: number }).port;
  try {
    dns.zones.set("origin.svc.test", { a: ["127.0.0.1"], ttl: 1 });
    dns.zones.set("_http._tcp.api.svc.test", { srv: [
      { priority: 10, weight: 1, port, target: "origin.svc.test" },
      { priority: 20, weight: 1, port: bPort, target: "origin.svc.test" },
    ], ttl: 1 });
    const p = await start(yaml("", "", "{ srv: _http._tcp.api.svc.test }"));
    const pool = p.rt.pools.get("api");
    assert.ok(pool !== undefined);
    assert.deepEqual(pool.primaries.map((s) => s.address), [`127.0.0.1:${port}`]);
    assert.deepEqual(pool.backups.map((s) => s.address), [`127.0.0.1:${bPort}`]);
    const base = `http://127.0.0.1:${p.port("web")}/`;
    const before1 = origins[0].requests;
    for (let i = 0; i < 5; i++) { const r = await request(base); assert.equal(r.statusCode, 200); await r.body.text(); }
    assert.equal(origins[0].requests, before1 + 5);
    assert.equal(b.requests, 0, "the backup is idle while a primary is up");
    // the primary record goes away: the backup record becomes the lowest priority and serves
    dns.zones.set("_http._tcp.api.svc.test", { srv: [{ priority: 20, weight: 1, port: bPort, target: "origin.svc.test" }], ttl: 1 });
    assert.ok(await waitFor(() => pool.primaries.length === 0 && p.rt.pools.get("api")?.servers.length === 1, 3000));
    const r = await request(base);
    assert.equal(r.statusCode, 200);
    await r.body.text();
    assert.equal(b.requests, 1);
    await p.stop(500);
  } finally {
    b.server.closeAllConnections();
    b.server.close();
  }
});

test("an address that joins later ramps up by slow start; the first set starts at full weight", async () => {
  dns.zones.set("ramp.svc.test", { a: ["127.0.0.1"], ttl: 1 });
  const p = await start(yaml("ramp.svc.test", "    slow_start: 5s", `{ dns: ramp.svc.test, port: ${port}, weight: 10 }`));
  const pool = p.rt.pools.get("api");
  assert.ok(pool !== undefined);
  assert.equal(pool.find(`127.0.0.1:${port}`)?.weight, 10);
  dns.zones.set("ramp.svc.test", { a: ["127.0.0.1", "127.0.0.2"], ttl: 1 });
  assert.ok(await waitFor(() => pool.find(`127.0.0.2:${port}`) !== null, 3000));
  const w = pool.find(`127.0.0.2:${port}`)?.weight ?? -1;
  assert.ok(w >= 1 && w < 10, `the newcomer starts low (weight ${w})`);
  await p.stop(500);
});

test("a reload keeps the discovered servers without waiting for DNS, and their state", async () => {
  dns.zones.set("reload.svc.test", { a: ["127.0.0.1", "127.0.0.2"], ttl: 1 });
  const y = yaml("reload.svc.test");
  const p = await start(y);
  const s1 = p.rt.pools.get("api")?.find(`127.0.0.1:${port}`);
  assert.ok(s1 !== undefined && s1 !== null);
  const r = await request(`http://127.0.0.1:${p.port("web")}/`);
  await r.body.text();
  dns.mode = "silent";
  try {
    const res = await p.reload(y.replace("scheduler: rr", "scheduler: wrr"));
    assert.deepEqual(res, { ok: true });
    assert.deepEqual(addresses(p), [`127.0.0.1:${port}`, `127.0.0.2:${port}`], "seeded from the last answer");
    const total = (p.rt.pools.get("api")?.servers ?? []).reduce((n, s) => n + s.total, 0);
    assert.equal(total, 1, "the servers are the same objects, counters carried");
    // a reload that drops the DNS entry drops its servers
    const res2 = await p.reload(y.replace(`{ dns: reload.svc.test, port: ${port} }`, `{ address: 127.0.0.3:${port} }`));
    assert.deepEqual(res2, { ok: true });
    assert.deepEqual(addresses(p), [`127.0.0.3:${port}`]);
  } finally {
    dns.mode = "answer";
  }
  // a reload that adds a new DNS entry resolves it within a second, not a resolve_interval
  dns.zones.set("other.svc.test", { a: ["127.0.0.2", "127.0.0.3"], ttl: 60 });
  const slowInterval = y.replace("resolve_interval: 200ms", "resolve_interval: 1m");
  assert.deepEqual(await p.reload(slowInterval), { ok: true });
  await sleep(300);
  const t0 = Date.now();
  assert.deepEqual(await p.reload(slowInterval.replace("reload.svc.test", "other.svc.test")), { ok: true });
  assert.ok(await waitFor(() => addresses(p).join() === `127.0.0.2:${port},127.0.0.3:${port}`, 2000), `new entry resolved: ${addresses(p).join()}`);
  assert.ok(Date.now() - t0 < 1500);
  await p.stop(500);
});
