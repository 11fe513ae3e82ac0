/**
 * How a tool call reads to a person, in any view (the app's tool blocks, the terminal viewer):
 * a short title when the tool gave none, the file change it makes as before/after texts, and a
 * unified diff of two texts as numbered lines. Pure, so the browser and Node share it.
 */
import { structuredPatch } from "diff";
import type { ToolState } from "./parts.ts";

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Last path segments, for compact titles. */
export function shortPath(p: string, segments = 3): string {
  const parts = p.split("/").filter(Boolean);
  return parts.length <= segments ? p : "…/" + parts.slice(-segments).join("/");
}

/** A short human title for a call when the tool did not give one. */
export function toolTitle(tool: string, state: ToolState): string {
  const given = "title" in state ? str(state.title) : undefined;
  if (given) return given;
  const i = state.input ?? {};
  const path = str(i.filePath) ?? str(i.path) ?? str(i.file);
  switch (tool) {
    case "bash":
      return str(i.description) ?? str(i.command) ?? "";
    case "read":
    case "write":
    case "edit":
    case "list":
      return path ? shortPath(path) : "";
    case "glob":
    case "grep":
      return str(i.pattern) ?? "";
    case "webfetch":
      return str(i.url) ?? "";
    case "task":
      return str(i.description) ?? "";
    default:
      return path ?? "";
  }
}

/**
 * The file change a write or edit call makes: OpenCode's `metadata.filediff` when it sent one,
 * else what the input says (an edit's old and new strings, a write's content over nothing).
 */
export function toolFileChange(tool: string, state: ToolState): { file?: string; before: string; after: string } | undefined {
  const input = state.input ?? {};
  const meta = "metadata" in state ? (state.metadata as Record<string, unknown> | undefined) : undefined;
  const fd = meta?.filediff as { before?: unknown; after?: unknown } | undefined;
  const filediff = fd && typeof fd.before === "string" && typeof fd.after === "string" ? { before: fd.before, after: fd.after } : undefined;
  const file = str(input.filePath);
  if (tool === "edit") {
    const before = filediff?.before ?? str(input.oldString);
    const after = filediff?.after ?? str(input.newString);
    return before !== undefined && after !== undefined ? { file, before, after } : undefined;
  }
  if (tool === "write" && str(input.content) !== undefined) return { file, before: filediff?.before ?? "", after: str(input.content)! };
  return undefined;
}

export interface DiffLine {
  kind: "add" | "del" | "ctx" | "hunk";
  text: string;
  oldNo?: number;
  newNo?: number;
}

/** Diff lines with line numbers; hunk headers between non-adjacent regions. */
export function diffLines(before: string, after: string, context = 3): DiffLine[] {
  const patch = structuredPatch("a", "b", before, after, "", "", { context });
  const out: DiffLine[] = [];
  for (const h of patch.hunks) {
    out.push({ kind: "hunk", text: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@` });
    let o = h.oldStart;
    let n = h.newStart;
    for (const l of h.lines) {
      const mark = l[0];
      const text = l.slice(1);
      if (mark === "+") out.push({ kind: "add", text, newNo: n++ });
      else if (mark === "-") out.push({ kind: "del", text, oldNo: o++ });
      else if (mark === " ") out.push({ kind: "ctx", text, oldNo: o++, newNo: n++ });
      // "\ No newline at end of file" lines carry no content worth showing.
    }
  }
  return out;
}

/** Added and removed line counts of a diff. */
export function diffStats(lines: readonly DiffLine[]): { add: number; del: number } {
  let add = 0;
  let del = 0;
  for (const l of lines) {
    if (l.kind === "add") add++;
    else if (l.kind === "del") del++;
  }
  return { add, del };
}
