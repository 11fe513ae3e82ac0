/**
 * SessionRoom over WebSockets through the real Worker: catch-up, agent batches, the queue,
 * driving commands and their role checks, requests, lease, presence, bad frames.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { SessionRoom } from "./session-room.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import {
  batch,
  connect,
  connectAgent,
  createSession,
  delta,
  msg,
  runner,
  sleep,
  textPart,
  token,
  type TestClient,
} from "./test-helpers.ts";

type Snap = { snapshot: { seq: number; messages: { info: { id: string }; parts: { id: string; text?: string }[] }[]; queue: { id: string; state: string }[]; permissions: { id: string }[]; session: { mode: string; agentOnline: boolean; lastError?: string } } };

async function joinViewer(id: string, role: "viewer" | "driver" | "owner" = "viewer", cursor?: number): Promise<TestClient> {
  const c = await connect(id, await token(id, role, `${role}-1`), { cursor });
  await c.waitType("caught-up");
  return c;
}

/** The room's state as a fresh viewer sees it. */
async function snapshotOf(id: string): Promise<Snap["snapshot"]> {
  const c = await joinViewer(id);
  const s = c.ofType<Snap>("snapshot")[0]!;
  c.close();
  return s.snapshot;
}

describe("catch-up on connect", () => {
  it("sends welcome, snapshot and caught-up to a new viewer", async () => {
    const { id } = await createSession({ title: "t" });
    const v = await joinViewer(id);
    expect(v.frames.map((f) => f.type).slice(0, 3)).toEqual(["welcome", "snapshot", "caught-up"]);
    expect(v.frames[0]).toMatchObject({ catchup: "snapshot", seq: 0, you: { role: "viewer", name: "viewer-1" } });
  });

  it("replays exactly the missed events, deltas to one part merged", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const v1 = await joinViewer(id);
    const cursor = (v1.ofType<{ seq: number }>("caught-up")[0]!).seq;
    v1.close();
    await batch(agent, [delta("m1", "p1", "Hel"), delta("m1", "p1", "lo "), delta("m1", "p1", "world")]);
    const v2 = await joinViewer(id, "viewer", cursor);
    expect(v2.frames[0]).toMatchObject({ type: "welcome", catchup: "replay" });
    const evFrames = v2.ofType<{ from: number; to: number; replay: boolean; events: { type: string; delta?: string; seq: number; fromSeq?: number }[] }>("events");
    const events = evFrames.flatMap((f) => f.events);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "part.delta", delta: "Hello world", fromSeq: cursor + 1, seq: cursor + 3 });
    expect(evFrames[0]).toMatchObject({ from: cursor + 1, to: cursor + 3, replay: true });
    expect(v2.frames.at(-1)).toMatchObject({ type: "caught-up", seq: cursor + 3 });
  });

  it("a cursor equal to the room's seq gets welcome + caught-up and nothing else", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    const ack = await batch(agent, [msg("m1")]);
    const v = await joinViewer(id, "viewer", ack.seq as number);
    expect(v.frames.map((f) => f.type).filter((t) => t !== "presence")).toEqual(["welcome", "caught-up"]);
  });

  it("a cursor ahead of the room (state lost, another room) gets a snapshot", async () => {
    const { id } = await createSession();
    const v = await joinViewer(id, "viewer", 999);
    expect(v.frames[0]).toMatchObject({ catchup: "snapshot" });
    expect(v.ofType("snapshot")).toHaveLength(1);
  });

  it("falls back to a snapshot once the cursor left the retained log (compaction)", async () => {
    // LIMIT_LOG_RETAIN_EVENTS=200, slack 50 in party/vitest.config.ts
    const { id } = await createSession();
    const agent = await connectAgent(id);
    const first = await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const cursor = first.seq as number;
    const deltas = Array.from({ length: 300 }, (_, i) => delta("m1", "p1", `${i},`));
    const last = await batch(agent, deltas);
    const lastSeq = last.seq as number;
    // Inside the retained tail: replay.
    const inside = await joinViewer(id, "viewer", lastSeq - 150);
    expect(inside.frames[0]).toMatchObject({ catchup: "replay" });
    const replayed = inside.ofType<{ events: { delta: string }[] }>("events").flatMap((f) => f.events);
    expect(replayed.map((e) => e.delta).join("")).toBe(Array.from({ length: 150 }, (_, i) => `${i + 150},`).join(""));
    // Before it: snapshot with the full folded text.
    const outside = await joinViewer(id, "viewer", cursor);
    expect(outside.frames[0]).toMatchObject({ catchup: "snapshot" });
    const snap = outside.ofType<Snap>("snapshot")[0]!.snapshot;
    expect(snap.messages[0]!.parts[0]!.text).toBe(Array.from({ length: 300 }, (_, i) => `${i},`).join(""));
  });
});

describe("live delivery", () => {
  it("streams events to viewers in order, without gaps, merged per part", async () => {
    const { id } = await createSession();
    const v = await joinViewer(id);
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    for (let i = 0; i < 20; i++) await batch(agent, [delta("m1", "p1", `t${i} `)]);
    const last = await batch(agent, [msg("m1", "assistant", 5)]);
    await v.waitFor((f) => f.type === "events" && (f.to as number) >= (last.seq as number));
    const frames = v.ofType<{ from: number; to: number; events: { type: string; delta?: string; seq: number }[] }>("events");
    let expectFrom = 1;
    for (const f of frames) {
      expect(f.from).toBe(expectFrom);
      expectFrom = f.to + 1;
    }
    const text = frames.flatMap((f) => f.events).filter((e) => e.type === "part.delta").map((e) => e.delta).join("");
    expect(text).toBe(Array.from({ length: 20 }, (_, i) => `t${i} `).join(""));
  });

  it("does not send room events to the agent connection", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1")]);
    await sleep(60);
    expect(agent.ofType("events")).toHaveLength(0);
  });
});

describe("agent batches", () => {
  it("a batch applied twice changes nothing the second time", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "a")]);
    const events = [delta("m1", "p1", "b"), delta("m1", "p1", "c")];
    const a1 = await batch(agent, events, "same-batch");
    const before = await snapshotOf(id);
    const a2 = await batch(agent, events, "same-batch");
    expect(a2).toMatchObject({ duplicate: true, seq: a1.seq });
    const after = await snapshotOf(id);
    expect(after.seq).toBe(before.seq);
    expect(after.messages[0]!.parts[0]!.text).toBe("abc");
  });

  it("a turn's error stays until the next turn starts", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [{ type: "status", status: "busy" }, { type: "session.error", error: "provider exploded" }, { type: "status", status: "idle" }]);
    expect((await snapshotOf(id)).session.lastError).toBe("provider exploded");
    await batch(agent, [{ type: "status", status: "busy" }]);
    expect((await snapshotOf(id)).session.lastError).toBeUndefined();
  });

  it("deltas keep streaming into the right part when a batch that created one rolled back", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "a"), delta("m1", "p1", "b")]);
    // A delta to a new part, then a bad event: the whole batch rolls back, the new part too.
    agent.send({ type: "agent.batch", batchId: "doomed-part", events: [{ body: delta("m1", "p2", "x") }, { body: { type: "part.delta", partID: 3 } }] });
    await agent.waitFor((f) => f.type === "error" && f.ref === "doomed-part");
    await batch(agent, [delta("m1", "p2", "y")]);
    const parts = (await snapshotOf(id)).messages[0]!.parts;
    expect(parts.map((p) => [p.id, p.text])).toEqual([
      ["p1", "ab"],
      ["p2", "y"],
    ]);
  });

  it("a batch id reused for different content (a restarted runner's counter) is applied, not dropped", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "a")], "runner1-room-1");
    const again = await batch(agent, [delta("m1", "p1", "b")], "runner1-room-1");
    expect(again.duplicate).toBeUndefined();
    expect((await snapshotOf(id)).messages[0]!.parts[0]!.text).toBe("ab");
    // ...while the identical frame resent is still recognized.
    const resent = await batch(agent, [delta("m1", "p1", "b")], "runner1-room-1");
    expect(resent.duplicate).toBe(true);
    expect((await snapshotOf(id)).messages[0]!.parts[0]!.text).toBe("ab");
  });

  it("events whose eid was applied before are skipped", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const send = (batchId: string, eids: string[]) => {
      agent.send({ type: "agent.batch", batchId, events: eids.map((eid) => ({ eid, body: delta("m1", "p1", eid) })) });
      return agent.waitFor((f) => f.type === "agent.ack" && f.batchId === batchId);
    };
    await send("x1", ["e1", "e2"]);
    await send("x2", ["e2", "e3", "e3"]);
    const s = await snapshotOf(id);
    expect(s.messages[0]!.parts[0]!.text).toBe("e1e2e3");
  });

  it("a part snapshot replaces its deltas; message completion folds them", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1"), delta("m1", "p1", "draft")]);
    await batch(agent, [textPart("m1", "p1", "final text")]);
    expect((await snapshotOf(id)).messages[0]!.parts[0]!.text).toBe("final text");
    await batch(agent, [delta("m1", "p1", "!"), msg("m1", "assistant", 9)]);
    expect((await snapshotOf(id)).messages[0]!.parts[0]!.text).toBe("final text!");
  });

  it("refuses a batch from an agent that does not hold the lease", async () => {
    const { id } = await createSession();
    await connectAgent(id);
    const second = await connect(id, await runner());
    const lease = await second.waitType<{ granted: boolean }>("agent.lease");
    expect(lease.granted).toBe(false);
    await second.waitFor((f) => f.type === "error" && f.code === "lease_held");
  });

  it("the same runner reconnecting (same ?runner=) takes its lease over; the old socket's close does not release it", async () => {
    const { id } = await createSession();
    const first = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await first.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    const second = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await second.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    await first.waitFor(() => first.closed !== undefined);
    expect(first.closed!.code).toBe(4408);
    await sleep(50);
    expect(await batch(second, [msg("m1")])).toMatchObject({ type: "agent.ack" });
    expect((await snapshotOf(id)).session.agentOnline).toBe(true);
    // A different runner is still refused while the lease is held.
    const other = await connect(id, await runner(), { query: { runner: "runner-2" } });
    await other.waitFor((f) => f.type === "error" && f.code === "lease_held");
    // And a client-chosen connection id (`_pk`) is replaced by the Worker: no impersonation.
    const v = await connect(id, await token(id, "viewer"), { query: { _pk: "chosen-id" } });
    const welcome = await v.waitType<{ you: { id: string } }>("welcome");
    expect(welcome.you.id).not.toBe("chosen-id");
  });

  it("refuses malformed agent frames with bad_frame (ref = batchId) and applies nothing", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    const before = await snapshotOf(id);
    agent.send({ type: "agent.batch", batchId: "bad", events: [{ body: { type: "part.delta", partID: 3 } }] });
    await agent.waitFor((f) => f.type === "error" && f.code === "bad_frame" && f.ref === "bad");
    expect((await snapshotOf(id)).seq).toBe(before.seq);
  });

  it("a batch that fails inside its transaction is rolled back whole: error with ref, nothing changed, room fine", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m0")]);
    const before = await snapshotOf(id);
    // A message whose info is too large for one SQLite value fails the second event.
    const huge = { type: "message.upsert", message: { id: "m2", role: "assistant", time: { created: 1 }, blob: "x".repeat(2_500_000) } };
    agent.send({ type: "agent.batch", batchId: "doomed", events: [{ body: msg("m1") }, { body: huge }] });
    await agent.waitFor((f) => f.type === "error" && f.code === "bad_frame" && f.ref === "doomed");
    const after = await snapshotOf(id);
    expect(after.seq).toBe(before.seq);
    expect(after.messages.map((m) => m.info.id)).toEqual(["m0"]);
    // Not remembered as applied: a corrected resend under the same id goes through.
    expect(await batch(agent, [msg("m1")], "doomed")).toMatchObject({ type: "agent.ack" });
    expect((await snapshotOf(id)).messages.map((m) => m.info.id)).toEqual(["m0", "m1"]);
  });
});

describe("the prompt queue", () => {
  it("keeps order, cancels while queued and is idempotent by id", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    expect(await d.request({ type: "prompt", ref: "1", id: "q1", text: "one" })).toMatchObject({ type: "ack" });
    expect(await d.request({ type: "prompt", ref: "2", id: "q2", text: "two" })).toMatchObject({ type: "ack" });
    expect(await d.request({ type: "prompt", ref: "3", id: "q3", text: "three" })).toMatchObject({ type: "ack" });
    const dup = await d.request({ type: "prompt", ref: "4", id: "q2", text: "two again" });
    expect(dup).toMatchObject({ type: "ack", duplicate: true });
    expect((await snapshotOf(id)).queue.map((q) => q.id)).toEqual(["q1", "q2", "q3"]);
    expect(await d.request({ type: "queue.cancel", ref: "5", id: "q2" })).toMatchObject({ type: "ack" });
    expect(await d.request({ type: "queue.cancel", ref: "6", id: "q2" })).toMatchObject({ type: "error", code: "not_found" });
    expect((await snapshotOf(id)).queue.map((q) => q.id)).toEqual(["q1", "q3"]);
    // A cancelled id stays used: resending it does not queue it again.
    expect(await d.request({ type: "prompt", ref: "7", id: "q2", text: "two" })).toMatchObject({ duplicate: true });
    expect((await snapshotOf(id)).queue.map((q) => q.id)).toEqual(["q1", "q3"]);
  });

  it("refuses prompts over the queue limit and over the size limit", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    for (let i = 0; i < 5; i++) await d.request({ type: "prompt", ref: `r${i}`, id: `p${i}`, text: "x" });
    expect(await d.request({ type: "prompt", ref: "full", id: "p9", text: "x" })).toMatchObject({ code: "queue_full" });
    const big = "x".repeat(100_001);
    const { id: id2 } = await createSession();
    const d2 = await joinViewer(id2, "driver");
    expect(await d2.request({ type: "prompt", ref: "big", id: "b", text: big })).toMatchObject({ code: "prompt_too_large" });
    expect((await snapshotOf(id2)).queue).toEqual([]);
  });

  it("hands the head to the agent only when it is online and idle; started dequeues", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    await d.request({ type: "prompt", ref: "1", id: "q1", text: "one" });
    await d.request({ type: "prompt", ref: "2", id: "q2", text: "two" });
    const agent = await connectAgent(id);
    const p1 = await agent.waitType<{ item: { id: string } }>("agent.prompt");
    expect(p1.item.id).toBe("q1");
    agent.send({ type: "agent.prompt.started", queueId: "q1" });
    await batch(agent, [{ type: "status", status: "busy" }]);
    await sleep(50);
    expect(agent.ofType("agent.prompt")).toHaveLength(1);
    expect((await snapshotOf(id)).queue.map((q) => q.id)).toEqual(["q2"]);
    const from = agent.frames.length;
    await batch(agent, [{ type: "status", status: "idle" }]);
    const p2 = await agent.waitFor<{ item: { id: string } }>((f) => f.type === "agent.prompt", 5000, from);
    expect(p2.item.id).toBe("q2");
  });

  it("returns a dispatched prompt to the queue when the agent disconnects", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    const agent = await connectAgent(id);
    await d.request({ type: "prompt", ref: "1", id: "q1", text: "one" });
    await agent.waitType("agent.prompt");
    expect((await snapshotOf(id)).queue[0]!.state).toBe("dispatched");
    agent.close();
    await d.waitFor((f) => f.type === "events" && (f.events as { type: string; online?: boolean }[]).some((e) => e.type === "agent.presence" && e.online === false));
    const s = await snapshotOf(id);
    expect(s.queue[0]!.state).toBe("queued");
    expect(s.session.agentOnline).toBe(false);
    const again = await connectAgent(id);
    expect((await again.waitType<{ item: { id: string } }>("agent.prompt")).item.id).toBe("q1");
  });
});

describe("driving commands", () => {
  it("stop reaches the agent, logs stop.requested, leaves the queue; agent_offline without an agent", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    expect(await d.request({ type: "stop", ref: "s0" })).toMatchObject({ code: "agent_offline" });
    const agent = await connectAgent(id);
    await batch(agent, [{ type: "status", status: "busy" }]);
    await d.request({ type: "prompt", ref: "p", id: "q1", text: "later" });
    expect(await d.request({ type: "stop", ref: "s1" })).toMatchObject({ type: "ack" });
    await agent.waitFor((f) => f.type === "agent.stop" && f.by === "driver-1");
    expect((await snapshotOf(id)).queue.map((q) => q.id)).toEqual(["q1"]);
  });

  it("a Stop the runner may have lost goes again to the next lease holder while the turn runs, never to a later turn", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "driver");
    const first = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await first.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    await batch(first, [{ type: "status", status: "busy" }]);
    // Stop goes to the holder, whose socket is about to die (the frame is lost with it).
    expect(await d.request({ type: "stop", ref: "s1" })).toMatchObject({ type: "ack" });
    await first.waitFor((f) => f.type === "agent.stop");
    const offline = async () => {
      for (let i = 0; i < 100 && (await snapshotOf(id)).session.agentOnline; i++) await sleep(20);
      expect((await snapshotOf(id)).session.agentOnline).toBe(false);
    };
    first.close();
    await offline();
    // Pressed while no runner is connected and the turn still runs: accepted, not `agent_offline`.
    expect(await d.request({ type: "stop", ref: "s2" })).toMatchObject({ type: "ack" });
    // Kept in storage, not memory: the room may hibernate while the runner is away.
    const keptStop = () =>
      runInDurableObject(env.SessionRoom.getByName(id), (_room: SessionRoom, state) =>
        state.storage.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'pendingStop'`).toArray()[0]?.value,
      );
    expect(await keptStop()).toBe(JSON.stringify("driver-1"));
    // The runner comes back: the turn still runs, so its new connection gets the Stop with the lease.
    const second = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await second.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    await second.waitFor((f) => f.type === "agent.stop" && f.by === "driver-1");
    // The turn ends; a runner joining now gets no Stop.
    await batch(second, [{ type: "status", status: "idle" }]);
    second.close();
    const third = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await third.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    // A new turn (a prompt handed out) forgets the old Stop too, even if the runner drops mid-turn.
    await d.request({ type: "prompt", ref: "p", id: "q1", text: "next" });
    const prompt = await third.waitFor<{ item: { id: string } }>((f) => f.type === "agent.prompt");
    third.send({ type: "agent.prompt.started", queueId: prompt.item.id, messageID: "msg_1" });
    await batch(third, [{ type: "status", status: "busy" }]);
    third.close();
    const fourth = await connect(id, await runner(), { query: { runner: "runner-1" } });
    await fourth.waitFor((f) => f.type === "agent.lease" && f.granted === true);
    await sleep(100);
    expect(await keptStop()).toBe("null");
    expect(third.ofType("agent.stop")).toHaveLength(0);
    expect(fourth.ofType("agent.stop")).toHaveLength(0);
    // Nothing runs and no runner: Stop is refused as before.
    await batch(fourth, [{ type: "status", status: "idle" }]);
    fourth.close();
    await offline();
    expect(await d.request({ type: "stop", ref: "s3" })).toMatchObject({ code: "agent_offline" });
  });

  it("mode is persisted and forwarded", async () => {
    const { id } = await createSession();
    const d = await joinViewer(id, "owner");
    const agent = await connectAgent(id);
    await d.request({ type: "mode.set", ref: "m", mode: "plan" });
    await agent.waitFor((f) => f.type === "agent.mode" && f.mode === "plan");
    expect((await snapshotOf(id)).session.mode).toBe("plan");
  });

  it("permission: first valid answer wins, a late one gets already_answered", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [{ type: "permission.asked", request: { id: "perm1", permission: "bash", patterns: ["ls"], createdAt: 1 } }]);
    expect((await snapshotOf(id)).permissions.map((p) => p.id)).toEqual(["perm1"]);
    const d1 = await joinViewer(id, "driver");
    const d2 = await joinViewer(id, "owner");
    expect(await d1.request({ type: "permission.reply", ref: "a", requestID: "perm1", reply: "once" })).toMatchObject({ type: "ack" });
    expect(await d2.request({ type: "permission.reply", ref: "b", requestID: "perm1", reply: "reject" })).toMatchObject({ code: "already_answered" });
    expect(await d2.request({ type: "permission.reply", ref: "c", requestID: "nope", reply: "once" })).toMatchObject({ code: "not_found" });
    const fwd = agent.ofType<{ reply: string }>("agent.permission.reply");
    await agent.waitType("agent.permission.reply");
    expect(agent.ofType<{ reply: string }>("agent.permission.reply").map((f) => f.reply)).toEqual(["once"]);
    expect(fwd.length).toBeLessThanOrEqual(1);
    expect((await snapshotOf(id)).permissions).toEqual([]);
  });

  it("question: answered once, forwarded; closed requests leave the snapshot", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    const q = { id: "q1", questions: [{ question: "Which?", options: [{ label: "A" }, { label: "B" }] }], createdAt: 1 };
    await batch(agent, [{ type: "question.asked", request: q }, { type: "question.asked", request: { ...q, id: "q2" } }]);
    const d = await joinViewer(id, "driver");
    expect(await d.request({ type: "question.reply", ref: "a", requestID: "q1", answers: [["A"]] })).toMatchObject({ type: "ack" });
    await agent.waitFor((f) => f.type === "agent.question.reply" && f.requestID === "q1");
    expect(await d.request({ type: "question.reply", ref: "b", requestID: "q1", answers: null })).toMatchObject({ code: "already_answered" });
    agent.send({ type: "agent.request.closed", requestID: "q2" });
    await d.waitFor((f) => f.type === "events" && (f.events as { type: string }[]).some((e) => e.type === "request.closed"));
    expect(await d.request({ type: "question.reply", ref: "c", requestID: "q2", answers: [["B"]] })).toMatchObject({ code: "already_answered" });
  });

  it("EVERY driving command from a viewer is refused and changes nothing", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [
      { type: "permission.asked", request: { id: "perm1", permission: "bash", patterns: [], createdAt: 1 } },
      { type: "question.asked", request: { id: "ques1", questions: [{ question: "?", options: [] }], createdAt: 1 } },
    ]);
    const d = await joinViewer(id, "driver");
    await d.request({ type: "prompt", ref: "p", id: "queued", text: "x" });
    const before = await snapshotOf(id);
    const v = await joinViewer(id, "viewer");
    const forged = [
      { type: "prompt", ref: "1", id: "evil", text: "rm -rf" },
      { type: "queue.cancel", ref: "2", id: "queued" },
      { type: "stop", ref: "3" },
      { type: "mode.set", ref: "4", mode: "plan" },
      { type: "permission.reply", ref: "5", requestID: "perm1", reply: "always" },
      { type: "question.reply", ref: "6", requestID: "ques1", answers: [["x"]] },
    ];
    for (const f of forged) {
      expect(await v.request(f)).toMatchObject({ type: "error", code: "forbidden", ref: f.ref });
    }
    // Agent frames from a viewer are not even parsed as agent frames.
    v.send({ type: "agent.batch", batchId: "z", events: [{ body: msg("evil") }] });
    await v.waitFor((f) => f.type === "error" && f.code === "bad_frame");
    await sleep(50);
    const after = await snapshotOf(id);
    expect(after).toEqual({ ...before, session: { ...before.session } });
    expect(agent.ofType("agent.stop")).toHaveLength(0);
    expect(agent.ofType("agent.mode")).toHaveLength(0);
    expect(agent.ofType("agent.permission.reply")).toHaveLength(0);
    expect(agent.ofType("agent.question.reply")).toHaveLength(0);
  });

  it("a viewer may read: history, resync, typing", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), msg("m2"), msg("m3")]);
    const v = await joinViewer(id);
    const h = await v.request({ type: "history", ref: "h", before: "m3", limit: 1 });
    expect(h).toMatchObject({ type: "history", hasMore: true });
    expect((h.messages as { info: { id: string } }[]).map((m) => m.info.id)).toEqual(["m2"]);
    const from = v.frames.length;
    v.send({ type: "resync", ref: "r" });
    await v.waitFor((f) => f.type === "caught-up", 5000, from);
    // (a debounced presence frame may land in between: it is not part of the answer)
    expect(v.frames.slice(from).map((f) => f.type).filter((t) => t !== "presence")).toEqual(["snapshot", "caught-up"]);
    v.send({ type: "typing", typing: true });
    await v.waitFor((f) => f.type === "presence" && (f.users as { typing?: boolean }[]).some((u) => u.typing));
  });
});

describe("bad input", () => {
  it("answers malformed frames with errors and keeps the connection", async () => {
    const { id } = await createSession();
    const v = await joinViewer(id, "driver");
    v.send("not json");
    await v.waitFor((f) => f.type === "error" && f.code === "bad_json");
    v.send({ type: "no.such.frame", ref: "u" });
    await v.waitFor((f) => f.type === "error" && f.code === "bad_frame" && f.ref === "u");
    v.send({ type: "prompt", ref: "w", id: 5, text: "x" });
    await v.waitFor((f) => f.type === "error" && f.code === "bad_frame" && f.ref === "w");
    v.ws.send(new Uint8Array([1, 2, 3]));
    await v.waitFor((f) => f.type === "error" && f.code === "bad_json" && String(f.message).includes("binary"));
    v.send({ type: "prompt", ref: "big", id: "x", text: "y".repeat(300 * 1024) });
    await v.waitFor((f) => f.type === "error" && f.code === "frame_too_large");
    // The cap is in UTF-8 bytes: 3-byte and 4-byte text under it in UTF-16 units but over it in bytes.
    const cap = DEFAULT_LIMITS.maxClientFrameBytes;
    for (const [ref, text] of [["cjk", "世".repeat(Math.ceil(cap / 2))], ["emoji", "😀".repeat(Math.ceil(cap / 3))]] as const) {
      expect(JSON.stringify({ type: "prompt", ref, id: ref, text }).length).toBeLessThan(cap);
      const from = v.frames.length;
      v.send({ type: "prompt", ref, id: ref, text });
      await v.waitFor((f) => f.type === "error" && f.code === "frame_too_large", 5000, from);
    }
    expect(await v.request({ type: "prompt", ref: "ok", id: "fine", text: "still works" })).toMatchObject({ type: "ack" });
    expect(v.closed).toBeUndefined();
  });

  it("rate-limits a flooding connection (token bucket)", async () => {
    const { id } = await createSession();
    const v = await joinViewer(id);
    for (let i = 0; i < 120; i++) v.send({ type: "typing", typing: i % 2 === 0 });
    await v.waitFor((f) => f.type === "error" && f.code === "rate_limited");
  });
});

describe("presence and the agent's state", () => {
  it("lists everyone connected with name and role; agent presence is an event", async () => {
    const { id } = await createSession();
    const v = await joinViewer(id);
    const d = await connect(id, await token(id, "driver", "Dana"));
    await d.waitType("caught-up");
    await v.waitFor((f) => f.type === "presence" && (f.users as unknown[]).length === 2);
    const p = v.ofType<{ users: { name: string; role: string }[] }>("presence").at(-1)!;
    expect(p.users.map((u) => `${u.name}:${u.role}`).sort()).toEqual(["Dana:driver", "viewer-1:viewer"]);
    await connectAgent(id);
    await v.waitFor((f) => f.type === "events" && (f.events as { type: string; online?: boolean }[]).some((e) => e.type === "agent.presence" && e.online));
  });
});

/**
 * What a client holds after each frame, from its frames in order; throws on a gap or an overlap
 * (an event sent twice, once in the catch-up and again live).
 */
function heldSeq(c: TestClient): number {
  let have = -1;
  for (const f of c.frames) {
    if (f.type === "snapshot") have = (f as Snap).snapshot.seq;
    else if (f.type === "events") {
      const from = f.from as number;
      if (have >= 0 && from !== have + 1) throw new Error(`${from <= have ? "overlap" : "gap"}: held ${have}, frame from ${from}`);
      if (have < 0) have = from - 1; // a replay from the cursor
      have = f.to as number;
    } else if (f.type === "caught-up" && have >= 0 && f.seq !== have) throw new Error(`caught-up at ${String(f.seq)} but held ${have}`);
    else if (f.type === "caught-up" && have < 0) have = f.seq as number;
  }
  return have;
}

describe("joins while events stream", () => {
  it("every joiner gets each event exactly once: its catch-up, then live, with no gap and no overlap", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    const first = (await batch(agent, [msg("m1"), textPart("m1", "p1")])).seq as number;
    const live = await joinViewer(id);
    const joiners: TestClient[] = [];
    let last = first;
    for (let i = 0; i < 16; i++) { // the test room holds 20 connections
      // Joins land between a batch's commit and the flush that sends it (the room no longer
      // flushes on a join), half with a cursor (replay), half without (snapshot).
      const sent = batch(agent, [delta("m1", "p1", `${i} `)]);
      joiners.push(await connect(id, await token(id, "viewer", `j${i}`), i % 2 ? { cursor: first } : {}));
      last = (await sent).seq as number;
    }
    for (const c of [live, ...joiners]) {
      const deadline = Date.now() + 5_000;
      while (heldSeq(c) < last) {
        if (Date.now() > deadline) throw new Error(`held ${heldSeq(c)} of ${last}: ${JSON.stringify(c.frames).slice(0, 600)}`);
        await sleep(10);
      }
      expect(heldSeq(c)).toBe(last);
    }
    await sleep(100); // nothing more arrives late and twice
    for (const c of [live, ...joiners]) expect(heldSeq(c)).toBe(last);
  });

  it("people who stay get everything once while others leave and join mid-stream", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const stay = await Promise.all(Array.from({ length: 5 }, () => joinViewer(id)));
    const leave = await Promise.all(Array.from({ length: 2 }, () => joinViewer(id)));
    const late: TestClient[] = [];
    let last = 0;
    for (let i = 0; i < 40; i++) {
      // Several deltas per batch, not all awaited: events pile up between turns.
      const sent = batch(agent, [delta("m1", "p1", `${i}a `), delta("m1", "p1", `${i}b `)]);
      if (i === 10) for (const c of leave) c.close();
      if (i === 20 || i === 30) late.push(await joinViewer(id, "viewer", i === 30 ? 1 : undefined));
      if (i % 3 === 0) last = (await sent).seq as number;
      else void sent.then((a) => (last = Math.max(last, a.seq as number)));
    }
    last = (await batch(agent, [msg("m1", "assistant", 5)])).seq as number;
    const want = Array.from({ length: 40 }, (_, i) => `${i}a ${i}b `).join("");
    for (const c of [...stay, ...late]) {
      const deadline = Date.now() + 5_000;
      while (heldSeq(c) < last) {
        if (Date.now() > deadline) throw new Error(`held ${heldSeq(c)} of ${last}`);
        await sleep(10);
      }
    }
    await sleep(100);
    for (const c of stay) {
      expect(heldSeq(c)).toBe(last);
      const text = c.ofType<{ events: { type: string; delta?: string }[] }>("events").flatMap((f) => f.events).filter((e) => e.type === "part.delta").map((e) => e.delta).join("");
      expect(text).toBe(want);
    }
    for (const c of late) expect(heldSeq(c)).toBe(last);
  });
});
