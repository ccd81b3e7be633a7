// The send/expect engine for line protocols (smtp, pop3, imap): a check is a list of steps, in
// the spirit of HAProxy's tcp-check connect / expect rstring / send. Each expect reads lines
// until one is not a continuation, then sorts that line into pass, bad-status (a well-formed
// status the script does not accept, e.g. SMTP 421, POP3 -ERR, IMAP * BYE) or bad-response
// (anything else). On a failure after connect the script's goodbye line is sent anyway, so the
// server sees a proper end of session and not a dropped connection.
import type { HealthCheck, ProbeResult, ProbeTarget } from "./check.ts";
import { ProbeConn, elapsed, failure, success } from "./conn.ts";

/** Longest reply line accepted (RFC 5321 allows 512 for replies; IMAP greetings run longer). */
const MAX_LINE = 8192;
/** Continuation lines accepted for one reply (SMTP EHLO lists, IMAP untagged data). */
const MAX_CONTINUATIONS = 200;

export interface ExpectStep {
  readonly kind: "expect";
  /** The reply being awaited, for messages: "greeting", "EHLO reply". */
  readonly what: string;
  /** Lines matching this are skipped (SMTP "250-", IMAP untagged "* "); null = single line. */
  readonly more: RegExp | null;
  /** The final line passes when it matches. */
  readonly pass: RegExp;
  /** A well-formed status line; capture group 1 is the code reported (e.g. "421", "-ERR", "BYE"). */
  readonly status: RegExp;
}

export interface SendStep {
  readonly kind: "send";
  /** Sent as-is: include the CRLF. */
  readonly text: string;
}

export type ScriptStep = ExpectStep | SendStep;

export interface LineScript {
  readonly steps: readonly ScriptStep[];
  /** Sent when the conversation fails after connect, before our FIN (e.g. "QUIT\r\n"); null = none. */
  readonly bye: string | null;
}

export function expect(what: string, pass: RegExp, status: RegExp, more: RegExp | null = null): ExpectStep {
  return { kind: "expect", what, more, pass, status };
}

export function send(text: string): SendStep {
  return { kind: "send", text };
}

/** Printable excerpt of a server line for the failure info (at most 120 characters). */
function excerpt(line: string): string {
  const clean = line.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}

/**
 * Run a script against target. Resolves ok at L7 with the code of the last status line when
 * every step passed; otherwise the first failure. Never rejects.
 */
export async function runScript(
  script: LineScript, target: ProbeTarget, signal: AbortSignal, timeoutMs: number,
): Promise<ProbeResult> {
  const conn = await ProbeConn.open(target, signal, timeoutMs);
  if (!(conn instanceof ProbeConn)) return conn;
  let code: string | null = null;
  for (const step of script.steps) {
    if (step.kind === "send") {
      conn.write(step.text);
      continue;
    }
    let line = await conn.line(MAX_LINE, `before the ${step.what}`);
    for (let n = 0; typeof line === "string" && step.more !== null && step.more.test(line); n++) {
      if (n === MAX_CONTINUATIONS) {
        line = failure("L7", "bad-response", null, `${step.what}: more than ${MAX_CONTINUATIONS} lines`, elapsed(conn.t0));
        break;
      }
      line = await conn.line(MAX_LINE, `in the middle of the ${step.what}`);
    }
    if (typeof line !== "string") {
      // a timeout, reset or early close: say goodbye only if the socket is still usable
      if (line.reason === "bad-response" && conn.failed === null) conn.close(script.bye);
      else conn.destroy();
      return line;
    }
    const st = step.status.exec(line);
    code = st !== null && st[1] !== undefined ? st[1] : null;
    if (!step.pass.test(line)) {
      conn.close(script.bye);
      return st !== null
        ? failure("L7", "bad-status", code, `${step.what}: ${excerpt(line)}`, elapsed(conn.t0))
        : failure("L7", "bad-response", null, `${step.what}: ${excerpt(line)}`, elapsed(conn.t0));
    }
  }
  conn.close(null);
  return success("L7", code, elapsed(conn.t0));
}

/** A HealthCheck that runs one fixed script. */
export class ScriptCheck implements HealthCheck {
  readonly #script: LineScript;
  readonly #timeoutMs: number;

  constructor(script: LineScript, timeoutMs: number) {
    this.#script = script;
    this.#timeoutMs = timeoutMs;
  }

  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return runScript(this.#script, target, signal, this.#timeoutMs);
  }
}
