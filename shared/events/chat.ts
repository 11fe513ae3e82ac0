/** Chat: people talking, never shown to the agent. shared/chat.ts decides what each does to a message. */
import { z } from "zod";
import { ChatMessageSchema } from "../session-schemas.ts";
import { defineEvent, defineFamily } from "./define.ts";

export const chatAdd = defineEvent("room", "chat.add", { message: ChatMessageSchema.omit({ seq: true }) }, (s, ev, seq, ts) => {
  if (s.applyChat(ev, seq, ts)) s.patchSession({ chatCount: s.chatCount() + 1 });
});
export const chatEdit = defineEvent("room", "chat.edit", { id: z.string(), text: z.string() }, (s, ev, seq, ts) => void s.applyChat(ev, seq, ts));
/** The text is gone from the room's state and from the log's earlier events of this message. */
export const chatDelete = defineEvent("room", "chat.delete", { id: z.string(), by: z.string() }, (s, ev, seq, ts) => void s.applyChat(ev, seq, ts));
export const chatAsked = defineEvent("room", "chat.asked", { id: z.string(), by: z.string(), queueId: z.string() }, (s, ev, seq, ts) => void s.applyChat(ev, seq, ts));

export const CHAT = defineFamily({ events: [chatAdd, chatEdit, chatDelete, chatAsked] });
