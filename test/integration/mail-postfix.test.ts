// SMTP listener against two real Postfix servers (test/peers/start-smtp.sh): swaks and curl smtp://
// deliver through switchyard and each message lands in the mail folder of the server dh picks for
// its recipient domain; Postfix logs the real client address via XCLIENT (and via a PROXY header);
// SMTP smuggling variants reach Postfix as one message; one server stopped -> sessions go to the
// other and health marks it down; all stopped -> 421 4.3.2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { openPeers, requirePeers, type PeerSet } from "../support/peers.ts";
import { bucket8, key32 } from "../../src/schedulers/hash.ts";
import { LineClient, TLS_CERT, TLS_KEY, mailPeerPorts, run, sleep } from "./mail-helpers.ts";

let peers: PeerSet;
let proxy: TestProxy;
let smtp1 = 0, smtp2 = 0, psmtp1 = 0;

before(async () => {
  requirePeers();
  peers = await openPeers("mail-postfix");
  [smtp1, smtp2, psmtp1] = await mailPeerPorts(3);
  await Promise.all([peers.startPostfix(smtp1, psmtp1), peers.startPostfix(smtp2)]);
  const health = "    health: { type: smtp, interval: 200ms, timeout: 1s, rise: 1, fall: 1 }\n";
  proxy = await startProxy(`
upstreams:
  mx:
    scheduler: dh
${health}    servers: [ { address: "127.0.0.1:${smtp1}" }, { address: "127.0.0.1:${smtp2}" } ]
  mxrr:
    scheduler: rr
    retries: 1
${health}    servers: [ { address: "127.0.0.1:${smtp1}" }, { address: "127.0.0.1:${smtp2}" } ]
  mxpp:
    scheduler: rr
    servers: [ { address: "127.0.0.1:${psmtp1}" } ]
listeners:
  - { name: smtp, protocol: smtp, listen: 127.0.0.1:0, upstream: mx, key: rcpt_domain, hostname: mx.px.test, xclient: true }
  - { name: smtprr, protocol: smtp, listen: 127.0.0.1:0, upstream: mxrr, hostname: mx.px.test, xclient: true }
  - { name: smtppp, protocol: smtp, listen: 127.0.0.1:0, upstream: mxpp, hostname: mx.px.test, proxy_protocol: v1 }
  - { name: smtptls, protocol: smtp, listen: 127.0.0.1:0, upstream: mx, key: rcpt_domain, hostname: mx.px.test, xclient: true, tls: { cert: "${TLS_CERT}", key: "${TLS_KEY}" } }
`);
});

after(async () => {
  await proxy?.stop(1000);
  await peers?.stop();
});

const mailDir = (port: number): string => join(peers.dir, `smtp-${port}`, "mail");
const maillog = (port: number): string => readFileSync(join(peers.dir, `smtp-${port}`, "maillog"), "utf8");

/** The server dh picks for a domain: bucket of the key, server i mod 2 in list order. */
function dhPort(domain: string): number {
  return [smtp1, smtp2][bucket8(key32(domain)) % 2];
}

function scan(marker: string): { port: number; file: string; text: string }[] {
  const found: { port: number; file: string; text: string }[] = [];
  for (const port of [smtp1, smtp2]) {
    for (const f of readdirSync(mailDir(port))) {
      const text = readFileSync(join(mailDir(port), f), "latin1");
      if (text.includes(marker)) found.push({ port, file: f, text });
    }
  }
  return found;
}

/** Polls both mail folders (delivery is asynchronous) for files holding marker; waits a little more for a second copy. */
async function landed(marker: string): Promise<{ port: number; file: string; text: string }[]> {
  for (let k = 0; k < 100; k++) {
    if (scan(marker).length > 0) {
      await sleep(300);
      return scan(marker);
    }
    await sleep(100);
  }
  return [];
}

test("swaks and curl smtp:// deliver through switchyard; each message lands on the dh server of its recipient domain; XCLIENT passes the client address", async () => {
  const domains = ["alpha.test", "bravo.test", "charlie.test", "delta.test"];
  assert.ok(new Set(domains.map(dhPort)).size === 2, "the domains cover both servers");
  for (const [n, domain] of domains.entries()) {
    const marker = `swaks-${n}-${Date.now()}`;
    const r = await run("swaks", ["--server", `127.0.0.1:${proxy.port("smtp")}`, "-li", "127.0.0.5", "--helo", "client5.test",
      "--from", "sender@origin.test", "--to", `user@${domain}`, "--header", `Subject: ${marker}`, "--body", "hello"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const queued = /<- {2}250 2\.0\.0 Ok: queued as (\w+)/.exec(r.stdout);
    assert.ok(queued !== null, r.stdout);
    const got = await landed(marker);
    assert.deepEqual(got.map((g) => g.port), [dhPort(domain)], `${domain} lands on its dh server only`);
    assert.equal(got[0].file, queued[1]);
    assert.match(maillog(dhPort(domain)), new RegExp(`${queued[1]}: client=unknown\\[127\\.0\\.0\\.5\\]`));
    assert.match(got[0].text, /Received: from client5\.test \(unknown \[127\.0\.0\.5\]\)/);
  }
  const file = join(peers.dir, "curl-mail.txt");
  const marker = `curl-${Date.now()}`;
  writeFileSync(file, `From: sender@origin.test\r\nTo: u@echo.test\r\nSubject: ${marker}\r\n\r\nvia curl\r\n`);
  const c = await run("curl", ["-s", "-m", "10", "--interface", "127.0.0.6", `smtp://127.0.0.1:${proxy.port("smtp")}/client6.test`,
    "--mail-from", "sender@origin.test", "--mail-rcpt", "u@echo.test", "-T", file]);
  assert.equal(c.code, 0, c.stderr);
  const got = await landed(marker);
  assert.deepEqual(got.map((g) => g.port), [dhPort("echo.test")]);
  assert.match(maillog(dhPort("echo.test")), new RegExp(`${got[0].file}: client=unknown\\[127\\.0\\.0\\.6\\]`));
  assert.match(got[0].text, /Received: from client6\.test \(unknown \[127\.0\.0\.6\]\)/, "XCLIENT passed the client's HELO and address");
});

test("STARTTLS ends at switchyard: curl --ssl-reqd smtp:// delivers, Postfix still learns the client address", async () => {
  const file = join(peers.dir, "curl-tls.txt");
  const marker = `tls-${Date.now()}`;
  writeFileSync(file, `From: s@origin.test\r\nTo: u@kilo.test\r\nSubject: ${marker}\r\n\r\nover TLS\r\n`);
  const c = await run("curl", ["-s", "-k", "--ssl-reqd", "-m", "10", "--interface", "127.0.0.12", `smtp://127.0.0.1:${proxy.port("smtptls")}/client12.test`,
    "--mail-from", "s@origin.test", "--mail-rcpt", "u@kilo.test", "-T", file]);
  assert.equal(c.code, 0, c.stderr);
  const got = await landed(marker);
  assert.deepEqual(got.map((g) => g.port), [dhPort("kilo.test")]);
  assert.match(got[0].text, /Received: from client12\.test \(unknown \[127\.0\.0\.12\]\)/);
});

test("a PROXY v1 header to Postfix's haproxy listener carries the client address too", async () => {
  const marker = `pp-${Date.now()}`;
  const r = await run("swaks", ["--server", `127.0.0.1:${proxy.port("smtppp")}`, "-li", "127.0.0.8",
    "--from", "s@origin.test", "--to", "u@foxtrot.test", "--header", `Subject: ${marker}`]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const got = await landed(marker);
  assert.deepEqual(got.map((g) => g.port), [smtp1]);
  assert.match(maillog(smtp1), new RegExp(`${got[0].file}: client=unknown\\[127\\.0\\.0\\.8\\]`));
});

test("M06 against Postfix: \\n.\\r\\n and friends inside DATA deliver one message holding the would-be commands as text", async () => {
  const s = await LineClient.connect(proxy.port("smtp"));
  assert.match(await s.line(), /^220 mx\.px\.test /);
  s.write("EHLO c.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<u@golf.test>\r\nDATA\r\n");
  await s.reply();
  assert.equal((await s.reply())[0], "250 2.1.0 Ok");
  assert.equal((await s.reply())[0], "250 2.1.5 Ok");
  assert.match((await s.reply())[0], /^354 /);
  const marker = `smuggle-${Date.now()}`;
  s.write(`Subject: ${marker}\r\n\r\none\n.\r\nMAIL FROM:<evil@origin.test>\r\nRCPT TO:<victim@golf.test>\r\nDATA\r\n` +
    `two\n.\nthree\r\n.\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n`);
  const queued = await s.reply(10_000);
  assert.match(queued[0], /^250 2\.0\.0 Ok: queued as \w+$/);
  assert.equal((await s.reply())[0], "221 2.0.0 Bye");
  assert.equal(await s.waitClosed(), true);
  assert.equal(s.rest(), "", "no further replies");
  const got = await landed(marker);
  assert.equal(got.length, 1);
  assert.match(got[0].text, /MAIL FROM:<evil@origin\.test>/);
  assert.match(got[0].text, /Subject: smuggled/);
  assert.ok(!maillog(dhPort("golf.test")).includes("victim@golf.test"), "Postfix never saw the smuggled envelope");
});

test("one Postfix stopped: sessions go to the other and health marks it down; all stopped: 421 4.3.2", async () => {
  await peers.stopOne("smtp", smtp2);
  const pool = proxy.rt.pools.get("mxrr");
  assert.ok(pool !== undefined);
  const end = Date.now() + 5000;
  while (pool.find(`127.0.0.1:${smtp2}`)?.state !== "down" && Date.now() < end) await sleep(50);
  assert.equal(pool.find(`127.0.0.1:${smtp2}`)?.state, "down");
  for (let n = 0; n < 4; n++) {
    const marker = `failover-${n}-${Date.now()}`;
    const r = await run("swaks", ["--server", `127.0.0.1:${proxy.port("smtprr")}`, "--from", "s@origin.test", "--to", `u${n}@hotel.test`, "--header", `Subject: ${marker}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual((await landed(marker)).map((g) => g.port), [smtp1]);
  }
  await peers.stopOne("smtp", smtp1);
  const s = await LineClient.connect(proxy.port("smtprr"));
  assert.match(await s.line(), /^421 4\.3\.2 mx\.px\.test /);
  assert.equal(await s.waitClosed(), true);
  const d = await LineClient.connect(proxy.port("smtp"));
  const g = await d.line();
  if (g.startsWith("220 ")) {
    d.write("EHLO c.test\r\nMAIL FROM:<a@origin.test>\r\nRCPT TO:<u@india.test>\r\n");
    await d.reply();
    await d.reply();
    assert.match((await d.reply())[0], /^421 4\.3\.2 /);
  } else {
    assert.match(g, /^421 4\.3\.2 /);
  }
  assert.equal(await d.waitClosed(), true);
});
