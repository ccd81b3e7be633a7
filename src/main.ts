#!/usr/bin/env node
// Entry point: parse argv, give the proxy its heap flags (runtime/heap-flags.ts: a re-exec before
// anything heavy loads), then hand off to cli/commands.ts, imported only now for that reason.
import { parseArgs, USAGE } from "./cli/args.ts";
import { applyHeapFlags } from "./runtime/heap-flags.ts";

const parsed = parseArgs(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`switchyard: ${parsed.error}\n${USAGE}\n`);
  process.exitCode = 2;
} else {
  const o = parsed.options;
  // only a run serves traffic; -t, -s, -h and -v end at once
  if (!o.test && o.signal === null && !o.help && !o.version) applyHeapFlags();
  const { main } = await import("./cli/commands.ts");
  main(o, process.env).then(
    (code) => { if (code !== null) process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`switchyard: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
