/**
 * Global setup of the integration project: builds the app once, before any test file runs.
 *
 * The Worker serves dist/client, and the browser tests must see the app as it is now. Building in
 * each browser file cost ~10 s apiece, and a build empties dist/client while it runs, which would
 * pull the assets out from under any Worker already serving them.
 */
import { execFileSync } from "node:child_process";
import { REPO_ROOT } from "./worker.ts";

export default function setup(): void {
  execFileSync(process.execPath, [`${REPO_ROOT}/node_modules/vite/bin/vite.js`, "build", "--logLevel", "error"], { cwd: REPO_ROOT, stdio: "inherit" });
}
