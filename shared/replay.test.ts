/**
 * Replay agreement: for random event logs, the replay's state at any seq — reached by playing,
 * stepping back, or seeking anywhere through checkpoints — equals what a live viewer held at that
 * seq, having heard the same events live in frames (deltas merged, as the room sends them).
 * Both go through the one reducer; the test is that checkpoints, clones and seeks lose nothing.
 * party/room/replay-lead.test.ts does the same against a real room's log.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { RoomEvent, RoomEventBody, SessionMeta } from "./protocol.ts";
import { Transcript, normalize } from "./transcript.ts";
import { mergeDeltas } from "./delta.ts";
import { COMPRESSED_GAP_MS, Replay, originSnapshot } from "./replay.ts";
import { eventLogArb } from "../test/harness/event-logs.ts";

const session: SessionMeta = {
  id: "s1",
  title: "replay",
  mode: "build",
  agentStatus: "idle",
  agentOnline: false,
  archived: false,
  createdAt: 1,
  updatedAt: 1,
  allowedOrigins: [],
};

/** Everything a viewer sees, in comparable form. */
const viewState = (t: Transcript) => ({
  ...normalize(t),
  chat: t.chat.messages.slice(),
  lastStop: t.lastStop,
  statusDetail: t.statusDetail,
  seq: t.lastSeq,
});

function logged(bodies: readonly RoomEventBody[], gaps: readonly number[]): RoomEvent[] {
  let ts = 1_000;
  return bodies.map((b, i) => {
    ts += gaps[i % Math.max(1, gaps.length)] ?? 0;
    return { ...b, seq: i + 1, ts } as RoomEvent;
  });
}

/** The live viewer: frames of random sizes, deltas merged inside each; its state after each frame. */
function liveStates(events: readonly RoomEvent[], cuts: readonly number[]): Map<number, unknown> {
  const live = Transcript.fromSnapshot(originSnapshot(session));
  const states = new Map<number, unknown>([[0, viewState(live)]]);
  let i = 0;
  let c = 0;
  while (i < events.length) {
    const n = 1 + ((cuts[c++ % Math.max(1, cuts.length)] ?? 0) % 7);
    const chunk = events.slice(i, i + n);
    i += chunk.length;
    const r = live.applyBatch(chunk[0]!.seq, chunk.at(-1)!.seq, mergeDeltas(chunk));
    expect(r.gap).toBe(false);
    states.set(live.lastSeq, viewState(live));
  }
  return states;
}

describe("replay agrees with the live path", () => {
  it("at every seq a live viewer held, reached in any order (seeded; fast-check shrinks a failure)", () => {
    fc.assert(
      fc.property(
        eventLogArb(80),
        fc.array(fc.nat(10_000), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, gaps, cuts, every, order) => {
          const events = logged(bodies, gaps);
          const expected = liveStates(events, cuts);
          const replay = new Replay(originSnapshot(session), { checkpointEvery: every });
          // The log arrives in pages of any size.
          for (let i = 0; i < events.length; i += 1 + (every % 5)) expect(replay.append(events.slice(i, i + 1 + (every % 5)))).toBe(true);
          expect(replay.end).toBe(events.length);
          const seqs = [...expected.keys()];
          // Played forward one event at a time.
          for (const seq of seqs) {
            while (replay.position < seq) replay.seek(replay.position + 1);
            expect(viewState(replay.transcript)).toEqual(expected.get(seq));
          }
          // Stepped back one at a time.
          for (const seq of seqs.slice().reverse()) {
            while (replay.position > seq) replay.seek(replay.position - 1);
            expect(viewState(replay.transcript)).toEqual(expected.get(seq));
          }
          // Seeks in a random order.
          for (const k of order) {
            const seq = seqs[k % seqs.length]!;
            expect(viewState(replay.seek(seq).transcript)).toEqual(expected.get(seq));
          }
        },
      ),
      { seed: 2424, numRuns: 300 },
    );
  });

  it("a property that can fail: a replay that skips one event disagrees", () => {
    const events = logged(
      [
        { type: "message.upsert", message: { id: "m1", role: "assistant", time: { created: 1 } } },
        { type: "part.upsert", part: { id: "p1", messageID: "m1", type: "text", text: "a" } },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b" },
      ],
      [10],
    );
    const expected = liveStates(events, [6]);
    const replay = new Replay(originSnapshot(session), { checkpointEvery: 1 });
    replay.append(events.map((e) => (e.seq === 3 ? ({ ...e, delta: "" } as RoomEvent) : e)));
    expect(viewState(replay.seek(3).transcript)).not.toEqual(expected.get(3));
  });

  it("compresses idle gaps and keeps the real length of each", () => {
    const replay = new Replay(originSnapshot(session));
    const base = { type: "status", status: "busy" } as const;
    replay.append([
      { ...base, seq: 1, ts: 1_000 },
      { ...base, seq: 2, ts: 1_500 },
      { ...base, seq: 3, ts: 61_500 },
      { ...base, seq: 4, ts: 62_000 },
    ]);
    expect(replay.gaps).toEqual([{ afterSeq: 2, ms: 60_000 }]);
    expect(replay.timeOf(3)).toBe(500 + COMPRESSED_GAP_MS);
    expect(replay.duration).toBe(500 + COMPRESSED_GAP_MS + 500);
    expect(replay.seqAt(0)).toBe(1);
    expect(replay.seqAt(499)).toBe(1);
    expect(replay.seqAt(500)).toBe(2);
    expect(replay.seqAt(-1)).toBe(0);
  });

  it("refuses events that do not continue the log (a merged delta, a gap)", () => {
    const replay = new Replay(originSnapshot(session));
    const ev = { type: "status", status: "idle", ts: 1 } as const;
    expect(replay.append([{ ...ev, seq: 2 }])).toBe(false);
    expect(replay.append([{ ...ev, seq: 1 }, { ...ev, seq: 3, fromSeq: 2 }])).toBe(false);
    expect(replay.end).toBe(0);
  });

  it("marks prompts, tool calls (once), permission waits, errors and chat", () => {
    const replay = new Replay(originSnapshot(session));
    const tool = (status: string, seq: number): RoomEvent =>
      ({ type: "part.upsert", seq, ts: seq, part: { id: "t1", messageID: "m1", type: "tool", callID: "c", tool: "bash", state: { status, input: {} } } }) as unknown as RoomEvent;
    replay.append([
      { type: "queue.add", seq: 1, ts: 1, item: { id: "q1", text: "fix it", mode: "build", by: "ann", createdAt: 1, state: "queued" } },
      tool("pending", 2),
      tool("running", 3),
      { type: "permission.asked", seq: 4, ts: 4, request: { id: "r1", permission: "bash", patterns: [], createdAt: 4 } },
      tool("error", 5),
      { type: "session.error", seq: 6, ts: 6, error: "boom" },
      { type: "chat.add", seq: 7, ts: 7, message: { id: "c1", at: 7, text: "look", author: { name: "bob", role: "viewer", linkId: "l" } } },
    ]);
    expect(replay.marks.map((m) => [m.seq, m.kind])).toEqual([
      [1, "prompt"],
      [2, "tool"],
      [4, "permission"],
      [5, "error"],
      [6, "error"],
      [7, "chat"],
    ]);
    expect(replay.nextMark(2)?.seq).toBe(4);
    expect(replay.prevMark(4)?.seq).toBe(2);
  });
});
