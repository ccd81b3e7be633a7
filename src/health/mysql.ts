// mysql: read the server's first packet and log in, then COM_QUIT. Protocol facts from the
// MySQL/MariaDB client/server protocol (docs/protocols.md 4.2):
//   - the server speaks first, sequence 0: Initial Handshake v10 (first byte 10) or an ERR packet
//     (0xff, errno LE16, message) that ends the connection, e.g. 1040 "Too many connections",
//     1129 "Host ... is blocked". ERR -> bad-status with the errno as code.
//   - HandshakeResponse41 with mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)));
//     an AuthSwitchRequest (0xfe) names another plugin and a fresh scramble; caching_sha2_password
//     fast auth (SHA256 variant, then AuthMoreData 0x01 0x03) is followed too. Full caching_sha2
//     authentication needs TLS or the server's RSA key: reported as bad-response.
//   - after OK (0x00) we send COM_QUIT (0x01, sequence 0) and FIN; never pipelined before the OK
//     (a QUIT sent early is answered with 1156 "packets out of order").
//
// Why log in at all (measured on MariaDB 10.11, test/peers/aborted-connects.ts): EVERY
// connection that does not complete authentication increments Aborted_connects: closing after
// the greeting, closing before it, a COM_QUIT or an SSLRequest in place of the handshake
// response, and an unknown user alike. Worse, the first four are handshake errors that count
// toward max_connect_errors: with name resolution on, the proxy host is blocked (1129) after
// 100 of them, and real traffic from that host with it. Only a completed login, ended with
// COM_QUIT, leaves Aborted_connects / Aborted_clients flat (and resets the host's error count).
// So:
//   - plan.user set: log in as that user; any ERR (1045 access denied ...) is bad-status.
//   - plan.user null: log in as PROBE_USER with an empty password. If the operator created that
//     account (no password, no privileges: CREATE USER 'switchyard-probe'@'proxy-host') the
//     counters stay flat; if not, the server answers Access denied (1045, or MariaDB 1698 for an
//     unknown user without a password), which proves it is up
//     and, unlike a dropped greeting, is not a handshake error, so it can never get the host
//     blocked. That case still counts in Aborted_connects and Access_denied_errors, and is
//     reported ok with that errno as code.
import { nodeCrypto } from "../core/builtins.ts";
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory, ProbeResult, ProbeTarget } from "./check.ts";
import { ProbeConn, elapsed, failure, success, type ProbeFailure } from "./conn.ts";

/** The account tried when plan.user is null (16 characters: fits every MySQL version). */
export const PROBE_USER = "switchyard-probe";

const CLIENT_LONG_PASSWORD = 0x1;     // MariaDB reads this bit as "CLIENT_MYSQL": a classic client
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_TRANSACTIONS = 0x2000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const UTF8MB4_GENERAL_CI = 45;
const MAX_AUTH_ROUNDS = 4;
// 1045 access denied (wrong password), 1698 access denied without a password (MariaDB, unknown user)
const ACCESS_DENIED: ReadonlySet<number> = new Set([1045, 1698]);

const NATIVE = "mysql_native_password";
const CACHING_SHA2 = "caching_sha2_password";

interface Greeting {
  readonly seq: number;
  readonly capabilities: number;
  readonly scramble: Buffer;   // 20 bytes
  readonly plugin: string;     // "" when the server did not name one
}

function sha1(...parts: Buffer[]): Buffer {
  const h = nodeCrypto().createHash("sha1");
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = nodeCrypto().createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** The auth token a plugin sends for password over scramble; empty for an empty password. */
export function authToken(plugin: string, password: string, scramble: Buffer): Buffer | null {
  if (password === "") return Buffer.alloc(0);
  const pw = Buffer.from(password, "utf8");
  if (plugin === NATIVE) {
    const h1 = sha1(pw);
    return xor(h1, sha1(scramble, sha1(h1)));
  }
  if (plugin === CACHING_SHA2) {
    const h1 = sha256(pw);
    return xor(h1, sha256(sha256(h1), scramble));
  }
  return null;
}

function readCString(buf: Buffer, at: number): { text: string; next: number } {
  let end = buf.indexOf(0, at);
  if (end < 0) end = buf.length;
  return { text: buf.toString("latin1", at, end), next: end + 1 };
}

/** Payload of an ERR packet -> { errno, message }; the "#SQLSTATE" part is dropped. */
export function parseErr(payload: Buffer): { errno: number; message: string } {
  if (payload.length < 3) return { errno: 0, message: "" };
  const errno = payload.readUInt16LE(1);
  const at = payload.length >= 9 && payload[3] === 0x23 ? 9 : 3;
  return { errno, message: payload.toString("utf8", at).slice(0, 200) };
}

/** Initial Handshake v10 -> Greeting, or a text saying what is wrong with it. */
function parseGreeting(seq: number, p: Buffer): Greeting | string {
  if (p[0] !== 10) return `not a MySQL greeting (first byte 0x${(p[0] ?? 0).toString(16)})`;
  const version = readCString(p, 1);
  let at = version.next + 4;                     // connection id
  if (p.length < at + 8 + 1 + 2) return "greeting too short";
  const part1 = p.subarray(at, at + 8);
  at += 9;                                       // scramble part 1 + filler
  let caps = p.readUInt16LE(at);
  at += 2;
  let part2: Buffer = Buffer.alloc(0);
  let plugin = "";
  if (p.length >= at + 16) {
    caps |= p.readUInt16LE(at + 3) << 16;
    const authLen = p[at + 5];
    at += 16;                                    // charset, status, caps high, auth len, reserved 10
    if ((caps & CLIENT_SECURE_CONNECTION) !== 0) {
      const n = Math.max(13, authLen - 8);
      part2 = p.subarray(at, Math.min(p.length, at + n));
      at += n;
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if ((caps & CLIENT_PLUGIN_AUTH) !== 0 && at < p.length) plugin = readCString(p, at).text;
  }
  caps >>>= 0;
  if ((caps & CLIENT_PROTOCOL_41) === 0 || (caps & CLIENT_SECURE_CONNECTION) === 0) {
    return `server ${version.text} lacks protocol 4.1 authentication`;
  }
  return { seq, capabilities: caps, scramble: Buffer.concat([part1, part2]).subarray(0, 20), plugin };
}

function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, payload]);
}

function handshakeResponse(g: Greeting, user: string, plugin: string, token: Buffer): Buffer {
  const fixed = Buffer.alloc(32);
  let caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION;
  if ((g.capabilities & CLIENT_PLUGIN_AUTH) !== 0) caps |= CLIENT_PLUGIN_AUTH;
  fixed.writeUInt32LE(caps >>> 0, 0);
  fixed.writeUInt32LE(1 << 24, 4);               // max packet size we accept
  fixed[8] = UTF8MB4_GENERAL_CI;                  // bytes 9..31 stay zero (reserved)
  const parts = [fixed, Buffer.from(`${user}\0`, "utf8"), Buffer.from([token.length]), token];
  if ((caps & CLIENT_PLUGIN_AUTH) !== 0) parts.push(Buffer.from(`${plugin}\0`, "latin1"));
  return packet(g.seq + 1, Buffer.concat(parts));
}

const COM_QUIT = packet(0, Buffer.from([0x01]));

class MysqlCheck implements HealthCheck {
  readonly #user: string;
  readonly #password: string;
  readonly #anonymous: boolean;
  readonly #timeoutMs: number;

  constructor(plan: HealthPlan) {
    this.#anonymous = plan.user === null;
    this.#user = plan.user ?? PROBE_USER;
    this.#password = plan.user === null ? "" : plan.password ?? "";
    this.#timeoutMs = plan.timeoutMs;
  }

  async probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const conn = await ProbeConn.open(target, signal, this.#timeoutMs);
    if (!(conn instanceof ProbeConn)) return conn;
    const r = await this.#converse(conn);
    if (r.ok) conn.close(COM_QUIT);
    else if (r.reason === "timeout" || r.reason === "reset") conn.destroy();
    else conn.close(null);                       // the server ends the connection after an ERR
    return r;
  }

  async #converse(conn: ProbeConn): Promise<ProbeResult> {
    const first = await conn.packet("before the greeting");
    if (!("payload" in first)) return first;
    if (first.payload.length === 0) return failure("L7", "bad-response", null, "empty greeting packet", elapsed(conn.t0));
    if (first.payload[0] === 0xff) return errResult(conn, "greeting", first.payload);
    const g = parseGreeting(first.seq, first.payload);
    if (typeof g === "string") return failure("L7", "bad-response", null, g, elapsed(conn.t0));

    let plugin = g.plugin === CACHING_SHA2 ? CACHING_SHA2 : NATIVE;
    let scramble = g.scramble;
    conn.write(handshakeResponse(g, this.#user, plugin, authToken(plugin, this.#password, scramble) ?? Buffer.alloc(0)));
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const reply = await conn.packet("during login");
      if (!("payload" in reply)) return reply;
      const p = reply.payload;
      if (p.length === 0) return failure("L7", "bad-response", null, "empty packet during login", elapsed(conn.t0));
      if (p[0] === 0x00) return success("L7", null, elapsed(conn.t0));
      if (p[0] === 0xff) {
        const e = parseErr(p);
        if (this.#anonymous && ACCESS_DENIED.has(e.errno)) return success("L7", String(e.errno), elapsed(conn.t0));
        return errResult(conn, "login", p);
      }
      if (p[0] === 0xfe) {                       // AuthSwitchRequest: plugin name, new scramble
        const name = readCString(p, 1);
        plugin = name.text;
        let data = p.subarray(name.next);
        if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
        scramble = data;
        const token = authToken(plugin, this.#password, scramble);
        if (token === null) return failure("L7", "bad-response", null, `auth plugin ${plugin} not supported`, elapsed(conn.t0));
        conn.write(packet(reply.seq + 1, token));
        continue;
      }
      if (p[0] === 0x01 && plugin === CACHING_SHA2) {   // AuthMoreData
        if (p[1] === 0x03) continue;             // fast auth succeeded: OK follows
        return failure("L7", "bad-response", null,
          "caching_sha2_password full authentication needs TLS or the server's RSA key; use mysql_native_password for the check user", elapsed(conn.t0));
      }
      return failure("L7", "bad-response", null, `unexpected packet 0x${p[0].toString(16)} during login`, elapsed(conn.t0));
    }
    return failure("L7", "bad-response", null, "login did not finish", elapsed(conn.t0));
  }
}

function errResult(conn: ProbeConn, when: string, payload: Buffer): ProbeFailure {
  const e = parseErr(payload);
  return failure("L7", "bad-status", String(e.errno), `${when}: ${e.errno} ${e.message}`, elapsed(conn.t0));
}

export const mysql = {
  type: "mysql",
  create(health: HealthPlan): HealthCheck { return new MysqlCheck(health); },
} as const satisfies HealthCheckFactory;
