/**
 * One reducer, two holders: random event logs (test/harness/event-logs.ts) are committed to a real
 * room in workerd, and the same logs are folded by a client `Transcript` (shared/transcript.ts),
 * both through shared/session-reducer.ts. The client's state must equal the room's snapshot
 * whichever way it heard the events: live as committed, replayed from the log (deltas merged),
 * or from a snapshot taken part-way plus the rest.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import type { SessionRoom } from "../session-room.ts";
import type { Env } from "../env.ts";
import type { RoomEvent, RoomEventBody, Snapshot } from "../../shared/protocol.ts";
import { Transcript, normalize } from "../../shared/transcript.ts";
import { eventLogArb } from "../../test/harness/event-logs.ts";
import { createSession } from "../test-helpers.ts";

const ns = () => (env as unknown as Env).SessionRoom;
const snapshotOf = (room: SessionRoom): Snapshot => (JSON.parse(room.snapshotFrame()) as { snapshot: Snapshot }).snapshot;

interface Run {
  initial: Snapshot;
  middle: Snapshot;
  final: Snapshot;
  live: RoomEvent[];
  replayed: RoomEvent[];
}

/** Commits the log to a fresh room in two batches, snapshotting before, between and after. */
async function throughRoom(log: readonly RoomEventBody[], cut: number): Promise<Run> {
  const { id } = await createSession({ title: "property" });
  return runInDurableObject(ns().getByName(id), (room: SessionRoom) => {
    const initial = snapshotOf(room);
    const live = log.length ? room.commit(log.slice(0, cut), undefined, 1_000) : [];
    const middle = snapshotOf(room);
    if (cut < log.length) live.push(...room.commit(log.slice(cut), undefined, 2_000));
    const final = snapshotOf(room);
    return { initial, middle, final, live, replayed: room.log.readMerged(0, final.seq) };
  });
}

/** The transcript's comparable form with the chat beside it (normalize leaves the chat out). */
const state = (t: Transcript) => ({ ...normalize(t), chat: t.chat.messages.slice(), chatHasMore: t.chat.hasMore });

function fold(from: Snapshot, events: readonly RoomEvent[]): Transcript {
  const t = Transcript.fromSnapshot(from);
  const r = t.applyBatch(from.seq + 1, Math.max(from.seq + 1, events.at(-1)?.seq ?? 0), events.filter((e) => e.seq > from.seq));
  expect(r.gap).toBe(false);
  return t;
}

/**
 * True when, after `log`, a part is stored whose message is not. The room keeps it (and shows it
 * once the message arrives) but its snapshot lists messages with their parts, so a client that
 * joins at that moment never hears of it: a known limit (docs/limits.md), rare in practice
 * because OpenCode sends a message before its parts.
 */
function partWithoutMessage(log: readonly RoomEventBody[]): boolean {
  const messages = new Set<string>();
  const parts = new Map<string, string>();
  for (const ev of log) {
    if (ev.type === "message.upsert") messages.add(ev.message.id);
    else if (ev.type === "message.remove") {
      messages.delete(ev.messageID);
      for (const [p, m] of parts) if (m === ev.messageID) parts.delete(p);
    } else if (ev.type === "part.upsert") parts.set(ev.part.id, ev.part.messageID);
    else if (ev.type === "part.delta") parts.set(ev.partID, ev.messageID);
    else if (ev.type === "part.remove") parts.delete(ev.partID);
  }
  return [...parts.values()].some((m) => !messages.has(m));
}

describe("the room and the client fold the same events to the same state", () => {
  it("for random logs, live, replayed and from a part-way snapshot (seeded; fast-check shrinks a failure)", async () => {
    await fc.assert(
      fc.asyncProperty(eventLogArb(60), fc.nat(), async (log, at) => {
        const cut = log.length ? at % (log.length + 1) : 0;
        const run = await throughRoom(log, cut);
        const expected = state(Transcript.fromSnapshot(run.final));
        expect(run.final.seq).toBe(log.length);
        expect(state(fold(run.initial, run.live))).toEqual(expected);
        expect(state(fold(run.initial, run.replayed))).toEqual(expected);
        if (!partWithoutMessage(log.slice(0, cut))) expect(state(fold(run.middle, run.live))).toEqual(expected);
      }),
      { seed: 1301, numRuns: 200 },
    );
    // 200 rooms: ~25 s on a loaded 2-core machine; room for CI's load.
  }, 120_000);

  it("a property that can fail: a client that misses an event disagrees", async () => {
    const log: RoomEventBody[] = [
      { type: "message.upsert", message: { id: "m1", role: "assistant", time: { created: 1 } } },
      { type: "part.upsert", part: { id: "p1", messageID: "m1", type: "text", text: "a" } },
      { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b" },
    ];
    const run = await throughRoom(log, 3);
    const client = Transcript.fromSnapshot(run.initial);
    for (const e of run.live.filter((e) => e.type !== "part.delta")) client.applyEvent(e, { contiguous: false });
    expect(normalize(client)).not.toEqual(normalize(Transcript.fromSnapshot(run.final)));
  });
});
