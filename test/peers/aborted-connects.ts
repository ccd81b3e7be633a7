// aborted-connects.ts [SECONDS] - by-hand measurement behind src/health/mysql.ts: what MariaDB
// counts when a health check probes it every 100 ms. Starts one MariaDB per probing style in a
// scratch folder under /tmp (so the counters do not mix), probes all of them for SECONDS
// (default 60) at once, prints each server's counters before and after, and stops everything.
//   node test/peers/aborted-connects.ts 60
// Styles:
//   check+user        mysql check, plan.user = switchyard/secret (login, COM_QUIT)
//   check+probe-acct  mysql check, no user; the password-less 'switchyard-probe' account exists
//   check-no-acct     mysql check, no user; no such account (Access denied 1698)
//   greeting+FIN      read the greeting, then close (what a naive check does)
//   tcp               connect, then close (the tcp check pointed at a MySQL port)
import net from "node:net";
import { systemClock } from "../../src/core/clock.ts";
import type { HealthPlan } from "../../src/config/schema.ts";
import { PROBE_USER } from "../../src/health/mysql.ts";
import { HealthRunner } from "../../src/health/runner.ts";
import { openPeers, peerPorts, requirePeers } from "../support/peers.ts";

const seconds = Number(process.argv[2] ?? 60);
const COUNTERS = ["Connections", "Aborted_connects", "Aborted_connects_preauth", "Aborted_clients", "Access_denied_errors"];

function plan(type: HealthPlan["type"], user: string | null, password: string | null): HealthPlan {
  return {
    type, intervalMs: 100, timeoutMs: 1000, rise: 2, fall: 3, method: "GET", path: "/", host: null,
    expectLow: 200, expectHigh: 399, body: null, user, password, helo: "switchyard", port: null,
  };
}

/** Read the greeting packet header, then FIN: the probe HAProxy's user-less mysql-check makes. */
function greetingThenFin(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("data", () => s.end());
    s.on("error", () => {});
    s.on("close", () => resolve());
    s.setTimeout(1000, () => s.destroy());
  });
}

requirePeers();
const peers = await openPeers("aborted");
try {
  const styles = ["check+user", "check+probe-acct", "check-no-acct", "greeting+FIN", "tcp"];
  const ports = await peerPorts(styles.length);
  await peers.startMariadb(ports);
  await peers.mariadbRoot(ports[1], `CREATE USER IF NOT EXISTS '${PROBE_USER}'@'%'`);
  const read = async (port: number): Promise<Map<string, number>> => {
    const out = await peers.mariadbRoot(port, `SHOW GLOBAL STATUS WHERE Variable_name IN (${COUNTERS.map((c) => `'${c}'`).join(",")})`);
    return new Map(out.trim().split("\n").map((l) => { const [k, v] = l.split("\t"); return [k, Number(v)] as const; }));
  };
  const before = await Promise.all(ports.map(read));

  const runner = new HealthRunner(systemClock, { info: () => {}, warn: (_o, m) => console.log(m) });
  const t = (i: number) => ({ host: "127.0.0.1", port: ports[i] });
  runner.watch("user", t(0), plan("mysql", "switchyard", "secret"), () => {});
  runner.watch("probe-acct", t(1), plan("mysql", null, null), () => {});
  runner.watch("no-acct", t(2), plan("mysql", null, null), () => {});
  runner.watch("tcp", t(4), plan("tcp", null, null), () => {});
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await Promise.all([greetingThenFin(ports[3]), new Promise((r) => setTimeout(r, 100))]);
  }
  runner.close();
  await new Promise((r) => setTimeout(r, 500));
  const after = await Promise.all(ports.map(read));

  console.log(`MariaDB, one probe per 100 ms for ${seconds} s; each cell is before -> after (delta)`);
  console.log(["style".padEnd(18), ...COUNTERS.map((c) => c.padEnd(26))].join(""));
  styles.forEach((name, i) => {
    const cells = COUNTERS.map((c) => {
      const b = before[i].get(c) ?? 0;
      const a = after[i].get(c) ?? 0;
      return `${b} -> ${a} (+${a - b})`.padEnd(26);
    });
    console.log([name.padEnd(18), ...cells].join(""));
  });
} finally {
  await peers.stop();
}
