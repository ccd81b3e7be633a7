// The YAML document as a small positioned tree (map / seq / scalar, each with line:column), with
// aliases resolved, "<<" merge keys applied and ${NAME} expanded, so the validator never touches the
// yaml package and every error it reports can point at the key or value that caused it.
import { isAlias, isMap, isScalar, isSeq, Scalar, type Document, type LineCounter } from "yaml";
import { expandEnv, hasEnvRef, type Env } from "./env.ts";

/** 1-based line and column. line 0 = no position (the file could not be read). */
export interface Pos { readonly line: number; readonly column: number }

export interface YScalar {
  readonly kind: "scalar";
  readonly pos: Pos;
  /** Typed as YAML 1.2 core types it (after ${} expansion for plain scalars); null = empty or ~. */
  readonly value: string | number | boolean | null;
  /** The text as written (plain) or decoded (quoted, block), after ${} expansion. */
  readonly text: string;
}
export interface YEntry { readonly key: string; readonly keyPos: Pos; readonly value: YNode }
export interface YMap { readonly kind: "map"; readonly pos: Pos; readonly entries: readonly YEntry[] }
export interface YSeq { readonly kind: "seq"; readonly pos: Pos; readonly items: readonly YNode[] }
export type YNode = YScalar | YMap | YSeq;

/** One problem found while reading or checking the file; load.ts adds the file name. */
export interface Issue { readonly path: string; readonly pos: Pos; readonly message: string }

/** Nodes converted per document at most: stops alias bombs ("billion laughs") cheaply. */
const NODE_BUDGET = 100_000;
const MAX_DEPTH = 64;

/** The YAML 1.2 core schema's reading of a plain scalar (used again after ${} expansion). */
export function coreScalar(text: string): string | number | boolean | null {
  if (text === "" || text === "~" || text === "null" || text === "Null" || text === "NULL") return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?[0-9]+$/.test(text)) return Number.parseInt(text, 10);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) return Number.parseFloat(text);
  return text;
}

export function joinPath(base: string, key: string): string {
  return base === "" ? key : `${base}.${key}`;
}

interface TreeState {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly env: Env;
  readonly issues: Issue[];
  budget: number;
  exhausted: boolean;
}

function posOf(st: TreeState, offset: number | undefined): Pos {
  const p = st.lines.linePos(offset ?? 0);
  return { line: p.line, column: p.col };
}

/**
 * Converts the parsed document's contents. Returns null (with issues) when the budget runs out;
 * env problems are reported as issues and the scalar keeps its unexpanded text, so checking goes on.
 */
export function toTree(doc: Document.Parsed, lines: LineCounter, env: Env, issues: Issue[]): YNode | null {
  const st: TreeState = { doc, lines, env, issues, budget: NODE_BUDGET, exhausted: false };
  const root = doc.contents;
  if (root === null) return { kind: "scalar", pos: { line: 1, column: 1 }, value: null, text: "" };
  return convert(st, root, "", 0);
}

function convert(st: TreeState, node: unknown, path: string, depth: number): YNode | null {
  if (--st.budget < 0 || depth > MAX_DEPTH) {
    if (!st.exhausted) {
      st.issues.push({ path, pos: { line: 1, column: 1 }, message: `the document is too large or too deep (over ${NODE_BUDGET} nodes or ${MAX_DEPTH} levels once aliases are expanded)` });
    }
    st.exhausted = true;
    return null;
  }
  if (isAlias(node)) {
    const target = node.resolve(st.doc);
    if (target === undefined) {
      st.issues.push({ path, pos: posOf(st, node.range?.[0]), message: `unknown alias *${node.source}` });
      return null;
    }
    return convert(st, target, path, depth + 1);
  }
  if (isScalar(node)) return scalar(st, node, path);
  if (isSeq(node)) {
    const items: YNode[] = [];
    node.items.forEach((item, i) => {
      const y = item === null ? null : convert(st, item, `${path}[${i}]`, depth + 1);
      if (y !== null) items.push(y);
    });
    return { kind: "seq", pos: posOf(st, node.range?.[0]), items };
  }
  if (isMap(node)) {
    const explicit: YEntry[] = [];
    const merged: YEntry[] = [];
    for (const pair of node.items) {
      const k = pair.key;
      if (!isScalar(k) || k.value === null || typeof k.value === "object") {
        const at = k !== null && typeof k === "object" && "range" in k && Array.isArray(k.range) ? k.range[0] : node.range?.[0];
        st.issues.push({ path, pos: posOf(st, typeof at === "number" ? at : undefined), message: "a key must be a plain name" });
        continue;
      }
      const key = String(k.value);
      const keyPos = posOf(st, k.range?.[0] ?? node.range?.[0]);
      if (key === "<<" && k.type === Scalar.PLAIN) {
        mergeInto(st, pair.value, path, depth, merged);
        continue;
      }
      const childPath = joinPath(path, key);
      const value = pair.value === null
        ? { kind: "scalar" as const, pos: keyPos, value: null, text: "" }
        : convert(st, pair.value, childPath, depth + 1);
      if (value === null) continue;
      // an empty value ("key:") points at its key, the most useful place for "missing value"
      const fixed = value.kind === "scalar" && value.value === null && value.text === "" ? { ...value, pos: keyPos } : value;
      explicit.push({ key, keyPos, value: fixed });
    }
    const entries = explicit.slice();
    for (const m of merged) {
      if (!entries.some((e) => e.key === m.key)) entries.push(m);
    }
    return { kind: "map", pos: posOf(st, node.range?.[0]), entries };
  }
  st.issues.push({ path, pos: { line: 1, column: 1 }, message: "unsupported YAML node" });
  return null;
}

/** "<<: *base" or "<<: [*a, *b]": entries of the named maps, earlier maps winning over later ones. */
function mergeInto(st: TreeState, value: unknown, path: string, depth: number, out: YEntry[]): void {
  const src = value === null ? null : convert(st, value, path, depth + 1);
  const maps = src === null ? [] : src.kind === "seq" ? src.items : [src];
  for (const m of maps) {
    if (m.kind !== "map") {
      st.issues.push({ path: joinPath(path, "<<"), pos: m.pos, message: "a merge key takes a map or a list of maps" });
      continue;
    }
    for (const e of m.entries) if (!out.some((o) => o.key === e.key)) out.push(e);
  }
}

function scalar(st: TreeState, node: Scalar, path: string): YScalar {
  const pos = posOf(st, node.range?.[0]);
  const raw = node.value;
  const plain = node.type === Scalar.PLAIN || node.type === undefined;
  // the text as the user wrote it: for plain scalars, the source ("0x10", "1e3"), else the decoded string
  const text = plain && typeof node.source === "string" ? node.source
    : typeof raw === "string" ? raw
    : raw === null || raw === undefined ? "" : String(raw);
  if (typeof raw === "string" || plain) {
    if (hasEnvRef(text)) {
      const r = expandEnv(text, st.env);
      if (!r.ok) {
        st.issues.push({ path, pos, message: r.message });
        return { kind: "scalar", pos, value: text, text };
      }
      // a plain scalar is typed after expansion: "workers: ${WORKERS:-2}" is the number 2
      return { kind: "scalar", pos, value: plain ? coreScalar(r.value) : r.value, text: r.value };
    }
  }
  const value = typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean" || raw === null ? raw
    : raw === undefined ? null : String(raw);
  return { kind: "scalar", pos, value, text };
}
