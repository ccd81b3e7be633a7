// IMAP and POP3 listeners against two real Dovecot servers (test/peers/start-dovecot.sh): curl
// imap:// and pop3:// list and fetch through switchyard, imapflow logs in and appends, dh by user
// keeps alice on one host for IMAP and POP3 alike, a wrong password is Dovecot's own answer and the
// client may retry, PROXY headers carry the client address, one server stopped -> sessions go to
// the other and health marks it down, all stopped -> the temporary-failure replies.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { openPeers, requirePeers, type PeerSet } from "../support/peers.ts";
import { bucket8, key32 } from "../../src/schedulers/hash.ts";
import { LineClient, TLS_CERT, TLS_KEY, mailPeerPorts, run, sleep } from "./mail-helpers.ts";

let peers: PeerSet;
let proxy: TestProxy;
let imap1 = 0, pop1 = 0, imap2 = 0, pop2 = 0, pimap1 = 0, ppop1 = 0;

before(async () => {
  requirePeers();
  peers = await openPeers("mail-dovecot");
  [imap1, pop1, imap2, pop2, pimap1, ppop1] = await mailPeerPorts(6);
  await Promise.all([peers.startDovecot(imap1, pop1, pimap1, ppop1), peers.startDovecot(imap2, pop2)]);
  const health = (type: string): string => `    health: { type: ${type}, interval: 200ms, timeout: 1s, rise: 1, fall: 1 }\n`;
  proxy = await startProxy(`
upstreams:
  imapstore:
    scheduler: dh
${health("imap")}    servers: [ { address: "127.0.0.1:${imap1}" }, { address: "127.0.0.1:${imap2}" } ]
  pop3store:
    scheduler: dh
${health("pop3")}    servers: [ { address: "127.0.0.1:${pop1}" }, { address: "127.0.0.1:${pop2}" } ]
  imaprr:
    scheduler: rr
    retries: 1
    passive: { max_fails: 0 }
${health("imap")}    servers: [ { address: "127.0.0.1:${imap1}" }, { address: "127.0.0.1:${imap2}" } ]
  pop3rr:
    scheduler: rr
    retries: 1
${health("pop3")}    servers: [ { address: "127.0.0.1:${pop1}" }, { address: "127.0.0.1:${pop2}" } ]
  imappp:
    scheduler: rr
    servers: [ { address: "127.0.0.1:${pimap1}" } ]
  pop3pp:
    scheduler: rr
    servers: [ { address: "127.0.0.1:${ppop1}" } ]
listeners:
  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: imapstore, key: user, hostname: px.test }
  - { name: pop3, protocol: pop3, listen: 127.0.0.1:0, upstream: pop3store, key: user, hostname: px.test }
  - { name: imaprr, protocol: imap, listen: 127.0.0.1:0, upstream: imaprr, hostname: px.test }
  - { name: pop3rr, protocol: pop3, listen: 127.0.0.1:0, upstream: pop3rr, hostname: px.test }
  - { name: imappp, protocol: imap, listen: 127.0.0.1:0, upstream: imappp, hostname: px.test, proxy_protocol: v2 }
  - { name: pop3pp, protocol: pop3, listen: 127.0.0.1:0, upstream: pop3pp, hostname: px.test, proxy_protocol: v1 }
  - { name: imaptls, protocol: imap, listen: 127.0.0.1:0, upstream: imapstore, key: user, hostname: px.test, tls: { cert: "${TLS_CERT}", key: "${TLS_KEY}" } }
  - { name: pop3s, protocol: pop3, listen: 127.0.0.1:0, upstream: pop3store, key: user, hostname: px.test, implicit_tls: true, tls: { cert: "${TLS_CERT}", key: "${TLS_KEY}" } }
`);
});

after(async () => {
  await proxy?.stop(1000);
  await peers?.stop();
});

/** The dh choice for a login: bucket of the key, server i mod 2 in list order (schedulers/dh.ts). */
function dhIndex(user: string): number {
  return bucket8(key32(user)) % 2;
}

async function messageCount(port: number, user: string): Promise<number> {
  const c = new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user, pass: `${user}-pw` }, logger: false });
  await c.connect();
  const st = await c.status("INBOX", { messages: true });
  await c.logout();
  return st === false ? -1 : st.messages ?? 0;
}

function sessions(listener: string, user: string): Record<string, unknown>[] {
  return proxy.logs.filter((l) => l.access === "session" && l.listener === listener && l.user === user);
}

test("imapflow logs in through switchyard and appends; dh by user puts alice's mail on one Dovecot", async () => {
  for (const user of ["alice", "bob"]) {
    const c = new ImapFlow({ host: "127.0.0.1", port: proxy.port("imap"), secure: false, auth: { user, pass: `${user}-pw` }, logger: false });
    await c.connect();
    const subject = `hello ${user}`;
    const r = await c.append("INBOX", `From: sender@example.com\r\nTo: ${user}@example.com\r\nSubject: ${subject}\r\n\r\nbody for ${user}\r\n`);
    assert.ok(r !== false && r.uid !== undefined);
    await c.logout();
    const counts = [await messageCount(imap1, user), await messageCount(imap2, user)];
    const expected = [0, 0];
    expected[dhIndex(user)] = 1;
    assert.deepEqual(counts, expected, `${user}'s message is only on the dh server`);
  }
  const addr = sessions("imap", "alice")[0]?.upstream_addr;
  assert.equal(addr, `127.0.0.1:${[imap1, imap2][dhIndex("alice")]}`);
});

test("curl imap:// lists and fetches, curl pop3:// lists and fetches: the same host for alice on both protocols", async () => {
  const ip = proxy.port("imap");
  const pp = proxy.port("pop3");
  const list = await run("curl", ["-s", "-m", "10", `imap://127.0.0.1:${ip}/`, "-u", "alice:alice-pw"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /\* LIST \([^)]*\) "[./]" INBOX/);
  const fetch = await run("curl", ["-s", "-m", "10", `imap://127.0.0.1:${ip}/INBOX/;UID=1`, "-u", "alice:alice-pw"]);
  assert.equal(fetch.code, 0, fetch.stderr);
  assert.match(fetch.stdout, /Subject: hello alice/);
  const plist = await run("curl", ["-s", "-m", "10", `pop3://127.0.0.1:${pp}/`, "-u", "alice:alice-pw"]);
  assert.equal(plist.code, 0, plist.stderr);
  assert.match(plist.stdout, /^1 \d+\r?\n/);
  const retr = await run("curl", ["-s", "-m", "10", `pop3://127.0.0.1:${pp}/1`, "-u", "alice:alice-pw"]);
  assert.equal(retr.code, 0, retr.stderr);
  assert.match(retr.stdout, /Subject: hello alice/, "POP3 sees the message appended over IMAP: same host");
  for (let i = 0; i < 3; i++) {
    assert.equal((await run("curl", ["-s", "-m", "10", `pop3://127.0.0.1:${pp}/`, "-u", "alice:alice-pw"])).code, 0);
  }
  const q = await LineClient.connect(pp);
  assert.equal(await q.line(), "+OK px.test POP3 ready");
  q.write("CAPA\r\n");
  assert.ok((await q.until((l) => l === ".")).includes("SASL PLAIN"));
  q.write("USER Alice\r\nPASS alice-pw\r\nRETR 1\r\n");
  assert.equal(await q.line(), "+OK");
  assert.equal(await q.line(), "+OK Logged in.");
  assert.match(await q.line(), /^\+OK \d+ octets$/);
  assert.ok((await q.until((l) => l === ".")).includes("Subject: hello alice"));
  q.write("QUIT\r\n");
  await q.line();
  const h = dhIndex("alice");
  const imapAddrs = new Set(sessions("imap", "alice").map((l) => l.upstream_addr));
  const popAddrs = new Set(sessions("pop3", "alice").map((l) => l.upstream_addr));
  assert.deepEqual([...imapAddrs], [`127.0.0.1:${[imap1, imap2][h]}`]);
  assert.deepEqual([...popAddrs], [`127.0.0.1:${[pop1, pop2][h]}`]);
});

// Through the PROXY-protocol listeners from addresses of their own, so that Dovecot's auth penalty
// for the failed logins falls on those addresses, not on 127.0.0.1 that the other tests use.
test("STARTTLS and implicit TLS end at switchyard: curl --ssl-reqd imap:// and curl pop3s:// list and fetch", async () => {
  const list = await run("curl", ["-s", "-k", "--ssl-reqd", "-m", "10", `imap://127.0.0.1:${proxy.port("imaptls")}/INBOX/;UID=1`, "-u", "alice:alice-pw"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /Subject: hello alice/);
  const pop = await run("curl", ["-s", "-k", "-m", "10", `pop3s://127.0.0.1:${proxy.port("pop3s")}/1`, "-u", "alice:alice-pw"]);
  assert.equal(pop.code, 0, pop.stderr);
  assert.match(pop.stdout, /Subject: hello alice/);
  const plain = await LineClient.connect(proxy.port("pop3s"));
  plain.write("CAPA\r\n");
  assert.equal(await plain.waitClosed(3000), true, "plaintext on the implicit-TLS port ends the connection");
  assert.ok(!plain.received.includes("+OK"));
});

test("USER/PASS, AUTH PLAIN and IMAP LOGIN with literals; a wrong password is Dovecot's answer and the retry on the same connection works", async () => {
  const i = await LineClient.connect(proxy.port("imappp"), "127.0.0.31");
  const q = await LineClient.connect(proxy.port("pop3pp"), "127.0.0.32");
  await i.line();
  await q.line();
  i.write("a LOGIN alice wrong-pw\r\n");
  q.write("USER alice\r\nPASS wrong-pw\r\n");
  const [ino, qno] = await Promise.all([i.line(10_000), (async () => { await q.line(); return q.line(10_000); })()]);
  assert.equal(ino, "a NO [AUTHENTICATIONFAILED] Authentication failed.");
  assert.equal(qno, "-ERR [AUTH] Authentication failed.");
  // the retries run side by side: Dovecot delays each address's next login after a failure
  i.write("b LOGIN {5}\r\n");
  assert.equal(await i.line(), "+ Ready for literal data");
  i.write("alice {8+}\r\nalice-pw\r\n");
  const plain = Buffer.from("\0alice\0alice-pw").toString("base64");
  q.write(`AUTH PLAIN ${plain}\r\n`);
  const [ok, qok] = await Promise.all([i.line(15_000), q.line(15_000)]);
  assert.match(ok, /^b OK \[CAPABILITY IMAP4rev1 .*\] Logged in$/);
  assert.equal(qok, "+OK Logged in.");
  i.write("c SELECT INBOX\r\n");
  const sel = await i.until((l) => l.startsWith("c "));
  assert.ok(sel.some((l) => /^\* \d+ EXISTS$/.test(l)), sel.join("\n"));
  i.write("d LOGOUT\r\n");
  await i.until((l) => l.startsWith("d "));
  q.write("STAT\r\nQUIT\r\n");
  assert.match(await q.line(), /^\+OK \d+ \d+$/);
  assert.match(await q.line(), /^\+OK Logging out/);
  assert.equal(await i.waitClosed(), true);
  assert.equal(await q.waitClosed(), true);
});

test("proxy_protocol v2 to Dovecot's haproxy listener: Dovecot logs the real client address", async () => {
  const c = await LineClient.connect(proxy.port("imappp"), "127.0.0.23");
  await c.line();
  c.write("a LOGIN bob bob-pw\r\n");
  assert.match(await c.line(10_000), /^a OK /);
  c.write("b LOGOUT\r\n");
  await c.until((l) => l.startsWith("b "));
  let logged = false;
  for (let k = 0; k < 50 && !logged; k++) {
    const log = await run("cat", [`${peers.dir}/dovecot-${imap1}/dovecot.log`]);
    logged = /imap-login: (?:Info: )?Login: user=<bob>,.* rip=127\.0\.0\.23,/.test(log.stdout);
    if (!logged) await sleep(100);
  }
  assert.ok(logged, "dovecot.log names rip=127.0.0.23");
});

test("one Dovecot stopped: sessions go to the other and health marks it down; all stopped: * BYE [UNAVAILABLE] / -ERR [SYS/TEMP]", async () => {
  await peers.stopOne("dovecot", imap2);
  const pool = proxy.rt.pools.get("imaprr");
  assert.ok(pool !== undefined);
  const down = await waitUntil(() => pool.find(`127.0.0.1:${imap2}`)?.state === "down", 5000);
  assert.ok(down, "health marked the stopped server down");
  for (let k = 0; k < 4; k++) {
    const r = await run("curl", ["-s", "-m", "10", `imap://127.0.0.1:${proxy.port("imaprr")}/`, "-u", "bob:bob-pw"]);
    assert.equal(r.code, 0, r.stderr);
    const p = await run("curl", ["-s", "-m", "10", `pop3://127.0.0.1:${proxy.port("pop3rr")}/`, "-u", "bob:bob-pw"]);
    assert.equal(p.code, 0, p.stderr);
  }
  const used = new Set(proxy.logs.filter((l) => l.access === "session" && l.listener === "imaprr").map((l) => l.upstream_addr));
  assert.deepEqual([...used], [`127.0.0.1:${imap1}`]);

  await peers.stopOne("dovecot", imap1);
  const i = await LineClient.connect(proxy.port("imaprr"));
  assert.match(await i.line(), /^\* BYE \[UNAVAILABLE\] /);
  assert.equal(await i.waitClosed(), true);
  const q = await LineClient.connect(proxy.port("pop3rr"));
  assert.match(await q.line(), /^-ERR \[SYS\/TEMP\] /);
  assert.equal(await q.waitClosed(), true);
  const d = await LineClient.connect(proxy.port("imap"));
  const g = await d.line();
  if (g.startsWith("* OK")) {
    d.write("a LOGIN alice alice-pw\r\n");
    assert.match(await d.line(), /^\* BYE \[UNAVAILABLE\] /);
  } else {
    assert.match(g, /^\* BYE \[UNAVAILABLE\] /);
  }
  assert.equal(await d.waitClosed(), true);
});

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(50);
  }
  return cond();
}
