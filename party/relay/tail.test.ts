import { describe, expect, it } from "vitest";
import type { RoomEvent } from "../../shared/protocol.ts";
import { RelayTail } from "./tail.ts";

const d = (seq: number, fromSeq?: number): RoomEvent =>
  ({ type: "part.delta", messageID: "m", partID: "p", field: "text", delta: String(seq), seq, ts: 0, ...(fromSeq ? { fromSeq } : {}) }) as RoomEvent;

describe("RelayTail", () => {
  it("replays exactly what follows a cursor at an event boundary, and nothing it cannot split", () => {
    const t = new RelayTail(100);
    t.reset(10);
    expect(t.append([d(11), d(14, 12), d(15)])).toBe(true);
    expect(t.seq).toBe(15);
    expect(t.after(10)!.map((e) => e.seq)).toEqual([11, 14, 15]);
    expect(t.after(11)!.map((e) => e.seq)).toEqual([14, 15]);
    expect(t.after(14)!.map((e) => e.seq)).toEqual([15]);
    expect(t.after(15)).toEqual([]);
    expect(t.after(12)).toBeUndefined(); // inside the merged 12..14
    expect(t.after(9)).toBeUndefined(); // before the tail
    expect(t.after(16)).toBeUndefined(); // ahead of it
  });

  it("skips what it holds, refuses a gap, and keeps a bounded number of events", () => {
    const t = new RelayTail(2);
    t.reset(0);
    expect(t.append([d(1), d(2)])).toBe(true);
    expect(t.append([d(2), d(3)])).toBe(true); // 2 again: skipped
    expect(t.append([d(5)])).toBe(false); // 4 missing
    expect(t.seq).toBe(3);
    expect(t.after(1)!.map((e) => e.seq)).toEqual([2, 3]);
    expect(t.after(0)).toBeUndefined(); // trimmed to two events
  });
});

describe("RelayTail and deleted chat", () => {
  const author = { name: "Ann", role: "driver" as const, linkId: "l1" };
  const ev = (seq: number, body: object): RoomEvent => ({ ...body, seq, ts: 0 }) as RoomEvent;

  it("keeps no text of a chat message once it is deleted, and leaves other messages alone", () => {
    const t = new RelayTail(100);
    t.reset(0);
    t.append([
      ev(1, { type: "chat.add", message: { id: "gone", at: 1, author, text: "secret password" } }),
      ev(2, { type: "chat.add", message: { id: "kept", at: 2, author, text: "hello" } }),
      ev(3, { type: "chat.edit", id: "gone", text: "another secret" }),
    ]);
    t.append([ev(4, { type: "chat.delete", id: "gone", by: "Ann" })]);
    const replay = JSON.stringify(t.after(0));
    expect(replay).not.toContain("secret");
    expect(replay).toContain("hello");
    expect(t.after(0)!.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });
});
