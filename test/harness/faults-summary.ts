/**
 * The faults / bad-input / load summary the lead quotes: each fault, fuzz and security test file
 * records one row per scenario with what it measured, and the table in
 * test-results/faults-summary.md is rebuilt from every row recorded so far. Rows live in one JSON
 * file per scenario, because integration test files run in separate processes one after another.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface SummaryRow {
  /** Stable id, also the JSON file name: e.g. "fuzz-room". */
  id: string;
  scenario: string;
  /** Faults injected (cuts, kills, refused connects…), as a count. */
  faults: number;
  /** Bad inputs sent (frames, requests, tokens). */
  badInputs: number;
  /** The load held, in words: "21 clients × 60 s", "500 viewers". */
  load: string;
  /** Acknowledged events lost: must be 0. */
  eventsLost: number;
  /** Crashes (room or worker process died unexpectedly, `internal` errors): must be 0. */
  crashes: number;
  /** Anything else worth quoting: reconnects, latencies, distributions. */
  notes: string;
}

const DIR = path.resolve("test-results", "faults-summary");
const TABLE = path.resolve("test-results", "faults-summary.md");

export function recordSummary(row: SummaryRow): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(path.join(DIR, `${row.id}.json`), JSON.stringify({ ...row, at: new Date().toISOString() }, null, 2));
  writeFileSync(TABLE, renderSummary(readRows()));
}

function readRows(): (SummaryRow & { at: string })[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(DIR, f), "utf8")) as SummaryRow & { at: string });
}

const cell = (s: string | number): string => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderSummary(rows: readonly (SummaryRow & { at?: string })[]): string {
  const total = (k: "faults" | "badInputs" | "eventsLost" | "crashes") => rows.reduce((n, r) => n + r[k], 0);
  const lines = [
    "# Faults, bad input and load: summary",
    "",
    "Written by the fault, fuzz and security tests (test/faults-*, test/fuzz-*, test/security-*), one row per scenario,",
    "from the last run of each on this machine. Events lost and crashes must be 0.",
    "",
    "| scenario | faults injected | bad inputs tried | load held | events lost | crashes | notes |",
    "|---|---:|---:|---|---:|---:|---|",
    ...rows.map((r) => `| ${cell(r.scenario)} | ${r.faults} | ${r.badInputs} | ${cell(r.load)} | ${r.eventsLost} | ${r.crashes} | ${cell(r.notes)} |`),
    `| **total** | **${total("faults")}** | **${total("badInputs")}** | | **${total("eventsLost")}** | **${total("crashes")}** | |`,
    "",
  ];
  return lines.join("\n");
}
