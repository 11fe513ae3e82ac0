import { describe, expect, it } from "vitest";
import { Transcript } from "../transcript.ts";
import { snapshotOf } from "../fixtures.ts";
import type { RoomEvent } from "../protocol.ts";

const tokens = (input: number, output: number) => ({ input, output, reasoning: 0, cache: { read: 0, write: 0 } });
let seq = 0;
const usage = (messageID: string, turn: string, created: number, input: number, output: number, cost: number): RoomEvent => ({
  type: "usage.update",
  messageID,
  turn,
  created,
  tokens: tokens(input, output),
  cost,
  seq: ++seq,
  ts: 0,
});

describe("usage.update", () => {
  it("adds a turn's steps, replaces a message's earlier report, starts a new turn, and skips an older message sent again", () => {
    seq = 0;
    const t = Transcript.fromSnapshot(snapshotOf(0));
    expect(t.usage.turn).toBeNull();
    // Two steps answering prompt u1; the second is reported twice as it grows.
    t.applyEvent(usage("a1", "u1", 10, 100, 10, 0.01));
    t.applyEvent(usage("a2", "u1", 20, 150, 5, 0.02));
    t.applyEvent(usage("a2", "u1", 20, 150, 40, 0.03));
    expect(t.usage.turn).toMatchObject({ id: "u1", tokens: tokens(250, 50) });
    expect(t.usage.turn!.cost).toBeCloseTo(0.04);
    expect(t.usage.total.tokens).toEqual(tokens(250, 50));
    // The next prompt's answer: a new turn; the session keeps adding.
    t.applyEvent(usage("a3", "u2", 30, 200, 20, 0.05));
    expect(t.usage.turn).toMatchObject({ id: "u2", tokens: tokens(200, 20), cost: 0.05 });
    expect(t.usage.total.tokens).toEqual(tokens(450, 70));
    expect(t.usage.total.cost).toBeCloseTo(0.09);
    // A runner that restarted sends an earlier message again: counted already.
    t.applyEvent(usage("a1", "u1", 10, 100, 10, 0.01));
    expect(t.usage.total.tokens).toEqual(tokens(450, 70));
    expect(t.usage.turn!.id).toBe("u2");
  });

  it("reaches a client through a snapshot as it was", () => {
    seq = 0;
    const a = Transcript.fromSnapshot(snapshotOf(0));
    a.applyEvent(usage("a1", "u1", 10, 100, 10, 0.5));
    const b = Transcript.fromSnapshot(snapshotOf(a.lastSeq, { usage: a.usage }));
    expect(b.usage).toEqual(a.usage);
    // An older room's snapshot has no usage: the initial value.
    expect(Transcript.fromSnapshot(snapshotOf(0)).usage).toEqual({ turn: null, total: { tokens: tokens(0, 0), cost: 0 }, last: null });
  });
});
