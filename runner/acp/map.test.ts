import { describe, expect, it } from "vitest";
import { AcpTurn, commandText, userMessage } from "./map.ts";
import type { EventBody } from "../../shared/protocol.ts";

const bodies = (evs: { body: EventBody }[]) => evs.map((e) => e.body);

describe("ACP updates → room events", () => {
  it("streams a text part: a snapshot first, deltas after, the final snapshot when the turn ends", () => {
    const t = new AcpTurn("msg_a", "s1", 1_000);
    const a = bodies(t.update({ sessionUpdate: "agent_message_chunk", content: { type: "text", text: "Hel" } }, 1_001).events);
    const b = bodies(t.update({ sessionUpdate: "agent_message_chunk", content: { type: "text", text: "lo" } }, 1_002).events);
    expect(a[0]).toMatchObject({ type: "part.upsert", part: { type: "text", text: "Hel", messageID: "msg_a" } });
    expect(b).toEqual([{ type: "part.delta", messageID: "msg_a", partID: (a[0] as { part: { id: string } }).part.id, field: "text", delta: "lo" }]);
    const end = bodies(t.end("end_turn", 1_010));
    expect(end[0]).toMatchObject({ type: "part.upsert", part: { text: "Hello", time: { start: 1_001, end: 1_010 } } });
    expect(end[1]).toMatchObject({ type: "message.upsert", message: { id: "msg_a", role: "assistant", finish: "stop", time: { completed: 1_010 } } });
  });

  it("a thought after text starts a reasoning part and closes the text part", () => {
    const t = new AcpTurn("msg_b");
    t.update({ sessionUpdate: "agent_message_chunk", content: { type: "text", text: "x" } });
    const r = bodies(t.update({ sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "hmm" } }).events);
    expect(r.map((e) => e.type)).toEqual(["part.upsert", "part.upsert"]);
    expect(r[1]).toMatchObject({ part: { type: "reasoning", text: "hmm" } });
  });

  it("a tool call with a diff becomes the room's edit with a filediff; execute becomes bash", () => {
    const t = new AcpTurn("msg_c");
    t.update({ sessionUpdate: "tool_call", toolCallId: "t1", title: "Write", kind: "edit", status: "pending" });
    const done = bodies(
      t.update({ sessionUpdate: "tool_call_update", toolCallId: "t1", status: "completed", content: [{ type: "diff", path: "/w/a.txt", oldText: "a\n", newText: "a\nb\n" }] }).events,
    );
    expect(done[0]).toMatchObject({ type: "part.upsert", part: { type: "tool", tool: "edit", callID: "t1", state: { status: "completed", input: { filePath: "/w/a.txt" }, metadata: { filediff: { file: "/w/a.txt", before: "a\n", after: "a\nb\n" } } } } });
    const out = bodies(t.update({ sessionUpdate: "tool_call", toolCallId: "t3", title: "Read", kind: "read", status: "completed", rawOutput: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }).events);
    expect(out[0]).toMatchObject({ part: { tool: "read", state: { status: "completed", output: "a\nb" } } });
    const bash = bodies(t.update({ sessionUpdate: "tool_call", toolCallId: "t2", title: "ls", kind: "execute", status: "in_progress", rawInput: { command: "ls" } }).events);
    expect(bash[0]).toMatchObject({ part: { tool: "bash", state: { status: "running", input: { command: "ls" } } } });
    // Codex sends the command as an argv and guesses a kind from it: still the room's bash.
    const argv = bodies(t.update({ sessionUpdate: "tool_call", toolCallId: "t4", title: "Read a", kind: "search", status: "in_progress", rawInput: { command: ["/bin/bash", "-lc", "cat a && ls"] } }).events);
    expect(argv[0]).toMatchObject({ part: { tool: "bash", state: { input: { command: "cat a && ls" } } } });
  });

  it("a command is a string, or an argv shown as its shell script", () => {
    expect(commandText({ command: "ls -la" })).toBe("ls -la");
    expect(commandText({ command: ["/bin/bash", "-lc", "cat a && ls"] })).toBe("cat a && ls");
    expect(commandText({ command: ["git", "status"] })).toBe("git status");
    expect(commandText({ command: [1, 2] })).toBeUndefined();
    expect(commandText(null)).toBeUndefined();
  });

  it("a cancelled turn marks running tools failed and the message aborted", () => {
    const t = new AcpTurn("msg_d");
    t.update({ sessionUpdate: "tool_call", toolCallId: "t1", title: "sleep", kind: "execute", status: "in_progress" });
    const end = bodies(t.end("cancelled"));
    expect(end[0]).toMatchObject({ part: { state: { status: "error" } } });
    expect(end.at(-1)).toMatchObject({ type: "message.upsert", message: { error: { name: "MessageAbortedError" } } });
    expect(t.end("end_turn")).toEqual([]);
  });

  it("a plan becomes todos; kinds it does not know give nothing and say so", () => {
    const t = new AcpTurn("msg_e");
    const plan = bodies(t.update({ sessionUpdate: "plan", entries: [{ content: "Do it", status: "in_progress", priority: "high" }] }).events);
    expect(plan).toEqual([{ type: "todo.update", todos: [{ id: "1", content: "Do it", status: "in_progress", priority: "high" }] }]);
    expect(t.update({ sessionUpdate: "from_the_future" } as never)).toEqual({ events: [], known: false });
  });

  it("the user's prompt is a user message tagged with its queue item", () => {
    const evs = bodies(userMessage("msg_u", "hi", "q1", 5));
    expect(evs[0]).toMatchObject({ type: "message.upsert", message: { id: "msg_u", role: "user", queueId: "q1" } });
    expect(evs[1]).toMatchObject({ type: "part.upsert", part: { type: "text", text: "hi", messageID: "msg_u" } });
  });
});
