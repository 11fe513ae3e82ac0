/**
 * Nothing lost at the edges: multi-megabyte fields at any depth of a part or message info are
 * stored whole, sent shortened (every frame a client receives is under the cap: live, replay,
 * snapshot, history), and read back whole over HTTP; text streamed with characters split across
 * deltas and chunk boundaries reads back without a lone surrogate or U+FFFD.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../shared/limits.ts";
import { hasLoneSurrogate } from "../../shared/delta.ts";
import type { EventBody } from "../../shared/protocol.ts";
import { fitEvent } from "../../runner/fit-event.ts";
import { api, batch, connect, connectAgent, createSession, delta, msg, textPart, type TestClient } from "../test-helpers.ts";

const CAP = DEFAULT_LIMITS.maxOutgoingFrameBytes;
const INLINE = DEFAULT_LIMITS.inlineFieldChars;

/** Varied text of about `chars` units with multi-byte characters (emoji, ZWJ, combining marks) throughout. */
function text(chars: number, seed: string): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < chars; i++) {
    const line = `${seed} ${i} 🧑🏽‍🚀 e\u0301 世界 ${"abcdefghij".repeat(i % 9)}\n`;
    parts.push(line);
    n += line.length;
  }
  return parts.join("");
}

/** Every frame `c` received is under the cap; the largest is printed for the record. */
function expectFramesUnderCap(c: TestClient, label = ""): void {
  expect(c.frameBytes.length).toBeGreaterThan(0);
  for (const [i, bytes] of c.frameBytes.entries()) {
    if (bytes > CAP) throw new Error(`frame ${i} (${String(c.frames[i]!.type)}) is ${bytes} bytes, over ${CAP}`);
  }
  if (label) console.log(`[frames] ${label}: ${c.frameBytes.length} frames, largest ${Math.max(...c.frameBytes)} bytes`);
}

/** A new session with the agent connected and one viewer caught up. */
async function roomWithViewer() {
  const { id, ownerToken } = await createSession();
  const agent = await connectAgent(id);
  const live = await connect(id, ownerToken);
  await live.waitType("caught-up");
  return { id, ownerToken, agent, live };
}

const tool = (messageID: string, id: string, toolName: string, state: Record<string, unknown>) => ({
  type: "part.upsert",
  part: { id, messageID, type: "tool", callID: `c-${id}`, tool: toolName, state: { status: "completed", title: toolName, time: { start: 1, end: 2 }, ...state } },
});

describe("every frame under the cap, whatever the shape", () => {
  it("a 3 MB write, a 2 MB edit, a 2 MB metadata blob, a message info near its limit, a 5 MB bash output", async () => {
    const { id, ownerToken, agent, live } = await roomWithViewer();

    const content = text(3_000_000, "write");
    const oldString = text(2_000_000, "old");
    const newString = text(2_000_000, "new");
    const blob = { entries: Array.from({ length: 40_000 }, (_, i) => ({ name: `file-${i}.ts`, size: i, kind: i % 2 ? "f" : "d" })) };
    const output = text(5 * 1024 * 1024, "bash");
    const before = text(480_000, "before");
    const after = text(480_000, "after");
    const shapes = [
      [msg("m1"), tool("m1", "write", "write", { input: { filePath: "/w/big.txt", content }, output: "", metadata: { filepath: "/w/big.txt", exists: false } })],
      [msg("m2"), tool("m2", "edit", "edit", { input: { filePath: "/w/a.ts", oldString, newString }, output: "", metadata: { diff: "@@ -1 +1 @@" } })],
      [msg("m3"), tool("m3", "meta", "glob", { input: { pattern: "**" }, output: "40000 files", metadata: blob })],
      [{ type: "message.upsert", message: { id: "m4", role: "user", time: { created: 1 }, summary: { diffs: [{ file: "x.ts", before, after }] } } }],
      [msg("m5"), tool("m5", "bash", "bash", { input: { command: "cat big" }, output, metadata: { output: output.slice(0, 30_000), description: "cat" } })],
    ];
    for (const events of shapes) expect(await batch(agent, events)).toMatchObject({ type: "agent.ack" });
    await live.waitFor((f) => f.type === "events" && (f.events as { type: string; part?: { id: string } }[]).some((e) => e.part?.id === "bash"));

    // Live: shortened, marked by path, every frame under the cap.
    expectFramesUnderCap(live, "five shapes, live");
    const liveParts = live.ofType<{ events: { type: string; part?: { id: string; truncated?: { field: string }[] } }[] }>("events").flatMap((f) => f.events.filter((e) => e.type === "part.upsert").map((e) => e.part!));
    const marks = (pid: string) => liveParts.find((p) => p.id === pid)!.truncated!.map((t) => t.field).sort();
    expect(marks("write")).toEqual(["state.input.content"]);
    expect(marks("edit")).toEqual(["state.input.newString", "state.input.oldString"]);
    expect(marks("meta")).toContain("state.metadata.entries");
    expect(marks("bash")).toEqual(["state.output"]);

    // A joiner's snapshot, then history pages: every message, every frame under the cap.
    const joiner = await connect(id, ownerToken);
    const snap = await joiner.waitType<{ snapshot: { messages: { info: { id: string; truncated?: { field: string }[] }; parts: { id: string }[] }[]; hasMore: boolean } }>("snapshot");
    const seen = snap.snapshot.messages.map((m) => m.info.id);
    let hasMore = snap.snapshot.hasMore;
    for (let i = 0; hasMore && i < 10; i++) {
      const page = (await joiner.request({ type: "history", ref: `h${i}`, before: seen[0]!, limit: 50 })) as { messages: { info: { id: string } }[]; hasMore: boolean };
      seen.unshift(...page.messages.map((m) => m.info.id));
      hasMore = page.hasMore;
    }
    expect(seen).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    console.log(`[frames] five shapes: snapshot holds ${snap.snapshot.messages.length} of 5 messages (hasMore ${snap.snapshot.hasMore})`);
    expect(snap.snapshot.messages.every((m) => m.parts.length === (m.info.id === "m4" ? 0 : 1))).toBe(true);
    const m4 = snap.snapshot.messages.find((m) => m.info.id === "m4");
    if (m4) expect(m4.info.truncated!.map((t) => t.field).sort()).toEqual(["summary.diffs.0.after", "summary.diffs.0.before"]);
    // A history page over the socket holds every older message too, under the cap.
    const older = (await joiner.request({ type: "history", ref: "older", before: "m5", limit: 50 })) as { messages: { info: { id: string } }[]; hasMore: boolean };
    expect(older.messages.map((m) => m.info.id)).toEqual(["m1", "m2", "m3", "m4"]);
    expectFramesUnderCap(joiner, "five shapes, snapshot and history");

    // A replay from the start: every frame under the cap.
    const replayer = await connect(id, ownerToken, { cursor: 0 });
    await replayer.waitType("caught-up");
    expect(replayer.ofType("welcome")[0]).toMatchObject({ catchup: "replay" });
    expectFramesUnderCap(replayer, "five shapes, replay from 0");

    // The full values, whole, over HTTP.
    const full = async (path: string) => {
      const res = await api(`/api/sessions/${id}/${path}`, { token: ownerToken });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, Record<string, unknown>>;
    };
    type ToolState = { input: Record<string, string>; output: string; metadata: unknown };
    const st = async (pid: string) => ((await full(`parts/${pid}`)).part!.state as ToolState);
    expect((await st("write")).input.content).toBe(content);
    const edit = await st("edit");
    expect([edit.input.oldString, edit.input.newString]).toEqual([oldString, newString]);
    expect((await st("meta")).metadata).toEqual(blob);
    expect((await st("bash")).output).toBe(output);
    const info = (await full("messages/m4")).message as { summary: { diffs: { before: string; after: string }[] }; truncated?: unknown };
    expect(info.summary.diffs[0]).toMatchObject({ before, after });
    expect(info.truncated).toBeUndefined();
    for (const c of [live, joiner, replayer, agent]) c.close();
  });

  it("a page of one message with many large parts is shortened, never dropped, and fits", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    const events: unknown[] = [msg("m1")];
    for (let i = 0; i < 30; i++) events.push(tool("m1", `t${i}`, "bash", { input: { command: `c${i}` }, output: text(200_000, `o${i}`), metadata: {} }));
    await batch(agent, events);
    const viewer = await connect(id, ownerToken);
    const snap = await viewer.waitType<{ snapshot: { messages: { parts: unknown[] }[] } }>("snapshot");
    expect(snap.snapshot.messages).toHaveLength(1);
    expect(snap.snapshot.messages[0]!.parts).toHaveLength(30);
    expectFramesUnderCap(viewer);
    for (const c of [viewer, agent]) c.close();
  });

  it("a 3 MB delta is split into pieces that each fit a frame, on character boundaries", async () => {
    const { id, ownerToken, agent, live } = await roomWithViewer();
    const big = text(3_000_000, "stream");
    await batch(agent, [msg("m1"), textPart("m1", "p1"), delta("m1", "p1", big)]);
    await live.waitFor(() => live.ofType<{ events: { type: string; delta?: string }[] }>("events").flatMap((f) => f.events).filter((e) => e.type === "part.delta").reduce((n, e) => n + e.delta!.length, 0) === big.length, 10_000);
    expectFramesUnderCap(live);
    const deltas = live.ofType<{ events: { type: string; delta?: string }[] }>("events").flatMap((f) => f.events).filter((e) => e.type === "part.delta").map((e) => e.delta!);
    expect(deltas.length).toBeGreaterThan(3);
    for (const d of deltas) expect(hasLoneSurrogate(d)).toBe(false);
    expect(deltas.join("")).toBe(big);
    // A joiner mid-stream gets the part shortened to a preview, marked with the full length.
    const joiner = await connect(id, ownerToken);
    const snap = await joiner.waitType<{ snapshot: { messages: { parts: { text: string; truncated?: { field: string; fullChars: number }[] }[] }[] } }>("snapshot");
    const p = snap.snapshot.messages[0]!.parts[0]!;
    expect(p.truncated).toEqual([{ field: "text", fullChars: big.length }]);
    expect(p.text.length).toBeLessThanOrEqual(INLINE);
    expect(big.startsWith(p.text)).toBe(true);
    expect(hasLoneSurrogate(p.text)).toBe(false);
    expectFramesUnderCap(joiner);
    for (const c of [live, joiner, agent]) c.close();
  });

  it("an edit too big for a runner batch arrives in pieces and is stored whole", async () => {
    const { id, ownerToken, agent, live } = await roomWithViewer();
    const oldString = text(2_000_000, "old");
    const newString = text(2_000_000, "new");
    const part = tool("m1", "edit", "edit", { input: { filePath: "/w/a.ts", oldString, newString }, output: "", metadata: {} }).part;
    const pieces = fitEvent({ eid: "oc:edit", body: { type: "part.upsert", part } as EventBody }, 1_000_000);
    expect(pieces.length).toBeGreaterThan(2);
    await batch(agent, [msg("m1")]);
    for (const p of pieces) {
      // Each runner frame is under the room's default cap for agent frames.
      expect(JSON.stringify({ type: "agent.batch", batchId: "x", events: [p] }).length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxAgentFrameBytes);
      expect(await batch(agent, [p.body])).toMatchObject({ type: "agent.ack" });
    }
    const res = await api(`/api/sessions/${id}/parts/edit`, { token: ownerToken });
    expect(((await res.json()) as { part: unknown }).part).toEqual(part);
    // Completing the message folds the pieces into the stored part; still whole.
    await batch(agent, [msg("m1", "assistant", 5)]);
    const again = await api(`/api/sessions/${id}/parts/edit`, { token: ownerToken });
    expect(((await again.json()) as { part: unknown }).part).toEqual(part);
    const joiner = await connect(id, ownerToken);
    const snap = await joiner.waitType<{ snapshot: { messages: { parts: { truncated?: { field: string; fullChars: number }[] }[] }[] } }>("snapshot");
    expect(snap.snapshot.messages[0]!.parts[0]!.truncated).toEqual(
      expect.arrayContaining([{ field: "state.input.oldString", fullChars: oldString.length }, { field: "state.input.newString", fullChars: newString.length }]),
    );
    expectFramesUnderCap(live);
    expectFramesUnderCap(joiner);
    for (const c of [live, joiner, agent]) c.close();
  });

  it("a session diff, a todo list and a permission request with megabytes in them are kept short", async () => {
    const { id, ownerToken, agent, live } = await roomWithViewer();
    const before = text(1_500_000, "before");
    await batch(agent, [
      { type: "diff.update", diff: [{ file: "big.ts", before, after: before + "x", additions: 1, deletions: 0 }] },
      { type: "todo.update", todos: [{ content: text(300_000, "todo"), status: "pending" }] },
      { type: "permission.asked", request: { id: "per_1", permission: "edit", patterns: ["big.ts"], metadata: { diff: text(2_000_000, "diff") }, createdAt: 1 } },
    ]);
    await live.waitFor((f) => f.type === "events" && (f.events as { type: string }[]).some((e) => e.type === "permission.asked"));
    const joiner = await connect(id, ownerToken);
    const snap = await joiner.waitType<{ snapshot: { diff: { file: string; before: string; truncated?: { field: string }[] }[]; todos: { content: string }[]; permissions: { id: string; metadata: { diff: string } }[] } }>("snapshot");
    expect(snap.snapshot.diff[0]!.file).toBe("big.ts");
    expect(snap.snapshot.diff[0]!.truncated!.map((t) => t.field).sort()).toEqual(["after", "before"]);
    expect(before.startsWith(snap.snapshot.diff[0]!.before)).toBe(true);
    expect(snap.snapshot.todos[0]!.content.length).toBeLessThanOrEqual(INLINE);
    expect(snap.snapshot.permissions[0]!.id).toBe("per_1");
    expect(snap.snapshot.permissions[0]!.metadata.diff.length).toBeLessThanOrEqual(INLINE);
    expectFramesUnderCap(live);
    for (const c of [live, agent]) c.close();
  });
});

describe("text never cut inside a character", () => {
  const CHUNK = DEFAULT_LIMITS.chunkChars;
  const SEQUENCES = { "surrogate pair": "😀", "ZWJ sequence": "👩‍👩‍👧‍👦", "skin tone": "👋🏽", "combining marks": "e\u0301\u0323" };

  it("a character straddling the inline limit and a chunk boundary, at every offset: stored whole, previews end before it", async () => {
    const { id, ownerToken, agent, live } = await roomWithViewer();
    await batch(agent, [msg("m1")]);
    const cases: { pid: string; text: string; k: number }[] = [];
    for (const [name, seq] of Object.entries(SEQUENCES)) {
      for (let k = 1; k < seq.length; k++) {
        // The sequence starts k units before the inline limit, and again k units before the chunk boundary.
        const text = "x".repeat(INLINE - k) + seq + "y".repeat(CHUNK - INLINE - seq.length) + seq + "z".repeat(1000);
        const pid = `${name.replace(/ /g, "-")}-${k}`;
        cases.push({ pid, text, k });
        // As a tool output (chunked at chunkChars, previewed at inlineFieldChars) and as one long delta (split on arrival).
        await batch(agent, [tool("m1", pid, "bash", { input: { command: "x" }, output: text, metadata: {} }), textPart("m1", `${pid}-t`), delta("m1", `${pid}-t`, text)]);
      }
    }
    expect(cases.length).toBe(16);
    // Previews: the tool parts as sent live, the streamed parts as a history page holds them.
    const last = cases.at(-1)!.pid;
    await live.waitFor((f) => f.type === "events" && (f.events as { part?: { id: string } }[]).some((e) => e.part?.id === last));
    const sent = new Map(
      live
        .ofType<{ events: { type: string; part?: { id: string; state?: { output: string } } }[] }>("events")
        .flatMap((f) => f.events)
        .filter((e) => e.type === "part.upsert")
        .map((e) => [e.part!.id, e.part!.state?.output]),
    );
    const page = await api(`/api/sessions/${id}/history?limit=1`, { token: ownerToken });
    const streamedPreview = new Map(((await page.json()) as { messages: { parts: { id: string; text?: string }[] }[] }).messages[0]!.parts.map((p) => [p.id, p.text]));
    for (const { pid, text, k } of cases) {
      const tool = await api(`/api/sessions/${id}/parts/${pid}`, { token: ownerToken });
      expect(((await tool.json()) as { part: { state: { output: string } } }).part.state.output, pid).toBe(text);
      const streamed = await api(`/api/sessions/${id}/parts/${pid}-t`, { token: ownerToken });
      expect(((await streamed.json()) as { part: { text: string } }).part.text, pid).toBe(text);
      for (const preview of [sent.get(pid), streamedPreview.get(`${pid}-t`)]) {
        expect(preview?.length, pid).toBe(INLINE - k);
        expect(text.startsWith(preview!)).toBe(true);
      }
    }
    for (const f of live.ofType<{ events: { type: string; delta?: string }[] }>("events")) {
      for (const e of f.events) if (e.delta !== undefined) expect(hasLoneSurrogate(e.delta)).toBe(false);
    }
    expectFramesUnderCap(live);
    for (const c of [live, agent]) c.close();
  });
});
