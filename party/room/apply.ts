/**
 * The room's side of the one session reducer (shared/session-reducer.ts): its stores as a
 * `SessionState`. The room's commit runs `reduceSessionEvent` on it inside the commit transaction,
 * once per event, in seq order; a part with large fields comes back shortened, so the log and the
 * wire never carry them.
 */
import type { SessionMeta } from "../../shared/protocol.ts";
import { deriveAgentStatus, type SessionState } from "../../shared/session-reducer.ts";
import { initialSlices } from "../../shared/events/registry.ts";
import type { MetaStore, MetaValues } from "./meta.ts";
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

/** The status people see (shared/session-reducer.ts decides it), read from the stores. */
export function derivedStatus(stores: RoomStores): SessionMeta["agentStatus"] {
  return deriveAgentStatus(stores.meta.get("rawStatus") ?? "idle", stores.requests.openCount());
}

/** Largest message info stored (JSON chars): under SQLite's 2 MB value cap with room to spare. */
export const MAX_MESSAGE_INFO_CHARS = 1_000_000;

/** An event the room refuses to apply; the whole batch is rolled back and answered `bad_frame`. */
export class RefusedEvent extends Error {}

/** The stores behind the reducer's operations. Stateless: one per room is enough. */
export function roomSessionState({ meta, transcript, queue, requests, chat }: RoomStores): SessionState {
  return {
    upsertMessage(message, seq) {
      if (JSON.stringify(message).length > MAX_MESSAGE_INFO_CHARS) {
        throw new RefusedEvent(`message ${message.id} info is over ${MAX_MESSAGE_INFO_CHARS} characters`);
      }
      const stored = transcript.upsertMessage(message, seq);
      // A completed message gets no more deltas: fold them now, so reads stop merging.
      if (message.time.completed !== undefined) transcript.foldMessage(message.id);
      return stored;
    },
    removeMessage: (id) => transcript.removeMessage(id),
    upsertPart: (part, seq) => transcript.upsertPart(part, seq),
    appendDelta: (messageID, partID, field, delta, seq) => transcript.appendDelta(messageID, partID, field, delta, seq),
    removePart: (_messageID, partID) => transcript.removePart(partID),
    patchSession: (patch) => void meta.patchSession(patch),
    rawStatus: () => meta.get("rawStatus") ?? "idle",
    setRawStatus: (status) => meta.set("rawStatus", status),
    askRequest: (kind, request, ts) => {
      const short = transcript.shortened(request);
      requests.ask(kind, short, ts);
      return short;
    },
    answerRequest: (id, answer) => requests.answer(id, answer),
    closeRequest: (id) => requests.close(id),
    openRequestCount: () => requests.openCount(),
    queueAdd: (item) => queue.add(item, meta.reserveCounter()),
    queueUpdate: (item) => queue.update(item),
    queueRemove: (id) => queue.remove(id),
    slice: (name) => meta.get(name) ?? initialSlices()[name],
    // Long strings in a slice (a diff holds two versions of each file) are shortened like part
    // fields, so the stored value and every frame stay under their caps; nothing else keeps them.
    setSlice: (name, value) => {
      const short = shortenedValue(transcript, value);
      meta.set(name, short as MetaValues[typeof name]);
      return short;
    },
    stopRequested: () => {},
    applyChat: (ev, seq, ts) => chat.apply(ev, seq, ts),
    chatCount: () => meta.session().chatCount ?? 0,
  };
}

/** A slice's value shortened item by item (a list) or whole (an object); anything else as it is. */
function shortenedValue<V>(transcript: TranscriptStore, value: V): V {
  const one = (x: unknown): unknown => (x !== null && typeof x === "object" ? transcript.shortened(x) : x);
  return (Array.isArray(value) ? value.map(one) : one(value)) as V;
}
