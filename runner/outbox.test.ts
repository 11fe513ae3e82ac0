import { afterEach, describe, expect, it, vi } from "vitest";
import { Outbox } from "./outbox.ts";
import type { AgentFrame } from "../shared/protocol.ts";

type Batch = Extract<AgentFrame, { type: "agent.batch" }>;

function setup() {
  const sent: AgentFrame[] = [];
  let connected = true;
  const box = new Outbox({ send: (f) => (connected ? (sent.push(f), true) : false), idPrefix: "t", flushMs: 5, redactor: null });
  return { box, sent, setConnected: (c: boolean) => (connected = c) };
}

const delta = (partID: string, d: string) => ({ body: { type: "part.delta" as const, messageID: "m", partID, field: "text", delta: d } });

describe("Outbox", () => {
  afterEach(() => void vi.useRealTimers());

  // Fake timers: "quiet for a window" is a statement about the clock, and on a loaded machine a
  // real 5 ms timer can fire 15 ms late, leaving no quiet gap before the next push.
  it("sends the first event after a quiet window at once, then batches while batches go out", () => {
    vi.useFakeTimers();
    const { box, sent } = setup();
    // Quiet outbox: the lone event is sent synchronously, with no window to wait for.
    box.push([delta("p0", "first")]);
    expect(sent).toHaveLength(1);
    // A batch just went out, so what follows within the window is gathered and merged.
    box.push([delta("p1", "a"), delta("p1", "b")]);
    box.push([delta("p2", "c"), delta("p1", "d")]);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(5);
    expect(sent).toHaveLength(2);
    const b = sent[1] as Batch;
    expect(b.events.map((e) => (e.body as { delta: string }).delta)).toEqual(["ab", "c", "d"]);
    // Quiet again for a window: the next event goes at once again.
    vi.advanceTimersByTime(5);
    box.push([delta("p3", "late")]);
    expect(sent).toHaveLength(3);
  });

  it("gathers for the whole window while a batch awaits its ack, and for a quarter window once acked", () => {
    vi.useFakeTimers();
    try {
      const sent: AgentFrame[] = [];
      const box = new Outbox({ send: (f) => (sent.push(f), true), idPrefix: "t", flushMs: 40, redactor: null });
      box.push([delta("p", "1")]);
      expect(sent).toHaveLength(1);
      // In flight, not acknowledged: the next event waits the whole window.
      box.push([delta("p", "2")]);
      vi.advanceTimersByTime(20);
      expect(sent).toHaveLength(1);
      vi.advanceTimersByTime(20);
      expect(sent).toHaveLength(2);
      // Acknowledged before the next event: it waits only a quarter window after the last batch.
      box.ack((sent[1] as Batch).batchId);
      box.ack((sent[0] as Batch).batchId);
      box.push([delta("p", "3")]);
      vi.advanceTimersByTime(9);
      expect(sent).toHaveLength(2);
      vi.advanceTimersByTime(1);
      expect(sent).toHaveLength(3);
      // An ack arriving while events gather releases them at the quarter window, not the whole.
      box.push([delta("p", "4")]);
      vi.advanceTimersByTime(10);
      expect(sent).toHaveLength(3);
      box.ack((sent[2] as Batch).batchId);
      expect(sent).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it("merges consecutive deltas within one push even when it goes at once", () => {
    const { box, sent } = setup();
    box.push([delta("p1", "a"), delta("p1", "b"), delta("p2", "c"), delta("p1", "d")]);
    expect(sent).toHaveLength(1);
    const b = sent[0] as Batch;
    expect(b.events.map((e) => (e.body as { delta: string }).delta)).toEqual(["ab", "c", "d"]);
  });

  it("keeps batches until acked and resends them with the same ids after a reconnect", () => {
    const { box, sent, setConnected } = setup();
    box.push([delta("p", "1")]);
    box.flush();
    box.push([delta("p", "2")]);
    box.flush();
    const ids = sent.map((f) => (f as Batch).batchId);
    // A random part per outbox: a restarted runner whose counter starts over never reuses an id.
    const pre = ids[0]!.replace(/-1$/, "");
    expect(pre).toMatch(/^t-[0-9a-f]{8}$/);
    expect(ids).toEqual([`${pre}-1`, `${pre}-2`]);
    box.ack(`${pre}-1`);
    expect(box.unacked).toBe(1);
    setConnected(false);
    box.disconnected();
    box.push([delta("p", "3")]);
    box.flush(); // cut while offline: kept, not sent
    expect(sent).toHaveLength(2);
    setConnected(true);
    box.resend();
    expect(sent.slice(2).map((f) => (f as Batch).batchId)).toEqual([`${pre}-2`, `${pre}-3`]);
    expect(box.resent).toBe(1);
    box.ack(`${pre}-2`);
    box.ack(`${pre}-3`);
    expect(box.unacked).toBe(0);
  });

  it("sends control frames in order behind batches not yet sent", () => {
    const { box, sent, setConnected } = setup();
    setConnected(false);
    box.push([{ eid: "perm:1", body: { type: "status", status: "busy" } }]);
    box.sendInOrder({ type: "agent.request.closed", requestID: "1" });
    expect(sent).toEqual([]);
    setConnected(true);
    box.resend();
    expect(sent.map((f) => f.type)).toEqual(["agent.batch", "agent.request.closed"]);
  });

  it("splits large buffers into several batches under the size cap", () => {
    const sent: AgentFrame[] = [];
    const box = new Outbox({ send: (f) => (sent.push(f), true), idPrefix: "t", maxBatchBytes: 1_000, maxEvents: 10_000, redactor: null });
    box.push(Array.from({ length: 50 }, (_, i) => ({ eid: `e${i}`, body: { type: "part.delta" as const, messageID: "m", partID: `p${i}`, field: "text", delta: "x".repeat(100) } })));
    box.flush();
    expect(sent.length).toBeGreaterThan(3);
    for (const f of sent) expect(JSON.stringify(f).length).toBeLessThan(2_000);
    expect(sent.flatMap((f) => (f as Batch).events)).toHaveLength(50);
  });

  it.each([
    ["3-byte", "中"],
    ["4-byte", "😀"],
  ])("cuts batches at the cap in UTF-8 bytes (%s characters)", (_, ch) => {
    const sent: AgentFrame[] = [];
    const cap = 1_000;
    const box = new Outbox({ send: (f) => (sent.push(f), true), idPrefix: "t", maxBatchBytes: cap, maxEvents: 10_000, redactor: null });
    const events = Array.from({ length: 40 }, (_, i) => ({ eid: `e${i}`, body: { type: "part.delta" as const, messageID: "m", partID: `p${i}`, field: "text", delta: ch.repeat(50) } }));
    box.push(events);
    box.flush();
    const bytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
    expect(sent.flatMap((f) => (f as Batch).events)).toEqual(events);
    for (const [i, f] of sent.entries()) {
      expect(bytes(f)).toBeLessThanOrEqual(cap);
      // Full: the next batch's first event would not have fitted (cut at the cap, not early).
      const next = (sent[i + 1] as Batch | undefined)?.events[0];
      if (next) expect(bytes(f) + bytes(next) + 1).toBeGreaterThan(cap);
    }
  });

  it("drained() resolves once everything is acknowledged", async () => {
    const { box, sent } = setup();
    box.push([delta("p", "x")]);
    const done = box.drained(1_000);
    box.ack((sent[0] as Batch).batchId);
    await expect(done).resolves.toBe(true);
  });

  it("never sends a batch ending inside a character: a split emoji's high half waits across flushes", () => {
    const { box, sent } = setup();
    const e = "🧑🏽";
    box.push([delta("p", "a" + e[0])]);
    box.flush();
    box.push([delta("p", e.slice(1, 3))]);
    box.flush();
    box.push([delta("p", e[3]! + "b")]);
    box.flush();
    const texts = sent.map((f) => ((f as Batch).events[0]!.body as { delta: string }).delta);
    expect(texts).toEqual(["a", e.slice(0, 2), e.slice(2) + "b"]);
    expect(texts.join("")).toBe("a" + e + "b");
  });

  it("a half the agent really ended a part with goes alone, before the part's final snapshot", () => {
    const { box, sent } = setup();
    box.push([delta("p", "x\ud83e")]);
    box.push([{ eid: "u1", body: { type: "part.upsert", part: { id: "p", messageID: "m", type: "text", text: "x\ud83e" } } }]);
    box.flush();
    const events = sent.flatMap((f) => (f as Batch).events.map((ev) => ev.body));
    expect(events.at(-1)!.type).toBe("part.upsert");
    const deltas = events.slice(0, -1);
    expect(deltas.every((b) => b.type === "part.delta")).toBe(true);
    expect(deltas.map((b) => (b as { delta: string }).delta).join("")).toBe("x\ud83e");
  });
});
