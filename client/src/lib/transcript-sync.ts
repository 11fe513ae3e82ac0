/**
 * Copies what changed in a shared/transcript.ts `Transcript` into the Solid store, using the
 * transcript's own change record, so a text delta touches one part's `text` and nothing else:
 * no diff of the whole transcript, no re-render of other messages.
 *
 * The store keeps its own arrays (copies of the transcript's lists) so the transcript's in-place
 * list mutations never reach the store behind Solid's back. Part and info objects are values the
 * transcript replaces on change; `reconcile` merges the new value into the store's copy
 * field by field, which is what makes the update fine-grained.
 */
import { batch } from "solid-js";
import { produce, reconcile, type SetStoreFunction } from "solid-js/store";
import type { Transcript, TranscriptChanges } from "../../../shared/transcript.ts";
import type { MessageView, RoomView } from "./room-view.ts";
import { SLICES, type SliceName } from "../../../shared/events/registry.ts";

const copyMessage = (t: Transcript, id: string): MessageView | undefined => {
  const m = t.message(id);
  return m ? { info: m.info, parts: m.parts.slice() } : undefined;
};

/** Everything at once: after a snapshot (reconnect) or on first load. Keeps unchanged DOM. */
export function syncAll(t: Transcript, set: SetStoreFunction<RoomView>): void {
  const messages: Record<string, MessageView> = {};
  for (const m of t.messages) messages[m.info.id] = { info: m.info, parts: m.parts.slice() };
  batch(() => {
    set("messages", reconcile(messages, { key: "id", merge: true }));
    set("order", reconcile(t.messages.map((m) => m.info.id)));
    set("hasMore", t.hasMore);
    set("session", t.session ? reconcile(t.session) : null);
    set("queue", reconcile(t.queue.slice(), { key: "id" }));
    set("permissions", reconcile(t.permissions.slice(), { key: "id" }));
    set("questions", reconcile(t.questions.slice(), { key: "id" }));
    for (const { name } of SLICES) syncSlice(t, name, set);
    set("stopping", t.lastStop !== null && t.session?.agentStatus !== "idle");
    syncChat(t, set);
  });
}

/** One slice of session state, under its name in both (a list is copied, so it stays the store's own). */
function syncSlice(t: Transcript, name: SliceName, set: SetStoreFunction<RoomView>): void {
  const value: unknown = t[name];
  (set as (key: SliceName, value: unknown) => void)(name, reconcile(Array.isArray(value) ? value.slice() : value));
}

/** The chat list: few and short messages, so the whole list is reconciled by id. */
function syncChat(t: Transcript, set: SetStoreFunction<RoomView>): void {
  set("chat", reconcile(t.chat.messages.slice(), { key: "id" }));
  set("chatHasMore", t.chat.hasMore);
}

/** Only what the change record names. */
export function syncChanges(t: Transcript, c: TranscriptChanges, set: SetStoreFunction<RoomView>): void {
  if (c.reset) return syncAll(t, set);
  batch(() => {
    if (c.messageList) set("order", t.messages.map((m) => m.info.id));
    if (c.messages.size || c.parts.size) {
      set(
        "messages",
        produce((messages) => {
          for (const id of c.messages) {
            const next = copyMessage(t, id);
            if (!next) delete messages[id];
            else if (!messages[id]) messages[id] = next;
          }
        }),
      );
      for (const id of c.messages) {
        const m = t.message(id);
        if (m) set("messages", id, "info", reconcile(m.info));
      }
      for (const [messageID] of c.parts) {
        const m = t.message(messageID);
        if (!m) continue;
        set("messages", messageID, "parts", reconcile(m.parts.slice(), { key: "id", merge: true }));
      }
    }
    if (c.session) set("session", t.session ? reconcile(t.session) : null);
    // "Stopping…" is set at once by the Stop button; the room's stop event confirms it and the
    // agent going idle ends it.
    if (c.stop) set("stopping", true);
    if (c.session && t.session?.agentStatus === "idle") set("stopping", false);
    if (c.prepended || c.messageList) set("hasMore", t.hasMore);
    if (c.queue) set("queue", reconcile(t.queue.slice(), { key: "id" }));
    if (c.permissions) set("permissions", reconcile(t.permissions.slice(), { key: "id" }));
    if (c.questions) set("questions", reconcile(t.questions.slice(), { key: "id" }));
    for (const name of c.slices) syncSlice(t, name, set);
    if (c.chat) syncChat(t, set);
  });
}
