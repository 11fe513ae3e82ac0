import { describe, expect, it } from "vitest";
import { mapOpencodeEvent, errorText } from "./event-map.ts";

const sid = "ses_1";

describe("mapOpencodeEvent", () => {
  it("maps a text delta without an eid (batch ids dedupe deltas)", () => {
    const m = mapOpencodeEvent({ id: "e1", type: "message.part.delta", properties: { sessionID: sid, messageID: "msg_1", partID: "prt_1", field: "text", delta: "hi" } });
    expect(m.sessionID).toBe(sid);
    expect(m.events).toEqual([{ body: { type: "part.delta", messageID: "msg_1", partID: "prt_1", field: "text", delta: "hi" } }]);
  });

  it("maps a full part to an upsert keyed by the OpenCode event id", () => {
    const part = { id: "prt_1", messageID: "msg_1", sessionID: sid, type: "tool", tool: "bash", callID: "c1", state: { status: "running", input: {}, time: { start: 1 } } };
    const m = mapOpencodeEvent({ id: "e2", type: "message.part.updated", properties: { sessionID: sid, part, time: 5 } });
    expect(m.events).toEqual([{ eid: "oc:e2", body: { type: "part.upsert", part } }]);
  });

  it("accepts the old shape with the delta inside message.part.updated", () => {
    const part = { id: "prt_1", messageID: "msg_1", type: "text", text: "hello" };
    const m = mapOpencodeEvent({ type: "message.part.updated", properties: { part, delta: "lo" } });
    expect(m.events[0]?.body).toEqual({ type: "part.delta", messageID: "msg_1", partID: "prt_1", field: "text", delta: "lo" });
  });

  it("reports an assistant message's token usage and cost beside its upsert, once it has used any", () => {
    const tokens = { input: 120, output: 30, reasoning: 5, cache: { read: 1000, write: 0 } };
    const info = { id: "msg_2", role: "assistant", parentID: "msg_1", time: { created: 7 }, tokens, cost: 0.0125 };
    const m = mapOpencodeEvent({ id: "e3", type: "message.updated", properties: { sessionID: sid, info } });
    expect(m.events.map((e) => e.eid)).toEqual(["oc:e3", "oc:e3:usage"]);
    expect(m.events[1]?.body).toEqual({ type: "usage.update", messageID: "msg_2", turn: "msg_1", created: 7, tokens, cost: 0.0125 });
    const fresh = { ...info, tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } }, cost: 0 };
    expect(mapOpencodeEvent({ type: "message.updated", properties: { sessionID: sid, info: fresh } }).events.map((e) => e.body.type)).toEqual(["message.upsert"]);
    const user = { id: "msg_1", role: "user", time: { created: 6 }, tokens };
    expect(mapOpencodeEvent({ type: "message.updated", properties: { sessionID: sid, info: user } }).events.map((e) => e.body.type)).toEqual(["message.upsert"]);
  });

  it("maps status busy / idle / retry and session.idle", () => {
    expect(mapOpencodeEvent({ type: "session.status", properties: { sessionID: sid, status: { type: "busy" } } }).events[0]?.body).toEqual({ type: "status", status: "busy" });
    expect(mapOpencodeEvent({ type: "session.idle", properties: { sessionID: sid } }).events[0]?.body).toEqual({ type: "status", status: "idle" });
    const retry = mapOpencodeEvent({ type: "session.status", properties: { sessionID: sid, status: { type: "retry", attempt: 2, message: "rate limited", next: 9 } } });
    expect(retry.events[0]?.body).toEqual({ type: "status", status: "retry", attempt: 2, message: "rate limited" });
  });

  it("maps provider errors and aborts to session.error", () => {
    const api = mapOpencodeEvent({ type: "session.error", properties: { sessionID: sid, error: { name: "APIError", data: { message: "boom", statusCode: 400 } } } });
    expect(api.events[0]?.body).toEqual({ type: "session.error", error: "boom", name: "APIError" });
    expect(errorText({ name: "MessageAbortedError", data: { message: "Aborted" } })).toEqual({ error: "Aborted", name: "MessageAbortedError" });
    // A global error (no session) is not any room's business.
    expect(mapOpencodeEvent({ type: "session.error", properties: { error: { name: "X" } } }).events).toEqual([]);
  });

  it("maps permission requests (v1 and v2 shapes) keyed by request id, and closes replied ones", () => {
    const v1 = mapOpencodeEvent({
      id: "e3",
      type: "permission.asked",
      properties: { id: "per_1", sessionID: sid, permission: "bash", patterns: ["ls"], metadata: { command: "ls -la" }, always: ["ls *"], tool: { messageID: "msg_1", callID: "c1" } },
    });
    const req = v1.events[0]!;
    expect(req.eid).toBe("perm:per_1");
    expect(req.body).toMatchObject({ type: "permission.asked", request: { id: "per_1", permission: "bash", patterns: ["ls"], title: "Run: ls -la", messageID: "msg_1", callID: "c1" } });
    const v2 = mapOpencodeEvent({ type: "permission.v2.asked", properties: { id: "per_1", sessionID: sid, action: "bash", resources: ["ls"] } });
    expect(v2.events[0]?.eid).toBe("perm:per_1");
    expect(mapOpencodeEvent({ type: "permission.replied", properties: { sessionID: sid, requestID: "per_1", reply: "once" } }).closed).toEqual(["per_1"]);
    expect(mapOpencodeEvent({ type: "question.rejected", properties: { sessionID: sid, requestID: "que_1" } }).closed).toEqual(["que_1"]);
  });

  it("maps questions, todos and diffs; drops diffs without a file", () => {
    const q = mapOpencodeEvent({ type: "question.asked", properties: { id: "que_1", sessionID: sid, questions: [{ question: "Colour?", header: "C", options: [{ label: "Blue", description: "" }] }] } });
    expect(q.events[0]?.body).toMatchObject({ type: "question.asked", request: { id: "que_1", questions: [{ question: "Colour?" }] } });
    const t = mapOpencodeEvent({ type: "todo.updated", properties: { sessionID: sid, todos: [{ content: "a", status: "pending", priority: "high" }, { nope: 1 }] } });
    expect(t.events[0]?.body).toEqual({ type: "todo.update", todos: [{ content: "a", status: "pending", priority: "high" }] });
    const d = mapOpencodeEvent({ type: "session.diff", properties: { sessionID: sid, diff: [{ file: "a.ts", additions: 1, deletions: 0 }, { additions: 2, deletions: 0 }] } });
    expect(d.events[0]?.body).toEqual({ type: "diff.update", diff: [{ file: "a.ts", additions: 1, deletions: 0 }] });
  });

  it("reports real titles and ignores OpenCode's placeholder", () => {
    expect(mapOpencodeEvent({ type: "session.updated", properties: { sessionID: sid, info: { id: sid, title: "Fix the bug" } } }).title).toBe("Fix the bug");
    expect(mapOpencodeEvent({ type: "session.updated", properties: { sessionID: sid, info: { id: sid, title: "New session - 2026-11-22T02:43:51.588Z" } } }).title).toBeUndefined();
  });

  it("drops noise and malformed events", () => {
    for (const type of ["server.heartbeat", "plugin.added", "sync", "file.watcher.updated", "session.next.text.delta"]) {
      expect(mapOpencodeEvent({ type, properties: { sessionID: sid } }).events).toEqual([]);
    }
    expect(mapOpencodeEvent({ type: "message.updated", properties: { sessionID: sid, info: { id: "m", role: "robot" } } }).events).toEqual([]);
    expect(mapOpencodeEvent({ type: "message.part.delta", properties: { sessionID: sid, partID: "p" } }).events).toEqual([]);
  });
});
