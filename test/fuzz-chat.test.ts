/**
 * 10,000 fuzzed chat frames against a live room on real workerd, from every kind of sender: an
 * owner, two drivers, a viewer whose link allows chat and one whose link does not. Most frames
 * must be refused (wrong sender, someone else's message, unknown targets, oversized or malformed
 * text, bad JSON, a second "Ask the agent"), each with the code the protocol gives; a few are valid
 * posts mixed in, which must be stored exactly as sent. Afterwards the chat holds the seeded
 * messages plus exactly the valid posts, the queue is as it was, and a watching viewer saw no
 * error and no gap. Rate limits are raised for the flood (they are tested in party/chat.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { RawSocket, type Frame } from "./harness/raw-socket.ts";
import { RoomFeeder } from "./harness/browser.ts";
import { createRng, type Rng } from "./harness/fuzz.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import { DEFAULT_LIMITS } from "../shared/limits.ts";
import type { ChatMessage, ErrorCode, EventBody, QueueItem } from "../shared/protocol.ts";

const FLOOD = "1000000";
const TOTAL = 10_000;
const WINDOW = 25;
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);

let w: WorkerHandle;

beforeAll(async () => {
  w = await startWorker({ env: { LIMIT_RATE_FRAMES_PER_SECOND: FLOOD, LIMIT_RATE_BURST: FLOOD, LIMIT_CHAT_RATE_PER_SECOND: FLOOD, LIMIT_CHAT_BURST: FLOOD } });
});

afterAll(async () => {
  await w?.stop();
});

type Sender = "owner" | "ann" | "ben" | "talker" | "quiet";
type Expect = { codes: readonly ErrorCode[] } | { ack: string };
interface Fuzzed {
  from: Sender;
  data: string;
  expect: Expect;
  kind: string;
}

const NASTY = ["", " ", "\u0000", "\ud800", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "__proto__", "'; DROP TABLE chat; --", "😀".repeat(3), "\u202e"];

/** Seeded messages: ann-1 (Ann), ben-1 (Ben), talk-1 (the canChat viewer, already sent to the agent). */
function generate(rng: Rng): Fuzzed[] {
  const out: Fuzzed[] = [];
  const word = () => rng.int(1e9).toString(36);
  const text = () => (rng.chance(0.3) ? rng.pick(NASTY) || "x" : `msg ${word()}`);
  const forbidden = { codes: ["forbidden"] as const };
  const notFound = { codes: ["not_found"] as const };
  const badFrame = { codes: ["bad_frame"] as const };
  const j = (f: unknown) => JSON.stringify(f);
  let n = 0;
  const ref = () => `z${++n}`;
  const gens: ((i: number) => Fuzzed)[] = [
    // Not allowed to post at all.
    () => ({ from: "quiet", kind: "quiet-post", data: j({ type: "chat", ref: ref(), id: `q-${word()}`, text: text() }), expect: forbidden }),
    () => ({ from: "quiet", kind: "quiet-edit", data: j({ type: "chat.edit", ref: ref(), id: "ann-1", text: "mine now" }), expect: forbidden }),
    () => ({ from: "quiet", kind: "quiet-delete", data: j({ type: "chat.delete", ref: ref(), id: rng.pick(["ann-1", "talk-1"]) }), expect: forbidden }),
    () => ({ from: rng.pick(["quiet", "talker"] as const), kind: "viewer-ask", data: j({ type: "chat.ask", ref: ref(), id: "ann-1", promptId: `p-${word()}` }), expect: forbidden }),
    // Someone else's message.
    () => ({ from: "ben", kind: "edit-other", data: j({ type: "chat.edit", ref: ref(), id: "ann-1", text: text() }), expect: forbidden }),
    () => ({ from: "owner", kind: "owner-edit-other", data: j({ type: "chat.edit", ref: ref(), id: "ben-1", text: text() }), expect: forbidden }),
    () => ({ from: rng.pick(["ann", "talker"] as const), kind: "delete-other", data: j({ type: "chat.delete", ref: ref(), id: "ben-1" }), expect: forbidden }),
    () => ({ from: "ben", kind: "claim-id", data: j({ type: "chat", ref: ref(), id: "ann-1", text: text() }), expect: forbidden }),
    // Already asked: a second prompt from the same message is refused.
    () => ({ from: rng.pick(["owner", "ann", "ben"] as const), kind: "ask-again", data: j({ type: "chat.ask", ref: ref(), id: "talk-1", promptId: `p-${word()}` }), expect: forbidden }),
    // Unknown targets.
    () => ({ from: "ann", kind: "edit-unknown", data: j({ type: "chat.edit", ref: ref(), id: `nope-${word()}`, text: text() }), expect: notFound }),
    () => ({ from: "owner", kind: "delete-unknown", data: j({ type: "chat.delete", ref: ref(), id: `nope-${word()}` }), expect: notFound }),
    () => ({ from: "ben", kind: "ask-unknown", data: j({ type: "chat.ask", ref: ref(), id: `nope-${word()}`, promptId: `p-${word()}` }), expect: notFound }),
    () => ({ from: "ann", kind: "reply-unknown", data: j({ type: "chat", ref: ref(), id: `r-${word()}`, text: "re", replyTo: `nope-${word()}` }), expect: notFound }),
    () => ({ from: "talker", kind: "part-unknown", data: j({ type: "chat", ref: ref(), id: `c-${word()}`, text: "on it", partID: `prt_${word()}` }), expect: notFound }),
    // Size.
    () => ({
      from: rng.pick(["ann", "talker", "owner"] as const),
      kind: "too-long",
      data: j({ type: rng.pick(["chat", "chat.edit"]), ref: ref(), id: rng.chance(0.5) ? "ann-1" : `big-${word()}`, text: "y".repeat(DEFAULT_LIMITS.maxChatChars + 1 + rng.int(50_000)) }),
      // An edit of someone else's message may be refused for either reason first.
      expect: { codes: ["chat_too_large", "forbidden", "not_found"] },
    }),
    () => ({ from: "ann", kind: "frame-too-large", data: j({ type: "chat", ref: ref(), id: `h-${word()}`, text: "z".repeat(DEFAULT_LIMITS.maxClientFrameBytes + 10) }), expect: { codes: ["frame_too_large"] } }),
    // Malformed.
    () => ({ from: rng.pick(["ann", "ben", "talker", "quiet", "owner"] as const), kind: "empty-text", data: j({ type: "chat", ref: ref(), id: `e-${word()}`, text: "" }), expect: badFrame }),
    () => ({ from: rng.pick(["ann", "talker"] as const), kind: "bad-id", data: j({ type: "chat", ref: ref(), id: rng.pick(["", "x".repeat(129), 42, null, ["a"]]), text: "hi" }), expect: badFrame }),
    () => ({ from: rng.pick(["ann", "owner"] as const), kind: "wrong-types", data: j({ type: rng.pick(["chat", "chat.edit", "chat.delete", "chat.ask", "chat.history"]), ref: ref(), id: rng.pick([1, true, {}, []]), text: rng.pick([1, null, { a: 1 }]), before: "x", limit: 0 }), expect: badFrame }),
    () => ({ from: "ben", kind: "missing-fields", data: j({ type: rng.pick(["chat", "chat.edit", "chat.ask"]), ref: ref() }), expect: badFrame }),
    () => ({ from: "talker", kind: "bad-refs", data: j({ type: "chat", ref: ref(), id: `b-${word()}`, text: "x", partID: rng.pick(["", 5, "p".repeat(200)]) }), expect: badFrame }),
    () => ({ from: rng.pick(["ann", "quiet"] as const), kind: "bad-json", data: rng.pick(['{"type":"chat"', "chat", "{type:'chat'}", '{"type":"chat","text":"\\ud800', "["]), expect: { codes: ["bad_json", "bad_frame"] } }),
    () => ({ from: "owner", kind: "unknown-chat-type", data: j({ type: rng.pick(["chat.pin", "chat.react", "chat.purge", "Chat"]), ref: ref(), id: "ann-1" }), expect: badFrame }),
  ];
  for (let i = 0; i < TOTAL; i++) {
    if (rng.chance(0.03)) {
      // A valid post: stored exactly as sent.
      const from = rng.pick(["ann", "talker", "owner"] as const);
      const id = `ok-${i}`;
      const t = `valid ${i} ${rng.pick(NASTY.filter((x) => x.trim()))}`;
      out.push({ from, kind: "valid", data: j({ type: "chat", ref: ref(), id, text: t, ...(rng.chance(0.3) ? { replyTo: "ben-1" } : {}) }), expect: { ack: id } });
      continue;
    }
    out.push(rng.pick(gens)(i));
  }
  return out;
}

async function snapshot(sessionId: string, token: string): Promise<{ seq: number; chat: ChatMessage[]; queue: QueueItem[] }> {
  const s = await RawSocket.open(w.roomUrl(sessionId), token);
  const snap = await s.waitFor((f) => f.type === "snapshot", 10_000, 0);
  await s.close();
  const v = snap.snapshot as { seq: number; chat?: ChatMessage[]; queue: QueueItem[] };
  return { seq: v.seq, chat: v.chat ?? [], queue: v.queue };
}

/** The whole chat, paged with `chat.history` from the newest back. */
async function wholeChat(sessionId: string, token: string): Promise<ChatMessage[]> {
  const s = await RawSocket.open(w.roomUrl(sessionId), token);
  await s.waitFor((f) => f.type === "caught-up", 10_000, 0);
  const out: ChatMessage[] = [];
  let before: number | undefined;
  for (let page = 0; ; page++) {
    const ref = `page-${page}`;
    s.sendJson({ type: "chat.history", ref, limit: 200, ...(before !== undefined ? { before } : {}) });
    const f = await s.waitFor((x) => x.type === "chat.history" && x.ref === ref, 10_000, 0);
    const msgs = f.messages as ChatMessage[];
    out.unshift(...msgs);
    if (!f.hasMore || msgs.length === 0) break;
    before = msgs[0]!.seq;
  }
  await s.close();
  return out;
}

async function share(sessionId: string, ownerToken: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${w.url}/api/sessions/${sessionId}/share`, {
    method: "POST",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { token: string }).token;
}

const isAnswer = (f: Frame) => f.type === "error" || f.type === "ack";

describe("fuzzed chat frames", () => {
  it(`${TOTAL} frames from five kinds of sender change nothing they should not`, async () => {
    const s = await w.createSession({ title: "fuzz chat", name: "Owen" });
    const feeder = await RoomFeeder.connect(w.wsUrl, s.id, await w.agentToken());
    const now = Date.now();
    await feeder.send([
      { type: "message.upsert", message: { id: "msg_1", role: "assistant", time: { created: now } } },
      { type: "part.upsert", part: { id: "prt_1", messageID: "msg_1", type: "text", text: "hello" } },
      { type: "status", status: "busy" },
    ] as EventBody[]);
    const tokens: Record<Sender, string> = {
      owner: s.ownerToken,
      ann: await w.mintToken({ sid: s.id, role: "driver", name: "Ann" }),
      ben: await w.mintToken({ sid: s.id, role: "driver", name: "Ben" }),
      talker: await share(s.id, s.ownerToken, { role: "viewer", name: "Tal", canChat: true }),
      quiet: await share(s.id, s.ownerToken, { role: "viewer", name: "Quin" }),
    };
    const socks = {} as Record<Sender, RawSocket>;
    for (const k of Object.keys(tokens) as Sender[]) {
      socks[k] = await RawSocket.open(w.roomUrl(s.id), tokens[k]);
      await socks[k].waitFor((f) => f.type === "caught-up", 10_000, 0);
      socks[k].skipAll();
    }
    const watcher = await RawSocket.open(w.roomUrl(s.id), await w.mintToken({ sid: s.id, role: "viewer", name: "Watcher" }));
    await watcher.waitFor((f) => f.type === "caught-up", 10_000, 0);

    // The seeded messages.
    const seed = async (from: Sender, frame: Record<string, unknown>) => {
      socks[from].sendJson(frame);
      const [a] = await socks[from].take(1, isAnswer);
      expect(a).toMatchObject({ type: "ack" });
    };
    await seed("ann", { type: "chat", ref: "s1", id: "ann-1", text: "why did it delete that test?", partID: "prt_1" });
    await seed("ben", { type: "chat", ref: "s2", id: "ben-1", text: "it was flaky" });
    await seed("talker", { type: "chat", ref: "s3", id: "talk-1", text: "restore it and fix the flake" });
    await seed("ann", { type: "chat.ask", ref: "s4", id: "talk-1", promptId: "q-talk" });
    const before = await snapshot(s.id, tokens.owner);
    const chatBefore = await wholeChat(s.id, tokens.owner);
    expect(chatBefore.map((m) => m.id)).toEqual(["ann-1", "ben-1", "talk-1"]);
    expect(before.queue.map((q) => q.id)).toEqual(["q-talk"]);

    const rng = createRng(SEED);
    const frames = generate(rng);
    const bySender = new Map<Sender, Fuzzed[]>();
    for (const f of frames) bySender.set(f.from, [...(bySender.get(f.from) ?? []), f]);
    const mismatches: string[] = [];
    const byCode: Record<string, number> = {};
    const t0 = Date.now();
    await Promise.all(
      [...bySender].map(async ([from, list]) => {
        const sock = socks[from];
        for (let i = 0; i < list.length; i += WINDOW) {
          const win = list.slice(i, i + WINDOW);
          for (const f of win) sock.send(f.data);
          const answers = await sock.take(win.length, isAnswer, 30_000);
          win.forEach((f, k) => {
            const a = answers[k]!;
            const code = a.type === "ack" ? "ack" : String(a.code);
            byCode[code] = (byCode[code] ?? 0) + 1;
            const ok = "ack" in f.expect ? a.type === "ack" && a.duplicate !== true : a.type === "error" && f.expect.codes.includes(a.code as ErrorCode);
            if (!ok && mismatches.length < 20) mismatches.push(`${from} ${f.kind}: expected ${JSON.stringify(f.expect)}, got ${JSON.stringify(a).slice(0, 200)} for ${f.data.slice(0, 120)}`);
          });
        }
      }),
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(mismatches).toEqual([]);
    expect(byCode.internal).toBeUndefined();

    // Exactly the valid posts were added, as sent, after the seeded messages; nothing else changed.
    const after = await snapshot(s.id, tokens.owner);
    const chatAfter = await wholeChat(s.id, tokens.owner);
    const valid = frames.filter((f) => "ack" in f.expect).map((f) => JSON.parse(f.data) as { id: string; text: string; replyTo?: string });
    expect(chatAfter.slice(0, 3)).toEqual(chatBefore);
    // Valid posts from different senders raced each other: compare as sets, in seq order by id.
    const added = chatAfter.slice(3);
    const key = (x: { id: string; text: string; replyTo?: string }) => JSON.stringify([x.id, x.text, x.replyTo ?? null]);
    expect(added.map(key).sort()).toEqual(valid.map(key).sort());
    expect(valid.length).toBeGreaterThan(200);
    expect(after.seq).toBe(before.seq + valid.length);
    expect(after.queue).toEqual(before.queue);
    // The watcher saw only events: no error, no gap.
    expect(watcher.frames.filter((f) => f.type === "error")).toEqual([]);
    const evFrames = watcher.frames.filter((f) => f.type === "events") as unknown as { from: number; to: number }[];
    for (let i = 1; i < evFrames.length; i++) expect(evFrames[i]!.from).toBe(evFrames[i - 1]!.to + 1);
    expect(evFrames.at(-1)?.to).toBe(after.seq);

    recordSummary({
      id: "fuzz-chat",
      scenario: `${TOTAL} fuzzed chat frames (seed ${SEED}) from an owner, 2 drivers, a canChat viewer and a viewer without chat`,
      faults: 0,
      badInputs: TOTAL - valid.length,
      load: `${TOTAL} frames in ${seconds.toFixed(1)} s`,
      eventsLost: 0,
      crashes: byCode.internal ?? 0,
      notes: Object.entries(byCode).map(([k, v]) => `${k} ${v}`).join(", "),
    });
    for (const sock of [...Object.values(socks), watcher]) await sock.close();
    feeder.close();
  });
});
