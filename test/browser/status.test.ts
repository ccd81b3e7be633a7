// /status in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core)
// opens the page, a test origin is killed and restarted, and the page shows its row go down and
// come back up without reloading. The drain / enable controls work with the token typed into the
// page. Screenshots go to test/output/ (status.png: desktop; status-down.png: the origin down;
// status-phone.png: a phone-sized viewport, which must not scroll sideways).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { request } from "undici";
import { startOrigin, freePort, waitFor, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUT = fileURLToPath(new URL("../output/", import.meta.url));
const TOKEN = "status-page-token";
let web1: Origin, web2: Origin, api1: Origin, api2: Origin;
let echo: net.Server;
let proxy: TestProxy;
let browser: Browser;
let admin = "";
let web1Port = 0;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), "Debian chromium is installed (test/peers/install.sh)");
  fs.mkdirSync(OUT, { recursive: true });
  web1 = await startOrigin("web1");
  web1Port = web1.port;
  web2 = await startOrigin("web2");
  api1 = await startOrigin("api1");
  api2 = await startOrigin("api2");
  echo = net.createServer((s) => { s.on("data", (d) => s.write(d)); s.on("error", () => {}); });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const port = await freePort();
  const tcpPort = await freePort();
  proxy = await startProxy(`
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:0, token: ${TOKEN} }
upstreams:
  web:
    scheduler: wlc
    health: { type: http, path: /, interval: 150ms, timeout: 300ms, rise: 1, fall: 1 }
    servers: [ { address: ${web1.address}, weight: 3 }, { address: ${web2.address} } ]
  api:
    scheduler: rr
    health: { type: tcp, interval: 500ms }
    servers: [ { address: ${api1.address}, max_conns: 50 }, { address: ${api2.address}, backup: true } ]
  cache: { scheduler: sh, servers: [ { address: 127.0.0.1:${echoPort} } ] }
listeners:
  - name: public
    protocol: http
    listen: 127.0.0.1:${port}
    routes: [ { match: { path_prefix: /api/ }, upstream: api }, { upstream: web } ]
  - { name: cache, protocol: tcp, listen: 127.0.0.1:${tcpPort}, upstream: cache }
`);
  admin = `http://127.0.0.1:${proxy.adminPort()}`;
  // some traffic, so the counters on the page are not all zero
  for (let i = 0; i < 24; i++) { const r = await request(`http://127.0.0.1:${port}/${i % 3 === 0 ? "api/x" : "page"}`); await r.body.text(); }
  const s = net.connect(tcpPort, "127.0.0.1");
  await new Promise<void>((r) => s.once("connect", () => r()));
  s.destroy();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  for (const o of [web1, web2, api1, api2]) await o?.close();
  await new Promise<void>((r) => echo.close(() => r()));
});

const row = (addr: string): string => `tr[data-server="web/${addr}"]`;

async function stateOf(page: Page, addr: string): Promise<string | null> {
  return page.getAttribute(row(addr), "data-state");
}

test("the page shows a killed server go down and come back up, live", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  let navigations = 0;
  page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${admin}/status`);
  await page.waitForSelector(`${row(web1.address)}[data-state="up"]`, { timeout: 10_000 });
  await page.evaluate(() => { (globalThis as unknown as { syMark: number }).syMark = 42; });
  assert.equal(await page.textContent(`${row(web1.address)} .badge`), "up");

  await web1.close();
  await page.waitForSelector(`${row(web1.address)}[data-state="down"]`, { timeout: 10_000 });
  assert.equal(await page.textContent(`${row(web1.address)} .badge`), "down");
  assert.match(await page.textContent(`${row(web1.address)} td[data-k="state"] .why`) ?? "", /health-check/);
  assert.equal(await stateOf(page, web2.address), "up");
  await page.screenshot({ path: `${OUT}status-down.png`, fullPage: true });

  web1 = await startOrigin("web1", undefined, web1Port);
  await page.waitForSelector(`${row(web1.address)}[data-state="up"]`, { timeout: 10_000 });
  assert.equal(await page.textContent(`${row(web1.address)} .badge`), "up");
  // the history strip recorded both transitions
  assert.ok((await page.locator(`${row(web1.address)} .hist i`).count()) >= 2);
  // the same document all along: no reload, no navigation
  assert.equal(await page.evaluate(() => (globalThis as unknown as { syMark?: number }).syMark), 42);
  assert.equal(navigations, 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test("drain and enable from the page, with the token typed in once", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${admin}/status`);
  await page.waitForSelector(`${row(web2.address)}[data-state="up"]`, { timeout: 10_000 });
  await page.fill("#token", TOKEN);
  await page.click("#save");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("switchyard.token")), TOKEN);
  await page.click(`${row(web2.address)} button[data-action="drain"]`);
  await page.waitForSelector(`${row(web2.address)}[data-state="drain"]`, { timeout: 10_000 });
  assert.equal(proxy.rt.pools.get("web")?.find(web2.address)?.state, "drain");
  await page.fill(`${row(web2.address)} input.w`, "4");
  await page.click(`${row(web2.address)} button[data-action="weight"]`);
  assert.ok(await waitFor(() => proxy.rt.pools.get("web")?.find(web2.address)?.configWeight === 4, 5000));
  await page.click(`${row(web2.address)} button[data-action="up"]`);
  await page.waitForSelector(`${row(web2.address)}[data-state="up"]`, { timeout: 10_000 });
  assert.equal(proxy.rt.pools.get("web")?.find(web2.address)?.state, "up");
  // let one more poll land so the screenshot shows settled numbers
  await page.waitForTimeout(1700);
  await page.screenshot({ path: `${OUT}status.png`, fullPage: true });
  assert.ok(fs.statSync(`${OUT}status.png`).size > 10_000, "a real screenshot");
  // a wrong token is refused and forgotten
  await page.evaluate(() => sessionStorage.setItem("switchyard.token", "wrong"));
  await page.click(`${row(web2.address)} button[data-action="drain"]`);
  await page.locator("#msg", { hasText: "token refused" }).waitFor({ timeout: 5000 });
  assert.equal(proxy.rt.pools.get("web")?.find(web2.address)?.state, "up");
  await page.close();
});

test("on a phone-sized screen the page fits without scrolling sideways", async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await page.goto(`${admin}/status`);
  await page.waitForSelector(`${row(web1.address)}[data-state]`, { timeout: 10_000 });
  const { scroll, inner } = await page.evaluate<{ scroll: number; inner: number }>("({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })");
  assert.ok(scroll <= inner, `page width ${scroll} > viewport ${inner}`);
  await page.screenshot({ path: `${OUT}status-phone.png`, fullPage: true });
  await page.close();
});
