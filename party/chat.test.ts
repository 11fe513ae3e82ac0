/**
 * Chat in the room (shared/chat.ts, party/room/chat-*.ts) over WebSockets through the real Worker:
 * stored as durable events (snapshot, replay by cursor, history pages), idempotent by id, edit and
 * delete rules, who may talk (canChat links), limits, and "Ask the agent".
 */
import { describe, expect, it } from "vitest";
import { api, batch, connect, connectAgent, createSession, msg, textPart, token, type TestClient } from "./test-helpers.ts";
import type { ChatMessage, QueueItem } from "../shared/protocol.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";

type SnapFrame = { snapshot: { seq: number; chat?: ChatMessage[]; chatHasMore?: boolean; queue: QueueItem[] } };

async function join(id: string, tok: string, cursor?: number): Promise<TestClient> {
  const c = await connect(id, tok, { cursor });
  await c.waitType("caught-up");
  return c;
}

async function shareLink(id: string, ownerToken: string, body: Record<string, unknown>): Promise<string> {
  const res = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function snapshotOf(id: string): Promise<SnapFrame["snapshot"]> {
  const c = await join(id, await token(id, "viewer", "snap-reader"));
  const s = c.ofType<SnapFrame>("snapshot")[0]!.snapshot;
  c.close();
  return s;
}

let n = 0;
const say = (c: TestClient, text: string, extra: Record<string, unknown> = {}) => c.request({ type: "chat", ref: `c${++n}`, id: `m${n}`, text, ...extra });

describe("chat is a durable room event", () => {
  it("is stored, in snapshots, replayed by cursor, paged by chat.history, and idempotent by id", async () => {
    const { id, ownerToken } = await createSession();
    const owner = await join(id, ownerToken);
    const driver = await join(id, await token(id, "driver", "Dana"));
    const first = await driver.request({ type: "chat", ref: "a", id: "hello-1", text: "why did it delete that test?" });
    expect(first).toMatchObject({ type: "ack", command: "chat" });
    // The owner sees it live, with author and seq.
    const live = await owner.waitFor((f) => f.type === "events" && JSON.stringify(f).includes("hello-1"));
    const ev = (live.events as { type: string; seq: number; message: ChatMessage }[]).find((e) => e.type === "chat.add")!;
    expect(ev.message).toMatchObject({ id: "hello-1", text: "why did it delete that test?", author: { name: "Dana", role: "driver" } });
    expect(ev.message.author.linkId).toMatch(/^[A-Za-z0-9_-]+$/);
    // Resent with the same id (a reconnect): acknowledged as a duplicate, stored once.
    expect(await driver.request({ type: "chat", ref: "b", id: "hello-1", text: "why did it delete that test?" })).toMatchObject({ type: "ack", duplicate: true });
    let snap = await snapshotOf(id);
    expect(snap.chat?.map((m) => m.id)).toEqual(["hello-1"]);
    expect(snap.chat?.[0]?.seq).toBe(ev.seq);
    const cursor = snap.seq;
    // Someone else using the same id cannot claim it.
    expect(await owner.request({ type: "chat", ref: "c", id: "hello-1", text: "mine" })).toMatchObject({ type: "error", code: "forbidden" });

    for (let i = 0; i < 5; i++) await say(owner, `line ${i}`);
    const back = await join(id, await token(id, "viewer", "returning"), cursor);
    expect(back.frames[0]).toMatchObject({ catchup: "replay" });
    const replayed = back.ofType<{ events: { type: string; message?: ChatMessage }[] }>("events").flatMap((f) => f.events);
    expect(replayed.filter((e) => e.type === "chat.add").map((e) => e.message!.text)).toEqual(["line 0", "line 1", "line 2", "line 3", "line 4"]);

    // Pages: the newest 3, then the rest, oldest first.
    snap = await snapshotOf(id);
    const all = snap.chat!;
    expect(all).toHaveLength(6);
    const page1 = await owner.request({ type: "chat.history", ref: "h1", limit: 3 });
    expect(page1).toMatchObject({ type: "chat.history", hasMore: true });
    const p1 = page1.messages as ChatMessage[];
    expect(p1.map((m) => m.text)).toEqual(["line 2", "line 3", "line 4"]);
    const page2 = await owner.request({ type: "chat.history", ref: "h2", before: p1[0]!.seq, limit: 10 });
    expect((page2.messages as ChatMessage[]).map((m) => m.id)).toEqual(all.slice(0, 3).map((m) => m.id));
    expect(page2.hasMore).toBe(false);
  });

  it("edit and delete: your own only; owners delete any; the log keeps that it was deleted, not the text", async () => {
    const { id, ownerToken } = await createSession();
    const owner = await join(id, ownerToken);
    const dana = await join(id, await token(id, "driver", "Dana"));
    const eve = await join(id, await token(id, "driver", "Eve"));
    const cursor = (await snapshotOf(id)).seq;
    await dana.request({ type: "chat", ref: "d1", id: "d-msg", text: "secret plan" });
    await eve.request({ type: "chat", ref: "e1", id: "e-msg", text: "looks good" });

    expect(await eve.request({ type: "chat.edit", ref: "x1", id: "d-msg", text: "hijack" })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await eve.request({ type: "chat.delete", ref: "x2", id: "d-msg" })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await owner.request({ type: "chat.edit", ref: "x3", id: "d-msg", text: "owner edit" })).toMatchObject({ type: "error", code: "forbidden" });
    expect(await dana.request({ type: "chat.edit", ref: "x4", id: "nope", text: "?" })).toMatchObject({ type: "error", code: "not_found" });

    expect(await dana.request({ type: "chat.edit", ref: "ok1", id: "d-msg", text: "secret plan, revised" })).toMatchObject({ type: "ack" });
    expect(await dana.request({ type: "chat.delete", ref: "ok2", id: "d-msg" })).toMatchObject({ type: "ack" });
    expect(await owner.request({ type: "chat.delete", ref: "ok3", id: "e-msg" })).toMatchObject({ type: "ack" });
    expect(await dana.request({ type: "chat.edit", ref: "x5", id: "d-msg", text: "back" })).toMatchObject({ type: "error", code: "not_found" });
    expect(await owner.request({ type: "chat.delete", ref: "x6", id: "e-msg" })).toMatchObject({ type: "error", code: "not_found" });

    const snap = await snapshotOf(id);
    expect(snap.chat).toHaveLength(2);
    expect(snap.chat![0]).toMatchObject({ id: "d-msg", text: "", deleted: { by: "Dana" } });
    expect(snap.chat![1]).toMatchObject({ id: "e-msg", text: "", deleted: { by: "operator" } });
    // A replay from before shows the messages and their deletion, never their text.
    const back = await join(id, await token(id, "viewer", "late"), cursor);
    const replay = JSON.stringify(back.ofType("events"));
    expect(replay).toContain("chat.delete");
    expect(replay).toContain("d-msg");
    expect(replay).not.toContain("secret plan");
    expect(replay).not.toContain("looks good");
    // The deleted id stays taken: a resend is a duplicate, not a new message.
    expect(await dana.request({ type: "chat", ref: "again", id: "d-msg", text: "secret plan" })).toMatchObject({ type: "ack", duplicate: true });
  });
});

describe("who may talk", () => {
  it("a viewer without canChat is refused and nothing is stored; a canChat link may talk; the default is no", async () => {
    const { id, ownerToken } = await createSession();
    const plain = await join(id, await shareLink(id, ownerToken, { role: "viewer", name: "Quiet" }));
    const talker = await join(id, await shareLink(id, ownerToken, { role: "viewer", name: "Chatty", canChat: true }));
    expect(plain.frames[0]).toMatchObject({ you: { canChat: false } });
    expect(talker.frames[0]).toMatchObject({ you: { canChat: true } });
    const before = await snapshotOf(id);
    for (const f of [
      { type: "chat", ref: "v1", id: "v-1", text: "hi" },
      { type: "chat.edit", ref: "v2", id: "v-1", text: "hi" },
      { type: "chat.delete", ref: "v3", id: "v-1" },
      { type: "chat.ask", ref: "v4", id: "v-1", promptId: "q" },
    ]) {
      const r = await plain.request(f);
      expect(r).toMatchObject({ type: "error", code: "forbidden" });
    }
    const after = await snapshotOf(id);
    expect(after.seq).toBe(before.seq);
    expect(after.chat).toEqual([]);
    // A viewer still reads: the chat history frame is open to everyone.
    expect(await plain.request({ type: "chat.history", ref: "h" })).toMatchObject({ type: "chat.history", messages: [] });

    expect(await say(talker, "hello from a viewer")).toMatchObject({ type: "ack" });
    // A viewer may not send a chat message to the agent.
    const chatId = (await snapshotOf(id)).chat![0]!.id;
    expect(await talker.request({ type: "chat.ask", ref: "ask", id: chatId, promptId: "q-1" })).toMatchObject({ type: "error", code: "forbidden" });
    // The share answer says what the link allows.
    const res = await api(`/api/sessions/${id}/share`, { method: "POST", token: ownerToken, body: { role: "viewer" } });
    expect(await res.json()).toMatchObject({ canChat: false });
  });

  it("typing in chat is kept apart from typing a prompt, and shown only for people who may post", async () => {
    const { id, ownerToken } = await createSession();
    const owner = await join(id, ownerToken);
    const quiet = await join(id, await shareLink(id, ownerToken, { role: "viewer", name: "Quiet" }));
    quiet.send({ type: "typing", typing: true, where: "chat" });
    const d = await join(id, await token(id, "driver", "Typist"));
    d.send({ type: "typing", typing: true, where: "chat" });
    const p = await owner.waitFor((f) => f.type === "presence" && (f.users as { name: string; chatTyping?: boolean }[]).some((u) => u.name === "Typist" && u.chatTyping));
    expect((p.users as { name: string; typing?: boolean }[]).find((u) => u.name === "Typist")!.typing).toBeUndefined();
    expect((p.users as { name: string; chatTyping?: boolean }[]).find((u) => u.name === "Quiet")!.chatTyping).toBeUndefined();
  });

  it("Ask the agent queues the chat text as a prompt attributed to both; the agent never gets chat events", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [{ type: "status", status: "busy" }]); // keep the prompt queued
    const owner = await join(id, ownerToken);
    const bob = await join(id, await shareLink(id, ownerToken, { role: "viewer", name: "Bob", canChat: true }));
    await bob.request({ type: "chat", ref: "b1", id: "bob-q", text: "Add a README please" });
    const ask = { type: "chat.ask", ref: "ask1", id: "bob-q", promptId: "q-bob" };
    expect(await owner.request(ask)).toMatchObject({ type: "ack", command: "chat.ask" });
    expect(await owner.request({ ...ask, ref: "ask2" })).toMatchObject({ type: "ack", duplicate: true });
    expect(await owner.request({ ...ask, ref: "ask3", promptId: "q-other" })).toMatchObject({ type: "error", code: "forbidden" });
    const snap = await snapshotOf(id);
    expect(snap.queue).toEqual([expect.objectContaining({ id: "q-bob", text: "Add a README please", by: "operator", from: { chatID: "bob-q", author: "Bob" } })]);
    expect(snap.chat![0]).toMatchObject({ id: "bob-q", asked: { by: "operator", queueId: "q-bob" } });
    await batch(agent, [{ type: "status", status: "idle" }]);
    const dispatched = await agent.waitFor((f) => f.type === "agent.prompt");
    expect(dispatched).toMatchObject({ item: { id: "q-bob", text: "Add a README please" } });
    expect(JSON.stringify(agent.frames)).not.toContain("chat.add");
  });
});

describe("limits and targets", () => {
  it("refuses oversized text, unknown parts and replies, and a chat flood, each with its code", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "hi")]);
    const owner = await join(id, ownerToken);
    const before = (await snapshotOf(id)).seq;
    const big = "x".repeat(DEFAULT_LIMITS.maxChatChars + 1);
    expect(await owner.request({ type: "chat", ref: "l1", id: "big", text: big })).toMatchObject({ type: "error", code: "chat_too_large" });
    expect(await owner.request({ type: "chat", ref: "l2", id: "np", text: "hi", partID: "no-such-part" })).toMatchObject({ type: "error", code: "not_found" });
    expect(await owner.request({ type: "chat", ref: "l3", id: "nr", text: "hi", replyTo: "no-such-msg" })).toMatchObject({ type: "error", code: "not_found" });
    expect(await owner.request({ type: "chat", ref: "l4", id: "", text: "hi" })).toMatchObject({ type: "error", code: "bad_frame" });
    expect(await owner.request({ type: "chat", ref: "l5", id: "empty", text: "" })).toMatchObject({ type: "error", code: "bad_frame" });
    expect((await snapshotOf(id)).seq).toBe(before);
    // A comment on a part, and a reply to it.
    expect(await owner.request({ type: "chat", ref: "ok", id: "on-part", text: "why this?", partID: "p1" })).toMatchObject({ type: "ack" });
    expect(await owner.request({ type: "chat", ref: "ok2", id: "reply", text: "because", replyTo: "on-part" })).toMatchObject({ type: "ack" });
    expect((await snapshotOf(id)).chat).toEqual([expect.objectContaining({ id: "on-part", partID: "p1" }), expect.objectContaining({ id: "reply", replyTo: "on-part" })]);
    // The chat bucket: a burst, then rate_limited.
    const codes: string[] = [];
    for (let i = 0; i < DEFAULT_LIMITS.chatBurst + 5; i++) {
      const r = await owner.request({ type: "chat", ref: `f${i}`, id: `flood-${i}`, text: "spam" });
      codes.push(r.type === "ack" ? "ack" : String(r.code));
    }
    expect(codes).toContain("rate_limited");
    expect(codes.filter((c) => c === "ack").length).toBeLessThanOrEqual(DEFAULT_LIMITS.chatBurst);
  });

  it("an archived session refuses chat", async () => {
    const { id, ownerToken } = await createSession();
    const owner = await join(id, ownerToken);
    const r = await api(`/api/sessions/${id}/archive`, { method: "POST", token: ownerToken, body: { archived: true } });
    expect(r.status).toBe(200);
    expect(await say(owner, "still here?")).toMatchObject({ type: "error", code: "archived" });
  });
});
