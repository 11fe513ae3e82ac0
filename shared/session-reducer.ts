/**
 * THE session-state reducer: what each durable room event does to a session's state, written once
 * for the room (party/room/apply.ts, SQLite) and every client (shared/transcript.ts, memory).
 *
 * The two hold state very differently (tables with folded deltas and chunked fields; arrays
 * mutated in place with change records), so the state is an interface, `SessionState`, and this
 * file decides which of its operations each event performs, and what the session metadata
 * becomes, including the derived agent status. A holder only stores; it never decides.
 *
 * Adding an event type: its schema in shared/protocol.ts, one entry in `REDUCERS` below (the
 * compiler refuses a type without one), and docs/protocol.md. A new kind of state also adds an
 * operation to `SessionState`, implemented by both holders.
 */
import type { ChatEventBody } from "./chat.ts";
import type { FileDiff, Message, Part, Todo } from "./parts.ts";
import type { AgentStatus, PermissionRequest, QueueItem, QuestionRequest, RoomEventBody, SessionMeta } from "./protocol.ts";

/** What the runner reports; `waiting` is never reported, it is derived from open requests. */
export type RawAgentStatus = Exclude<AgentStatus, "waiting">;
export type RequestKind = "permission" | "question";

/** The status everyone sees: an open permission or question means the agent is waiting. */
export function deriveAgentStatus(raw: RawAgentStatus, openRequests: number): AgentStatus {
  return openRequests > 0 ? "waiting" : raw;
}

/** The operations an event may perform on a session's state. Each holder stores them its way. */
export interface SessionState {
  /** Stores a message's info; returns it as stored (the room shortens large fields). */
  upsertMessage(message: Message, seq: number): Message;
  removeMessage(messageID: string): void;
  /** Stores a part's full snapshot; returns the part as stored (the room shortens large fields). */
  upsertPart(part: Part, seq: number): Part;
  appendDelta(messageID: string, partID: string, field: string, delta: string, seq: number): void;
  removePart(messageID: string, partID: string): void;

  /** Replaces the session metadata with `patch` applied (an `undefined` value removes the key). */
  patchSession(patch: Partial<SessionMeta>): void;
  rawStatus(): RawAgentStatus;
  setRawStatus(status: RawAgentStatus, detail: { message?: string; attempt?: number }): void;

  /** May return the request as stored and sent, when the holder shortened it (the room does). */
  askRequest(kind: RequestKind, request: PermissionRequest | QuestionRequest, ts: number): PermissionRequest | QuestionRequest | void;
  /** Someone answered (by id, whatever its kind): the request is no longer open. */
  answerRequest(requestID: string, answer: unknown): void;
  /** OpenCode is done with it (answered there, timed out): no longer open. */
  closeRequest(requestID: string): void;
  openRequestCount(): number;

  queueAdd(item: QueueItem): void;
  queueUpdate(item: QueueItem): void;
  queueRemove(id: string): void;

  /** These may return the value as stored and sent, when the holder shortened it (the room does). */
  setTodos(todos: Todo[]): Todo[] | void;
  setDiff(diff: FileDiff[]): FileDiff[] | void;
  /** A person asked the agent to stop (clients show "stopping…"; the room keeps nothing). */
  stopRequested(by: string, seq: number, ts: number): void;
  /**
   * People's chat; shared/chat.ts `reduceChat` decides what each chat event does to a message.
   * True when it changed one (a `chat.add` of an id already held changes nothing).
   */
  applyChat(ev: ChatEventBody, seq: number, ts: number): boolean;
  /** `session.chatCount`: chat messages ever posted, what unread chat counts against. */
  chatCount(): number;
}

type Body<K extends RoomEventBody["type"]> = Extract<RoomEventBody, { type: K }>;
type Reducer<K extends RoomEventBody["type"]> = (state: SessionState, ev: Body<K>, seq: number, ts: number) => RoomEventBody | void;

/** Recomputes the derived status after anything that changes the raw status or open requests. */
function refreshStatus(state: SessionState, patch: Partial<SessionMeta> = {}): void {
  state.patchSession({ ...patch, agentStatus: deriveAgentStatus(state.rawStatus(), state.openRequestCount()) });
}

/**
 * One entry per event type. Returning a body replaces the event as logged and fanned out (a part
 * or message comes back shortened); returning nothing keeps it as it is.
 */
const REDUCERS: { [K in RoomEventBody["type"]]: Reducer<K> } = {
  "message.upsert": (s, ev, seq) => ({ type: "message.upsert", message: s.upsertMessage(ev.message, seq) }),
  "message.remove": (s, ev) => s.removeMessage(ev.messageID),
  "part.upsert": (s, ev, seq) => ({ type: "part.upsert", part: s.upsertPart(ev.part, seq) }),
  "part.delta": (s, ev, seq) => s.appendDelta(ev.messageID, ev.partID, ev.field, ev.delta, seq),
  "part.remove": (s, ev) => s.removePart(ev.messageID, ev.partID),
  status: (s, ev) => {
    s.setRawStatus(ev.status, { message: ev.message, attempt: ev.attempt });
    // The last turn's error banner stays until a new turn starts.
    refreshStatus(s, ev.status === "busy" ? { lastError: undefined } : {});
  },
  "session.error": (s, ev) => s.patchSession({ lastError: ev.error }),
  "session.info": (s, ev) => {
    const patch: Partial<SessionMeta> = {};
    if (ev.title !== undefined) patch.title = ev.title;
    if (ev.opencodeSessionId !== undefined) patch.opencodeSessionId = ev.opencodeSessionId;
    if (ev.model !== undefined) patch.model = ev.model;
    if (ev.demo !== undefined) patch.demo = ev.demo;
    if (ev.workspace !== undefined) patch.workspace = ev.workspace;
    if (ev.redacted !== undefined) patch.redacted = ev.redacted;
    s.patchSession(patch);
  },
  "permission.asked": (s, ev, _seq, ts) => {
    const stored = s.askRequest("permission", ev.request, ts);
    refreshStatus(s);
    if (stored) return { ...ev, request: stored as PermissionRequest };
  },
  "question.asked": (s, ev, _seq, ts) => {
    const stored = s.askRequest("question", ev.request, ts);
    refreshStatus(s);
    if (stored) return { ...ev, request: stored as QuestionRequest };
  },
  "permission.replied": (s, ev) => {
    s.answerRequest(ev.requestID, { reply: ev.reply, message: ev.message });
    refreshStatus(s);
  },
  "question.replied": (s, ev) => {
    s.answerRequest(ev.requestID, { answers: ev.answers });
    refreshStatus(s);
  },
  "request.closed": (s, ev) => {
    s.closeRequest(ev.requestID);
    refreshStatus(s);
  },
  "todo.update": (s, ev) => {
    const stored = s.setTodos(ev.todos.slice());
    if (stored) return { type: "todo.update", todos: stored };
  },
  "diff.update": (s, ev) => {
    const stored = s.setDiff(ev.diff.slice());
    if (stored) return { type: "diff.update", diff: stored };
  },
  "queue.add": (s, ev) => s.queueAdd(ev.item),
  "queue.update": (s, ev) => s.queueUpdate(ev.item),
  "queue.remove": (s, ev) => s.queueRemove(ev.id),
  "mode.set": (s, ev) => s.patchSession({ mode: ev.mode }),
  "stop.requested": (s, ev, seq, ts) => s.stopRequested(ev.by, seq, ts),
  // A runner taking the session ends any wait; `waiting` says why nobody takes it (all full).
  "agent.presence": (s, ev) => s.patchSession({ agentOnline: ev.online, runnerWait: ev.online ? undefined : ev.waiting }),
  "session.archived": (s, ev) => s.patchSession({ archived: ev.archived }),
  "session.allowedOrigins": (s, ev) => s.patchSession({ allowedOrigins: ev.origins.slice() }),
  "redact.allowed": (s, ev) => s.patchSession({ redactAllowed: ev.rules.slice() }),
  "chat.add": (s, ev, seq, ts) => {
    if (s.applyChat(ev, seq, ts)) s.patchSession({ chatCount: s.chatCount() + 1 });
  },
  "chat.edit": (s, ev, seq, ts) => void s.applyChat(ev, seq, ts),
  "chat.delete": (s, ev, seq, ts) => void s.applyChat(ev, seq, ts),
  "chat.asked": (s, ev, seq, ts) => void s.applyChat(ev, seq, ts),
};

/**
 * Folds one event into `state` and returns the body to log and fan out. A type this build does not
 * know (a client talking to a newer room) changes nothing and comes back as it is.
 */
export function reduceSessionEvent(state: SessionState, body: RoomEventBody, seq: number, ts: number): RoomEventBody {
  const reducer = REDUCERS[body.type] as Reducer<RoomEventBody["type"]> | undefined;
  if (!reducer) return body;
  return reducer(state, body as never, seq, ts) ?? body;
}
