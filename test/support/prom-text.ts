// A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on anything a
// Prometheus server would reject or that the format forbids, so a test that parses /metrics proves
// the page is well formed, not just that a substring is there.
// Checked: metric and label name syntax; label value escapes (\\ \" \n only); values (floats, NaN,
// +Inf, -Inf); at most one HELP and one TYPE per family, TYPE before the family's first sample; a
// family's samples contiguous; no duplicate series; counter samples named exactly as the family;
// histograms: only _bucket/_sum/_count, every bucket with an `le`, buckets cumulative, a +Inf bucket
// equal to _count; counters and histogram counts never negative.

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  readonly samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(s: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after "{"
  for (;;) {
    if (s[i] === "}") { i++; break; }
    const m = LABEL.exec(s.slice(i));
    if (m === null) throw new Error(`line ${line}: bad label name at ${JSON.stringify(s.slice(i, i + 10))}`);
    const name = m[0];
    if (name.startsWith("__")) throw new Error(`line ${line}: label ${name} is reserved`);
    if (Object.hasOwn(labels, name)) throw new Error(`line ${line}: label ${name} twice`);
    i += name.length;
    if (s[i] !== "=" || s[i + 1] !== "\"") throw new Error(`line ${line}: expected ="`);
    i += 2;
    let v = "";
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === "\"") { i++; break; }
      if (c === "\\") {
        const e = s[i + 1];
        if (e === "\\") v += "\\"; else if (e === "\"") v += "\""; else if (e === "n") v += "\n";
        else throw new Error(`line ${line}: bad escape \\${e ?? ""}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    labels[name] = v;
    if (s[i] === ",") { i++; continue; }
    if (s[i] === "}") { i++; break; }
    throw new Error(`line ${line}: expected , or } after a label`);
  }
  return { labels, rest: s.slice(i) };
}

/** The family a sample belongs to: histogram/summary suffixes map to their declared base. */
function familyOf(name: string, families: Map<string, Family>): Family | null {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f !== undefined && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return f;
  }
  return null;
}

function seriesKey(name: string, labels: Labels): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(",")}}`;
}

/** Parse a whole exposition; throws with the line number on the first violation. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  const lines = text.split("\n");
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  for (let n = 0; n < lines.length; n++) {
    const line = n + 1;
    const l = lines[n];
    if (l === "") continue;
    if (l.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(l);
      if (m === null) continue; // a plain comment
      const [, kind, name, rest] = m;
      if (!METRIC.test(name) || METRIC.exec(name)?.[0] !== name) throw new Error(`line ${line}: bad metric name ${name}`);
      let f = families.get(name);
      if (f === undefined) {
        if (closed.has(name)) throw new Error(`line ${line}: family ${name} appears twice`);
        f = { name, type: "untyped", help: null, samples: [] };
        families.set(name, f);
      } else if (f.samples.length > 0) {
        throw new Error(`line ${line}: ${kind} for ${name} after its samples`);
      }
      if (current !== null && current !== f) closed.add(current.name);
      current = f;
      if (kind === "HELP") {
        if (f.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = rest ?? "";
      } else {
        if (f.type !== "untyped" || !TYPES.has(rest ?? "")) throw new Error(`line ${line}: bad or second TYPE for ${name}: ${rest ?? ""}`);
        f.type = rest as Family["type"];
      }
      continue;
    }
    const nm = METRIC.exec(l);
    if (nm === null) throw new Error(`line ${line}: bad sample line ${JSON.stringify(l)}`);
    const name = nm[0];
    let rest = l.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) throw new Error(`line ${line}: expected " value [timestamp]"`);
    const value = parseValue(parts[0], line);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    let f = familyOf(name, families);
    if (f === null) {
      if (closed.has(name)) throw new Error(`line ${line}: family ${name} is not contiguous`);
      f = { name, type: "untyped", help: null, samples: [] };
      families.set(name, f);
    }
    if (current !== null && current !== f) {
      closed.add(current.name);
      if (closed.has(f.name)) throw new Error(`line ${line}: samples of ${f.name} are not contiguous`);
    }
    current = f;
    if (f.type === "counter" || f.type === "gauge" || f.type === "untyped") {
      if (name !== f.name) throw new Error(`line ${line}: sample ${name} in ${f.type} family ${f.name}`);
    }
    if (f.type === "counter" && !(value >= 0)) throw new Error(`line ${line}: counter ${name} is ${value}`);
    if (f.type === "histogram") {
      if (name === `${f.name}_bucket`) {
        if (labels.le === undefined) throw new Error(`line ${line}: bucket without le`);
        parseValue(labels.le, line);
      } else if (labels.le !== undefined) {
        throw new Error(`line ${line}: le on ${name}`);
      }
    }
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    seen.add(key);
    f.samples.push({ name, labels, value });
  }
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: { le: number; v: number }[]; count: number | null; sum: number | null }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = seriesKey("", rest);
    let g = groups.get(k);
    if (g === undefined) { g = { buckets: [], count: null, sum: null }; groups.set(k, g); }
    if (s.name === `${f.name}_bucket`) g.buckets.push({ le: parseValue(le, 0), v: s.value });
    else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
  }
  for (const [k, g] of groups) {
    if (g.count === null || g.sum === null) throw new Error(`histogram ${f.name}${k}: missing _count or _sum`);
    const sorted = [...g.buckets].sort((a, b) => a.le - b.le);
    const inf = sorted.at(-1);
    if (inf === undefined || inf.le !== Infinity) throw new Error(`histogram ${f.name}${k}: no +Inf bucket`);
    if (inf.v !== g.count) throw new Error(`histogram ${f.name}${k}: +Inf bucket ${inf.v} != _count ${g.count}`);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].v < sorted[i - 1].v) throw new Error(`histogram ${f.name}${k}: bucket le=${sorted[i].le} below le=${sorted[i - 1].le}`);
    }
  }
}

/** The value of the one sample named `name` whose labels include `want`; throws when none or several match. */
export function sampleValue(families: Map<string, Family>, name: string, want: Labels = {}): number {
  const f = familyOf(name, families);
  if (f === null) throw new Error(`no family for ${name}`);
  const hits = f.samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(want)}: ${hits.length} samples match`);
  return hits[0].value;
}

/** Sum of every sample named `name` whose labels include `want` (0 when none). */
export function sumValues(families: Map<string, Family>, name: string, want: Labels = {}): number {
  const f = familyOf(name, families);
  if (f === null) return 0;
  return f.samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}
