// Typed reads from the positioned tree. Each read either returns the value or records an issue at
// the node's line:column and returns undefined, so the validator keeps going and reports everything.
// A key whose value is empty or ~ counts as absent (its default applies).
import type { Address } from "../core/types.ts";
import { parseAddress, parseDuration, parseSize, type AddressOptions, type Parsed } from "./units.ts";
import { joinPath, type Issue, type Pos, type YMap, type YNode } from "./validate-tree.ts";

/** Edit distance with adjacent transpositions ("wbe" -> "web" is 1), for "did you mean". Short strings only. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate within a typo's reach (distance <= 2, and less than half the word), or null. */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD && d <= 2 && d * 2 < Math.max(w.length, c.length)) { best = c; bestD = d; }
  }
  return best;
}

/** ' (did you mean "x"?)' or "". */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === null ? "" : ` (did you mean "${c}"?)`;
}

export function describe(node: YNode): string {
  if (node.kind === "map") return "a map";
  if (node.kind === "seq") return "a list";
  const v = node.value;
  if (v === null) return "nothing";
  if (typeof v === "string") return `"${v}"`;
  return String(v);
}

export class Reader {
  readonly issues: Issue[];
  constructor(issues: Issue[]) { this.issues = issues; }

  error(path: string, pos: Pos, message: string): void {
    this.issues.push({ path, pos, message });
  }

  /** True when the node is absent, or an empty / ~ scalar. */
  static isEmpty(node: YNode | undefined): node is undefined {
    return node === undefined || (node.kind === "scalar" && node.value === null);
  }

  /** The node as a map with only `known` keys (unknown ones are reported, with a suggestion). */
  fields(node: YNode, path: string, known: readonly string[], what = "a map"): Fields | null {
    if (node.kind !== "map") {
      this.error(path, node.pos, `expected ${what}, got ${describe(node)}`);
      return null;
    }
    for (const e of node.entries) {
      if (known.includes(e.key)) continue;
      const hint = didYouMean(e.key, known);
      this.error(joinPath(path, e.key), e.keyPos,
        hint !== "" ? `unknown key "${e.key}"${hint}` : `unknown key "${e.key}"; known here: ${known.join(", ")}`);
    }
    return new Fields(this, node, path);
  }

  /** The node as a list; a single non-list value is NOT wrapped (say so where a shorthand exists). */
  list(node: YNode, path: string, what = "a list"): readonly YNode[] | undefined {
    if (node.kind !== "seq") {
      this.error(path, node.pos, `expected ${what}, got ${describe(node)}`);
      return undefined;
    }
    return node.items;
  }

  str(node: YNode, path: string): string | undefined {
    if (node.kind === "scalar") {
      if (typeof node.value === "string") return node.value;
      // "password: 12345" means the text 12345, not a number
      if (typeof node.value === "number") return node.text;
    }
    this.error(path, node.pos, `expected a string, got ${describe(node)}`);
    return undefined;
  }

  int(node: YNode, path: string, min: number, max: number): number | undefined {
    let n: number | null = null;
    if (node.kind === "scalar") {
      if (typeof node.value === "number") n = node.value;
      else if (typeof node.value === "string" && /^[-+]?\d+$/.test(node.value.trim())) n = Number(node.value.trim());
    }
    if (n === null || !Number.isInteger(n)) {
      this.error(path, node.pos, `expected a whole number, got ${describe(node)}`);
      return undefined;
    }
    if (n < min || n > max) {
      this.error(path, node.pos, `${n} is out of range ${min}..${max}`);
      return undefined;
    }
    return n;
  }

  bool(node: YNode, path: string): boolean | undefined {
    if (node.kind === "scalar") {
      if (typeof node.value === "boolean") return node.value;
      if (node.value === "true") return true;
      if (node.value === "false") return false;
    }
    this.error(path, node.pos, `expected true or false, got ${describe(node)}`);
    return undefined;
  }

  oneOf<T extends string>(node: YNode, path: string, values: readonly T[]): T | undefined {
    if (node.kind === "scalar" && (typeof node.value === "string" || typeof node.value === "number")) {
      const text = String(node.value);
      const found = values.find((v) => v === text);
      if (found !== undefined) return found;
      this.error(path, node.pos, `"${text}" is not one of ${values.join(", ")}${didYouMean(text, values)}`);
      return undefined;
    }
    this.error(path, node.pos, `expected one of ${values.join(", ")}, got ${describe(node)}`);
    return undefined;
  }

  /** Milliseconds; `min` 1 for values that must not be zero (intervals, timeouts). */
  duration(node: YNode, path: string, min = 0): number | undefined {
    if (node.kind !== "scalar" || (typeof node.value !== "string" && typeof node.value !== "number")) {
      this.error(path, node.pos, `expected a duration (250ms, 2s, 1m), got ${describe(node)}`);
      return undefined;
    }
    const ms = this.parsed(parseDuration(node.value), path, node.pos);
    if (ms !== undefined && ms < min) {
      this.error(path, node.pos, `must be more than 0`);
      return undefined;
    }
    return ms;
  }

  /** Bytes. */
  size(node: YNode, path: string): number | undefined {
    if (node.kind !== "scalar" || (typeof node.value !== "string" && typeof node.value !== "number")) {
      this.error(path, node.pos, `expected a size (64kb, 10mb), got ${describe(node)}`);
      return undefined;
    }
    return this.parsed(parseSize(node.value), path, node.pos);
  }

  address(node: YNode, path: string, opts: AddressOptions): Address | undefined {
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      const hint = node.kind === "seq" ? " (an IPv6 address must be quoted: \"[::1]:8080\")"
        : node.kind === "scalar" && typeof node.value === "number" ? ` (write ":${node.value}" for all interfaces)` : "";
      this.error(path, node.pos, `expected an address (host:port), got ${describe(node)}${hint}`);
      return undefined;
    }
    return this.parsed(parseAddress(node.value, opts), path, node.pos);
  }

  parsed<T>(r: Parsed<T>, path: string, pos: Pos): T | undefined {
    if (r.ok) return r.value;
    this.error(path, pos, r.message);
    return undefined;
  }
}

/** A map checked against its known keys; typed reads by key. */
export class Fields {
  readonly r: Reader;
  readonly map: YMap;
  readonly path: string;
  constructor(r: Reader, map: YMap, path: string) {
    this.r = r;
    this.map = map;
    this.path = path;
  }

  /** The value node, or undefined when absent, empty or ~. */
  get(key: string): YNode | undefined {
    const e = this.map.entries.find((x) => x.key === key);
    return e === undefined || Reader.isEmpty(e.value) ? undefined : e.value;
  }

  /** Where the key's value is (or the map itself when the key is absent). */
  pos(key: string): Pos {
    const e = this.map.entries.find((x) => x.key === key);
    return e === undefined ? this.map.pos : e.value.pos;
  }

  keyPos(key: string): Pos {
    const e = this.map.entries.find((x) => x.key === key);
    return e === undefined ? this.map.pos : e.keyPos;
  }

  has(key: string): boolean { return this.get(key) !== undefined; }
  at(key: string): string { return joinPath(this.path, key); }

  /** Reports a missing key at the map; returns false when missing. */
  require(key: string, what: string): boolean {
    if (this.has(key)) return true;
    this.r.error(this.at(key), this.map.pos, `missing ${key}: ${what}`);
    return false;
  }

  /** Reports the key as not applying here (e.g. "xclient" on an http listener). */
  refuse(key: string, why: string): void {
    if (this.map.entries.some((x) => x.key === key)) this.r.error(this.at(key), this.keyPos(key), why);
  }

  str(key: string): string | undefined { const n = this.get(key); return n === undefined ? undefined : this.r.str(n, this.at(key)); }
  int(key: string, min: number, max: number): number | undefined {
    const n = this.get(key); return n === undefined ? undefined : this.r.int(n, this.at(key), min, max);
  }
  bool(key: string): boolean | undefined { const n = this.get(key); return n === undefined ? undefined : this.r.bool(n, this.at(key)); }
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const n = this.get(key); return n === undefined ? undefined : this.r.oneOf(n, this.at(key), values);
  }
  duration(key: string, min = 0): number | undefined {
    const n = this.get(key); return n === undefined ? undefined : this.r.duration(n, this.at(key), min);
  }
  size(key: string): number | undefined { const n = this.get(key); return n === undefined ? undefined : this.r.size(n, this.at(key)); }
  address(key: string, opts: AddressOptions): Address | undefined {
    const n = this.get(key); return n === undefined ? undefined : this.r.address(n, this.at(key), opts);
  }
}
