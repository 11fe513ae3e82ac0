/**
 * A replay's seeks redraw only what changed (shared/replay.ts `changesBetween`, by identity), and
 * what they leave in the store equals a store filled from scratch at that seq, for random logs
 * and random seeks (forward, back, far).
 */
import { describe, expect, it } from "vitest";
import { createRoot } from "solid-js";
import { createStore, unwrap } from "solid-js/store";
import fc from "fast-check";
import { Replay, originSnapshot } from "../../../shared/replay.ts";
import type { RoomEvent, SessionMeta } from "../../../shared/protocol.ts";
import { eventLogArb } from "../../../test/harness/event-logs.ts";
import { emptyRoomView, type RoomView } from "./room-view.ts";
import { syncAll, syncChanges } from "./transcript-sync.ts";

const session: SessionMeta = { id: "s", title: "t", mode: "build", agentStatus: "idle", agentOnline: false, archived: false, createdAt: 0, updatedAt: 0, allowedOrigins: [] };

/** The store's content that a view reads. */
const content = (r: RoomView) => {
  const v = JSON.parse(JSON.stringify(unwrap(r))) as RoomView;
  return { order: v.order, messages: v.order.map((id) => v.messages[id]), session: v.session, queue: v.queue, permissions: v.permissions, questions: v.questions, todos: v.todos, diff: v.diff, chat: v.chat };
};

describe("replay seeks into the Solid store", () => {
  it("leave the store as a fresh fill would (seeded)", () => {
    fc.assert(
      fc.property(eventLogArb(60), fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 8 }), (bodies, seeks, every) => {
        createRoot((dispose) => {
          const replay = new Replay(originSnapshot({ ...session }), { checkpointEvery: every });
          replay.append(bodies.map((b, i) => ({ ...b, seq: i + 1, ts: i }) as RoomEvent));
          const [room, set] = createStore<RoomView>(emptyRoomView());
          syncAll(replay.seek(0).transcript, set);
          for (const k of seeks) {
            const r = replay.seek(k % (replay.end + 1));
            if (r.changes) syncChanges(r.transcript, r.changes, set);
            const [fresh, setFresh] = createStore<RoomView>(emptyRoomView());
            syncAll(r.transcript, setFresh);
            expect(content(room)).toEqual(content(fresh));
          }
          dispose();
        });
      }),
      { seed: 2426, numRuns: 150 },
    );
  });
});
