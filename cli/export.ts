/**
 * `agentroom export <session URL> [--format md|json] [-o file]`: the session as a document, from
 * `GET /api/sessions/:id/export` (Bearer). Markdown is a readable transcript; JSON is what
 * `opencode import` accepts. `-o -` writes to stdout.
 */
import { writeFile } from "node:fs/promises";
import { httpError, type Target } from "./target.ts";

export type ExportFormat = "md" | "json";

export async function exportSession(o: { target: Target; token: string; format: ExportFormat; out?: string }): Promise<string> {
  const url = `${o.target.origin}/api/sessions/${encodeURIComponent(o.target.sessionId)}/export?format=${o.format}`;
  const res = await fetch(url, { headers: { Authorization: `Bearer ${o.token}` } });
  if (!res.ok) throw new Error(`export of ${o.target.shown} failed: ${await httpError(res)}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (o.out === "-") {
    process.stdout.write(body);
    return "-";
  }
  const file = o.out ?? `agentroom-${o.target.sessionId}.${o.format}`;
  await writeFile(file, body);
  return file;
}
