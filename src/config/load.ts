// Config loading: file -> YAML document with positions -> ${NAME:-default} expansion -> validate -> plan.
// Never throws for bad input: every problem comes back as a ConfigError with the file, the key path
// and the line:column of the key or value at fault (config.md "Details users rely on").
import { readText } from "../core/builtins.ts";
import { LineCounter, parseDocument } from "yaml";
import type { Env } from "./env.ts";
import { toPlan } from "./plan.ts";
import type { RuntimePlan } from "./schema.ts";
import { validate } from "./validate.ts";
import { toTree, type Issue } from "./validate-tree.ts";

export interface ConfigError {
  readonly file: string;
  /** Key path: "upstreams.web.servers[0].weight"; "" for the whole file. */
  readonly path: string;
  /** 1-based; 0 when there is no position (the file could not be read). */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly plan: RuntimePlan }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

/** "FILE:LINE:COLUMN: path.to.key: message" (the parts without a value are left out). */
export function formatError(e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}: ` : `${e.file}: `;
  return `${where}${e.path === "" ? "" : `${e.path}: `}${e.message}`;
}

/** Reads and checks a config file. `env` supplies ${NAME} values (normally process.env). */
export async function loadConfig(file: string, env: Env): Promise<LoadResult> {
  let text: string;
  try {
    text = await readText(file);
  } catch (err) {
    const code = err instanceof Error && "code" in err ? String(err.code) : String(err);
    return { ok: false, errors: [{ file, path: "", line: 0, column: 0, message: `cannot read the configuration file (${code})` }] };
  }
  return loadConfigText(text, file, env);
}

/**
 * Checks config text; `name` is what errors and RuntimePlan.file show (a path, or "<env>" for
 * SWITCHYARD_CONFIG_YAML). Relative file paths inside (certificates) are relative to the working directory.
 */
export function loadConfigText(text: string, name: string, env: Env): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, version: "1.2" });
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    // the tree after a syntax error is a guess; report only the syntax errors, each where it is
    const errors = yamlProblems.map((e): ConfigError => {
      const p = lines.linePos(e.pos[0]);
      return { file: name, path: "", line: p.line, column: p.col, message: `YAML: ${firstLine(e.message)}` };
    });
    return { ok: false, errors: sortErrors(errors) };
  }
  const issues: Issue[] = [];
  const root = toTree(doc, lines, env, issues);
  const config = root === null ? null : validate(root, issues);
  if (config === null || issues.length > 0) {
    const errors = issues.map((i): ConfigError => ({ file: name, path: i.path, line: i.pos.line, column: i.pos.column, message: i.message }));
    return { ok: false, errors: sortErrors(errors) };
  }
  return { ok: true, plan: toPlan(config, name) };
}

function firstLine(message: string): string {
  const nl = message.indexOf("\n");
  const line = nl < 0 ? message : message.slice(0, nl);
  return line.replace(/ at line \d+, column \d+:?$/, "");
}

/** In file order; exact repeats (one cause reached twice) dropped. */
function sortErrors(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  return errors
    .slice()
    .sort((a, b) => a.line - b.line || a.column - b.column)
    .filter((e) => {
      const k = formatError(e);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}
