/**
 * Chat in the room: people talking about the run, beside the transcript. Pure and free of I/O, so
 * the room (party/room/chat-store.ts, over SQLite) and every client (`ChatThread`, in memory) fold
 * the same durable events the same way and agree on who may do what.
 *
 * Chat events are ordinary room events (seq, log, replay, snapshot), so everything that carries the
 * transcript carries the chat. The agent never receives them: the runner's connection gets only
 * runner frames, and a chat message reaches the agent only when a driver queues it as a prompt
 * ("Ask the agent", `chat.ask`).
 */
import type { ChatMessage, Role, RoomEventBody } from "./protocol.ts";

export type ChatEventBody = Extract<RoomEventBody, { type: "chat.add" | "chat.edit" | "chat.delete" | "chat.asked" }>;
export type ChatEvent = ChatEventBody & { seq: number; ts: number };

const CHAT_EVENT_TYPES: ReadonlySet<string> = new Set(["chat.add", "chat.edit", "chat.delete", "chat.asked"]);
export const isChatEvent = <T extends { type: string }>(ev: T): ev is T & ChatEventBody => CHAT_EVENT_TYPES.has(ev.type);

/**
 * The message after one event, or undefined when the event does not apply (an edit of a message
 * never added, anything after a delete but the delete itself). `seq`/`ts` are the event's own.
 */
export function reduceChat(current: ChatMessage | undefined, ev: ChatEventBody, seq: number, ts: number): ChatMessage | undefined {
  switch (ev.type) {
    case "chat.add":
      // Idempotent by id: the first add wins (a replay or a resent frame changes nothing).
      return current ?? { ...ev.message, seq };
    case "chat.edit":
      if (!current || current.deleted) return undefined;
      return { ...current, text: ev.text, editedAt: ts };
    case "chat.delete":
      if (!current || current.deleted) return undefined;
      return { ...withoutText(current), deleted: { by: ev.by, at: ts } };
    case "chat.asked":
      if (!current || current.deleted) return undefined;
      return { ...current, asked: { by: ev.by, queueId: ev.queueId } };
  }
}

function withoutText(m: ChatMessage): ChatMessage {
  const { editedAt: _e, asked: _a, ...rest } = m;
  return { ...rest, text: "" };
}

/**
 * What the log keeps of an earlier event of a message deleted since: the same event without the
 * text, so a replay shows where the message was and that it was deleted, never what it said.
 */
export function scrubbed(ev: ChatEventBody): ChatEventBody {
  if (ev.type === "chat.add") return { ...ev, message: { ...ev.message, text: "" } };
  if (ev.type === "chat.edit") return { ...ev, text: "" };
  return ev;
}

// ───────────────────────────── who may do what ─────────────────────────────

/** What the room knows of a sender: role, name, and the link (token) they came in with. */
export interface ChatActor {
  role: Role;
  name: string;
  linkId: string;
  /** The link lets a viewer post (`canChat` when it was minted). */
  linkAllowsChat: boolean;
}

/** Owners, drivers and approvers always; viewers when their link says so; the agent never. */
export function mayChat(a: Pick<ChatActor, "role" | "linkAllowsChat">): boolean {
  if (a.role === "owner" || a.role === "driver" || a.role === "approver") return true;
  return a.role === "viewer" && a.linkAllowsChat;
}

/** A message is one's own when it was written with the same link (the same token). */
export const isOwnMessage = (a: Pick<ChatActor, "linkId">, m: ChatMessage): boolean => m.author.linkId === a.linkId;

/** Edit: only your own message, and only while it is not deleted. */
export const mayEdit = (a: ChatActor, m: ChatMessage): boolean => mayChat(a) && !m.deleted && isOwnMessage(a, m);

/** Delete: your own message, or any message when you are an owner. */
export const mayDelete = (a: ChatActor, m: ChatMessage): boolean => !m.deleted && (a.role === "owner" || (mayChat(a) && isOwnMessage(a, m)));

/** "Ask the agent": drivers and owners, on a message that still has its text and was not sent yet. */
export const mayAsk = (a: Pick<ChatActor, "role">, m: ChatMessage): boolean =>
  (a.role === "owner" || a.role === "driver") && !m.deleted && !m.asked && m.text.trim().length > 0;

/** The prompt a chat message becomes: its text as written (the queue item names both people). */
export const promptTextOf = (m: ChatMessage): string => m.text;

// ───────────────────────────── mentions ─────────────────────────────

/** True when `text` mentions `@name` (case-insensitive; a name's spaces may be written as-is). */
export function mentions(text: string, name: string): boolean {
  const n = name.trim();
  if (!n) return false;
  const escaped = n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w@])@${escaped}(?![\\w-])`, "i").test(text);
}

// ───────────────────────────── a client's chat ─────────────────────────────

/**
 * A client's view of the chat: messages in seq order, by id, and comments grouped by part. Loaded
 * from a snapshot, extended by events and by older pages. Messages are immutable values (a change
 * replaces the object), so a view can compare by identity.
 */
export class ChatThread {
  /** Messages in seq order (oldest first). */
  readonly messages: ChatMessage[] = [];
  /** True when older messages exist than `messages[0]` (`chat.history`). */
  hasMore = false;
  readonly #byId = new Map<string, ChatMessage>();

  /** Replaces everything with a snapshot's page. */
  load(messages: readonly ChatMessage[], hasMore: boolean): void {
    this.messages.length = 0;
    this.#byId.clear();
    for (const m of messages) this.#put(m);
    this.messages.sort((a, b) => a.seq - b.seq);
    this.hasMore = hasMore;
  }

  /** Puts an older page in front; messages already held stay as they are. Returns how many were added. */
  prepend(page: readonly ChatMessage[], hasMore: boolean): number {
    const fresh = page.filter((m) => !this.#byId.has(m.id));
    for (const m of fresh) this.#byId.set(m.id, m);
    this.messages.unshift(...fresh);
    this.messages.sort((a, b) => a.seq - b.seq);
    this.hasMore = hasMore;
    return fresh.length;
  }

  /** Folds one chat event; returns the message it changed, if any. */
  apply(ev: ChatEvent): ChatMessage | undefined {
    const id = ev.type === "chat.add" ? ev.message.id : ev.id;
    const current = this.#byId.get(id);
    const next = reduceChat(current, ev, ev.seq, ev.ts);
    if (!next || next === current) return undefined;
    if (current) {
      const i = this.messages.lastIndexOf(current);
      if (i >= 0) this.messages[i] = next;
      this.#byId.set(id, next);
    } else this.#put(next);
    return next;
  }

  get(id: string): ChatMessage | undefined {
    return this.#byId.get(id);
  }

  /** The oldest seq held: the `before` cursor of the next page. */
  get oldestSeq(): number | undefined {
    return this.messages[0]?.seq;
  }

  #put(m: ChatMessage): void {
    this.#byId.set(m.id, m);
    this.messages.push(m);
  }
}

/** Comments per part id (deleted ones not counted). */
export function commentCounts(messages: readonly ChatMessage[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of messages) if (m.partID && !m.deleted) out.set(m.partID, (out.get(m.partID) ?? 0) + 1);
  return out;
}

/** Messages after `seenSeq` written by someone else: the unread count. */
export function unreadCount(messages: readonly ChatMessage[], seenSeq: number, you: Pick<ChatActor, "linkId"> | null): number {
  let n = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.seq <= seenSeq) break;
    if (!m.deleted && (!you || m.author.linkId !== you.linkId)) n++;
  }
  return n;
}
