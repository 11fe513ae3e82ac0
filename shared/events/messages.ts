/** The transcript's events: messages and their parts, as the runner reports them. */
import { z } from "zod";
import { MessageSchema, PartSchema } from "../parts.ts";
import { defineEvent, defineFamily } from "./define.ts";

/** A message's info, created or updated (full snapshot). */
export const messageUpsert = defineEvent("agent", "message.upsert", { message: MessageSchema }, (s, ev, seq) => ({
  type: "message.upsert",
  message: s.upsertMessage(ev.message, seq),
}));

export const messageRemove = defineEvent("agent", "message.remove", { messageID: z.string() }, (s, ev) => s.removeMessage(ev.messageID));

/** A part's full snapshot; it replaces whatever deltas the room had for it. */
export const partUpsert = defineEvent("agent", "part.upsert", { part: PartSchema }, (s, ev, seq) => ({ type: "part.upsert", part: s.upsertPart(ev.part, seq) }));

/** Text appended to one field of a part (usually `text`). */
export const partDelta = defineEvent(
  "agent",
  "part.delta",
  { messageID: z.string(), partID: z.string(), field: z.string().max(64), delta: z.string() },
  (s, ev, seq) => s.appendDelta(ev.messageID, ev.partID, ev.field, ev.delta, seq),
);

export const partRemove = defineEvent("agent", "part.remove", { messageID: z.string(), partID: z.string() }, (s, ev) =>
  s.removePart(ev.messageID, ev.partID),
);

export const MESSAGES = defineFamily({ events: [messageUpsert, messageRemove, partUpsert, partDelta, partRemove] });
