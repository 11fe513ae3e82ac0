/**
 * The room client's frame handling, driven by a fake socket that plays the room. Real sockets
 * against real workerd are covered by test/room-client.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RoomCommandError, webStoragePromptStore, type RoomClientOptions, type RoomError } from "./room-client.ts";
import { FakeWebSocket } from "./fake-socket.ts";
import type { ConnectionState } from "./connection.ts";
import type { RoomEvent, Snapshot } from "./protocol.ts";
import { sessionMeta, snapshotOf } from "./fixtures.ts";
import type { TranscriptChanges } from "./transcript.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { TestRoomClient } from "../test/harness/clients.ts";

const session = sessionMeta();
const snap = snapshotOf;

const you = { id: "c1", name: "ann", role: "driver" as const };
const delta = (seq: number, d: string, fromSeq?: number): RoomEvent =>
  ({ type: "part.delta", messageID: "m1", partID: "p1", field: "text", delta: d, seq, ts: 1, ...(fromSeq ? { fromSeq } : {}) }) as RoomEvent;
const withText = (seq: number, t: string) =>
  snap(seq, { messages: [{ info: { id: "m1", role: "assistant", time: { created: 1 } }, parts: [{ id: "p1", messageID: "m1", type: "text", text: t }] }] });

const clients: TestRoomClient[] = [];

function client(over: Partial<RoomClientOptions> = {}): TestRoomClient {
  const c = new TestRoomClient({
    host: "127.0.0.1:8787",
    sessionId: "s1",
    token: "tok",
    WebSocket: FakeWebSocket,
    probe: false,
    heartbeat: false,
    backoff: { baseMs: 10, maxMs: 40, random: () => 1 },
    ...over,
  });
  clients.push(c);
  return c;
}

/** Waits until the client has created its n-th socket. */
async function socket(n: number): Promise<FakeWebSocket> {
  await vi.waitFor(() => {
    if (FakeWebSocket.instances.length < n) throw new Error(`waiting for socket ${n}`);
  }, { timeout: 2_000, interval: 2 });
  return FakeWebSocket.instances[n - 1]!;
}

/** Accepts the socket and plays a snapshot catch-up. */
function joinWithSnapshot(ws: FakeWebSocket, s: Snapshot): void {
  ws.accept();
  ws.receive({ type: "welcome", protocol: 1, you, catchup: "snapshot", seq: s.seq });
  ws.receive({ type: "snapshot", snapshot: s });
  ws.receive({ type: "caught-up", seq: s.seq });
}

function text(c: TestRoomClient): string | undefined {
  return (c.transcript.part("m1", "p1") as { text?: string } | undefined)?.text;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.unstubAllGlobals();
});

describe("RoomClient: connecting and catching up", () => {
  it("connects to the session's room with the token as a subprotocol and no cursor", async () => {
    client({ token: "abc.def" });
    const ws = await socket(1);
    const url = new URL(ws.url);
    expect(url.protocol).toBe("ws:");
    expect(url.pathname).toBe("/parties/session-room/s1");
    expect(ws.protocols).toEqual(["agentroom", "t.abc.def"]);
    expect(ws.query.has("cursor")).toBe(false);
    expect(url.search).not.toContain("abc.def");
  });

  it("uses wss for a remote https host", async () => {
    client({ host: "https://agentroom.example.workers.dev/" });
    const ws = await socket(1);
    expect(ws.url.startsWith("wss://agentroom.example.workers.dev/parties/session-room/s1")).toBe(true);
  });

  it("goes connecting → open (catching up) → open (live) and loads the snapshot", async () => {
    const c = client();
    const states: ConnectionState[] = [];
    const changes: TranscriptChanges[] = [];
    c.onStateChange((s) => states.push(s));
    c.onChange((ch) => changes.push(ch));
    expect(c.state).toEqual({ status: "connecting", attempt: 0 });
    const ws = await socket(1);
    ws.accept();
    expect(c.state).toEqual({ status: "open", live: false });
    ws.receive({ type: "welcome", protocol: 1, you, catchup: "snapshot", seq: 3 });
    ws.receive({ type: "snapshot", snapshot: withText(3, "hi") });
    expect(c.live).toBe(false);
    ws.receive({ type: "caught-up", seq: 3 });
    expect(c.live).toBe(true);
    expect(states.map((s) => s.status)).toEqual(["open", "open"]);
    expect(c.you).toEqual(you);
    expect(text(c)).toBe("hi");
    expect(c.transcript.lastSeq).toBe(3);
    expect(changes[0]!.reset).toBe(true);
  });

  it("applies live events and tells listeners which part changed", async () => {
    const c = client();
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    const changes: TranscriptChanges[] = [];
    c.onChange((ch) => changes.push(ch));
    ws.receive({ type: "events", from: 4, to: 6, events: [delta(4, "b"), delta(6, "cd", 5)] });
    expect(text(c)).toBe("abcd");
    expect(c.transcript.lastSeq).toBe(6);
    expect(changes).toHaveLength(1);
    expect([...changes[0]!.parts.get("m1")!]).toEqual(["p1"]);
  });

  it("reconnects with the cursor of the last applied event and applies only what it missed", async () => {
    const c = client();
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, withText(3, "a"));
    ws1.receive({ type: "events", from: 4, to: 4, events: [delta(4, "b")] });
    ws1.drop(1006);
    const ws2 = await socket(2);
    expect(ws2.query.get("cursor")).toBe("4");
    ws2.accept();
    ws2.receive({ type: "welcome", protocol: 1, you, catchup: "replay", seq: 6 });
    // The replay overlaps what it has (seq 4): that part is skipped, not shown twice.
    ws2.receive({ type: "events", from: 3, to: 6, replay: true, events: [{ ...delta(4, "b"), seq: 4 }, delta(5, "c"), delta(6, "d")] });
    ws2.receive({ type: "caught-up", seq: 6 });
    expect(text(c)).toBe("abcd");
    expect(c.live).toBe(true);
    expect(c.stats.skippedEvents).toBe(1);
    expect(c.stats.resyncs).toBe(0);
  });

  it("every attempt recomputes the cursor (events applied between attempts count)", async () => {
    const c = client();
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, withText(3, "a"));
    ws1.drop();
    const ws2 = await socket(2);
    expect(ws2.query.get("cursor")).toBe("3");
    joinWithSnapshot(ws2, withText(8, "abc"));
    ws2.drop();
    const ws3 = await socket(3);
    expect(ws3.query.get("cursor")).toBe("8");
    expect(c.stats.opens).toBe(2);
  });
});

describe("RoomClient: gaps and resync", () => {
  it("asks for a resync on a gap and renders nothing from the frame after it", async () => {
    const c = client();
    const errors: RoomError[] = [];
    c.onError((e) => errors.push(e));
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    ws.receive({ type: "events", from: 6, to: 6, events: [delta(6, "WRONG")] });
    expect(text(c)).toBe("a");
    expect(c.state).toEqual({ status: "open", live: false }); // catching up again
    expect(ws.sentFrames.filter((f) => f.type === "resync")).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual(["gap"]);
    // More frames past the gap do not trigger a storm of resyncs.
    ws.receive({ type: "events", from: 7, to: 7, events: [delta(7, "x")] });
    expect(ws.sentFrames.filter((f) => f.type === "resync")).toHaveLength(1);
    // The room answers with a snapshot; live events continue from it.
    ws.receive({ type: "snapshot", snapshot: withText(7, "abcdefg") });
    ws.receive({ type: "caught-up", seq: 7 });
    expect(c.live).toBe(true);
    ws.receive({ type: "events", from: 8, to: 8, events: [delta(8, "h")] });
    expect(text(c)).toBe("abcdefgh");
    expect(c.stats.gaps).toBe(1);
  });

  it("asks again when the room refuses a resync as rate-limited", async () => {
    const c = client({ rateLimitRetryMs: 10 });
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    ws.receive({ type: "events", from: 9, to: 9, events: [delta(9, "x")] });
    const [resync] = ws.sentFrames;
    expect(resync).toMatchObject({ type: "resync" });
    ws.receive({ type: "error", code: "rate_limited", message: "slow down", ref: resync!.ref });
    await vi.waitFor(() => expect(ws.sentFrames.filter((f) => f.type === "resync")).toHaveLength(2), { timeout: 1_000, interval: 5 });
    expect(c.stats.resyncs).toBe(2);
  });

  it("resyncs when caught-up says the room is ahead of what it got", async () => {
    const c = client();
    const ws = await socket(1);
    ws.accept();
    ws.receive({ type: "welcome", protocol: 1, you, catchup: "snapshot", seq: 5 });
    ws.receive({ type: "snapshot", snapshot: withText(3, "a") });
    ws.receive({ type: "caught-up", seq: 5 });
    expect(c.live).toBe(false);
    expect(ws.sentFrames.map((f) => f.type)).toEqual(["resync"]);
  });

  it("resyncs when a replay comes from a room behind its cursor", async () => {
    const c = client();
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, withText(10, "a"));
    ws1.drop();
    const ws2 = await socket(2);
    ws2.accept();
    ws2.receive({ type: "welcome", protocol: 1, you, catchup: "replay", seq: 4 });
    expect(ws2.sentFrames.map((f) => f.type)).toEqual(["resync"]);
    expect(c.transcript.lastSeq).toBe(10);
  });

  it("a merged delta straddling its cursor is a gap, not a duplicate", async () => {
    const c = client();
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    ws.receive({ type: "events", from: 2, to: 5, events: [delta(5, "XXXX", 2)] });
    expect(text(c)).toBe("a");
    expect(ws.sentFrames.map((f) => f.type)).toEqual(["resync"]);
  });
});

describe("RoomClient: commands", () => {
  async function live(over: Partial<RoomClientOptions> = {}) {
    const c = client(over);
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    return { c, ws };
  }

  it("resolves a command by its ack and rejects one by its error, matched by ref", async () => {
    const { c, ws } = await live();
    const stop = c.stop();
    const mode = c.setMode("plan");
    const [f1, f2] = ws.sentFrames;
    expect(f1).toMatchObject({ type: "stop" });
    expect(f2).toMatchObject({ type: "mode.set", mode: "plan" });
    expect(f1!.ref).not.toBe(f2!.ref);
    ws.receive({ type: "error", code: "forbidden", message: "a viewer may not send mode.set", ref: f2!.ref });
    ws.receive({ type: "ack", ref: f1!.ref, command: "stop" });
    await expect(stop).resolves.toBeUndefined();
    await expect(mode).rejects.toMatchObject({ name: "RoomCommandError", code: "forbidden" });
  });

  it("sends each command's frame as the protocol defines it", async () => {
    const { c, ws } = await live();
    void c.cancelQueued("q1").catch(() => {});
    void c.replyPermission("perm1", "reject", "not that file").catch(() => {});
    void c.replyQuestion("qq", [["A"], ["free text"]]).catch(() => {});
    void c.replyQuestion("qq2", null).catch(() => {});
    const p = c.prompt("hello", { mode: "plan", id: "fixed-id" });
    const frames = ws.sentFrames.map(({ ref: _ref, ...f }) => f);
    expect(frames).toEqual([
      { type: "queue.cancel", id: "q1" },
      { type: "permission.reply", requestID: "perm1", reply: "reject", message: "not that file" },
      { type: "question.reply", requestID: "qq", answers: [["A"], ["free text"]] },
      { type: "question.reply", requestID: "qq2", answers: null },
      { type: "prompt", id: "fixed-id", text: "hello", mode: "plan" },
    ]);
    ws.receive({ type: "ack", ref: ws.sentFrames[4]!.ref, command: "prompt" });
    await expect(p).resolves.toEqual({ id: "fixed-id", duplicate: false });
  });

  it("error frames that answer nothing of ours go to onError", async () => {
    const { c, ws } = await live();
    const errors: RoomError[] = [];
    c.onError((e) => errors.push(e));
    ws.receive({ type: "error", code: "rate_limited", message: "slow down" });
    expect(errors).toEqual([{ code: "rate_limited", message: "slow down" }]);
  });

  it("keeps a prompt typed while disconnected and sends it after the reconnect", async () => {
    const { c, ws } = await live();
    ws.drop();
    const p = c.prompt("typed offline", { mode: "plan" });
    expect(c.unsentPrompts).toBe(1);
    expect(c.unsentPromptList()).toEqual([{ id: expect.any(String), text: "typed offline", mode: "plan" }]);
    const ws2 = await socket(2);
    expect(ws2.sent).toEqual([]);
    ws2.accept();
    const [frame] = ws2.sentFrames;
    expect(frame).toMatchObject({ type: "prompt", text: "typed offline" });
    ws2.receive({ type: "ack", ref: frame!.ref, command: "prompt" });
    await expect(p).resolves.toMatchObject({ duplicate: false });
    expect(c.unsentPrompts).toBe(0);
  });

  it("with a prompt store, a prompt typed offline survives a reload and is sent by the next page", async () => {
    const area = new Map<string, string>();
    const storage = {
      getItem: (k: string) => area.get(k) ?? null,
      setItem: (k: string, v: string) => void area.set(k, v),
      removeItem: (k: string) => void area.delete(k),
    };
    const store = webStoragePromptStore(storage, "agentroom:unsent:s1");
    const { c, ws } = await live({ promptStore: store });
    ws.drop();
    void c.prompt("typed before the reload", { mode: "plan" }).catch(() => {});
    expect(store.load()).toEqual([{ id: expect.any(String), text: "typed before the reload", mode: "plan" }]);
    c.close(); // the page goes away
    expect(store.load()).toHaveLength(1);

    const next = client({ promptStore: store });
    expect(next.unsentPrompts).toBe(1);
    const ws2 = FakeWebSocket.instances.length;
    const sock = await socket(ws2 + 1);
    joinWithSnapshot(sock, snap(0));
    const [frame] = sock.sentFrames;
    expect(frame).toMatchObject({ type: "prompt", text: "typed before the reload", mode: "plan", id: store.load()[0]!.id });
    sock.receive({ type: "ack", ref: frame!.ref, command: "prompt" });
    expect(next.unsentPrompts).toBe(0);
    expect(area.size).toBe(0);
  });

  it("resends an unacknowledged prompt under the same id; the room's duplicate answer resolves it", async () => {
    const { c, ws } = await live();
    const p = c.prompt("once only");
    const first = ws.sentFrames[0]!;
    ws.drop(); // the ack was lost with the connection
    const ws2 = await socket(2);
    ws2.accept();
    const again = ws2.sentFrames[0]!;
    expect(again.id).toBe(first.id);
    expect(again.ref).toBe(first.ref);
    ws2.receive({ type: "ack", ref: again.ref, command: "prompt", duplicate: true });
    await expect(p).resolves.toEqual({ id: first.id, duplicate: true });
  });

  it("a duplicate error for a resent prompt counts as success", async () => {
    const { c, ws } = await live();
    const p = c.prompt("x");
    ws.receive({ type: "error", code: "duplicate", message: "seen", ref: ws.sentFrames[0]!.ref });
    await expect(p).resolves.toMatchObject({ duplicate: true });
  });

  it("refuses non-prompt commands while disconnected and fails those in flight on a drop", async () => {
    const { c, ws } = await live();
    const inFlight = c.stop();
    ws.drop();
    await expect(inFlight).rejects.toMatchObject({ code: "disconnected" });
    await expect(c.replyPermission("p", "once")).rejects.toBeInstanceOf(RoomCommandError);
    await expect(c.setMode("plan")).rejects.toMatchObject({ code: "disconnected" });
  });

  it("a prompt refused as rate-limited is sent again later, not dropped", async () => {
    const { c, ws } = await live({ rateLimitRetryMs: 10 });
    const p = c.prompt("burst");
    const first = ws.sentFrames[0]!;
    ws.receive({ type: "error", code: "rate_limited", message: "slow down", ref: first.ref });
    await vi.waitFor(() => expect(ws.sentFrames).toHaveLength(2), { timeout: 1_000, interval: 5 });
    expect(ws.sentFrames[1]).toEqual(first);
    ws.receive({ type: "ack", ref: first.ref, command: "prompt" });
    await expect(p).resolves.toMatchObject({ duplicate: false });
  });

  it("other commands refused as rate-limited fail with that code", async () => {
    const { c, ws } = await live();
    const stop = c.stop();
    ws.receive({ type: "error", code: "rate_limited", message: "slow down", ref: ws.sentFrames[0]!.ref });
    await expect(stop).rejects.toMatchObject({ code: "rate_limited" });
  });

  it("times out a command the room never answers", async () => {
    const { c } = await live({ commandTimeoutMs: 30 });
    await expect(c.stop()).rejects.toMatchObject({ code: "timeout" });
  });

  it("rejects pending prompts when closed", async () => {
    const { c, ws } = await live();
    ws.drop();
    const p = c.prompt("never");
    c.close();
    await expect(p).rejects.toMatchObject({ code: "closed" });
    await expect(c.stop()).rejects.toMatchObject({ code: "closed" });
  });

  it("loads older history before the oldest message and puts it in front", async () => {
    const c = client();
    const ws = await socket(1);
    joinWithSnapshot(ws, { ...withText(3, "a"), hasMore: true });
    const p = c.loadOlder(10);
    expect(c.loadOlder(10)).toBe(p); // a second scroll event while the page is on its way
    expect(ws.sentFrames).toHaveLength(1);
    const frame = ws.sentFrames[0]!;
    expect(frame).toMatchObject({ type: "history", before: "m1", limit: 10 });
    ws.receive({
      type: "history",
      ref: frame.ref,
      hasMore: false,
      messages: [{ info: { id: "m0", role: "user", time: { created: 0 } }, parts: [] }],
    });
    await expect(p).resolves.toBe(1);
    expect(c.transcript.messages.map((m) => m.info.id)).toEqual(["m0", "m1"]);
    expect(c.transcript.hasMore).toBe(false);
    await expect(c.loadOlder()).resolves.toBe(0);
    expect(ws.sentFrames).toHaveLength(1);
  });

  it("sends typing only when it changes, without a ref", async () => {
    const { c, ws } = await live();
    c.typing(true);
    c.typing(true);
    c.typing(false);
    expect(ws.sentFrames).toEqual([
      { type: "typing", typing: true },
      { type: "typing", typing: false },
    ]);
  });
});

describe("RoomClient: presence, raw frames, validation", () => {
  it("warns when the room speaks another protocol version", async () => {
    const c = client();
    const errors: RoomError[] = [];
    c.onError((e) => errors.push(e));
    const ws = await socket(1);
    ws.accept();
    ws.receive({ type: "welcome", protocol: 99, you, catchup: "snapshot", seq: 0 });
    expect(errors.map((e) => e.code)).toEqual(["protocol_mismatch"]);
  });

  it("reports presence", async () => {
    const c = client();
    const seen: number[] = [];
    c.onPresence((users) => seen.push(users.length));
    const ws = await socket(1);
    joinWithSnapshot(ws, snap(0));
    ws.receive({ type: "presence", users: [you, { id: "c2", name: "bo", role: "viewer", typing: true }] });
    expect(c.presence.map((u) => u.name)).toEqual(["ann", "bo"]);
    expect(seen.at(-1)).toBe(2);
  });

  it("a big room's presence lists some and counts everyone", async () => {
    const c = client();
    const totals: number[] = [];
    c.onPresence((_users, _you, total) => totals.push(total));
    const ws = await socket(1);
    joinWithSnapshot(ws, snap(0));
    ws.receive({ type: "presence", users: [you], total: 1_204 });
    expect(c.presence).toHaveLength(1);
    expect(c.presenceTotal).toBe(1_204);
    expect(totals.at(-1)).toBe(1_204);
  });

  it("hands frames it does not handle (the runner's agent.*) to onFrame", async () => {
    const c = client();
    const frames: string[] = [];
    c.onFrame((f) => frames.push(f.type));
    const ws = await socket(1);
    ws.accept();
    ws.receive({ type: "agent.lease", granted: true, session, leaseMs: 30_000 });
    expect(frames).toEqual(["agent.lease"]);
    expect(c.send({ type: "agent.heartbeat", runnerId: "r" })).toBe(true);
    expect(ws.sentFrames).toEqual([{ type: "agent.heartbeat", runnerId: "r" }]);
  });

  it("with validate, drops a malformed frame from the room and reports it", async () => {
    const c = client({ validate: true });
    const errors: RoomError[] = [];
    c.onError((e) => errors.push(e));
    const ws = await socket(1);
    joinWithSnapshot(ws, withText(3, "a"));
    ws.receive({ type: "events", from: 4, to: 4, events: [{ type: "part.delta", seq: 4 }] });
    ws.receive("not json");
    expect(text(c)).toBe("a");
    expect(errors.map((e) => e.code)).toEqual(["bad_frame_from_room", "bad_frame_from_room"]);
  });
});

describe("RoomClient: connection state", () => {
  it("reports reconnecting with attempt and delay, growing, and resets after a healthy connection", async () => {
    const c = client({ backoff: { baseMs: 10, factor: 2, maxMs: 1_000, random: () => 1 } });
    const states: ConnectionState[] = [];
    c.onStateChange((s) => states.push(s));
    (await socket(1)).refuse();
    (await socket(2)).refuse();
    const ws3 = await socket(3);
    const retries = states.filter((s) => s.status === "reconnecting");
    expect(retries.map((s) => [s.attempt, s.nextDelayMs])).toEqual([
      [1, 10],
      [2, 20],
    ]);
    const r = retries[0] as Extract<ConnectionState, { status: "reconnecting" }>;
    expect(r.retryAt).toBeGreaterThan(Date.now() - 1_000);
    joinWithSnapshot(ws3, snap(0));
    ws3.drop();
    await socket(4);
    const after = states.filter((s) => s.status === "reconnecting").at(-1) as Extract<ConnectionState, { status: "reconnecting" }>;
    expect([after.attempt, after.nextDelayMs]).toEqual([1, 10]);
    expect(after.lastClose).toEqual({ code: 1006, reason: "" });
  });

  it("is closed for good on a room close code that says so (4404, 4410)", async () => {
    const c = client();
    const ws = await socket(1);
    joinWithSnapshot(ws, snap(0));
    ws.drop(4410, "session deleted");
    expect(c.state).toEqual({ status: "closed", reason: "deleted", message: "session deleted", code: 4410 });
    await sleep(60);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("a revoked link is final: close 4411, or a refused upgrade whose probe says 401 revoked", async () => {
    const c = client();
    const ws = await socket(1);
    joinWithSnapshot(ws, snap(0));
    ws.drop(4411, "revoked");
    expect(c.state).toEqual({ status: "closed", reason: "revoked", message: "revoked", code: 4411 });
    const fakeFetch = (async () => new Response(JSON.stringify({ error: { code: "revoked", message: "this link was revoked" } }), { status: 401 })) as unknown as typeof fetch;
    const d = client({ probe: true, fetch: fakeFetch, token: "revoked-link" });
    (await socket(2)).refuse();
    await d.waitFor((x) => x.state.status === "closed", 2_000);
    expect(d.state).toEqual({ status: "closed", reason: "revoked", message: "this link was revoked", code: 401 });
    await sleep(60);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("acts on the room's closing frame at once, not on the close the runtime may hold back", async () => {
    const errors: RoomError[] = [];
    const c = client();
    c.onError((e) => errors.push(e));
    const frames: string[] = [];
    c.onFrame((f) => frames.push(f.type));
    const ws = await socket(1);
    joinWithSnapshot(ws, snap(0));
    ws.receive({ type: "closing", code: 4411, reason: "revoked" });
    expect(frames).not.toContain("closing"); // the connection's, never the room client's
    expect(c.state).toEqual({ status: "closed", reason: "revoked", message: "revoked", code: 4411 });
    expect(ws.readyState).toBe(FakeWebSocket.CLOSED); // the client closed its side
    // Already closing when the frame is read (the close frame came first): acted on, reported once.
    const d = client();
    const ws2 = await socket(2);
    joinWithSnapshot(ws2, snap(0));
    const closes: string[] = [];
    d.onStateChange((st) => closes.push(st.status));
    ws2.readyState = FakeWebSocket.CLOSING;
    ws2.receive({ type: "closing", code: 4410, reason: "session deleted" });
    expect(d.state).toEqual({ status: "closed", reason: "deleted", message: "session deleted", code: 4410 });
    ws2.drop(4410, "session deleted");
    expect(d.state).toEqual({ status: "closed", reason: "deleted", message: "session deleted", code: 4410 });
    expect(closes).toEqual(["closed"]);
    await sleep(60);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it("asks the HTTP API why an upgrade was refused and stops on 401", async () => {
    const calls: { url: string; auth: string | null }[] = [];
    const fakeFetch = (async (url: string, init?: RequestInit) => {
      calls.push({ url, auth: new Headers(init?.headers).get("authorization") });
      return new Response(JSON.stringify({ error: { code: "unauthorized", message: "token expired" } }), { status: 401 });
    }) as unknown as typeof fetch;
    const c = client({ probe: true, fetch: fakeFetch, token: "bad" });
    (await socket(1)).refuse();
    await c.waitFor((x) => x.state.status === "closed", 2_000);
    expect(c.state).toEqual({ status: "closed", reason: "unauthorized", message: "token expired", code: 401 });
    expect(calls).toEqual([{ url: "http://127.0.0.1:8787/api/sessions/s1", auth: "Bearer bad" }]);
    await sleep(60);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("keeps retrying when the probe says the session is fine (a network problem)", async () => {
    const fakeFetch = (async () => new Response("{}", { status: 200 })) as unknown as typeof fetch;
    const c = client({ probe: true, fetch: fakeFetch });
    (await socket(1)).refuse();
    const ws2 = await socket(2);
    joinWithSnapshot(ws2, snap(0));
    expect(c.live).toBe(true);
  });

  it("replaces a socket that goes silent past the heartbeat timeout", async () => {
    const c = client({ heartbeat: { intervalMs: 40, timeoutMs: 40 } });
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, withText(3, "a"));
    await vi.waitFor(() => expect(ws1.sent).toContain("ping"), { timeout: 1_000, interval: 5 });
    const ws2 = await socket(2);
    expect(ws1.readyState).toBe(3);
    expect(ws2.query.get("cursor")).toBe("3");
    // A socket that answers pong stays.
    joinWithSnapshot(ws2, withText(3, "a"));
    let pongs = 0;
    for (let i = 0; i < 40; i++) {
      await sleep(25);
      if (ws2.sent.includes("ping")) {
        ws2.receive("pong");
        ws2.sent.length = 0;
        pongs++;
      }
    }
    expect(pongs).toBeGreaterThan(0);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(c.live).toBe(true);
  });

  it("goes offline with the browser and reconnects at once, with its cursor, when back online", async () => {
    const win = new EventTarget();
    const nav = { onLine: true };
    vi.stubGlobal("window", win);
    vi.stubGlobal("navigator", nav);
    const c = client({ backoff: { baseMs: 5_000, random: () => 1 } });
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, withText(3, "a"));
    nav.onLine = false;
    win.dispatchEvent(new Event("offline"));
    expect(c.state).toEqual({ status: "offline" });
    expect(ws1.readyState).toBe(3);
    await sleep(30);
    expect(FakeWebSocket.instances).toHaveLength(1);
    nav.onLine = true;
    win.dispatchEvent(new Event("online"));
    const ws2 = await socket(2); // no 5 s backoff wait
    expect(ws2.query.get("cursor")).toBe("3");
    joinWithSnapshot(ws2, withText(3, "a"));
    expect(c.live).toBe(true);
  });

  it("waits for the network before retrying when it drops while offline", async () => {
    const win = new EventTarget();
    const nav = { onLine: true };
    vi.stubGlobal("window", win);
    vi.stubGlobal("navigator", nav);
    const c = client({ watchNetwork: true });
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, snap(0));
    nav.onLine = false; // no event yet: the socket dies first
    ws1.drop();
    await c.waitFor((x) => x.state.status === "offline", 1_000);
    await sleep(50);
    expect(FakeWebSocket.instances).toHaveLength(1);
    nav.onLine = true;
    win.dispatchEvent(new Event("online"));
    await socket(2);
  });

  it("setToken reconnects with the new token", async () => {
    const c = client();
    const ws1 = await socket(1);
    joinWithSnapshot(ws1, snap(0));
    c.setToken("fresh");
    const ws2 = await socket(2);
    expect(ws2.protocols).toEqual(["agentroom", "t.fresh"]);
  });

  it("retryNow skips the backoff wait, and a token set during the wait is the one sent", async () => {
    const c = client({ backoff: { baseMs: 60_000, maxMs: 60_000, random: () => 1 } });
    (await socket(1)).refuse();
    await c.waitFor((x) => x.state.status === "reconnecting", 1_000);
    expect(c.state).toMatchObject({ status: "reconnecting", attempt: 1, nextDelayMs: 60_000 });
    (c as unknown as { token: string }).token = "swapped"; // what setToken stores, without its reconnect
    c.retryNow();
    const ws2 = await socket(2);
    expect(ws2.protocols).toEqual(["agentroom", "t.swapped"]);
  });

  it("after a refused token, setToken starts again; after close() nothing does", async () => {
    let status = 401;
    const fakeFetch = (async () => new Response("{}", { status })) as unknown as typeof fetch;
    const c = client({ probe: true, fetch: fakeFetch, token: "old" });
    (await socket(1)).refuse();
    await c.waitFor((x) => x.state.status === "closed", 2_000).catch(() => {});
    expect(c.state).toMatchObject({ status: "closed", reason: "unauthorized" });
    status = 200;
    c.setToken("renewed");
    const ws2 = await socket(2);
    expect(ws2.protocols).toEqual(["agentroom", "t.renewed"]);
    joinWithSnapshot(ws2, snap(0));
    expect(c.live).toBe(true);
    c.close();
    c.setToken("again");
    await sleep(50);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(c.state).toMatchObject({ status: "closed", reason: "closed" });
  });

  it("can use a new connection id for every attempt", async () => {
    client({ newIdPerAttempt: true });
    (await socket(1)).refuse();
    const ws2 = await socket(2);
    expect(ws2.query.get("_pk")).not.toBe(FakeWebSocket.instances[0]!.query.get("_pk"));
  });
});
