/**
 * ACP `session/update` notifications → room events, for one turn (one `session/prompt`).
 *
 * The room's transcript is OpenCode-shaped (messages of parts), so an ACP turn becomes one
 * assistant message: consecutive message chunks one text part, thought chunks one reasoning part,
 * each tool call one tool part (ACP's pending/in_progress/completed/failed → pending/running/
 * completed/error), a diff in its content the `edit` diff the room already renders, a plan the
 * session's todos. Text streams as `part.delta`; each part's full snapshot is sent when the next
 * part starts and when the turn ends, so the room folds the deltas then.
 */
import type { SessionNotification, ToolCallContent, ToolCall, ToolCallUpdate, PlanEntry, StopReason } from "@agentclientprotocol/sdk";
import type { MappedEvent } from "../event-map.ts";
import type { Part, Message, Todo } from "../../shared/parts.ts";
import { EventBodySchema, type EventBody } from "../../shared/protocol.ts";

type Update = SessionNotification["update"];
let partCounter = 0;

/** Part ids that sort by creation, like OpenCode's. */
export function newPartId(now = Date.now()): string {
  partCounter = (partCounter + 1) % 0x10000;
  return `prt_${now.toString(16).padStart(12, "0")}${partCounter.toString(16).padStart(4, "0")}${Math.random().toString(36).slice(2, 8)}`;
}

/** ACP tool kinds → the tool names the room renders specially. */
const TOOL_NAME: Record<string, string> = { execute: "bash", read: "read", edit: "edit", search: "grep", fetch: "webfetch", think: "think" };

const STATUS: Record<string, "pending" | "running" | "completed" | "error"> = {
  pending: "pending",
  in_progress: "running",
  completed: "completed",
  failed: "error",
};

function valid(body: EventBody): MappedEvent[] {
  const r = EventBodySchema.safeParse(body);
  return r.success ? [{ body: r.data }] : [];
}

const rec = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/**
 * The shell command in a tool call's raw input: a string (Claude Code, OpenCode), or an argv
 * (Codex: `["/bin/bash", "-lc", "cat notes.md && ls"]`, shown as its script).
 */
export function commandText(rawInput: unknown): string | undefined {
  const c = rec(rawInput).command;
  if (typeof c === "string") return c;
  if (!Array.isArray(c) || !c.length || !c.every((a) => typeof a === "string")) return undefined;
  const argv = c as string[];
  return argv.length === 3 && /^-l?c$/.test(argv[1]!) ? argv[2] : argv.join(" ");
}

interface ToolState {
  part: Part & { callID: string; tool: string };
  kind: string;
  status: "pending" | "running" | "completed" | "error";
  title: string;
  input: Record<string, unknown>;
  output: string;
  filediff?: { file: string; before: string; after: string; additions: number; deletions: number };
  terminals: string[];
  start: number;
}

export class AcpTurn {
  readonly messageID: string;
  private readonly sessionID: string | undefined;
  private readonly created: number;
  private open: { part: Part & { text: string }; kind: "text" | "reasoning" } | null = null;
  private readonly tools = new Map<string, ToolState>();
  /** Terminal output by terminal id, filled in by the client side (the runner runs them). */
  terminalOutput: (id: string) => string | undefined = () => undefined;
  ended = false;

  constructor(messageID: string, sessionID?: string, now = Date.now()) {
    this.messageID = messageID;
    this.sessionID = sessionID;
    this.created = now;
  }

  /** The assistant message's first snapshot. */
  begin(mode: string): MappedEvent[] {
    return valid({ type: "message.upsert", message: this.info({ agent: mode }) });
  }

  private info(extra: Partial<Message>): Message {
    return { id: this.messageID, ...(this.sessionID ? { sessionID: this.sessionID } : {}), role: "assistant", time: { created: this.created }, ...extra };
  }

  /** One `session/update`; unknown kinds give nothing (logged by the caller). */
  update(u: Update, now = Date.now()): { events: MappedEvent[]; known: boolean } {
    switch (u.sessionUpdate) {
      case "agent_message_chunk":
      case "agent_thought_chunk": {
        const kind = u.sessionUpdate === "agent_message_chunk" ? "text" : "reasoning";
        const text = u.content.type === "text" ? u.content.text : u.content.type === "resource_link" ? `[${u.content.name}](${u.content.uri})` : "";
        if (!text) return { events: [], known: true };
        const events: MappedEvent[] = [];
        if (this.open?.kind !== kind) {
          events.push(...this.closeOpen(now));
          const part = { id: newPartId(now), messageID: this.messageID, type: kind, text, time: { start: now } };
          this.open = { part, kind };
          events.push(...valid({ type: "part.upsert", part }));
        } else {
          this.open.part.text += text;
          events.push(...valid({ type: "part.delta", messageID: this.messageID, partID: this.open.part.id, field: "text", delta: text }));
        }
        return { events, known: true };
      }
      case "tool_call":
        return { events: [...this.closeOpen(now), ...this.tool(u, now, true)], known: true };
      case "tool_call_update":
        return { events: this.tool(u, now, false), known: true };
      case "plan":
        return { events: valid({ type: "todo.update", todos: u.entries.map(todoOf) }), known: true };
      case "user_message_chunk":
      case "available_commands_update":
      case "current_mode_update":
      case "config_option_update":
      case "session_info_update":
      case "usage_update":
        // Nothing the room shows: the prompt is the room's own, modes are the room's Build/Plan.
        return { events: [], known: true };
      default:
        return { events: [], known: false };
    }
  }

  private closeOpen(now: number): MappedEvent[] {
    if (!this.open) return [];
    const part = { ...this.open.part, time: { start: (this.open.part.time as { start: number }).start, end: now } };
    this.open = null;
    return valid({ type: "part.upsert", part });
  }

  private tool(u: (ToolCall | ToolCallUpdate) & { toolCallId: string }, now: number, isNew: boolean): MappedEvent[] {
    let t = this.tools.get(u.toolCallId);
    if (!t) {
      const kind = typeof u.kind === "string" ? u.kind : "other";
      const title = typeof u.title === "string" ? u.title : kind;
      t = {
        part: { id: newPartId(now), messageID: this.messageID, type: "tool", callID: u.toolCallId, tool: TOOL_NAME[kind] ?? (kind === "other" ? title.split(/\s/)[0]!.toLowerCase() : kind) },
        kind,
        status: "pending",
        title,
        input: {},
        output: "",
        terminals: [],
        start: now,
      };
      this.tools.set(u.toolCallId, t);
    }
    // A second `tool_call` for a known id (isNew) updates it like an update: agents resend with more detail.
    void isNew;
    if (typeof u.title === "string" && u.title) t.title = u.title;
    if (u.status && STATUS[u.status]) t.status = STATUS[u.status]!;
    if (u.rawInput !== undefined && u.rawInput !== null) {
      t.input = { ...t.input, ...rec(u.rawInput) };
      // A shell command is the room's bash, whatever the agent guessed it does (Codex calls
      // `cat f && ls` a search).
      const command = commandText(u.rawInput);
      if (command !== undefined) {
        t.input.command = command;
        t.part.tool = "bash";
      }
    }
    if (u.content) this.applyContent(t, u.content);
    if (u.rawOutput !== undefined && u.rawOutput !== null && !t.output) {
      const ro = u.rawOutput;
      const r = rec(ro);
      // A string, `{output|stdout}`, or content blocks (Claude Code sends `[{type:"text", text}]`).
      const blocks = Array.isArray(ro) && ro.every((b) => typeof rec(b).text === "string") ? ro.map((b) => rec(b).text as string).join("\n") : undefined;
      t.output = typeof ro === "string" ? ro : (blocks ?? (typeof r.output === "string" ? r.output : typeof r.stdout === "string" ? r.stdout : JSON.stringify(ro)));
    }
    if (t.part.tool === "bash" && typeof t.input.command !== "string" && t.title) t.input.command = t.title;
    return valid({ type: "part.upsert", part: this.toolPart(t, now) });
  }

  private applyContent(t: ToolState, content: ToolCallContent[]): void {
    const texts: string[] = [];
    for (const c of content) {
      if (c.type === "content" && c.content.type === "text") texts.push(c.content.text);
      else if (c.type === "diff") {
        const before = c.oldText ?? "";
        const lines = (s: string) => (s ? s.split("\n").length : 0);
        t.filediff = { file: c.path, before, after: c.newText, additions: Math.max(0, lines(c.newText) - lines(before)), deletions: Math.max(0, lines(before) - lines(c.newText)) };
        t.part.tool = "edit";
        t.input = { ...t.input, filePath: c.path };
      } else if (c.type === "terminal" && !t.terminals.includes(c.terminalId)) t.terminals.push(c.terminalId);
    }
    if (texts.length) t.output = texts.join("\n");
  }

  private toolPart(t: ToolState, now: number): Part {
    const term = t.terminals.map((id) => this.terminalOutput(id) ?? "").join("");
    const output = t.output || term;
    const metadata: Record<string, unknown> = { ...(t.filediff ? { filediff: t.filediff } : {}), ...(term ? { output: term } : {}) };
    // A whole-file write without a diff shows as the room's `write` (its input holds the content).
    const tool = t.filediff ? "edit" : t.kind === "edit" && typeof t.input.content === "string" ? "write" : t.part.tool;
    const base = { ...t.part, tool };
    switch (t.status) {
      case "pending":
        return { ...base, state: { status: "pending", input: t.input, raw: "" } };
      case "running":
        return { ...base, state: { status: "running", input: t.input, title: t.title, metadata, time: { start: t.start } } };
      case "completed":
        return { ...base, state: { status: "completed", input: t.input, output, title: t.title, metadata, time: { start: t.start, end: now } } };
      case "error":
        return { ...base, state: { status: "error", input: t.input, error: output || "failed", metadata, time: { start: t.start, end: now } } };
    }
  }

  /**
   * The turn ended (`session/prompt` answered, or failed): open parts closed, tools still running
   * marked failed, the message completed (an abort shown as OpenCode shows one).
   */
  end(stop: StopReason | { error: string }, now = Date.now()): MappedEvent[] {
    if (this.ended) return [];
    this.ended = true;
    const events = this.closeOpen(now);
    for (const t of this.tools.values()) {
      if (t.status === "pending" || t.status === "running") {
        t.status = "error";
        t.output = t.output || (stop === "cancelled" ? "Tool execution aborted" : "the turn ended before the tool finished");
        events.push(...valid({ type: "part.upsert", part: this.toolPart(t, now) }));
      }
    }
    const error =
      stop === "cancelled"
        ? { name: "MessageAbortedError", data: { message: "Aborted" } }
        : typeof stop === "object"
          ? { name: "AgentError", data: { message: stop.error.slice(0, 4_000) } }
          : undefined;
    const finish = typeof stop === "string" ? (stop === "end_turn" ? "stop" : stop) : "error";
    events.push(...valid({ type: "message.upsert", message: this.info({ time: { created: this.created, completed: now }, finish, ...(error ? { error } : {}) }) }));
    return events;
  }

  /** Tool calls whose part shows a terminal: their output changed. */
  refreshTerminal(terminalId: string, now = Date.now()): MappedEvent[] {
    const out: MappedEvent[] = [];
    for (const t of this.tools.values()) if (t.terminals.includes(terminalId)) out.push(...valid({ type: "part.upsert", part: this.toolPart(t, now) }));
    return out;
  }

  /** The room's tool name for a call, once it was shown. */
  toolName(toolCallId: string): string | undefined {
    return this.tools.get(toolCallId)?.part.tool;
  }
}

function todoOf(e: PlanEntry, i: number): Todo {
  return { id: String(i + 1), content: e.content, status: e.status, priority: e.priority };
}

/** The user's prompt as a room message with one text part. */
export function userMessage(messageID: string, text: string, queueId: string, now = Date.now()): MappedEvent[] {
  return [
    ...valid({ type: "message.upsert", message: { id: messageID, role: "user", time: { created: now }, queueId } }),
    ...valid({ type: "part.upsert", part: { id: newPartId(now), messageID, type: "text", text } }),
  ];
}
