/**
 * `npm test`: every vitest project, then one closing line "N passed, N failed" that CI reads.
 * Extra arguments go to vitest (e.g. `npm test -- --project unit`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";

mkdirSync("test-results", { recursive: true });
const report = "test-results/vitest.json";
const args = ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)];
const r = spawnSync("npx", args, { stdio: "inherit", env: process.env });

let passed = 0;
let failed = 0;
if (existsSync(report)) {
  const j = JSON.parse(readFileSync(report, "utf8")) as { numPassedTests: number; numFailedTests: number };
  passed = j.numPassedTests;
  failed = j.numFailedTests;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(r.status ?? 1);
