// hash: the one place a scheduler key becomes a number (schedulers.md 1.7, 2.12-2.14, 4.3).
//
// key32: IPv4 text -> the address as a uint32 (big-endian number); IPv6 text -> XOR of its four 32-bit words;
// `::ffff:a.b.c.d` -> the IPv4 value; any other string -> FNV-1a 32 of its UTF-8 bytes; null -> 0.
// bucket8: the kernel's hash_32(key, 8): multiply by the golden-ratio constant, keep the top 8 bits.
// murmur3Word: MurmurHash3 x86 32-bit of one 4-byte little-endian word (the mh DECISION in 2.14).
// Nothing here allocates: the parsers walk the string in place and IPv6 groups land in a module scratch array.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 8 groups of the last IPv6 address parsed by parseIPv6 (valid only right after it returned true). */
const groups = new Uint16Array(8);

/**
 * Dotted-quad IPv4 in s[start, end) -> uint32 as a non-negative number, or -1 when it is not exactly four
 * decimal octets 0..255 (no leading zeros, no spaces).
 */
export function parseIPv4(s: string, start: number, end: number): number {
  let acc = 0;
  let octets = 0;
  let i = start;
  while (i < end) {
    const first = i;
    let v = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    const len = i - first;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(first) === 48)) return -1;
    acc = acc * 256 + v;
    octets++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 46 || octets === 4) return -1;
    i++;
    if (i === end) return -1; // trailing dot
  }
  return octets === 4 ? acc : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * IPv6 text in s[0, end) (no brackets, no zone) -> true with the 8 groups in `groups`, or false.
 * Accepts `::` compression and a dotted IPv4 tail.
 */
function parseIPv6(s: string, end: number): boolean {
  let i = 0;
  let n = 0;
  let gap = -1;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (end === 0 || s.charCodeAt(0) === 58) {
    return false;
  }
  while (i < end) {
    let j = i;
    let v = 0;
    while (j < end) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      // dotted IPv4 tail: the rest of the text, two groups
      if (n > 6) return false;
      const v4 = parseIPv4(s, i, end);
      if (v4 < 0) return false;
      groups[n++] = Math.floor(v4 / 65536);
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4 || n === 8) return false;
    groups[n++] = v;
    if (j === end) { i = end; break; }
    if (s.charCodeAt(j) !== 58) return false;
    j++;
    if (j < end && s.charCodeAt(j) === 58) {
      if (gap >= 0) return false;
      gap = n;
      j++;
    } else if (j === end) {
      return false; // a single trailing colon
    }
    i = j;
  }
  if (gap < 0) return n === 8;
  if (n > 7) return false; // "::" stands for at least one zero group
  const tail = n - gap;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k];
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/** The IPv4 value of an IPv4-mapped IPv6 address in `groups`, or -1. */
function mappedIPv4(): number {
  if (groups[0] !== 0 || groups[1] !== 0 || groups[2] !== 0 || groups[3] !== 0 || groups[4] !== 0) return -1;
  if (groups[5] !== 0xffff) return -1;
  return groups[6] * 65536 + groups[7];
}

/** FNV-1a 32-bit of the UTF-8 encoding of s (lone surrogates encode as U+FFFD, as TextEncoder does). */
export function fnv1a32(s: string): number {
  let h = FNV_OFFSET;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

/** The IPv6 text's end before a zone ("fe80::1%eth0"), or -1 when the text cannot be IPv6 (no colon). */
function ipv6End(key: string): number {
  if (key.indexOf(":") < 0) return -1;
  const zone = key.indexOf("%");
  return zone < 0 ? key.length : zone;
}

/**
 * A scheduler key as a uint32 (schedulers.md 4.3). null hashes as 0 (every keyless unit lands on one bucket;
 * the pool always supplies a key for the hashing schedulers, so this only keeps pick() total).
 */
export function key32(key: string | null): number {
  if (key === null) return 0;
  const v4 = parseIPv4(key, 0, key.length);
  if (v4 >= 0) return v4;
  const end = ipv6End(key);
  if (end >= 0 && parseIPv6(key, end)) {
    const m = mappedIPv4();
    if (m >= 0) return m;
    return (
      ((groups[0] << 16) | groups[1]) ^ ((groups[2] << 16) | groups[3]) ^
      ((groups[4] << 16) | groups[5]) ^ ((groups[6] << 16) | groups[7])
    ) >>> 0;
  }
  return fnv1a32(key);
}

/**
 * A client address as an IPVS persistence template key (schedulers.md 3): IPv4 (and IPv4-mapped IPv6) masked
 * to `netmask` bits -> a number; other IPv6 -> its fully expanded lower-case text (netmask treated as /128);
 * anything else -> the text unchanged. Allocates only for IPv6.
 */
export function clientTemplateKey(ip: string, netmask: number): number | string {
  let v4 = parseIPv4(ip, 0, ip.length);
  if (v4 < 0) {
    const end = ipv6End(ip);
    if (end < 0 || !parseIPv6(ip, end)) return ip;
    v4 = mappedIPv4();
    if (v4 < 0) {
      let out = groups[0].toString(16);
      for (let k = 1; k < 8; k++) out += ":" + groups[k].toString(16);
      return out;
    }
  }
  if (netmask >= 32) return v4;
  if (netmask <= 0) return 0;
  const mask = (0xffffffff << (32 - netmask)) >>> 0;
  return (v4 & mask) >>> 0;
}

/** hash_32(key, 8): bucket 0..255 (schedulers.md 1.7). Every bit of the key counts. */
export function bucket8(k: number): number {
  return Math.imul(k, 0x61c88647) >>> 24;
}

/** MurmurHash3 x86 32-bit of the 4-byte little-endian encoding of `word`, with `seed`; uint32. */
export function murmur3Word(word: number, seed: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = seed ^ k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  h ^= 4; // length in bytes
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mh seeds (2654435761 and 2654446892, the kernel's constants) for H1 and H2. */
export const MH_SEED1 = 2654435761;
export const MH_SEED2 = 2654446892;
