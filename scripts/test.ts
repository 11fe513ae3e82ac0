/**
 * `npm test`: every vitest project, then one closing line "N passed, N failed" (plus tests not run and
 * test files that failed, when there are any) that CI reads.
 * Extra arguments go to vitest (e.g. `npm test -- --project unit`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromiumAvailable } from "../test/harness/chromium.ts";

// What npm cannot bring: ripgrep and tmux come from the OS (Chromium too, where the npm build does
// not run: it is x64 Linux only). Without them the integration project runs for minutes and then
// fails many files, so say it in the first second instead.
function missingSystemTools(): string[] {
  const missing: string[] = [];
  if (!chromiumAvailable()) missing.push(`Chromium (not at ${process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"}, and @sparticuz/chromium's build is for x64 Linux; set CHROMIUM_PATH)`);
  const onPath = (process.env.PATH ?? "").split(delimiter).some((dir) => dir && existsSync(join(dir, "rg")));
  if (!onPath) missing.push("ripgrep (rg not on PATH; OpenCode's grep and glob tools need it)");
  if (!existsSync("/usr/bin/tmux")) missing.push("tmux (not at /usr/bin/tmux; the terminal viewer's test runs in it)");
  return missing;
}
const extra = process.argv.slice(2);
const onlyOtherProjects = extra.includes("--project") && !extra.some((a, i) => extra[i - 1] === "--project" && a === "integration");
const missing = onlyOtherProjects ? [] : missingSystemTools();
if (missing.length > 0) {
  const apt = ["chromium", "ripgrep", "tmux"].filter((p) => missing.some((m) => m.toLowerCase().startsWith(p)));
  console.error(`npm test needs ${missing.join(" and ")}: install ${missing.length === 1 ? "it" : "them"} with \`apt-get install -y ${apt.join(" ")}\` (Debian/Ubuntu), then run npm test again.`);
  process.exit(1);
}

mkdirSync("test-results", { recursive: true });
const report = "test-results/vitest.json";
const args = ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)];
const r = spawnSync("npx", args, { stdio: "inherit", env: process.env });

type Report = { numPassedTests: number; numFailedTests: number; numPendingTests: number; testResults: { status: string }[] };
let summary = "no test report was written";
if (existsSync(report)) {
  const j = JSON.parse(readFileSync(report, "utf8")) as Report;
  summary = `${j.numPassedTests} passed, ${j.numFailedTests} failed`;
  // A file whose setup fails fails no test by itself; its tests show as not run. Say so, so the
  // closing line never reads clean on a red run.
  if (j.numPendingTests > 0) summary += `, ${j.numPendingTests} not run`;
  // Files, not vitest's "suites" (which count every describe block on the failing path).
  const failedFiles = j.testResults.filter((f) => f.status === "failed").length;
  if (failedFiles > 0) summary += ` (${failedFiles} file${failedFiles === 1 ? "" : "s"} failed)`;
}
// The integration project's teardown scans for tokens left at rest (test/harness/token-at-rest.ts);
// vitest does not count that as a failed test, so the closing line says it.
const atRest = "test-results/token-at-rest.json";
if (existsSync(atRest)) {
  const found = (JSON.parse(readFileSync(atRest, "utf8")) as { findings: unknown[] }).findings.length;
  if (found > 0) summary += `; ${found} token${found === 1 ? "" : "s"} at rest (${atRest})`;
}
console.log(`\n${summary}`);
process.exit(r.status ?? 1);
