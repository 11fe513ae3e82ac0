/**
 * The session state every event definition (shared/events/*.ts) changes, as an interface: the room
 * (party/room/apply.ts, SQLite) and every client (shared/transcript.ts, memory) hold state very
 * differently, so the definitions decide what happens and a holder only stores.
 */
import type { ChatEventBody } from "../chat.ts";
import type { Message, Part } from "../parts.ts";
import type { AgentStatus, PermissionRequest, QueueItem, QuestionRequest, SessionMeta } from "../session-schemas.ts";
import type { SliceName, SliceValues } from "./registry.ts";

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

  /** A slice's current value (shared/events/define.ts `defineSlice`). */
  slice<N extends SliceName>(name: N): SliceValues[N];
  /** Stores a slice's value; may return it as stored and sent, when the holder shortened it (the room does). */
  setSlice<N extends SliceName>(name: N, value: SliceValues[N]): SliceValues[N] | void;
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

/** Recomputes the derived status after anything that changes the raw status or open requests. */
export function refreshStatus(state: SessionState, patch: Partial<SessionMeta> = {}): void {
  state.patchSession({ ...patch, agentStatus: deriveAgentStatus(state.rawStatus(), state.openRequestCount()) });
}
