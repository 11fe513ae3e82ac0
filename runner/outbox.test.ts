import { afterEach, describe, expect, it, vi } from "vitest";
import { Outbox } from "./outbox.ts";
import type { AgentFrame } from "../shared/protocol.ts";

type Batch = Extract<AgentFrame, { type: "agent.batch" }>;

function setup({ flushMs }: { flushMs: number | undefined } = { flushMs: 5 }) {
  const sent: AgentFrame[] = [];
  let connected = true;
  const box = new Outbox({ send: (f) => (connected ? (sent.push(f), true) : false), idPrefix: "t", flushMs, redactor: null });
  return { box, sent, setConnected: (c: boolean) => (connected = c) };
}

const delta = (partID: string, d: string) => ({ body: { type: "part.delta" as const, messageID: "m", partID, field: "text", delta: d } });
const texts = (f: AgentFrame | undefined): string[] => (f as Batch).events.map((e) => (e.body as { delta: string }).delta);
const idOf = (f: AgentFrame | undefined): string => (f as Batch).batchId;
/** With a batch awaiting its ack, the next event waits exactly `windowMs` (fake timers). */
function expectWindow(box: Outbox, sent: AgentFrame[], windowMs: number): void {
  box.push([delta("p", "1")]);
  box.flush();
  box.push([delta("p", "2")]);
  vi.advanceTimersByTime(windowMs - 1);
  expect(sent).toHaveLength(1);
  vi.advanceTimersByTime(1);
  expect(sent).toHaveLength(2);
}

/** The end of the current task: what was queued for it (the outbox's flush) has run. */
const tick = (): Promise<void> => new Promise((resolve) => queueMicrotask(resolve));

describe("Outbox", () => {
  afterEach(() => void vi.useRealTimers());

  // Pure logic: the room's acks are explicit calls, the end of a task is an awaited microtask, and
  // the window is a fake clock, so nothing here depends on how fast the machine is.
  it("sends at the end of the task when nothing awaits an ack, and gathers behind a batch until its ack", async () => {
    const { box, sent } = setup();
    box.push([delta("p0", "first")]);
    box.push([delta("p0", " second")]);
    expect(sent).toHaveLength(0);
    await tick();
    // Pushed in one task (one read of OpenCode's stream): one batch, the deltas merged.
    expect(sent).toHaveLength(1);
    expect(texts(sent[0])).toEqual(["first second"]);
    // That batch awaits its ack: what follows gathers, however long the ack takes within the window.
    box.push([delta("p1", "a"), delta("p1", "b")]);
    await tick();
    box.push([delta("p2", "c"), delta("p1", "d")]);
    await tick();
    expect(sent).toHaveLength(1);
    // The ack releases it at once, as one batch.
    box.ack(idOf(sent[0]));
    expect(sent).toHaveLength(2);
    expect(texts(sent[1])).toEqual(["ab", "c", "d"]);
    // Acknowledged and nothing buffered: the next event goes at the end of its task again.
    box.ack(idOf(sent[1]));
    box.push([delta("p3", "late")]);
    await tick();
    expect(sent).toHaveLength(3);
  });

  it("gathers for the window at most when the ack is late", () => {
    vi.useFakeTimers();
    const { box, sent } = setup({ flushMs: 40 });
    expectWindow(box, sent, 40);
    // Two batches await acks: the first one's ack releases nothing while the second still waits.
    box.push([delta("p", "3")]);
    box.ack(idOf(sent[0]));
    expect(sent).toHaveLength(2);
    box.ack(idOf(sent[1]));
    expect(sent).toHaveLength(3);
    expect(texts(sent[2])).toEqual(["3"]);
  });

  it("a room that keeps up gets every push at once; one that is behind gets about one batch per window", async () => {
    vi.useFakeTimers();
    const run = async (ackAfterMs: number): Promise<number> => {
      const sent: AgentFrame[] = [];
      const box = new Outbox({
        send: (f) => {
          sent.push(f);
          if (f.type === "agent.batch") setTimeout(() => box.ack(f.batchId), ackAfterMs);
          return true;
        },
        idPrefix: "t",
        flushMs: 16,
        redactor: null,
      });
      // 160 ms of one token every 2 ms (80 tokens).
      for (let i = 0; i < 80; i++) {
        box.push([delta("p", `${i} `)]);
        await vi.advanceTimersByTimeAsync(2);
      }
      await vi.advanceTimersByTimeAsync(200);
      expect(sent.flatMap((f) => texts(f)).join("")).toBe(Array.from({ length: 80 }, (_, i) => `${i} `).join(""));
      expect(box.unacked).toBe(0);
      return sent.length;
    };
    // Acked within a token's gap: no token waits for another.
    expect(await run(1)).toBe(80);
    // Acked after 50 ms: the window (16 ms) bounds the wait, so about 160 / 16 batches, not 80.
    const behind = await run(50);
    expect(behind).toBeGreaterThanOrEqual(9);
    expect(behind).toBeLessThanOrEqual(12);
    // Acked after 5 ms: batches follow the acks (one per ack's round trip, about 160 / 6).
    const clocked = await run(5);
    expect(clocked).toBeGreaterThan(behind);
    expect(clocked).toBeLessThan(40);
  });

  it("keeps an unset flush window at its default (16 ms)", () => {
    vi.useFakeTimers();
    const { box, sent } = setup({ flushMs: undefined });
    expectWindow(box, sent, 16);
  });

  it("while it cannot send, gathers what is pushed and sends it after the pending batches, in one batch", async () => {
    const { box, sent, setConnected } = setup();
    box.push([delta("p", "1")]);
    await tick();
    setConnected(false);
    box.disconnected();
    for (const d of ["2", "3", "4"]) {
      box.push([delta("p", d)]);
      await tick();
    }
    expect(sent).toHaveLength(1);
    setConnected(true);
    box.resend();
    expect(sent.map((f) => texts(f))).toEqual([["1"], ["1"], ["234"]]);
    expect(idOf(sent[1])).toBe(idOf(sent[0]));
  });

  it("merges consecutive deltas within one push", async () => {
    const { box, sent } = setup();
    box.push([delta("p1", "a"), delta("p1", "b"), delta("p2", "c"), delta("p1", "d")]);
    await tick();
    expect(sent).toHaveLength(1);
    expect(texts(sent[0])).toEqual(["ab", "c", "d"]);
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
