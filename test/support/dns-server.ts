// A tiny authoritative DNS server on 127.0.0.1 (UDP, port 0) for discovery tests (RFC 1035 4.1,
// RFC 2782 for SRV). It answers A, AAAA and SRV from a table the test changes while it runs:
// a name in the table with no records of the asked type answers NOERROR with no answers (ENODATA),
// an unknown name NXDOMAIN; `fail` makes every answer SERVFAIL, `silent` drops queries (timeouts).
import dgram from "node:dgram";
import net from "node:net";

export interface SrvAnswer { readonly priority: number; readonly weight: number; readonly port: number; readonly target: string }

export interface Zone {
  a?: string[];
  aaaa?: string[];
  srv?: SrvAnswer[];
  /** TTL of every answer, seconds (default 1). */
  ttl?: number;
}

export interface DnsServer {
  readonly port: number;
  /** "127.0.0.1:PORT", for `resolver:`. */
  readonly address: string;
  /** Name (lower case, no trailing dot) -> records. Change it at any time. */
  readonly zones: Map<string, Zone>;
  /** Queries seen, as "TYPE name". */
  readonly queries: string[];
  mode: "answer" | "fail" | "silent";
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: "A", 28: "AAAA", 33: "SRV" };

export async function startDnsServer(): Promise<DnsServer> {
  const sock = dgram.createSocket("udp4");
  const srv: DnsServer = {
    port: 0, address: "", zones: new Map(), queries: [], mode: "answer",
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
  sock.on("message", (msg, rinfo) => {
    if (srv.mode === "silent") return;
    const reply = answer(srv, msg);
    if (reply !== null) sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const port = sock.address().port;
  return Object.assign(srv, { port, address: `127.0.0.1:${port}` });
}

function answer(srv: DnsServer, q: Buffer): Buffer | null {
  if (q.length < 12) return null;
  const qdcount = q.readUInt16BE(4);
  if (qdcount !== 1) return null;
  // question: labels, then type and class
  let off = 12;
  const labels: string[] = [];
  while (off < q.length && q[off] !== 0) {
    const len = q[off];
    labels.push(q.subarray(off + 1, off + 1 + len).toString("latin1"));
    off += 1 + len;
  }
  off += 1;
  if (off + 4 > q.length) return null;
  const qtype = q.readUInt16BE(off);
  const question = q.subarray(12, off + 4);
  const name = labels.join(".").toLowerCase();
  srv.queries.push(`${TYPES[qtype] ?? qtype} ${name}`);
  const zone = srv.zones.get(name);
  let rcode = 0;
  const answers: Buffer[] = [];
  if (srv.mode === "fail") rcode = 2; // SERVFAIL
  else if (zone === undefined) rcode = 3; // NXDOMAIN
  else {
    const ttl = zone.ttl ?? 1;
    if (qtype === 1) for (const ip of zone.a ?? []) answers.push(record(1, ttl, Buffer.from(ip.split(".").map(Number))));
    if (qtype === 28) for (const ip of zone.aaaa ?? []) answers.push(record(28, ttl, ipv6Bytes(ip)));
    if (qtype === 33) {
      for (const s of zone.srv ?? []) {
        const head = Buffer.alloc(6);
        head.writeUInt16BE(s.priority, 0);
        head.writeUInt16BE(s.weight, 2);
        head.writeUInt16BE(s.port, 4);
        answers.push(record(33, ttl, Buffer.concat([head, encodeName(s.target)])));
      }
    }
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.readUInt16BE(0), 0);                  // id
  header.writeUInt16BE(0x8000 | 0x0400 | (q.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR AA RD RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

/** One answer record whose owner is the question name (pointer to offset 12). */
function record(type: number, ttl: number, rdata: Buffer): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4); // IN
  b.writeUInt32BE(ttl, 6);
  b.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([b, rdata]);
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const l of name.replace(/\.$/, "").split(".")) {
    if (l === "") continue;
    parts.push(Buffer.from([l.length]), Buffer.from(l, "latin1"));
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function ipv6Bytes(ip: string): Buffer {
  if (!net.isIPv6(ip)) throw new Error(`${ip} is not IPv6`);
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, null];
  const h = head === "" ? [] : head.split(":");
  const t = tail === null || tail === "" ? [] : tail.split(":");
  const groups = tail === null ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
