// argv -> CliOptions. nginx-like flags: -c FILE, -t, -s reload|stop|quit, --pid-file, --version, --help.

export interface CliOptions {
  readonly config: string | null;
  readonly test: boolean;
  readonly signal: "reload" | "stop" | "quit" | null;
  readonly pidFile: string | null;
  readonly watch: boolean;
  readonly version: boolean;
  readonly help: boolean;
}

export type ParseResult = { ok: true; options: CliOptions } | { ok: false; error: string };

export const USAGE = `usage: switchyard [-c FILE] [-t] [-s reload|stop|quit] [--pid-file PATH] [--watch]

  -c, --config FILE   configuration file (default: $SWITCHYARD_CONFIG, or the YAML text in
                      $SWITCHYARD_CONFIG_YAML, else conf/switchyard.yaml)
  -t, --test          check the configuration, print every error with line:column, exit 0 or 1
  -s SIGNAL           signal the running instance found through its pid file:
                      reload (HUP), stop (TERM, graceful), quit (QUIT, graceful without a limit)
  --pid-file PATH     write the pid here (overrides pid_file: in the file)
  --watch             reload when the configuration file changes
  -v, --version       print the version
  -h, --help          this text

signals: SIGHUP reloads, SIGTERM/SIGINT stop gracefully within shutdown_timeout, SIGQUIT without a limit.`;

export function parseArgs(argv: readonly string[]): ParseResult {
  let config: string | null = null;
  let test = false;
  let signal: CliOptions["signal"] = null;
  let pidFile: string | null = null;
  let watch = false;
  let version = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string | null => (i + 1 < argv.length ? argv[++i] : null);
    switch (a) {
      case "-c": case "--config": { const v = value(); if (v === null) return { ok: false, error: `${a} needs a file` }; config = v; break; }
      case "-t": case "--test": test = true; break;
      case "-s": case "--signal": {
        const v = value();
        if (v !== "reload" && v !== "stop" && v !== "quit") return { ok: false, error: `-s takes reload, stop or quit` };
        signal = v; break;
      }
      case "--pid-file": { const v = value(); if (v === null) return { ok: false, error: "--pid-file needs a path" }; pidFile = v; break; }
      case "--watch": watch = true; break;
      case "-v": case "--version": version = true; break;
      case "-h": case "--help": help = true; break;
      default:
        if (a.startsWith("--config=")) { config = a.slice(9); break; }
        if (a.startsWith("--pid-file=")) { pidFile = a.slice(11); break; }
        return { ok: false, error: `unknown option ${a}` };
    }
  }
  return { ok: true, options: { config, test, signal, pidFile, watch, version, help } };
}
