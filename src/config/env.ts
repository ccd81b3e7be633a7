// ${NAME} and ${NAME:-default} in config scalars (config.md "File shape"), with shell meaning:
// ${NAME} is the variable (unset is an error), ${NAME:-default} is the default when NAME is unset or
// empty. "$${" writes a literal "${". Only values are expanded, never keys. Defaults cannot nest.
import type { Parsed } from "./units.ts";

export type Env = Readonly<Record<string, string | undefined>>;

const REF = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when the text has anything expandEnv would change. */
export function hasEnvRef(text: string): boolean {
  return text.includes("${");
}

/**
 * Expands every reference in text. Fails on the first bad reference with a message naming the
 * variable (never its value: values may be secrets).
 */
export function expandEnv(text: string, env: Env): Parsed<string> {
  let out = "";
  let last = 0;
  REF.lastIndex = 0;
  for (let m = REF.exec(text); m !== null; m = REF.exec(text)) {
    out += text.slice(last, m.index);
    last = REF.lastIndex;
    if (m[0] === "$${") { out += "${"; continue; }
    if (!m[0].endsWith("}")) return { ok: false, message: `"\${" without a closing "}": write \${NAME} or \${NAME:-default}` };
    const body = m[1];
    const sep = body.indexOf(":-");
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      return { ok: false, message: `"\${${body}}" is not a variable reference: write \${NAME} or \${NAME:-default}` };
    }
    const value = env[name];
    if (sep >= 0) {
      out += value === undefined || value === "" ? body.slice(sep + 2) : value;
    } else {
      if (value === undefined) {
        return { ok: false, message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` };
      }
      out += value;
    }
  }
  out += text.slice(last);
  return { ok: true, value: out };
}
