/**
 * Tokens at rest: does any token text sit in what the local runtime keeps on disk (Durable Object
 * storage, the trace store under `v3/observability`, caches) or in a log line a test captured?
 * A URL with a token in it is kept by the runtime's trace store (issue 10), so this is the check
 * that no path in the product or the tests puts one there.
 *
 * A token is recognised by shape, not by a list (`TOKEN_SHAPE`: a JWT or the older two-part form)
 * whose claims decode to JSON with `sid`, `role` and `exp` — so any token, minted anywhere, is found.
 * Findings name the file and the token's session and role, never the token itself.
 *
 * Each harness process records what it scanned (`recordScan`) in test-results/token-at-rest/;
 * the integration project's global teardown (token-at-rest.ts) adds `.wrangler/state` and fails
 * the run on any finding.
 */
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { TOKEN_SHAPE } from "../../shared/token.ts";

export const RECORD_DIR = "test-results/token-at-rest";


export interface Finding {
  where: string;
  sid: string;
  role: string;
}

export interface ScanRecord {
  label: string;
  dirs: string[];
  files: number;
  bytes: number;
  logChars: number;
  /** Files of wrangler's local trace store (`v3/observability`): it keeps request URLs, so it must stay off. */
  traceStoreFiles?: number;
  /** Taken after the test sent tokens in URLs (test/access-links.test.ts). */
  afterUrlTokens?: boolean;
  findings: Finding[];
}

/** The trace store's files among `dirs` (scripts/wrangler-dev.ts runs wrangler with it off). */
export function traceStoreFiles(dirs: readonly string[]): number {
  let n = 0;
  for (const d of dirs) for (const f of filesUnder(d)) if (/[\\/]v3[\\/]observability[\\/]/.test(f)) n++;
  return n;
}

/** The tokens in `text`, as their (unverified) session and role. */
export function findTokens(text: string): { sid: string; role: string }[] {
  const out: { sid: string; role: string }[] = [];
  for (const m of text.matchAll(TOKEN_SHAPE)) {
    const parts = m[0].split(".");
    const body = parts[parts.length - 2]!;
    try {
      const p = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { sid?: unknown; role?: unknown; exp?: unknown };
      if (typeof p.sid === "string" && typeof p.role === "string" && typeof p.exp === "number") out.push({ sid: p.sid, role: p.role });
    } catch {
      // token-shaped but not a token
    }
  }
  return out;
}

function* filesUnder(dir: string): Generator<string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) yield* filesUnder(p);
    else if (st.isFile()) yield p;
  }
}

/** Every file under `dirs` (binary files read as latin1: SQLite pages keep text as bytes). */
export function scanDirs(dirs: readonly string[]): { files: number; bytes: number; findings: Finding[] } {
  let files = 0;
  let bytes = 0;
  const findings: Finding[] = [];
  for (const d of dirs) {
    for (const f of filesUnder(d)) {
      let buf: Buffer;
      try {
        buf = readFileSync(f);
      } catch {
        continue;
      }
      files++;
      bytes += buf.length;
      for (const t of findTokens(buf.toString("latin1"))) findings.push({ where: f, ...t });
    }
  }
  return { files, bytes, findings };
}

/** Scans `dirs` and `logs` now and writes the record the global teardown collects. */
export function recordScan(repoRoot: string, label: string, dirs: readonly string[], logs: readonly string[], opts: { afterUrlTokens?: boolean } = {}): ScanRecord {
  const scan = scanDirs(dirs);
  let logChars = 0;
  for (const [i, log] of logs.entries()) {
    logChars += log.length;
    for (const t of findTokens(log)) scan.findings.push({ where: `${label} log #${i}`, ...t });
  }
  const record: ScanRecord = {
    label,
    dirs: [...dirs],
    files: scan.files,
    bytes: scan.bytes,
    logChars,
    traceStoreFiles: traceStoreFiles(dirs),
    ...(opts.afterUrlTokens ? { afterUrlTokens: true } : {}),
    findings: scan.findings,
  };
  const dir = join(repoRoot, RECORD_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${Date.now()}-${process.pid}-${randomBytes(4).toString("hex")}.json`), JSON.stringify(record));
  return record;
}
