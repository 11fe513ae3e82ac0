import { describe, expect, it } from "vitest";
import { reconcile, INTERRUPTED } from "./reconcile.ts";

const user = { info: { id: "msg_1", role: "user", time: { created: 1 } }, parts: [{ id: "prt_u", messageID: "msg_1", type: "text", text: "hi" }] };
const cut = {
  info: { id: "msg_2", role: "assistant", time: { created: 2 } },
  parts: [
    { id: "prt_s", messageID: "msg_2", type: "step-start" },
    { id: "prt_t", messageID: "msg_2", type: "text", text: "", time: { start: 3 } },
    { id: "prt_tool", messageID: "msg_2", type: "tool", tool: "bash", callID: "c", state: { status: "running", input: { command: "ls" }, time: { start: 4 } } },
  ],
};

describe("reconcile", () => {
  it("sends messages and parts as snapshots, in order", () => {
    const out = reconcile({ messages: [user], busy: false, now: 100 });
    expect(out.events.map((e) => e.type)).toEqual(["message.upsert", "part.upsert"]);
    expect(out.repairs).toEqual([]);
  });

  it("marks a turn that died interrupted when the session is idle: tools error, text ended, message completed", () => {
    const live = new Map([["prt_t", "streamed so far"]]);
    const out = reconcile({ messages: [user, cut], busy: false, now: 100, liveText: live });
    expect(out.interrupted).toEqual(["msg_2"]);
    const msg = out.events.find((e) => e.type === "message.upsert" && e.message.id === "msg_2");
    // Completed no earlier than the latest end among its repaired parts (the text ended at 100).
    expect(msg).toMatchObject({ message: { time: { completed: 100 }, error: { name: "MessageAbortedError" } } });
    const tool = out.events.find((e) => e.type === "part.upsert" && e.part.id === "prt_tool");
    expect(tool).toMatchObject({ part: { state: { status: "error", error: INTERRUPTED, input: { command: "ls" }, time: { start: 4, end: 100 } } } });
    const text = out.events.find((e) => e.type === "part.upsert" && e.part.id === "prt_t");
    expect(text).toMatchObject({ part: { text: "streamed so far", time: { start: 3, end: 100 } } });
    expect(out.repairs.map((p) => p.id).sort()).toEqual(["prt_t", "prt_tool"]);
    // Deterministic: a second reconcile, reading the parts as written back to OpenCode, sends the
    // same message snapshot.
    const written = { ...cut, parts: cut.parts.map((p) => out.repairs.find((r) => r.id === p.id) ?? p) };
    const again = reconcile({ messages: [user, written], busy: false, now: 200, liveText: live });
    expect(again.events.find((e) => e.type === "message.upsert" && e.message.id === "msg_2")).toEqual(msg);
  });

  it("leaves a running turn alone while OpenCode is busy, filling in text it has not saved", () => {
    const out = reconcile({ messages: [user, cut], busy: true, now: 100, liveText: new Map([["prt_t", "abc"]]) });
    expect(out.interrupted).toEqual([]);
    expect(out.repairs).toEqual([]);
    const tool = out.events.find((e) => e.type === "part.upsert" && e.part.id === "prt_tool");
    expect(tool).toMatchObject({ part: { state: { status: "running" } } });
    const text = out.events.find((e) => e.type === "part.upsert" && e.part.id === "prt_t");
    expect(text).toMatchObject({ part: { text: "abc" } });
  });

  it("never blanks streamed text it has no copy of", () => {
    const out = reconcile({ messages: [user, cut], busy: true, now: 100 });
    expect(out.events.some((e) => e.type === "part.upsert" && e.part.id === "prt_t")).toBe(false);
  });

  it("an older unfinished turn is interrupted even while a newer one runs", () => {
    const newer = { info: { id: "msg_3", role: "assistant", time: { created: 9 } }, parts: [] };
    const out = reconcile({ messages: [user, cut, newer], busy: true, now: 100 });
    expect(out.interrupted).toEqual(["msg_2"]);
  });

  it("an interrupted message never completes before its text part ends", () => {
    const late = { ...cut, parts: [{ id: "prt_t", messageID: "msg_2", type: "text", text: "partial", time: { start: 50 } }] };
    const out = reconcile({ messages: [user, late], busy: false, now: 400 });
    const completed = out.events.flatMap((e) => (e.type === "message.upsert" && e.message.id === "msg_2" ? [e.message.time.completed] : []))[0];
    const end = out.events.flatMap((e) => (e.type === "part.upsert" && e.part.id === "prt_t" ? [(e.part.time as { end: number }).end] : []))[0];
    expect(end).toBe(400);
    expect(completed).toBeGreaterThanOrEqual(end!);
  });
});
