import { describe, expect, it } from "vitest";
import { Transcript, canonical, normalize, normalizeMessages } from "./transcript.ts";
import type { RoomEvent, RoomEventBody, Snapshot } from "./protocol.ts";
import { sessionMeta, snapshotOf } from "./fixtures.ts";
import type { MessageWithParts, Part } from "./parts.ts";

const session = sessionMeta();
const snapshot = (over: Partial<Snapshot> = {}): Snapshot => snapshotOf(0, over);

const msg = (id: string, role: "user" | "assistant" = "assistant") => ({ id, role, time: { created: 1 } });
const text = (id: string, messageID: string, t = ""): Part => ({ id, messageID, type: "text", text: t });
const withParts = (id: string, parts: Part[]): MessageWithParts => ({ info: msg(id), parts });

/** Numbers bodies as consecutive events starting at `from`. */
function seqd(from: number, bodies: RoomEventBody[]): RoomEvent[] {
  return bodies.map((b, i) => ({ ...b, seq: from + i, ts: 1000 + i }) as RoomEvent);
}

function fresh(over: Partial<Snapshot> = {}): Transcript {
  return Transcript.fromSnapshot(snapshot(over));
}

describe("Transcript: messages and parts", () => {
  it("folds message and part upserts and deltas into the named field", () => {
    const t = fresh();
    const r = t.applyBatch(
      1,
      5,
      seqd(1, [
        { type: "message.upsert", message: msg("m1") },
        { type: "part.upsert", part: text("p1", "m1") },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "Hel" },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "lo" },
        { type: "part.upsert", part: { id: "p2", messageID: "m1", type: "reasoning", text: "hm" } },
      ]),
    );
    expect(r).toEqual({ applied: 5, skipped: 0, gap: false });
    expect(t.lastSeq).toBe(5);
    expect(t.messages.map((m) => m.info.id)).toEqual(["m1"]);
    expect(t.part("m1", "p1")).toMatchObject({ text: "Hello" });
    expect(t.messages[0]!.parts.map((p) => p.id)).toEqual(["p1", "p2"]);
  });

  it("a part snapshot replaces the text its deltas built", () => {
    const t = fresh();
    t.applyBatch(
      1,
      4,
      seqd(1, [
        { type: "message.upsert", message: msg("m1") },
        { type: "part.upsert", part: text("p1", "m1") },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "draft" },
        { type: "part.upsert", part: text("p1", "m1", "final") },
      ]),
    );
    expect(t.part("m1", "p1")).toMatchObject({ text: "final" });
  });

  it("appends deltas to other fields, creating a missing string field", () => {
    const t = fresh();
    t.applyBatch(
      1,
      3,
      seqd(1, [
        { type: "message.upsert", message: msg("m1") },
        { type: "part.upsert", part: { id: "p1", messageID: "m1", type: "tool", callID: "c", tool: "bash", state: { status: "running", input: {}, time: { start: 1 } } } },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "raw", delta: "ab" },
      ]),
    );
    expect(t.part("m1", "p1")).toMatchObject({ raw: "ab", tool: "bash" });
  });

  it("never mutates a stored part: a delta replaces it with a copy", () => {
    const t = fresh();
    const part = text("p1", "m1", "a");
    t.applyBatch(1, 2, seqd(1, [{ type: "message.upsert", message: msg("m1") }, { type: "part.upsert", part }]));
    const before = t.part("m1", "p1");
    t.applyEvent({ type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b", seq: 3, ts: 1 });
    expect(before).toMatchObject({ text: "a" });
    expect(part.text).toBe("a"); // the event's object is untouched too
    expect(t.part("m1", "p1")).not.toBe(before);
    expect(t.part("m1", "p1")).toMatchObject({ text: "ab" });
  });

  it("one events frame applied to two transcripts gives both the same result", () => {
    const events = seqd(1, [
      { type: "message.upsert", message: msg("m1") },
      { type: "part.upsert", part: text("p1", "m1") },
      { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "x" },
    ]);
    const a = fresh();
    const b = fresh();
    a.applyBatch(1, 3, events);
    b.applyBatch(1, 3, events);
    expect(b.part("m1", "p1")).toMatchObject({ text: "x" });
    expect(normalize(a)).toEqual(normalize(b));
  });

  it("removes parts and messages", () => {
    const t = fresh({
      seq: 3,
      messages: [withParts("m1", [text("p1", "m1", "a"), text("p2", "m1", "b")]), withParts("m2", [text("p3", "m2")])],
    });
    t.applyBatch(
      4,
      5,
      seqd(4, [
        { type: "part.remove", messageID: "m1", partID: "p1" },
        { type: "message.remove", messageID: "m2" },
      ]),
    );
    expect(t.messages.map((m) => m.info.id)).toEqual(["m1"]);
    expect(t.messages[0]!.parts.map((p) => p.id)).toEqual(["p2"]);
    expect(t.message("m2")).toBeUndefined();
  });

  it("keeps the order of first appearance; a replaced message or part keeps its place", () => {
    const t = fresh();
    t.applyBatch(
      1,
      6,
      seqd(1, [
        { type: "message.upsert", message: msg("m2") },
        { type: "message.upsert", message: msg("m1") },
        { type: "part.upsert", part: text("pb", "m2") },
        { type: "part.upsert", part: text("pa", "m2") },
        { type: "message.upsert", message: { ...msg("m2"), finish: "stop" } },
        { type: "part.upsert", part: text("pb", "m2", "again") },
      ]),
    );
    expect(t.messages.map((m) => m.info.id)).toEqual(["m2", "m1"]);
    expect(t.messages[0]!.parts.map((p) => p.id)).toEqual(["pb", "pa"]);
    expect(t.message("m2")!.info).toMatchObject({ finish: "stop" });
  });

  it("keeps parts that arrive before their message and attaches them when it comes", () => {
    const t = fresh();
    t.applyBatch(
      1,
      3,
      seqd(1, [
        { type: "part.upsert", part: text("p1", "m1", "early") },
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "!" },
        { type: "message.upsert", message: msg("m1") },
      ]),
    );
    expect(t.part("m1", "p1")).toMatchObject({ text: "early!" });
  });

  it("a delta for a part it never saw starts a text part, as the room does", () => {
    const t = fresh({ seq: 1, messages: [withParts("m1", [])] });
    t.applyEvent({ type: "part.delta", messageID: "m1", partID: "p9", field: "text", delta: "lost?", seq: 2, ts: 1 });
    expect(t.part("m1", "p9")).toEqual({ id: "p9", messageID: "m1", type: "text", text: "lost?" });
  });

  it("a shortened field keeps its preview and grows fullChars", () => {
    const big: Part = { ...text("p1", "m1", "prefix"), truncated: [{ field: "text", fullChars: 100 }] };
    const t = fresh({ seq: 1, messages: [withParts("m1", [big])] });
    t.applyEvent({ type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "12345", seq: 2, ts: 1 });
    expect(t.part("m1", "p1")).toMatchObject({ text: "prefix", truncated: [{ field: "text", fullChars: 105 }] });
  });

  it("a delta on a dotted path extends the string inside the part (a part sent in pieces)", () => {
    const tool = { id: "p1", messageID: "m1", type: "tool", callID: "c", tool: "edit", state: { status: "running", input: { oldString: "ab" }, time: { start: 1 } } } as Part;
    const t = fresh({ seq: 1, messages: [withParts("m1", [tool])] });
    t.applyEvent({ type: "part.delta", messageID: "m1", partID: "p1", field: "state.input.oldString", delta: "cd", seq: 2, ts: 1 });
    expect(t.part("m1", "p1")).toMatchObject({ state: { status: "running", input: { oldString: "abcd" } } });
    expect(Object.keys(t.part("m1", "p1")!)).not.toContain("state.input.oldString");
  });

  it("keeps part types it does not know, whole", () => {
    const odd = { id: "p1", messageID: "m1", type: "hologram", beam: { color: "blue" }, level: 3 } as Part;
    const t = fresh();
    t.applyBatch(1, 2, seqd(1, [{ type: "message.upsert", message: msg("m1") }, { type: "part.upsert", part: odd }]));
    expect(t.part("m1", "p1")).toEqual(odd);
    expect(normalize(t).messages[0]!.parts[0]).toEqual(canonical(odd));
  });

  it("a long stream of deltas into a long transcript stays correct", () => {
    const t = fresh({ seq: 2, messages: Array.from({ length: 2000 }, (_, i) => withParts(`m${String(i).padStart(5, "0")}`, [])) });
    t.applyBatch(3, 4, seqd(3, [{ type: "message.upsert", message: msg("z") }, { type: "part.upsert", part: text("p", "z") }]));
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      t.applyEvent({ type: "part.delta", messageID: "z", partID: "p", field: "text", delta: "ab", seq: 5 + i, ts: 1 });
    }
    // How fast is a figure: bench/transcript-deltas.ts.
    expect((t.part("z", "p") as unknown as { text: string }).text.length).toBe(2 * n);
  });
});

describe("Transcript: seq, idempotency and gaps", () => {
  const base = () => {
    const t = fresh({ seq: 2, messages: [withParts("m1", [text("p1", "m1", "a")])] });
    return t;
  };

  it("ignores events at or below lastSeq (a replay overlapping what it has)", () => {
    const t = base();
    const ev = { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b", seq: 3, ts: 1 } as RoomEvent;
    expect(t.applyEvent(ev)).toBe("applied");
    expect(t.applyEvent(ev)).toBe("skipped");
    const r = t.applyBatch(1, 3, [{ ...ev, seq: 2 }, ev]);
    expect(r).toEqual({ applied: 0, skipped: 2, gap: false });
    expect(t.part("m1", "p1")).toMatchObject({ text: "ab" });
  });

  it("applies the new tail of an overlapping batch once", () => {
    const t = base();
    const evs = seqd(2, [
      { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "X" },
      { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b" },
      { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "c" },
    ]);
    expect(t.applyBatch(2, 4, evs)).toEqual({ applied: 2, skipped: 1, gap: false });
    expect(t.part("m1", "p1")).toMatchObject({ text: "abc" });
    expect(t.lastSeq).toBe(4);
  });

  it("takes merged delta events covering fromSeq..seq", () => {
    const t = base();
    const merged = { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "bcd", fromSeq: 3, seq: 5, ts: 1 } as RoomEvent;
    expect(t.applyBatch(3, 5, [merged])).toEqual({ applied: 1, skipped: 0, gap: false });
    expect(t.lastSeq).toBe(5);
    expect(t.part("m1", "p1")).toMatchObject({ text: "abcd" });
    // The same merged event again is skipped whole.
    expect(t.applyEvent(merged)).toBe("skipped");
  });

  it("reports a merged event that straddles lastSeq as a gap, without applying it", () => {
    const t = base();
    t.applyEvent({ type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "b", seq: 3, ts: 1 });
    const straddling = { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "bc", fromSeq: 3, seq: 4, ts: 1 } as RoomEvent;
    expect(t.applyEvent(straddling)).toBe("gap");
    expect(t.part("m1", "p1")).toMatchObject({ text: "ab" });
    expect(t.lastSeq).toBe(3);
  });

  it("refuses a frame that starts after lastSeq + 1 and changes nothing", () => {
    const t = base();
    const before = normalize(t);
    const r = t.applyBatch(5, 5, seqd(5, [{ type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "zzz" }]));
    expect(r.gap).toBe(true);
    expect(r.applied).toBe(0);
    expect(t.lastSeq).toBe(2);
    expect(normalize(t)).toEqual(before);
  });

  it("applyEvent alone refuses a non-contiguous event unless told otherwise", () => {
    const t = base();
    const ev = { type: "todo.update", todos: [], seq: 9, ts: 1 } as RoomEvent;
    expect(t.applyEvent(ev)).toBe("gap");
    expect(t.applyEvent(ev, { contiguous: false })).toBe("applied");
    expect(t.lastSeq).toBe(9);
  });

  it("a frame's range counts even for seqs it carried no event for", () => {
    const t = base();
    t.applyBatch(3, 6, seqd(3, [{ type: "mode.set", mode: "plan", by: "a" }]));
    expect(t.lastSeq).toBe(6);
  });

  it("replaying a whole log onto a snapshot's state converges to the same transcript", () => {
    const bodies: RoomEventBody[] = [
      { type: "message.upsert", message: msg("m1", "user") },
      { type: "part.upsert", part: text("u1", "m1", "do it") },
      { type: "message.upsert", message: msg("m2") },
      { type: "part.upsert", part: text("p1", "m2") },
      ...Array.from({ length: 30 }, (_, i): RoomEventBody => ({ type: "part.delta", messageID: "m2", partID: "p1", field: "text", delta: `t${i} ` })),
      { type: "status", status: "idle" },
    ];
    const events = seqd(1, bodies);
    const live = fresh();
    for (const e of events) live.applyEvent(e);
    // A second viewer gets the same events in odd batches, some twice.
    const late = fresh();
    late.applyBatch(1, 10, events.slice(0, 10));
    late.applyBatch(5, 20, events.slice(4, 20));
    late.applyBatch(1, events.length, events);
    expect(normalize(late)).toEqual(normalize(live));
    expect(late.lastSeq).toBe(events.length);
  });
});

describe("Transcript: session, queue and requests", () => {
  it("applies every session-level event", () => {
    const t = fresh();
    t.applyBatch(
      1,
      8,
      seqd(1, [
        { type: "session.info", title: "Fix the bug", model: "scripted/demo", demo: true, opencodeSessionId: "ses_1", workspace: "/w" },
        { type: "status", status: "busy" },
        { type: "session.error", error: "provider exploded", name: "APIError" },
        { type: "mode.set", mode: "plan", by: "ann" },
        { type: "agent.presence", online: false },
        { type: "session.archived", archived: true },
        { type: "session.allowedOrigins", origins: ["https://a.example"] },
        { type: "status", status: "retry", message: "rate limited", attempt: 2 },
      ]),
    );
    expect(t.session).toMatchObject({
      title: "Fix the bug",
      model: "scripted/demo",
      demo: true,
      opencodeSessionId: "ses_1",
      workspace: "/w",
      agentStatus: "retry",
      lastError: "provider exploded",
      mode: "plan",
      agentOnline: false,
      archived: true,
      allowedOrigins: ["https://a.example"],
    });
    expect(t.statusDetail).toEqual({ message: "rate limited", attempt: 2 });
  });

  it("a turn's error stays through idle and goes when the next turn starts", () => {
    const t = fresh();
    t.applyBatch(1, 3, seqd(1, [
      { type: "status", status: "busy" },
      { type: "session.error", error: "provider exploded" },
      { type: "status", status: "idle" },
    ]));
    expect(t.session?.lastError).toBe("provider exploded");
    t.applyEvent({ type: "status", status: "busy", seq: 4, ts: 4 });
    expect(t.session?.lastError).toBeUndefined();
  });

  it("replaces the session object on change so consumers can compare by identity", () => {
    const t = fresh();
    const before = t.session;
    t.applyEvent({ type: "mode.set", mode: "plan", by: "a", seq: 1, ts: 1 });
    expect(t.session).not.toBe(before);
    expect(before!.mode).toBe("build");
  });

  it("open permissions and questions make the agent 'waiting'; replies remove them", () => {
    const t = fresh();
    t.applyBatch(
      1,
      3,
      seqd(1, [
        { type: "status", status: "busy" },
        { type: "permission.asked", request: { id: "perm1", permission: "bash", patterns: ["ls"], createdAt: 1 } },
        { type: "question.asked", request: { id: "q1", questions: [{ question: "Which?", options: [{ label: "A" }] }], createdAt: 1 } },
      ]),
    );
    expect(t.permissions.map((p) => p.id)).toEqual(["perm1"]);
    expect(t.questions.map((q) => q.id)).toEqual(["q1"]);
    expect(t.session!.agentStatus).toBe("waiting");
    t.applyEvent({ type: "permission.replied", requestID: "perm1", reply: "once", by: "ann", seq: 4, ts: 1 });
    expect(t.permissions).toEqual([]);
    expect(t.session!.agentStatus).toBe("waiting");
    t.applyEvent({ type: "question.replied", requestID: "q1", answers: [["A"]], by: "ann", seq: 5, ts: 1 });
    expect(t.questions).toEqual([]);
    expect(t.session!.agentStatus).toBe("busy");
  });

  it("a request the agent closed is no longer pending", () => {
    const t = fresh();
    t.applyEvent({ type: "permission.asked", request: { id: "perm1", permission: "bash", patterns: [], createdAt: 1 }, seq: 1, ts: 1 });
    t.applyEvent({ type: "request.closed", requestID: "perm1", seq: 2, ts: 1 });
    expect(t.permissions).toEqual([]);
    expect(t.session!.agentStatus).toBe("idle");
  });

  it("a snapshot taken while waiting restores the raw status underneath", () => {
    const t = fresh({
      session: { ...session, agentStatus: "waiting" },
      permissions: [{ id: "perm1", permission: "edit", patterns: [], createdAt: 1 }],
    });
    t.applyEvent({ type: "permission.replied", requestID: "perm1", reply: "reject", by: "a", seq: 1, ts: 1 });
    expect(t.session!.agentStatus).toBe("busy");
  });

  it("keeps the queue in order through add, update and remove", () => {
    const item = (id: string, state: "queued" | "dispatched" = "queued") => ({ id, text: id, mode: "build" as const, by: "a", createdAt: 1, state });
    const t = fresh();
    t.applyBatch(
      1,
      5,
      seqd(1, [
        { type: "queue.add", item: item("a") },
        { type: "queue.add", item: item("b") },
        { type: "queue.add", item: item("c") },
        { type: "queue.update", item: item("a", "dispatched") },
        { type: "queue.remove", id: "b", reason: "cancelled", by: "a" },
      ]),
    );
    expect(t.queue.map((q) => [q.id, q.state])).toEqual([
      ["a", "dispatched"],
      ["c", "queued"],
    ]);
  });

  it("replaces todos and the diff whole", () => {
    const t = fresh();
    t.applyBatch(
      1,
      3,
      seqd(1, [
        { type: "todo.update", todos: [{ content: "one", status: "pending" }] },
        { type: "todo.update", todos: [{ content: "two", status: "completed" }] },
        { type: "diff.update", diff: [{ file: "a.ts", additions: 1, deletions: 0 }] },
      ]),
    );
    expect(t.todos).toEqual([{ content: "two", status: "completed" }]);
    expect(t.diff).toEqual([{ file: "a.ts", additions: 1, deletions: 0 }]);
  });

  it("records a stop request until the agent goes idle", () => {
    const t = fresh();
    t.applyEvent({ type: "stop.requested", by: "ann", seq: 1, ts: 5 });
    expect(t.lastStop).toEqual({ by: "ann", seq: 1, ts: 5 });
    expect(t.takeChanges()!.stop).toBe(true);
    t.applyEvent({ type: "status", status: "idle", seq: 2, ts: 6 });
    expect(t.lastStop).toBeNull();
  });

  it("counts an unknown event type's seq without failing", () => {
    const t = fresh();
    expect(t.applyEvent({ type: "from.the.future", seq: 1, ts: 1 } as unknown as RoomEvent)).toBe("applied");
    expect(t.lastSeq).toBe(1);
  });
});

describe("Transcript: snapshots and history", () => {
  const page = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => {
      const id = `m${String(from + i).padStart(3, "0")}`;
      return { info: { ...msg(id), time: { created: from + i } }, parts: [text(`p${from + i}`, id, "x")] };
    });

  it("loads a snapshot: everything current, seq as cursor", () => {
    const t = Transcript.fromSnapshot(
      snapshot({
        seq: 42,
        messages: page(1, 3),
        hasMore: true,
        queue: [{ id: "q", text: "later", mode: "plan", by: "b", createdAt: 1, state: "queued" }],
        todos: [{ content: "x", status: "pending" }],
      }),
    );
    expect(t.lastSeq).toBe(42);
    expect(t.hasMore).toBe(true);
    expect(t.messages).toHaveLength(3);
    expect(t.queue).toHaveLength(1);
    expect(t.oldestMessageId).toBe("m001");
  });

  it("prepends history pages in front, skips messages it holds, takes the page's hasMore", () => {
    const t = Transcript.fromSnapshot(snapshot({ seq: 5, messages: page(5, 6), hasMore: true }));
    expect(t.prependHistory(page(3, 5), true)).toBe(2);
    expect(t.messages.map((m) => m.info.id)).toEqual(["m003", "m004", "m005", "m006"]);
    expect(t.hasMore).toBe(true);
    const c = t.takeChanges()!;
    expect(c.prepended).toBe(2);
    expect(c.messageList).toBe(true);
    expect(t.prependHistory(page(1, 2), false)).toBe(2);
    expect(t.hasMore).toBe(false);
    expect(t.oldestMessageId).toBe("m001");
  });

  it("ignores live updates to messages older than the loaded window (a page will carry them)", () => {
    const t = Transcript.fromSnapshot(snapshot({ seq: 5, messages: page(5, 6), hasMore: true }));
    t.applyBatch(
      6,
      9,
      seqd(6, [
        { type: "part.upsert", part: text("old0", "m001") },
        { type: "message.upsert", message: { ...msg("m001"), time: { created: 1 } } },
        { type: "part.upsert", part: text("old", "m001") },
        { type: "part.delta", messageID: "m001", partID: "old", field: "text", delta: "x" },
      ]),
    );
    expect(t.messages.map((m) => m.info.id)).toEqual(["m005", "m006"]);
    expect(t.lastSeq).toBe(9);
    // The page that covers it brings it, whole, in its place.
    t.prependHistory(page(1, 4), false);
    expect(t.messages.map((m) => m.info.id)).toEqual(["m001", "m002", "m003", "m004", "m005", "m006"]);
    expect(t.message("m001")!.parts.map((p) => p.id)).toEqual(["p1"]);
  });

  it("judges 'older' by creation time, so ids of any shape work (m10 after m9)", () => {
    const t = Transcript.fromSnapshot(
      snapshot({ seq: 1, hasMore: true, messages: [{ info: { ...msg("m9"), time: { created: 9 } }, parts: [] }] }),
    );
    t.applyEvent({ type: "message.upsert", message: { ...msg("m10"), time: { created: 10 } }, seq: 2, ts: 1 });
    expect(t.messages.map((m) => m.info.id)).toEqual(["m9", "m10"]);
  });

  it("a reconnect snapshot keeps the older pages already loaded", () => {
    const t = Transcript.fromSnapshot(snapshot({ seq: 5, messages: page(5, 6), hasMore: true }));
    t.prependHistory(page(1, 4), false);
    t.loadSnapshot(snapshot({ seq: 9, messages: [...page(5, 6), ...page(7, 7)], hasMore: true }));
    expect(t.messages.map((m) => m.info.id)).toEqual(["m001", "m002", "m003", "m004", "m005", "m006", "m007"]);
    expect(t.hasMore).toBe(false);
    expect(t.lastSeq).toBe(9);
    expect(t.takeChanges()!.reset).toBe(true);
  });

  it("a snapshot that does not overlap what it holds replaces everything", () => {
    const t = Transcript.fromSnapshot(snapshot({ seq: 5, messages: page(1, 2), hasMore: false }));
    t.loadSnapshot(snapshot({ seq: 90, messages: page(50, 51), hasMore: true }));
    expect(t.messages.map((m) => m.info.id)).toEqual(["m050", "m051"]);
    expect(t.hasMore).toBe(true);
  });
});

describe("Transcript: changes", () => {
  it("says which messages and parts changed, and nothing when nothing did", () => {
    const t = fresh({ seq: 1, messages: [withParts("m1", [text("p1", "m1")])] });
    expect(t.takeChanges()).toBeNull();
    const v = t.version;
    t.applyBatch(
      2,
      4,
      seqd(2, [
        { type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: "a" },
        { type: "message.upsert", message: msg("m2") },
        { type: "queue.add", item: { id: "q", text: "t", mode: "build", by: "a", createdAt: 1, state: "queued" } },
      ]),
    );
    const c = t.takeChanges()!;
    expect([...c.parts.get("m1")!]).toEqual(["p1"]);
    expect([...c.messages]).toEqual(["m2"]);
    expect(c.messageList).toBe(true);
    expect(c.queue).toBe(true);
    expect(c.session).toBe(false);
    expect([c.fromSeq, c.toSeq]).toEqual([2, 4]);
    expect(t.version).toBeGreaterThan(v);
    expect(t.takeChanges()).toBeNull();
  });
});

describe("normalize", () => {
  it("is independent of key order and leaves out updatedAt", () => {
    const a = fresh({ seq: 1, messages: [withParts("m1", [{ type: "text", text: "x", messageID: "m1", id: "p1" } as Part])] });
    const b = fresh({
      seq: 7,
      session: { ...session, updatedAt: 999 },
      messages: [withParts("m1", [text("p1", "m1", "x")])],
    });
    expect(normalize(a)).toEqual(normalize(b));
    expect(JSON.stringify(normalize(a))).toBe(JSON.stringify(normalize(b)));
    expect(JSON.stringify(a)).toBe(JSON.stringify(normalize(a)));
  });

  it("detects a difference in any part's content", () => {
    const a = fresh({ messages: [withParts("m1", [text("p1", "m1", "x")])] });
    const b = fresh({ messages: [withParts("m1", [text("p1", "m1", "y")])] });
    expect(normalize(a)).not.toEqual(normalize(b));
  });

  it("can sort by id to compare with a source listed by id", () => {
    const list = [withParts("m2", [text("b", "m2"), text("a", "m2")]), withParts("m1", [])];
    expect(normalizeMessages(list, { sortById: true }).map((m) => [m.info.id, m.parts.map((p) => p.id)])).toEqual([
      ["m1", []],
      ["m2", ["a", "b"]],
    ]);
    expect(normalizeMessages(list).map((m) => m.info.id)).toEqual(["m2", "m1"]);
  });
});
