import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { eventLogArb } from "../../test/harness/event-logs.ts";
import { EVENTS, SLICES, initialSlices } from "./registry.ts";
import { SnapshotSchema } from "../protocol.ts";
import { snapshotOf } from "../fixtures.ts";

describe("the event registry", () => {
  it("lists each event kind once", () => {
    const types = EVENTS.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
  });

  it("the random logs the room and the client are compared on cover every event kind", () => {
    const seen = new Set<string>();
    for (const log of fc.sample(eventLogArb(60), { seed: 7, numRuns: 300 })) for (const ev of log) seen.add(ev.type);
    expect([...seen].sort()).toEqual(EVENTS.map((d) => d.type).sort());
  });

  it("a snapshot carries every slice, and one from an older room without them still parses", () => {
    const snap = { ...snapshotOf(0), ...initialSlices() };
    expect(Object.keys(SnapshotSchema.parse(snap))).toEqual(expect.arrayContaining(SLICES.map((s) => s.name)));
    const { todos: _t, diff: _d, ...older } = snapshotOf(0);
    expect(SnapshotSchema.safeParse(older).success).toBe(true);
  });
});
