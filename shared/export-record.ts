/**
 * A session as a file (`GET /api/sessions/:id/export`, docs/protocol.md "Export"): what the room
 * holds of it, gathered once and rendered as Markdown (shared/export-markdown.ts) or as the JSON
 * `opencode import` reads (shared/export-opencode.ts).
 *
 * The transcript is the one the app folds (shared/transcript.ts: the snapshot, then history pages);
 * who prompted and who answered each request is read from the room's event log, which keeps the
 * names (`queue.add`'s `by`, `permission.replied`'s `by`) that the transcript itself does not.
 */
import { z } from "zod";
import type { FileDiff, MessageWithParts, Todo } from "./parts.ts";
import type { PermissionRequest, QuestionRequest, RoomEvent, SessionMeta } from "./protocol.ts";
import type { Transcript } from "./transcript.ts";

export const ExportFormatSchema = z.enum(["md", "json"]);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

/** The response's media type and file extension for each format. */
export const EXPORT_TYPES: Record<ExportFormat, { contentType: string; ext: string }> = {
  md: { contentType: "text/markdown; charset=utf-8", ext: "md" },
  json: { contentType: "application/json; charset=utf-8", ext: "json" },
};

/** Who put a prompt in the queue, and when it was queued and started. */
export interface PromptCredit {
  queueId: string;
  by: string;
  text: string;
  queuedAt: number;
  startedAt?: number;
  /** A driver sent someone's chat message to the agent: whose it was. */
  fromChat?: string;
}

/** A permission or question the agent asked, and who answered it how. */
export interface RequestCredit {
  id: string;
  kind: "permission" | "question";
  askedAt: number;
  request: PermissionRequest | QuestionRequest;
  by?: string;
  answeredAt?: number;
  /** A permission's reply (`once`, `always`, `reject`) and the message given with a rejection. */
  reply?: string;
  message?: string;
  /** A question's answers, one list per question (null: dismissed). */
  answers?: string[][] | null;
  /** Closed without an answer from the room (answered in OpenCode, or timed out). */
  closed?: boolean;
}

export interface ExportRecord {
  session: SessionMeta;
  /** Every message the room holds, oldest first, with full (unshortened) parts. */
  messages: MessageWithParts[];
  diff: FileDiff[];
  todos: Todo[];
  /** Who prompted, by user message id. */
  prompts: Record<string, PromptCredit>;
  requests: RequestCredit[];
  /** The first seq the log still held: 1 when every prompt and answer could be credited. */
  logFrom: number;
  /** The room's seq the export reflects. */
  seq: number;
  exportedAt: number;
}

/** The event types that carry credits (the rest of the log is already folded in the transcript). */
export const CREDIT_EVENTS: ReadonlySet<string> = new Set([
  "queue.add",
  "queue.remove",
  "permission.asked",
  "question.asked",
  "permission.replied",
  "question.replied",
  "request.closed",
]);

/** Collects credits from the log's events, oldest first. */
export class CreditLog {
  readonly #queued = new Map<string, PromptCredit>();
  /** Prompts in the order they started: user messages are matched against these. */
  readonly #started: PromptCredit[] = [];
  readonly #requests = new Map<string, RequestCredit>();

  add(ev: RoomEvent): void {
    switch (ev.type) {
      case "queue.add": {
        const { item } = ev;
        this.#queued.set(item.id, { queueId: item.id, by: item.by, text: item.text, queuedAt: item.createdAt, ...(item.from ? { fromChat: item.from.author } : {}) });
        break;
      }
      case "queue.remove": {
        const p = this.#queued.get(ev.id);
        if (p && ev.reason === "started") this.#started.push({ ...p, startedAt: ev.ts });
        this.#queued.delete(ev.id);
        break;
      }
      case "permission.asked":
      case "question.asked": {
        const kind = ev.type === "permission.asked" ? "permission" : "question";
        const prev = this.#requests.get(ev.request.id);
        this.#requests.set(ev.request.id, { ...prev, id: ev.request.id, kind, askedAt: prev?.askedAt ?? ev.ts, request: ev.request });
        break;
      }
      case "permission.replied": {
        const r = this.#requests.get(ev.requestID);
        if (r && r.by === undefined) Object.assign(r, { by: ev.by, answeredAt: ev.ts, reply: ev.reply, ...(ev.message ? { message: ev.message } : {}) });
        break;
      }
      case "question.replied": {
        const r = this.#requests.get(ev.requestID);
        if (r && r.by === undefined) Object.assign(r, { by: ev.by, answeredAt: ev.ts, answers: ev.answers });
        break;
      }
      case "request.closed": {
        const r = this.#requests.get(ev.requestID);
        if (r && r.by === undefined) r.closed = true;
        break;
      }
    }
  }

  /**
   * Credits each user message with the prompt that made it: the next started prompt with the same
   * text (the runner sends a prompt's text as the message's text), else the next started one.
   */
  prompts(messages: readonly MessageWithParts[]): Record<string, PromptCredit> {
    const open = this.#started.slice();
    const out: Record<string, PromptCredit> = {};
    for (const m of messages) {
      if (m.info.role !== "user" || open.length === 0) continue;
      const text = messageText(m).trim();
      let i = open.findIndex((p) => p.text.trim() === text);
      if (i < 0) i = 0;
      out[m.info.id] = open[i]!;
      open.splice(i, 1);
    }
    return out;
  }

  requests(): RequestCredit[] {
    return [...this.#requests.values()].sort((a, b) => a.askedAt - b.askedAt);
  }
}

/** A message's text parts, joined (what a person typed, or the agent's answer). */
export function messageText(m: MessageWithParts): string {
  return m.parts.map((p) => (p.type === "text" && typeof p.text === "string" ? p.text : "")).join("");
}

/**
 * The record, from the transcript the app would hold (`messages`: its messages with shortened
 * fields read back in full) and the credits read from the log.
 */
export function exportRecord(
  t: Pick<Transcript, "session" | "diff" | "todos" | "lastSeq">,
  messages: MessageWithParts[],
  credits: CreditLog,
  logFrom: number,
  exportedAt: number,
): ExportRecord {
  if (!t.session) throw new Error("the transcript has no session yet");
  return { session: t.session, messages, diff: t.diff, todos: t.todos, prompts: credits.prompts(messages), requests: credits.requests(), logFrom, seq: t.lastSeq, exportedAt };
}

/** A file name for the export: the title's words, the session id, the extension. */
export function exportFileName(session: Pick<SessionMeta, "id" | "title">, format: ExportFormat): string {
  const words = slugOf(session.title);
  return `${words ? `${words}-` : ""}${session.id}.${EXPORT_TYPES[format].ext}`;
}

/** A title as lowercase words joined by dashes (a file name, OpenCode's session slug). */
export function slugOf(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
}
