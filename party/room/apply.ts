/**
 * Applies one durable event to the room's materialized state and returns the body to log and fan
 * out (a part with large fields comes back shortened, so the log and the wire never carry them).
 * Called inside the commit transaction, once per event, in seq order.
 */
import type { RoomEventBody, SessionMeta } from "../../shared/protocol.ts";
import type { MetaStore } from "./meta.ts";
import type { TranscriptStore } from "./transcript-store.ts";
import type { PromptQueue } from "./queue.ts";
import type { RequestStore } from "./requests.ts";
import type { ChatStore } from "./chat-store.ts";

export interface RoomStores {
  meta: MetaStore;
  transcript: TranscriptStore;
  queue: PromptQueue;
  requests: RequestStore;
  chat: ChatStore;
}

/** The status people see: the runner's own, or `waiting` while a request is open. */
export function derivedStatus(stores: RoomStores): SessionMeta["agentStatus"] {
  if (stores.requests.openCount() > 0) return "waiting";
  return stores.meta.get("rawStatus") ?? "idle";
}

/** Largest message info stored (JSON chars): under SQLite's 2 MB value cap with room to spare. */
export const MAX_MESSAGE_INFO_CHARS = 1_000_000;

/** An event the room refuses to apply; the whole batch is rolled back and answered `bad_frame`. */
export class RefusedEvent extends Error {}

export function applyEvent(stores: RoomStores, body: RoomEventBody, seq: number, ts: number): RoomEventBody {
  const { meta, transcript, queue, requests } = stores;
  switch (body.type) {
    case "message.upsert": {
      if (JSON.stringify(body.message).length > MAX_MESSAGE_INFO_CHARS) {
        throw new RefusedEvent(`message ${body.message.id} info is over ${MAX_MESSAGE_INFO_CHARS} characters`);
      }
      const message = transcript.upsertMessage(body.message, seq);
      if (body.message.time.completed !== undefined) transcript.foldMessage(body.message.id);
      return { type: "message.upsert", message };
    }
    case "message.remove":
      transcript.removeMessage(body.messageID);
      return body;
    case "part.upsert":
      return { type: "part.upsert", part: transcript.upsertPart(body.part, seq) };
    case "part.delta":
      transcript.appendDelta(body.messageID, body.partID, body.field, body.delta, seq);
      return body;
    case "part.remove":
      transcript.removePart(body.partID);
      return body;
    case "status":
      meta.set("rawStatus", body.status);
      // A new turn starts: the last turn's error banner goes (shared/transcript.ts does the same).
      if (body.status === "busy") meta.patchSession({ lastError: undefined });
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "session.error":
      meta.patchSession({ lastError: body.error });
      return body;
    case "session.info": {
      const patch: Partial<SessionMeta> = {};
      if (body.title !== undefined) patch.title = body.title;
      if (body.opencodeSessionId !== undefined) patch.opencodeSessionId = body.opencodeSessionId;
      if (body.model !== undefined) patch.model = body.model;
      if (body.demo !== undefined) patch.demo = body.demo;
      if (body.workspace !== undefined) patch.workspace = body.workspace;
      meta.patchSession(patch);
      return body;
    }
    case "permission.asked":
      requests.ask("permission", body.request, ts);
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "question.asked":
      requests.ask("question", body.request, ts);
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "todo.update":
      meta.set("todos", body.todos);
      return body;
    case "diff.update":
      meta.set("diff", body.diff);
      return body;
    case "queue.add":
      queue.add(body.item, meta.reserveCounter());
      return body;
    case "queue.update":
      queue.update(body.item);
      return body;
    case "queue.remove":
      queue.remove(body.id);
      return body;
    case "mode.set":
      meta.patchSession({ mode: body.mode });
      return body;
    case "stop.requested":
      return body;
    case "permission.replied":
      requests.answer(body.requestID, { reply: body.reply, message: body.message });
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "question.replied":
      requests.answer(body.requestID, { answers: body.answers });
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "request.closed":
      requests.close(body.requestID);
      meta.patchSession({ agentStatus: derivedStatus(stores) });
      return body;
    case "agent.presence":
      meta.patchSession({ agentOnline: body.online });
      return body;
    case "session.archived":
      meta.patchSession({ archived: body.archived });
      return body;
    case "session.allowedOrigins":
      meta.patchSession({ allowedOrigins: body.origins });
      return body;
    case "chat.add":
    case "chat.edit":
    case "chat.delete":
    case "chat.asked":
      stores.chat.apply(body, seq, ts);
      return body;
  }
}
