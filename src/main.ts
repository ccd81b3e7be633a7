#!/usr/bin/env node
// Entry point: parse argv and hand off to cli/commands.ts.
import { parseArgs, USAGE } from "./cli/args.ts";
import { main } from "./cli/commands.ts";

const parsed = parseArgs(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`switchyard: ${parsed.error}\n${USAGE}\n`);
  process.exitCode = 2;
} else {
  main(parsed.options, process.env).then(
    (code) => { if (code !== null) process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`switchyard: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
