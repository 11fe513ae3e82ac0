#!/usr/bin/env node
// The `agentroom` command. The CLI is TypeScript run by Node's type stripping (Node >= 22.18);
// under an older `node` on PATH it runs again with the project's own Node (node_modules/.bin).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

if (process.features.typescript) {
  const { run } = await import("./main.ts");
  await run(process.argv.slice(2));
} else {
  const local = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
  if (!existsSync(local)) {
    process.stderr.write(`agentroom needs Node >= 22.18 (this is ${process.version}); run npm install in the project\n`);
    process.exit(1);
  }
  const child = spawn(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  // Ctrl-C reaches the child from the terminal; this process only waits for its exit code.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1)));
}
