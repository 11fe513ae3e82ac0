/** The Solid store follows the shared Transcript change by change, touching only what changed. */
import { describe, expect, it } from "vitest";
import { createComputed, createRoot } from "solid-js";
import { createStore } from "solid-js/store";
import { Transcript } from "../../../shared/transcript.ts";
import type { Snapshot } from "../../../shared/protocol.ts";
import type { Message, Part } from "../../../shared/parts.ts";
import { emptyRoomView, type RoomView } from "./room-view.ts";
import { syncAll, syncChanges } from "./transcript-sync.ts";

const msg = (id: string, role: "user" | "assistant"): Message => ({ id, role, time: { created: 1 } }) as Message;
/** The text of a part in the store. */
const textOf = (p: Part | undefined): string => (p as { text?: string } | undefined)?.text ?? "";
const text = (id: string, messageID: string, t: string): Part => ({ id, messageID, type: "text", text: t }) as Part;

function snapshot(seq: number): Snapshot {
  return {
    seq,
    session: { id: "s", title: "t", mode: "build", agentStatus: "busy", agentOnline: true, archived: false, createdAt: 0, updatedAt: 0, allowedOrigins: [] },
    messages: [
      { info: msg("m001", "user"), parts: [text("p001", "m001", "hi")] },
      { info: msg("m002", "assistant"), parts: [text("p002", "m002", "Hel")] },
    ],
    hasMore: false,
    queue: [],
    permissions: [],
    questions: [],
    todos: [],
    diff: [],
  };
}

describe("transcript → Solid store", () => {
  it("applies a delta to one part's text and nothing else", () => {
    createRoot((dispose) => {
      const t = Transcript.fromSnapshot(snapshot(10));
      const [room, set] = createStore<RoomView>(emptyRoomView());
      syncAll(t, set);
      let userRuns = 0;
      let textRuns = 0;
      let orderRuns = 0;
      createComputed(() => {
        void room.messages.m001!.parts[0]!.type;
        void textOf(room.messages.m001!.parts[0]);
        userRuns++;
      });
      createComputed(() => {
        void textOf(room.messages.m002!.parts[0]);
        textRuns++;
      });
      createComputed(() => {
        void room.order.length;
        orderRuns++;
      });
      t.applyEvent({ type: "part.delta", messageID: "m002", partID: "p002", field: "text", delta: "lo", seq: 11, ts: 0 });
      syncChanges(t, t.takeChanges()!, set);
      expect(textOf(room.messages.m002!.parts[0])).toBe("Hello");
      expect(textRuns).toBe(2);
      expect(userRuns).toBe(1);
      expect(orderRuns).toBe(1);
      dispose();
    });
  });

  it("adds messages and parts, removes them, and keeps unchanged objects through a snapshot", () => {
    createRoot((dispose) => {
      const t = Transcript.fromSnapshot(snapshot(10));
      const [room, set] = createStore<RoomView>(emptyRoomView());
      syncAll(t, set);
      const before = room.messages.m001;
      t.applyEvent({ type: "message.upsert", message: msg("m003", "user"), seq: 11, ts: 0 });
      t.applyEvent({ type: "part.upsert", part: text("p003", "m003", "again"), seq: 12, ts: 0 });
      syncChanges(t, t.takeChanges()!, set);
      expect(room.order).toEqual(["m001", "m002", "m003"]);
      expect(textOf(room.messages.m003!.parts[0])).toBe("again");
      t.applyEvent({ type: "message.remove", messageID: "m003", seq: 13, ts: 0 });
      syncChanges(t, t.takeChanges()!, set);
      expect(room.order).toEqual(["m001", "m002"]);
      expect(room.messages.m003).toBeUndefined();
      // A reconnect's snapshot with the same content: the store keeps its objects (no blanking).
      t.loadSnapshot(snapshot(20));
      syncChanges(t, t.takeChanges()!, set);
      expect(room.messages.m001).toBe(before);
      expect(room.order).toEqual(["m001", "m002"]);
      dispose();
    });
  });

  it("turns stop on at the stop event and off when the agent is idle", () => {
    createRoot((dispose) => {
      const t = Transcript.fromSnapshot(snapshot(10));
      const [room, set] = createStore<RoomView>(emptyRoomView());
      syncAll(t, set);
      t.applyEvent({ type: "stop.requested", by: "Dana", seq: 11, ts: 0 });
      syncChanges(t, t.takeChanges()!, set);
      expect(room.stopping).toBe(true);
      t.applyEvent({ type: "status", status: "idle", seq: 12, ts: 0 });
      syncChanges(t, t.takeChanges()!, set);
      expect(room.stopping).toBe(false);
      expect(room.session?.agentStatus).toBe("idle");
      dispose();
    });
  });
});
