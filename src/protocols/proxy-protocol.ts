// PROXY protocol header (HAProxy's spec, v1 text and v2 binary) sent first to the upstream,
// carrying the real client address and the address it connected to.
import net from "node:net";
import type { Socket } from "node:net";
import { normaliseIp } from "../core/key.ts";

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** The header for this client socket; "UNKNOWN"/LOCAL forms when addresses are missing. */
export function proxyHeader(version: "v1" | "v2", client: Socket): Buffer {
  const src = normaliseIp(client.remoteAddress);
  const dst = normaliseIp(client.localAddress);
  const sp = client.remotePort ?? 0;
  const dp = client.localPort ?? 0;
  return version === "v1" ? proxyV1(src, sp, dst, dp) : proxyV2(src, sp, dst, dp);
}

export function proxyV1(src: string, sp: number, dst: string, dp: number): Buffer {
  const fam = net.isIPv4(src) && net.isIPv4(dst) ? "TCP4" : net.isIPv6(src) && net.isIPv6(dst) ? "TCP6" : null;
  if (fam === null) return Buffer.from("PROXY UNKNOWN\r\n", "latin1");
  return Buffer.from(`PROXY ${fam} ${src} ${dst} ${sp} ${dp}\r\n`, "latin1");
}

export function proxyV2(src: string, sp: number, dst: string, dp: number): Buffer {
  const v4 = net.isIPv4(src) && net.isIPv4(dst);
  const v6 = !v4 && net.isIPv6(src) && net.isIPv6(dst);
  if (!v4 && !v6) {
    const b = Buffer.alloc(16);
    V2_SIGNATURE.copy(b, 0);
    b[12] = 0x20; // version 2, LOCAL
    b[13] = 0x00;
    b.writeUInt16BE(0, 14);
    return b;
  }
  const alen = v4 ? 12 : 36;
  const b = Buffer.alloc(16 + alen);
  V2_SIGNATURE.copy(b, 0);
  b[12] = 0x21;                     // version 2, PROXY command
  b[13] = v4 ? 0x11 : 0x21;         // AF_INET/AF_INET6 + STREAM
  b.writeUInt16BE(alen, 14);
  if (v4) {
    ipv4Bytes(src).copy(b, 16);
    ipv4Bytes(dst).copy(b, 20);
    b.writeUInt16BE(sp, 24);
    b.writeUInt16BE(dp, 26);
  } else {
    ipv6Bytes(src).copy(b, 16);
    ipv6Bytes(dst).copy(b, 32);
    b.writeUInt16BE(sp, 48);
    b.writeUInt16BE(dp, 50);
  }
  return b;
}

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split(".").map((x) => Number(x)));
}

function ipv6Bytes(ip: string): Buffer {
  const b = Buffer.alloc(16);
  let s = ip;
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  const [head, tail] = s.includes("::") ? s.split("::") : [s, null];
  const h = head === "" ? [] : head.split(":");
  const t = tail === null || tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  for (const w of h) words.push(parseInt(w, 16));
  const fill = 8 - h.length - t.length;
  if (tail !== null) for (let i = 0; i < fill; i++) words.push(0);
  for (const w of t) words.push(parseInt(w, 16));
  for (let i = 0; i < 8; i++) b.writeUInt16BE(words[i] ?? 0, i * 2);
  return b;
}
