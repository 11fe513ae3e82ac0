/**
 * Global setup/teardown of the integration project: after every test file has run, no token text
 * may be at rest — not under `.wrangler/state` (what `npm start` and wrangler keep in the checkout),
 * not in any test Worker's persisted state (each harness Worker scans its own directory as it
 * stops, before the directory is removed: token-scan.ts `recordScan`), and not in any log line a
 * test captured (the Worker's and the runners' output, scanned the same way).
 *
 * The suite also sends tokens in URLs on purpose, as a misbehaving client would (test/access-links
 * .test.ts: queries, paths, pages, upgrades); its scans are marked `afterUrlTokens` and counted
 * apart. A URL is what wrangler's local trace store keeps, so its files are counted too and any
 * makes the run fail (scripts/wrangler-dev.ts runs wrangler with it off).
 *
 * The teardown fails the run on a finding, and writes test-results/token-at-rest.json (files and
 * bytes scanned, findings) either way.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./worker.ts";
import { RECORD_DIR, scanDirs, traceStoreFiles, type ScanRecord } from "./token-scan.ts";

export const SUMMARY = "test-results/token-at-rest.json";

export function setup(): void {
  rmSync(join(REPO_ROOT, RECORD_DIR), { recursive: true, force: true });
  rmSync(join(REPO_ROOT, SUMMARY), { force: true });
}

export function teardown(): void {
  const dir = join(REPO_ROOT, RECORD_DIR);
  const records: ScanRecord[] = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as ScanRecord)
    : [];
  const state = join(REPO_ROOT, ".wrangler", "state");
  const local = scanDirs([state]);
  const findings = [...records.flatMap((r) => r.findings), ...local.findings];
  const afterUrl = records.filter((r) => r.afterUrlTokens);
  const traces = records.reduce((n, r) => n + (r.traceStoreFiles ?? 0), 0);
  const summary = {
    harnessScans: records.length,
    afterUrlTokens: { scans: afterUrl.length, files: afterUrl.reduce((n, r) => n + r.files, 0), findings: afterUrl.reduce((n, r) => n + r.findings.length, 0) },
    /** Harness Workers' trace-store files (must be 0); `.wrangler/state`'s are reported, not failed (older runs). */
    traceStoreFiles: traces,
    wranglerStateTraceStoreFiles: traceStoreFiles([state]),
    files: records.reduce((n, r) => n + r.files, 0) + local.files,
    bytes: records.reduce((n, r) => n + r.bytes, 0) + local.bytes,
    logChars: records.reduce((n, r) => n + r.logChars, 0),
    wranglerState: existsSync(state) ? { files: local.files, bytes: local.bytes } : "absent",
    findings,
  };
  writeFileSync(join(REPO_ROOT, SUMMARY), JSON.stringify(summary, null, 1));
  console.log(
    `token-at-rest: ${summary.harnessScans} harness scans + .wrangler/state: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(1)} MB, ` +
      `${(summary.logChars / 1e6).toFixed(1)} M log chars; ${afterUrl.length} scans after tokens sent in URLs; ` +
      `trace store: ${traces} files; ${findings.length} tokens found`,
  );
  if (traces > 0) {
    process.exitCode = 1;
    throw new Error(`wrangler's trace store was on in a harness Worker (${traces} files): it keeps request URLs; see scripts/wrangler-dev.ts`);
  }
  if (findings.length) {
    // vitest reports an error thrown here but still exits 0; the exit code is set too.
    process.exitCode = 1;
    const where = findings.slice(0, 10).map((f) => `  ${f.where} (${f.role} token of ${f.sid})`);
    throw new Error(`token text at rest after the suite (${findings.length}):\n${where.join("\n")}`);
  }
}
