/** The prompt queue: the room's own events, from people's prompts and the runner's reports. */
import { z } from "zod";
import { QueueItemSchema } from "../session-schemas.ts";
import { defineEvent, defineFamily } from "./define.ts";

export const queueAdd = defineEvent("room", "queue.add", { item: QueueItemSchema }, (s, ev) => s.queueAdd(ev.item));
export const queueUpdate = defineEvent("room", "queue.update", { item: QueueItemSchema }, (s, ev) => s.queueUpdate(ev.item));
export const queueRemove = defineEvent(
  "room",
  "queue.remove",
  { id: z.string(), reason: z.enum(["cancelled", "started", "failed"]), by: z.string().optional() },
  (s, ev) => s.queueRemove(ev.id),
);

export const QUEUE = defineFamily({ events: [queueAdd, queueUpdate, queueRemove] });
