/**
 * A session as a Markdown document (`?format=md`): each prompt with who sent it, each answer with
 * its reasoning, tools with their inputs and outputs, who answered each permission or question,
 * the session's file changes as diffs, and the times of all of it (UTC).
 */
import { createTwoFilesPatch } from "diff";
import { parseKnownPart, type FileDiff, type MessageWithParts, type Part, type ToolPart } from "./parts.ts";
import type { PermissionRequest, QuestionRequest } from "./protocol.ts";
import type { ExportRecord, RequestCredit } from "./export-record.ts";

/** `2026-12-07 19:50:51 UTC`. */
export function utc(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A fenced block that no backtick run inside `text` can close early. */
export function fence(text: string, lang = ""): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  return `${f}${lang}\n${text.endsWith("\n") ? text : text + "\n"}${f}`;
}

const quote = (text: string) =>
  text
    .split("\n")
    .map((l) => (l ? `> ${l}` : ">"))
    .join("\n");

export function toMarkdown(r: ExportRecord): string {
  const s = r.session;
  const out: string[] = [`# ${s.title || "Untitled session"}`, ""];
  const facts: string[] = [`- Session: \`${s.id}\`${s.opencodeSessionId ? ` (OpenCode \`${s.opencodeSessionId}\`)` : ""}`, `- Started: ${utc(s.createdAt)}`];
  if (s.model) facts.push(`- Model: ${s.model}${s.demo ? " (scripted demo)" : ""}`);
  if (s.agent) facts.push(`- Agent: ${s.agent}`);
  if (s.repository) facts.push(`- Repository: ${s.repository}`);
  if (s.workspace) facts.push(`- Workspace: \`${s.workspace}\``);
  facts.push(`- Exported: ${utc(r.exportedAt)} (room seq ${r.seq})${s.archived ? ", archived" : ""}`);
  if (r.logFrom > 1) facts.push(`- Who prompted and who answered is known from seq ${r.logFrom} on (older events are no longer kept)`);
  out.push(...facts, "");

  const byCall = new Map<string, RequestCredit[]>();
  const byMessage = new Map<string, RequestCredit[]>();
  const placed = new Set<string>();
  for (const q of r.requests) {
    const req = q.request as PermissionRequest;
    const key = typeof req.callID === "string" ? req.callID : undefined;
    const map = key ? byCall : byMessage;
    const k = key ?? (typeof req.messageID === "string" ? req.messageID : "");
    map.set(k, [...(map.get(k) ?? []), q]);
  }
  const requestLines = (list: RequestCredit[] | undefined) =>
    (list ?? []).map((q) => {
      placed.add(q.id);
      return requestLine(q);
    });

  for (const m of r.messages) {
    if (m.info.role === "user") out.push(...userMessage(m, r));
    else {
      out.push(`## Answer · ${utc(m.info.time.created)}`, "");
      for (const p of m.parts) {
        const block = partBlock(p);
        if (block) out.push(block, "");
        if (p.type === "tool" && typeof p.callID === "string") {
          const lines = requestLines(byCall.get(p.callID));
          if (lines.length) out.push(...lines, "");
        }
      }
      if (m.info.error) out.push(`**Error:** ${m.info.error.name}${typeof m.info.error.data?.message === "string" ? `: ${m.info.error.data.message}` : ""}`, "");
      const lines = requestLines(byMessage.get(m.info.id));
      if (lines.length) out.push(...lines, "");
    }
  }
  const rest = r.requests.filter((q) => !placed.has(q.id));
  if (rest.length) out.push("## Permissions and questions", "", ...rest.map(requestLine), "");
  if (r.todos.length) out.push("## Todos", "", ...r.todos.map((t) => `- [${t.status === "completed" ? "x" : " "}] ${t.content}${t.status === "completed" ? "" : ` (${t.status})`}`), "");
  if (r.diff.length) out.push("## Changes", "", ...r.diff.flatMap((d) => [fileDiff(d), ""]));
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

function userMessage(m: MessageWithParts, r: ExportRecord): string[] {
  const credit = r.prompts[m.info.id];
  const who = credit ? `${credit.by}${credit.fromChat ? ` (from ${credit.fromChat}'s chat message)` : ""}` : "unknown";
  const out = [`## Prompt by ${who} · ${utc(m.info.time.created)}`, ""];
  if (credit) out.push(`*Queued ${utc(credit.queuedAt)}${credit.startedAt ? `, started ${utc(credit.startedAt)}` : ""}.*`, "");
  for (const part of m.parts) {
    const p = parseKnownPart(part);
    // OpenCode's own additions to a prompt (file contents it read in) are not what was typed.
    if (p?.type === "text" && p.synthetic) continue;
    const block = partBlock(part);
    if (block) out.push(block, "");
  }
  return out;
}

function partBlock(part: Part): string | null {
  const p = parseKnownPart(part);
  if (!p) return `**${part.type}**\n\n${fence(JSON.stringify(part, null, 2), "json")}`;
  switch (p.type) {
    case "text":
      return p.text;
    case "reasoning":
      return p.text.trim() ? `**Reasoning**\n\n${quote(p.text.trim())}` : null;
    case "tool":
      return toolBlock(p);
    case "file":
      return `**File:** ${p.filename ?? p.url} (${p.mime})`;
    case "patch":
      return `**Changed files:** ${p.files.map((f) => `\`${f}\``).join(", ")}`;
    case "subtask":
      return `**Subtask** (${p.agent}): ${p.description}`;
    case "retry":
      return `**Retry** ${p.attempt}: ${p.error.name}`;
    case "step-start":
    case "step-finish":
    case "snapshot":
    case "compaction":
    case "agent":
      return null;
  }
}

function toolBlock(p: ToolPart): string {
  const st = p.state;
  const title = "title" in st && typeof st.title === "string" && st.title ? ` — ${st.title}` : "";
  const when = st.status !== "pending" ? ` · ${utc(st.time.start)}` : "";
  const out = [`### Tool \`${p.tool}\`${title} (${st.status})${when}`, "", "Input:", "", fence(JSON.stringify(st.input ?? {}, null, 2), "json")];
  if (st.status === "completed") out.push("", "Output:", "", fence(st.output));
  if (st.status === "error") out.push("", "Error:", "", fence(st.error));
  const diff = st.status !== "pending" ? st.metadata?.diff : undefined;
  if (typeof diff === "string" && diff.trim()) out.push("", "Diff:", "", fence(diff, "diff"));
  else if (p.tool === "write" && st.status === "completed" && st.metadata.exists === false) {
    // A new file: its diff is its content (the edit tool reports its own diff above).
    const { filePath, content } = st.input as { filePath?: unknown; content?: unknown };
    if (typeof filePath === "string" && typeof content === "string") out.push("", "Diff:", "", fence(patch(filePath, undefined, content), "diff"));
  }
  return out.join("\n");
}

function requestLine(q: RequestCredit): string {
  const what =
    q.kind === "permission"
      ? `Permission \`${(q.request as PermissionRequest).permission}\`${(q.request as PermissionRequest).patterns.length ? ` for \`${(q.request as PermissionRequest).patterns.join(" ")}\`` : ""}`
      : `Question: ${(q.request as QuestionRequest).questions.map((x) => x.question).join(" / ")}`;
  const asked = `asked ${utc(q.askedAt)}`;
  if (q.by !== undefined) {
    const how = q.kind === "permission" ? replyWords(q.reply) : q.answers ? `answered ${q.answers.map((a) => a.join(", ")).join(" / ")}` : "dismissed";
    const message = q.message ? ` ("${q.message}")` : "";
    return `- ${what}, ${asked}: **${how}** by ${q.by} at ${utc(q.answeredAt ?? q.askedAt)}${message}`;
  }
  return `- ${what}, ${asked}: ${q.closed ? "closed without an answer from the room" : "not answered"}`;
}

function replyWords(reply: string | undefined): string {
  if (reply === "once") return "approved once";
  if (reply === "always") return "approved always";
  if (reply === "reject") return "rejected";
  return reply ?? "answered";
}

function fileDiff(d: FileDiff): string {
  const counts = d.additions !== undefined || d.deletions !== undefined ? ` (+${d.additions ?? 0} −${d.deletions ?? 0})` : "";
  const head = `### \`${d.file}\`${counts}`;
  if (d.before === undefined && d.after === undefined) return head;
  return `${head}\n\n${fence(patch(d.file, d.before, d.after ?? ""), "diff")}`;
}

/** A unified diff of one file (`before` undefined: a new file). */
function patch(file: string, before: string | undefined, after: string): string {
  const text = createTwoFilesPatch(before === undefined ? "/dev/null" : `a/${file}`, `b/${file}`, before ?? "", after, undefined, undefined, { context: 3 });
  // The patch's own `Index:`/`===` preamble says nothing the heading does not.
  return text
    .split("\n")
    .filter((l) => !l.startsWith("Index:") && !/^=+$/.test(l))
    .join("\n");
}
