/**
 * The `agentroom` command (package.json "bin", through cli/bin.js): `watch` follows a session in
 * the terminal, `export` writes it to a file. Runs on Node ≥ 22.18 (TypeScript type stripping).
 */
import { parseArgs } from "node:util";
import { watch } from "./watch.ts";
import { exportSession, type ExportFormat } from "./export.ts";
import { parseTarget, resolveToken, UsageError } from "./target.ts";

export const HELP = `agentroom: follow a coding-agent session from a terminal

Usage:
  agentroom watch <session URL> [--driver] [--long-poll]
  agentroom export <session URL> [--format md|json] [-o file]
  agentroom --help

The session URL is the app's link, e.g. https://host/s/<session id>#token=…
The token comes from the URL's fragment (#token=…), else AGENTROOM_TOKEN, else a prompt
(not echoed); it is never printed. Prefer AGENTROOM_TOKEN or the prompt: a command line stays
in the shell's history and in npm's debug log. A bare session id works with AGENTROOM_URL set
to the app's address.

watch      streams the run: text as it comes, tools with their status and a one-line
           summary, diffs in colour, permission requests and questions. Resumes from its
           last offset after a dropped network. Ctrl-C quits.
  --driver     join as a driver (a driver or owner token): type a prompt and press Enter,
               Ctrl-X or Esc stops the run, y / a / n answer a permission request (allow
               once / always / reject), 1-9 pick an answer to a question.
  --long-poll  read with long-polls instead of server-sent events.

export     writes the session as Markdown (default) or as OpenCode JSON (opencode import).
  --format md|json
  -o, --output <file>   default agentroom-<session id>.<format>; "-" for stdout
`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      driver: { type: "boolean" },
      "long-poll": { type: "boolean" },
      format: { type: "string" },
      output: { type: "string", short: "o" },
    },
  });
  const [command, url, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (command !== "watch" && command !== "export") throw new UsageError(`unknown command: ${command} (try agentroom --help)`);
  if (!url) throw new UsageError(`${command} needs a session URL (try agentroom --help)`);
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(" ")}`);
  const target = parseTarget(url);
  const token = await resolveToken(target);
  if (command === "watch") {
    return watch({ target, token, driver: values.driver === true, live: values["long-poll"] ? "long-poll" : "sse" });
  }
  const format = (values.format ?? "md") as ExportFormat;
  if (format !== "md" && format !== "json") throw new UsageError(`--format must be md or json, not ${values.format}`);
  const file = await exportSession({ target, token, format, ...(values.output ? { out: values.output } : {}) });
  if (file !== "-") process.stderr.write(`wrote ${file}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`agentroom: ${(e as Error).message}\n`);
    process.exitCode = usage ? 2 : 1;
  }
  // Nothing may outlive the command: no socket, stream or timer keeps the process.
  process.exit(process.exitCode);
}
