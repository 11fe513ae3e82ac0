/**
 * The transcript as terminal lines, in blocks: a message's header, each of its parts, then what
 * the run waits for (permissions, questions) and the queue. A block is `final` once it cannot
 * change any more (a finished text, a tool done or failed): the screen prints final blocks once
 * into the terminal's scrollback and redraws only the rest. State comes from the app's own
 * reducer (shared/transcript.ts); this file only draws it.
 */
import { parseKnownPart, type KnownPart, type Part, type ToolPart, type ToolState } from "../shared/parts.ts";
import type { PermissionRequest, QuestionRequest } from "../shared/protocol.ts";
import type { MessageEntry, Transcript } from "../shared/transcript.ts";
import { diffLines, diffStats, shortPath, toolFileChange, toolTitle } from "../shared/tool-view.ts";
import { clipTo, displayWidth, oneLine, para, type Paint } from "./text.ts";

export interface Block {
  key: string;
  lines: string[];
  final: boolean;
}

export interface RenderOptions {
  width: number;
  paint: Paint;
  now: number;
  /** Lines of a diff shown before "… N more lines". */
  maxDiffLines?: number;
  /** Keys the driver can press, shown beside a wait; absent for a viewer. */
  driver?: boolean;
}

const DIFF_LINES = 24;

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  return s < 60 ? `${s < 10 ? s.toFixed(1) : Math.round(s)}s` : `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The tool's one-line summary: what it did, in a few words. */
export function toolSummary(tool: string, state: ToolState): string {
  const change = toolFileChange(tool, state);
  if (change) {
    const s = diffStats(diffLines(change.before, change.after));
    return `+${s.add} −${s.del}`;
  }
  if (state.status === "error") return state.error;
  if (tool === "bash") {
    const cmd = str(state.input?.command);
    // The command, unless the title already is the command.
    const shown = cmd && toolTitle(tool, state) !== cmd ? `$ ${cmd}` : "";
    if (state.status !== "completed") return shown;
    const out = state.output.split("\n").filter((l) => l.trim());
    const lines = `${out.length} line${out.length === 1 ? "" : "s"} of output${out[0] ? ": " + out[0] : ""}`;
    return shown ? `${shown} → ${lines}` : lines;
  }
  if (state.status === "completed") {
    const first = state.output.split("\n").find((l) => l.trim());
    return first ?? "";
  }
  return "";
}

function toolLines(part: ToolPart, o: RenderOptions): string[] {
  const { paint: p, width } = o;
  const st = part.state;
  const icon = { pending: p.yellow("○"), running: p.cyan("◐"), completed: p.green("✓"), error: p.red("✗") }[st.status];
  const when =
    st.status === "running"
      ? p.cyan(`running ${duration(o.now - st.time.start)}`)
      : st.status === "completed"
        ? p.dim(duration(st.time.end - st.time.start))
        : st.status === "error"
          ? p.red("failed")
          : p.yellow("pending");
  const title = toolTitle(part.tool, st);
  const head = `${p.bold(part.tool)}${title ? " " + title : ""}`;
  const headPlain = `${part.tool}${title ? " " + title : ""}`;
  const room = width - 4 - displayWidth(`${st.status} 00.0s`);
  const headLine = `${icon} ${displayWidth(headPlain) > room ? p.bold(part.tool) + " " + clipTo(title, Math.max(8, room - part.tool.length - 1)) : head}  ${when}`;
  const lines = [headLine];
  const summary = toolSummary(part.tool, st);
  if (summary) {
    const paintSummary = st.status === "error" ? p.red : p.dim;
    lines.push("  " + paintSummary(oneLine(summary, width - 3)));
  }
  const change = toolFileChange(part.tool, st);
  if (change) lines.push(...diffBlock(change.before, change.after, o));
  if (part.tool === "todowrite" && Array.isArray(st.input?.todos)) {
    for (const t of st.input.todos as { content?: unknown; status?: unknown }[]) {
      const done = t.status === "completed";
      const mark = done ? p.green("☑") : t.status === "in_progress" ? p.cyan("▶") : "☐";
      lines.push(`  ${mark} ${oneLine(String(t.content ?? ""), width - 6)}`);
    }
  }
  return lines;
}

/** A diff in colour: added lines green, removed red, hunk headers cyan; long ones cut. */
export function diffBlock(before: string, after: string, o: RenderOptions): string[] {
  const { paint: p, width } = o;
  const all = diffLines(before, after);
  const max = o.maxDiffLines ?? DIFF_LINES;
  const out: string[] = [];
  for (const l of all.slice(0, max)) {
    if (l.kind === "hunk") out.push("  " + p.cyan(l.text));
    else {
      const sign = l.kind === "add" ? "+" : l.kind === "del" ? "-" : " ";
      const no = String((l.kind === "del" ? l.oldNo : l.newNo) ?? "").padStart(4);
      const text = clipTo(`${sign} ${l.text}`, width - 9);
      const paint = l.kind === "add" ? p.green : l.kind === "del" ? p.red : (s: string) => s;
      out.push(`  ${p.dim(no)} ${paint(text)}`);
    }
  }
  if (all.length > max) out.push("  " + p.dim(`… ${all.length - max} more lines`));
  return out;
}

function partFinal(part: KnownPart | null, m: MessageEntry, isLastPart: boolean): boolean {
  if (!part) return true;
  if (part.type === "tool") return part.state.status === "completed" || part.state.status === "error";
  if (part.type === "text" || part.type === "reasoning") {
    return part.time?.end !== undefined || m.info.time.completed !== undefined || !isLastPart || m.info.role === "user";
  }
  return true;
}

function partLines(raw: Part, part: KnownPart | null, m: MessageEntry, o: RenderOptions): string[] {
  const { paint: p, width } = o;
  // A part this build does not know is named, never dropped.
  if (!part) return [`  ${p.dim(`[${raw.type}]`)}`];
  switch (part.type) {
    case "text":
      if (part.synthetic || part.ignored || !part.text) return [];
      if (m.info.role === "user") return para(part.text, width, p.bold, "  ", p.magenta("› "));
      return para(part.text.replace(/\n+$/, ""), width, undefined, "  ");
    case "reasoning":
      return part.text.trim() ? para(part.text.trim(), width, (s) => p.dim(p.italic(s)), "  ", p.dim("  ∴ ")) : [];
    case "tool":
      return toolLines(part, o).map((l) => "  " + l);
    case "patch":
      return [`  ${p.dim("files changed:")} ${oneLine(part.files.map((f) => shortPath(f)).join(", "), width - 18)}`];
    case "file":
      return [`  ${p.dim("file:")} ${oneLine(part.filename ?? part.url, width - 9)}`];
    case "retry":
      return [`  ${p.yellow(`retrying (attempt ${part.attempt})`)} ${p.dim(oneLine(String(part.error.data.message ?? part.error.name), width - 30))}`];
    case "subtask":
      return [`  ${p.bold("subtask")} ${oneLine(`${part.agent}: ${part.description}`, width - 12)}`];
    case "compaction":
      return [`  ${p.dim("· context compacted")}`];
    case "step-start":
    case "step-finish":
    case "snapshot":
    case "agent":
      return [];
    default:
      return [];
  }
}

const memo = new WeakMap<object, { width: number; lines: string[] }>();

/** Blocks of one message; final parts are drawn once per width (parts are immutable values). */
function messageBlocks(m: MessageEntry, o: RenderOptions, out: Block[]): void {
  const { paint: p } = o;
  // A blank line between messages.
  out.push({ key: `${m.info.id}:head`, lines: [""], final: true });
  m.parts.forEach((part, i) => {
    const cached = memo.get(part);
    let lines: string[];
    let final = true;
    if (cached && cached.width === o.width) lines = cached.lines;
    else {
      const known = parseKnownPart(part);
      final = cached !== undefined || partFinal(known, m, i === m.parts.length - 1);
      lines = partLines(part, known, m, o);
      if (final) memo.set(part, { width: o.width, lines });
    }
    out.push({ key: `${m.info.id}:${part.id}`, lines, final });
  });
  if (m.info.error) {
    const msg = str(m.info.error.data?.message) ?? m.info.error.name;
    out.push({ key: `${m.info.id}:error`, lines: para(msg, o.width, p.red, "  ", "  " + p.red("error: ")), final: m.info.time.completed !== undefined });
  }
}

function permissionLines(r: PermissionRequest, o: RenderOptions): string[] {
  const { paint: p, width } = o;
  const what = r.title ?? (r.patterns.length ? r.patterns.join(" ") : r.permission);
  const lines = [p.yellow(p.bold("⚠ permission")) + " " + p.bold(r.permission) + " " + oneLine(what, width - 16 - r.permission.length)];
  // The patterns, unless the title already says them (OpenCode's "Run: <command>").
  if (r.patterns.length && r.title && !r.patterns.every((x) => r.title!.includes(x))) lines.push("  " + p.dim(oneLine(r.patterns.join(" "), width - 3)));
  lines.push("  " + (o.driver ? `${p.inverse(" y ")} allow once  ${p.inverse(" a ")} always  ${p.inverse(" n ")} reject` : p.dim("waiting for a driver to answer")));
  return lines;
}

function questionLines(r: QuestionRequest, o: RenderOptions): string[] {
  const { paint: p, width } = o;
  const lines: string[] = [];
  for (const q of r.questions) {
    lines.push(...para(q.question, width, p.bold, "  ", p.yellow(p.bold("? ")) + (q.header ? p.dim(`${q.header}: `) : "")));
    q.options.forEach((opt, i) => lines.push(`  ${p.cyan(String(i + 1))}) ${oneLine(opt.label + (opt.description ? ` — ${opt.description}` : ""), width - 8)}`));
  }
  lines.push("  " + (o.driver && r.questions.length === 1 && r.questions[0]!.options.length ? p.dim("press a number to answer") : p.dim("waiting for an answer")));
  return lines;
}

/** Every block of the transcript, in order, then the open requests and the queue (never final). */
export function renderBlocks(t: Transcript, o: RenderOptions): Block[] {
  const out: Block[] = [];
  for (const m of t.messages) messageBlocks(m, o, out);
  for (const r of t.permissions) out.push({ key: `perm:${r.id}`, lines: ["", ...permissionLines(r, o)], final: false });
  for (const r of t.questions) out.push({ key: `question:${r.id}`, lines: ["", ...questionLines(r, o)], final: false });
  if (t.queue.length) {
    const { paint: p } = o;
    out.push({ key: "queue", lines: ["", ...t.queue.map((q) => p.dim(`  queued (${q.by}): `) + oneLine(q.text, o.width - 14 - q.by.length))], final: false });
  }
  return out;
}

/** The bottom line: the session, the agent's state, the connection. */
export function statusLine(t: Transcript, o: RenderOptions & { connection: string; role?: string }): string {
  const { paint: p } = o;
  const s = t.session;
  const agent = !s ? "" : !s.agentOnline && s.agentStatus === "idle" ? p.dim("agent offline") : s.agentStatus === "idle" ? p.green("idle") : s.agentStatus === "waiting" ? p.yellow("waiting") : p.cyan(s.agentStatus);
  const conn = o.connection === "live" ? p.green("● live") : o.connection === "closed" ? p.dim("■ closed") : p.yellow(`○ ${o.connection}`);
  const parts = [conn, s ? oneLine(s.title || s.id, Math.max(10, o.width - 60)) : "", agent, s?.archived ? p.dim("archived") : "", o.role ? p.dim(o.role) : "", p.dim(`seq ${t.lastSeq}`)];
  return parts.filter(Boolean).join(p.dim(" · "));
}
