// MySQL packet helpers: ERR packets, the streaming framer, and the tracker that says "between commands".
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENT_DEPRECATE_EOF, CLIENT_PROTOCOL_41, CLIENT_SSL, CLIENT_COMPRESS, MAX_PAYLOAD, PacketFramer, SessionTracker,
  SERVER_MORE_RESULTS_EXISTS, errPacket, firstPacket, lenenc, okStatus,
} from "../../../src/protocols/mysql-packets.ts";

/** One physical packet: 3-byte length, sequence id, payload. */
function pkt(seq: number, payload: Buffer | number[]): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, p]);
}

const BASE_CAPS = 0x1 | CLIENT_PROTOCOL_41 | 0x8000 /* SECURE_CONNECTION */ | 0x80000 /* PLUGIN_AUTH */;

/** A v10 greeting as MariaDB sends it (version "5.5.5-10.11.19-MariaDB"). */
function greeting(caps: number): Buffer {
  const version = Buffer.from("5.5.5-10.11.19-MariaDB\0", "latin1");
  const rest = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13 + 22);
  let o = 0;
  rest.writeUInt32LE(42, o); o += 4;          // connection id
  o += 8;                                     // scramble 1
  o += 1;                                     // filler
  rest.writeUInt16LE(caps & 0xffff, o); o += 2;
  rest[o++] = 45;                             // charset
  rest.writeUInt16LE(2, o); o += 2;           // status autocommit
  rest.writeUInt16LE(caps >>> 16, o); o += 2;
  rest[o++] = 21;
  return pkt(0, Buffer.concat([Buffer.from([10]), version, rest]));
}

function handshakeResponse(caps: number, seq = 1): Buffer {
  const p = Buffer.alloc(32 + 20);
  p.writeUInt32LE(caps >>> 0, 0);
  p.writeUInt32LE(16 << 20, 4);
  p[8] = 45;
  p.write("switchyard\0", 32, "latin1");
  return pkt(seq, p);
}

/** OK packet: header byte, affected rows, insert id, status, warnings. */
function ok(seq: number, status = 2, header = 0x00): Buffer {
  return pkt(seq, [header, 0, 0, status & 0xff, status >> 8, 0, 0]);
}
function eof(seq: number, status = 2): Buffer {
  return pkt(seq, [0xfe, 0, 0, status & 0xff, status >> 8]);
}
function err(seq: number, code = 1064): Buffer {
  return errPacket(seq, code, "bad", "42000");
}
const colDef = (seq: number): Buffer => pkt(seq, Buffer.from("\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00", "latin1"));
const row = (seq: number, text: string): Buffer => pkt(seq, Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]));
const query = (sql: string): Buffer => pkt(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));

/** A tracker past login with the given negotiated flags. */
function loggedIn(extra = 0): SessionTracker {
  const t = new SessionTracker();
  t.feedServer(greeting(BASE_CAPS | extra));
  assert.equal(t.idle, false, "not idle during login");
  t.feedClient(handshakeResponse(BASE_CAPS | extra));
  assert.equal(t.idle, false);
  t.feedServer(ok(2));
  return t;
}

test("errPacket: before the handshake no SQLSTATE; between commands '#' + SQLSTATE", () => {
  const pre = errPacket(0, 1040, 'switchyard: no server available in upstream "db"', null);
  assert.equal(pre.readUIntLE(0, 3), pre.length - 4);
  assert.equal(pre[3], 0);
  assert.equal(pre[4], 0xff);
  assert.equal(pre.readUInt16LE(5), 1040);
  assert.equal(pre.subarray(7).toString(), 'switchyard: no server available in upstream "db"');
  const later = errPacket(1, 1053, "bye", "08S01");
  assert.equal(later[3], 1);
  assert.equal(later.subarray(7, 13).toString(), "#08S01");
  assert.equal(later.subarray(13).toString(), "bye");
});

test("firstPacket waits for a whole packet", () => {
  const g = greeting(BASE_CAPS);
  assert.equal(firstPacket(g.subarray(0, 3)), null);
  assert.equal(firstPacket(g.subarray(0, g.length - 1)), null);
  assert.deepEqual(firstPacket(Buffer.concat([g, Buffer.from([1, 2])])), { marker: 10, size: g.length });
  assert.equal(firstPacket(errPacket(0, 1040, "x", null))?.marker, 0xff);
});

test("lenenc and okStatus read length-encoded integers", () => {
  assert.deepEqual(lenenc(Buffer.from([0xfa]), 0), { value: 250, size: 1 });
  assert.deepEqual(lenenc(Buffer.from([0xfc, 0x01, 0x02]), 0), { value: 0x201, size: 3 });
  assert.deepEqual(lenenc(Buffer.from([0xfd, 1, 0, 1]), 0), { value: 0x10001, size: 4 });
  assert.equal(lenenc(Buffer.from([0xfd, 1]), 0), null);
  assert.equal(okStatus(Buffer.from([0, 0xfc, 1, 0, 5, 0x0a, 0x00])), 10);
  assert.equal(okStatus(Buffer.from([0, 0xfc, 1])), -1);
});

test("framer: one byte at a time, several packets per chunk, and 16 MiB split packets joined", () => {
  const seen: [number, number, number][] = [];
  const prefixes: string[] = [];
  const f = new PacketFramer((seq, len, b, o, n) => { seen.push([seq, len, n > 0 ? b[o] : -1]); prefixes.push(b.toString("latin1", o, o + n)); }, 8);
  const stream = Buffer.concat([pkt(0, [3, 65, 66]), pkt(1, []), pkt(2, [0xfe, 0, 0, 2, 0])]);
  for (const b of stream) f.feed(Buffer.from([b]));
  assert.deepEqual(seen, [[0, 3, 3], [1, 0, -1], [2, 5, 0xfe]]);
  assert.equal(f.midPacket, false);
  seen.length = 0;
  // whole packets inside one chunk and one cut in its middle report the same leading bytes (at most 8)
  const long = pkt(3, Buffer.from("0123456789abcdef"));
  f.feed(Buffer.concat([stream, long.subarray(0, 9)]));
  assert.equal(f.midPacket, true);
  f.feed(long.subarray(9));
  assert.deepEqual(seen.map((x) => x[1]), [3, 0, 5, 16]);
  assert.deepEqual(prefixes.slice(-4), ["\x03AB", "", "\xfe\x00\x00\x02\x00", "01234567"]);
  seen.length = 0;
  const big = Buffer.alloc(MAX_PAYLOAD, 7);
  big[0] = 0x03;
  f.feed(pkt(0, big));
  assert.equal(f.midPacket, true, "a max-size part is always continued");
  assert.deepEqual(seen, []);
  f.feed(pkt(1, [9, 9]));
  assert.deepEqual(seen, [[0, MAX_PAYLOAD + 2, 3]]);
  assert.equal(f.midPacket, false);
});

test("tracker: idle after login, busy while a result set streams, idle after its EOF", () => {
  const t = loggedIn();
  assert.equal(t.idle, true);
  assert.equal(t.protocol41, true);
  t.feedClient(query("select a from t"));
  assert.equal(t.idle, false, "command sent");
  t.feedServer(Buffer.concat([pkt(1, [1]), colDef(2), eof(3), row(4, "x")]));
  assert.equal(t.idle, false, "rows streaming");
  const last = eof(6);
  t.feedServer(Buffer.concat([row(5, ""), last.subarray(0, 5)]));
  assert.equal(t.idle, false, "an empty-string row (0x00) is not an OK; the EOF is cut");
  t.feedServer(last.subarray(5));
  assert.equal(t.idle, true);
});

test("tracker: CLIENT_DEPRECATE_EOF result sets end with a 0xFE OK; rows starting 0xFE do not", () => {
  const t = loggedIn(CLIENT_DEPRECATE_EOF);
  t.feedClient(query("select a"));
  t.feedServer(Buffer.concat([pkt(1, [1]), colDef(2), row(3, "x")]));
  // a row whose first column is longer than 2^24-1 bytes starts with 0xFE and fills a max-size packet
  const huge = Buffer.alloc(MAX_PAYLOAD, 0x61);
  huge[0] = 0xfe;
  t.feedServer(Buffer.concat([pkt(4, huge), pkt(5, [0x61])]));
  assert.equal(t.idle, false);
  t.feedServer(ok(6, 2, 0xfe));
  assert.equal(t.idle, true);
});

test("tracker: multi-results wait for the last one; an ERR ends them", () => {
  const t = loggedIn();
  t.feedClient(query("select 1; update t set a=1; select 2"));
  t.feedServer(Buffer.concat([pkt(1, [1]), colDef(2), eof(3), row(4, "1"), eof(5, 2 | SERVER_MORE_RESULTS_EXISTS)]));
  assert.equal(t.idle, false);
  t.feedServer(ok(6, 2 | SERVER_MORE_RESULTS_EXISTS));
  assert.equal(t.idle, false);
  t.feedServer(err(7));
  assert.equal(t.idle, true);
});

test("tracker: prepared statements (params and columns), execute, close", () => {
  const t = loggedIn();
  t.feedClient(pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from("select ?, ?")])));
  t.feedServer(pkt(1, [0x00, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]));
  t.feedServer(Buffer.concat([colDef(2), colDef(3)]));
  assert.equal(t.idle, false, "parameter definitions done, EOF pending");
  t.feedServer(Buffer.concat([eof(4), colDef(5)]));
  assert.equal(t.idle, false);
  t.feedServer(eof(6));
  assert.equal(t.idle, true);
  t.feedClient(pkt(0, [0x17, 1, 0, 0, 0, 0x00, 1, 0, 0, 0]));
  t.feedServer(Buffer.concat([pkt(1, [1]), colDef(2), eof(3), pkt(4, [0x00, 0x00, 0x01])]));
  assert.equal(t.idle, false, "binary row (0x00 header) is not an OK");
  t.feedServer(eof(5));
  assert.equal(t.idle, true);
  t.feedClient(pkt(0, [0x19, 1, 0, 0, 0]));
  assert.equal(t.idle, true, "COM_STMT_CLOSE has no reply");
});

test("tracker: LOCAL INFILE, progress reports and simple commands", () => {
  const t = loggedIn();
  t.feedClient(query("load data local infile 'f' into table t"));
  t.feedServer(pkt(1, Buffer.concat([Buffer.from([0xfb]), Buffer.from("f")])));
  t.feedClient(Buffer.concat([pkt(2, Buffer.from("1\n2\n")), pkt(3, [])]));
  assert.equal(t.idle, false);
  t.feedServer(ok(4));
  assert.equal(t.idle, true);
  t.feedClient(query("alter table t engine=innodb"));
  t.feedServer(pkt(1, [0xff, 0xff, 0xff, 1, 1, 2, 0, 0, 0, 0]));
  assert.equal(t.idle, false, "MariaDB progress report is not the end");
  t.feedServer(ok(2));
  assert.equal(t.idle, true);
  t.feedClient(pkt(0, [0x0e])); // COM_PING
  assert.equal(t.idle, false);
  t.feedServer(ok(1));
  assert.equal(t.idle, true);
});

test("tracker: a client packet half received is not idle", () => {
  const t = loggedIn();
  const q = query("select 1");
  t.feedClient(q.subarray(0, 2));
  assert.equal(t.idle, false);
});

test("tracker goes blind (never idle) on TLS, compression, cursors, replication and surprises", () => {
  const tls = new SessionTracker();
  tls.feedServer(greeting(BASE_CAPS | CLIENT_SSL));
  const sslRequest = Buffer.alloc(32); // capabilities, max packet, charset, 23 zero bytes; TLS follows
  sslRequest.writeUInt32LE(BASE_CAPS | CLIENT_SSL, 0);
  tls.feedClient(pkt(1, sslRequest));
  tls.feedServer(ok(2));
  assert.equal(tls.idle, false);
  assert.equal(tls.blind, "tls");

  const z = loggedIn(CLIENT_COMPRESS);
  assert.equal(z.idle, false);
  assert.equal(z.blind, "compression");

  const cur = loggedIn();
  cur.feedClient(pkt(0, [0x17, 1, 0, 0, 0, 0x01, 1, 0, 0, 0]));
  assert.equal(cur.blind, "cursor");

  const dump = loggedIn();
  dump.feedClient(pkt(0, [0x12, 4, 0, 0, 0]));
  assert.equal(dump.blind, "command 0x12");
  assert.equal(dump.idle, false);

  const odd = loggedIn();
  odd.feedServer(ok(0));
  assert.equal(odd.blind, "unsolicited server packet");

  const quit = loggedIn();
  quit.feedClient(pkt(0, [0x01]));
  assert.equal(quit.idle, false, "after COM_QUIT the server closes: nothing to say");
});

test("tracker: a pre-handshake ERR or a failed login never becomes idle", () => {
  const a = new SessionTracker();
  a.feedServer(errPacket(0, 1040, "too many", null));
  assert.equal(a.idle, false);
  const b = new SessionTracker();
  b.feedServer(greeting(BASE_CAPS));
  b.feedClient(handshakeResponse(BASE_CAPS));
  b.feedServer(pkt(2, Buffer.concat([Buffer.from([0xfe]), Buffer.from("mysql_native_password\0")]))); // auth switch
  assert.equal(b.idle, false);
  b.feedClient(pkt(3, Buffer.alloc(20)));
  b.feedServer(errPacket(4, 1045, "denied", "28000"));
  assert.equal(b.idle, false);
});
