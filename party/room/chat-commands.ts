/**
 * People's chat frames (`chat`, `chat.edit`, `chat.delete`, `chat.ask`): who may send them is
 * shared/chat.ts's rule (owners, drivers, viewers whose link allows it), not the driving roles.
 * A refused frame gets an error with its ref and changes nothing.
 */
import type { Connection } from "partyserver";
import type { ChatFrame } from "../../shared/protocol.ts";
import { mayAsk, mayChat, mayDelete, mayEdit, promptTextOf, type ChatActor } from "../../shared/chat.ts";
import type { ConnState } from "./conn-state.ts";
import type { CommandHost } from "./commands.ts";
import { enqueuePrompt } from "./commands.ts";
import { ack, send, sendError } from "./send.ts";

/** The sender as chat rules see it. A socket from before links had ids counts as its own link. */
export function chatActor(conn: Connection<ConnState>, st: ConnState): ChatActor {
  return { role: st.role, name: st.name, linkId: st.linkId ?? `conn-${conn.id}`, linkAllowsChat: st.chat === true };
}

export function handleChatFrame(room: CommandHost, conn: Connection<ConnState>, st: ConnState, f: ChatFrame, now: number): void {
  const actor = chatActor(conn, st);
  if (f.type !== "chat.ask" && !mayChat(actor)) {
    return sendError(conn, "forbidden", st.role === "viewer" ? "this link does not allow chat" : `role ${st.role} may not chat`, f.ref);
  }
  if (room.meta.session().archived) return sendError(conn, "archived", "this session is archived and read-only", f.ref);
  if ((f.type === "chat" || f.type === "chat.edit") && f.text.length > room.limits.maxChatChars) {
    return sendError(conn, "chat_too_large", `chat messages are limited to ${room.limits.maxChatChars} characters`, f.ref);
  }
  switch (f.type) {
    case "chat": {
      const existing = room.chat.get(f.id);
      if (existing) {
        // Idempotent: the same person resending (after a reconnect). Someone else's id is not theirs to claim.
        if (existing.author.linkId !== actor.linkId) return sendError(conn, "forbidden", "that chat id belongs to another message", f.ref);
        return send(conn, { type: "ack", ref: f.ref, command: f.type, duplicate: true });
      }
      if (f.replyTo !== undefined && !room.chat.get(f.replyTo)) return sendError(conn, "not_found", "no such chat message to reply to", f.ref);
      if (f.partID !== undefined && !room.transcript.hasPart(f.partID)) return sendError(conn, "not_found", "no such part to comment on", f.ref);
      if (!room.takeChat(conn.id, now)) return sendError(conn, "rate_limited", "too many chat messages; slow down", f.ref);
      const author = { name: actor.name, role: actor.role, linkId: actor.linkId };
      room.commit(
        [
          {
            type: "chat.add",
            message: { id: f.id, at: now, author, text: f.text, ...(f.partID ? { partID: f.partID } : {}), ...(f.replyTo ? { replyTo: f.replyTo } : {}) },
          },
        ],
        undefined,
        now,
      );
      return ack(conn, f.ref, f.type);
    }
    case "chat.edit": {
      const m = room.chat.get(f.id);
      if (!m || m.deleted) return sendError(conn, "not_found", "no such chat message", f.ref);
      if (!mayEdit(actor, m)) return sendError(conn, "forbidden", "you may edit only your own messages", f.ref);
      if (!room.takeChat(conn.id, now)) return sendError(conn, "rate_limited", "too many chat messages; slow down", f.ref);
      room.commit([{ type: "chat.edit", id: f.id, text: f.text }], undefined, now);
      return ack(conn, f.ref, f.type);
    }
    case "chat.delete": {
      const m = room.chat.get(f.id);
      if (!m || m.deleted) return sendError(conn, "not_found", "no such chat message", f.ref);
      if (!mayDelete(actor, m)) return sendError(conn, "forbidden", "you may delete only your own messages", f.ref);
      room.commit([{ type: "chat.delete", id: f.id, by: actor.name }], undefined, now);
      return ack(conn, f.ref, f.type);
    }
    case "chat.ask": {
      if (actor.role !== "owner" && actor.role !== "driver") return sendError(conn, "forbidden", `role ${st.role} may not prompt the agent`, f.ref);
      if (room.queue.seen(f.promptId)) return send(conn, { type: "ack", ref: f.ref, command: f.type, duplicate: true });
      const m = room.chat.get(f.id);
      if (!m || m.deleted) return sendError(conn, "not_found", "no such chat message", f.ref);
      if (!mayAsk(actor, m)) return sendError(conn, "forbidden", "this message was already sent to the agent", f.ref);
      const r = enqueuePrompt(
        room,
        { id: f.promptId, text: promptTextOf(m), mode: room.meta.session().mode, by: actor.name, createdAt: now, state: "queued", from: { chatID: m.id, author: m.author.name } },
        [{ type: "chat.asked", id: m.id, by: actor.name, queueId: f.promptId }],
      );
      if (r !== "queued") return sendError(conn, "queue_full", `at most ${room.limits.maxQueuedPrompts} prompts may wait`, f.ref);
      ack(conn, f.ref, f.type);
      return room.maybeDispatch();
    }
  }
}
