/**
 * People's commands (`ClientFrame`): the role check, the archive check, then each command.
 * Driving commands (prompt, queue.cancel, stop, mode.set, permission/question replies) need the
 * owner or driver role; an approver may answer permission requests and questions and read; a viewer
 * may only read (history, resync, typing); only an owner may let a redaction rule through. A refused frame gets an
 * error with its ref and changes nothing.
 */
import type { Connection } from "partyserver";
import { APPROVER_FRAME_TYPES, VIEWER_FRAME_TYPES, canDrive, isChatFrame, isJoinFrame, isReplayFrame, type ClientFrame, type QueueItem, type RoomEvent, type RoomEventBody, type ServerFrame } from "../../shared/protocol.ts";
import type { Limits } from "../../shared/limits.ts";
import type { ConnState } from "./conn-state.ts";
import type { MetaStore } from "./meta.ts";
import type { PromptQueue } from "./queue.ts";
import type { RequestStore } from "./requests.ts";
import type { TranscriptStore } from "./transcript-store.ts";
import type { ChatStore } from "./chat-store.ts";
import { chatActor, handleChatFrame } from "./chat-commands.ts";
import { mayChat } from "../../shared/chat.ts";
import { fitPage } from "./fit.ts";
import { ack, send, sendAgent, sendError } from "./send.ts";
import { handleReplayFrame, type ReplayHost } from "./replay-lead.ts";
import { handleJoinFrame, type JoinHost } from "./join-ask.ts";

/** What the commands need from the room. */
export interface CommandHost extends ReplayHost, JoinHost {
  readonly limits: Limits;
  readonly meta: MetaStore;
  readonly queue: PromptQueue;
  readonly requests: RequestStore;
  readonly transcript: TranscriptStore;
  readonly chat: ChatStore;
  /** Takes one token from this connection's chat bucket (chatRatePerSecond / chatBurst). */
  takeChat(connId: string, now: number): boolean;
  commit(bodies: readonly RoomEventBody[], extra?: (lastSeq: number) => void, now?: number): RoomEvent[];
  flush(): void;
  /** Sends a snapshot and its `caught-up`; the next live flush skips what the snapshot holds. */
  sendSnapshot(conn: WebSocket): void;
  agentConnection(): WebSocket | undefined;
  /** Stop to the runner now and to the next lease holder while the turn runs (party/room/lease.ts); false when nothing could stop. */
  stopAgent(by: string): boolean;
  maybeDispatch(): void;
  setTyping(conn: Connection<ConnState>, typing: boolean, where: "prompt" | "chat"): void;
}

export function handleClientFrame(room: CommandHost, conn: Connection<ConnState>, st: ConnState, f: ClientFrame, now: number): void {
  if (isChatFrame(f)) return handleChatFrame(room, conn, st, f, now);
  if (isReplayFrame(f)) return handleReplayFrame(room, conn, st, f);
  if (isJoinFrame(f)) return handleJoinFrame(room, conn, st, f, now);
  if (st.role === "viewer" && !VIEWER_FRAME_TYPES.includes(f.type)) {
    sendError(conn, "forbidden", `a viewer may not send ${f.type}`, f.ref);
    return;
  }
  if (st.role === "approver" && !APPROVER_FRAME_TYPES.includes(f.type)) {
    sendError(conn, "forbidden", `an approver may not send ${f.type}`, f.ref);
    return;
  }
  const driving = !VIEWER_FRAME_TYPES.includes(f.type);
  if (driving && !canDrive(st.role) && st.role !== "approver") {
    sendError(conn, "forbidden", `role ${st.role} may not send ${f.type}`, f.ref);
    return;
  }
  if (f.type === "redact.allow" && st.role !== "owner") {
    sendError(conn, "forbidden", "only an owner may let a redaction rule through", f.ref);
    return;
  }
  if (driving && room.meta.session().archived) {
    sendError(conn, "archived", "this session is archived and read-only", f.ref);
    return;
  }
  switch (f.type) {
    case "prompt":
      return prompt(room, conn, st, f, now);
    case "queue.cancel": {
      const item = room.queue.get(f.id);
      if (!item) return sendError(conn, "not_found", "no such queued prompt", f.ref);
      if (item.state !== "queued") return sendError(conn, "not_found", "that prompt was already handed to the agent", f.ref);
      room.commit([{ type: "queue.remove", id: f.id, reason: "cancelled", by: st.name }]);
      return ack(conn, f.ref, f.type);
    }
    case "stop": {
      if (!room.stopAgent(st.name)) return sendError(conn, "agent_offline", "no agent is connected and nothing runs to stop", f.ref);
      room.commit([{ type: "stop.requested", by: st.name }]);
      return ack(conn, f.ref, f.type);
    }
    case "mode.set": {
      room.commit([{ type: "mode.set", mode: f.mode, by: st.name }]);
      const agent = room.agentConnection();
      if (agent) sendAgent(agent, { type: "agent.mode", mode: f.mode });
      return ack(conn, f.ref, f.type);
    }
    case "redact.allow": {
      const before = room.meta.session().redactAllowed ?? [];
      const rules = before.includes(f.rule) ? before : [...before, f.rule];
      room.commit([{ type: "redact.allowed", rule: f.rule, rules, by: st.name }]);
      const agent = room.agentConnection();
      if (agent) sendAgent(agent, { type: "agent.redact.allow", rules });
      return ack(conn, f.ref, f.type);
    }
    case "permission.reply":
    case "question.reply": {
      const kind = f.type === "permission.reply" ? "permission" : "question";
      const req = room.requests.get(f.requestID);
      if (!req || req.kind !== kind) return sendError(conn, "not_found", `no such ${kind} request`, f.ref);
      if (req.state !== "open") return sendError(conn, "already_answered", `this ${kind} was already answered`, f.ref);
      if (f.type === "permission.reply") {
        room.commit([{ type: "permission.replied", requestID: f.requestID, reply: f.reply, message: f.message, by: st.name }]);
        const agent = room.agentConnection();
        if (agent) sendAgent(agent, { type: "agent.permission.reply", requestID: f.requestID, reply: f.reply, message: f.message });
      } else {
        room.commit([{ type: "question.replied", requestID: f.requestID, answers: f.answers, by: st.name }]);
        const agent = room.agentConnection();
        if (agent) sendAgent(agent, { type: "agent.question.reply", requestID: f.requestID, answers: f.answers });
      }
      ack(conn, f.ref, f.type);
      return room.maybeDispatch();
    }
    case "history":
      conn.send(historyFrame(room, f.ref, f.before, f.limit));
      return;
    case "chat.history":
      conn.send(chatHistoryFrame(room, f.ref, f.before, f.limit));
      return;
    case "resync":
      return room.sendSnapshot(conn);
    case "typing":
      // "Writing in chat…" only for people who may post there (no frame answers typing).
      if (f.where === "chat" && !mayChat(chatActor(conn, st))) return;
      return room.setTyping(conn, f.typing, f.where ?? "prompt");
  }
}

/** JSON characters of chat in a snapshot or a `chat.history` page: well inside the frame cap. */
export const CHAT_PAGE_CHARS = 256 * 1024;

function prompt(room: CommandHost, conn: Connection<ConnState>, st: ConnState, f: Extract<ClientFrame, { type: "prompt" }>, now: number): void {
  if (f.text.length > room.limits.maxPromptChars) {
    return sendError(conn, "prompt_too_large", `prompts are limited to ${room.limits.maxPromptChars} characters`, f.ref);
  }
  if (room.queue.seen(f.id)) {
    // Idempotent: the client resent a prompt we already have (e.g. after a reconnect).
    return send(conn, { type: "ack", ref: f.ref, command: "prompt", duplicate: true });
  }
  const item: QueueItem = {
    id: f.id,
    text: f.text,
    mode: f.mode ?? room.meta.session().mode,
    by: st.name,
    createdAt: now,
    state: "queued",
  };
  if (enqueuePrompt(room, item) === "queue_full") {
    return sendError(conn, "queue_full", `at most ${room.limits.maxQueuedPrompts} prompts may wait`, f.ref);
  }
  ack(conn, f.ref, "prompt");
  room.maybeDispatch();
}

/** Queues a prompt (with `also` in the same commit), unless the queue is full. The caller dispatches. */
export function enqueuePrompt(room: CommandHost, item: QueueItem, also: readonly RoomEventBody[] = []): "queued" | "queue_full" {
  if (room.queue.size() >= room.limits.maxQueuedPrompts) return "queue_full";
  room.commit([{ type: "queue.add", item }, ...also], undefined, item.createdAt);
  return "queued";
}

/** One page of older chat as a `chat.history` frame (also served to relays). */
export function chatHistoryFrame(room: Pick<CommandHost, "flush" | "chat" | "limits">, ref: string | undefined, before: number | undefined, limit: number | undefined): string {
  room.flush();
  const page = room.chat.page(before, limit ?? room.limits.chatSnapshotMessages, CHAT_PAGE_CHARS);
  return JSON.stringify({ type: "chat.history", ref, ...page } satisfies ServerFrame);
}

/** One page of older messages as a `history` frame under the frame cap (also served to relays). */
export function historyFrame(room: Pick<CommandHost, "flush" | "transcript" | "limits">, ref: string | undefined, before: string | undefined, limit: number | undefined): string {
  room.flush();
  return fitPage(
    (n) => room.transcript.page(before, n),
    (page) => JSON.stringify({ type: "history", ref, ...page } satisfies ServerFrame),
    limit ?? room.limits.historyPageMessages,
    room.limits.maxOutgoingFrameBytes,
  );
}
