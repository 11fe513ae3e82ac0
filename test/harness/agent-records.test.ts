/** The comparator of the room's transcript with an agent's own record catches what it must. */
import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claudeCodeTurns, codexTurns, compareTurns, toolNames, type RecordedTurn } from "./agent-records.ts";

const sameTool = toolNames({ Bash: ["bash"], Write: ["write", "edit"] });
const turns = (): RecordedTurn[] => [
  { user: "hi", text: "Hello there.", tools: [] },
  { user: "write and run", text: "Writing.Done.", tools: [{ id: "t1", name: "Write", input: { file_path: "/w/n.md", content: "x" } }, { id: "t2", name: "Bash", input: { command: "cat n.md" } }] },
];
const asRoom = (t: RecordedTurn[]): RecordedTurn[] => t.map((x) => ({ ...x, tools: x.tools.map((y) => ({ ...y, name: y.name === "Write" ? "edit" : "bash", input: { ...y.input, filePath: "/w/n.md" } })) }));

describe("compareTurns", () => {
  it("agrees when the room says what the agent recorded (the room may add input fields)", () => {
    expect(compareTurns(asRoom(turns()), turns(), sameTool)).toEqual([]);
  });

  it("fails on a missing text chunk, a missing turn, a changed tool input, another tool, a missing call", () => {
    const room = asRoom(turns());
    room[1]!.text = "Done.";
    expect(compareTurns(room, turns(), sameTool).join("\n")).toMatch(/turn 1 text/);
    expect(compareTurns(asRoom(turns()).slice(0, 1), turns(), sameTool).join("\n")).toMatch(/turns: room 1, agent 2/);
    const changed = asRoom(turns());
    changed[1]!.tools[1]!.input = { command: "cat other.md" };
    expect(compareTurns(changed, turns(), sameTool).join("\n")).toMatch(/input\.command/);
    const renamed = asRoom(turns());
    renamed[1]!.tools[1]!.name = "read";
    expect(compareTurns(renamed, turns(), sameTool).join("\n")).toMatch(/room shows read, agent ran Bash/);
    const dropped = asRoom(turns());
    dropped[1]!.tools.pop();
    expect(compareTurns(dropped, turns(), sameTool).join("\n")).toMatch(/tool calls: room \[t1\], agent \[t1,t2\]/);
  });

  it("in a stopped turn one side may keep more of the answer than the other, never other text", () => {
    const agent: RecordedTurn[] = [{ user: "slow", text: "Part", tools: [] }];
    expect(compareTurns([{ user: "slow", text: "Partial answ", tools: [], aborted: true }], agent, sameTool)).toEqual([]);
    expect(compareTurns([{ user: "slow", text: "Pa", tools: [], aborted: true }], agent, sameTool)).toEqual([]);
    expect(compareTurns([{ user: "slow", text: "Partial answ", tools: [] }], agent, sameTool)).toHaveLength(1);
    expect(compareTurns([{ user: "slow", text: "Other", tools: [], aborted: true }], agent, sameTool)).toHaveLength(1);
    // An agent that drops a stopped turn whole: allowed only when told so, and only a stopped turn.
    const room: RecordedTurn[] = [{ user: "slow", text: "Part", tools: [], aborted: true }, { user: "next", text: "ok", tools: [] }];
    const dropped: RecordedTurn[] = [{ user: "next", text: "ok", tools: [] }];
    expect(compareTurns(room, dropped, sameTool)).not.toEqual([]);
    expect(compareTurns(room, dropped, sameTool, { dropsStopped: true })).toEqual([]);
    expect(compareTurns([{ ...room[0]!, aborted: false }, room[1]!], dropped, sameTool, { dropsStopped: true })).not.toEqual([]);
  });
});

describe("record readers", () => {
  it("Claude Code: prompts start turns; text blocks concatenate; tool results, notes and side chains are skipped", () => {
    const dir = mkdtempSync(join(tmpdir(), "claude-rec-"));
    mkdirSync(join(dir, "projects", "-w"), { recursive: true });
    const lines = [
      { type: "user", message: { role: "user", content: "write and run" } },
      { type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "Writing." }] } },
      { type: "assistant", message: { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "Write", input: { file_path: "/w/n.md" } }] } },
      { type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] } },
      { type: "assistant", isSidechain: true, message: { role: "assistant", content: [{ type: "text", text: "elsewhere" }] } },
      { type: "assistant", message: { role: "assistant", content: [{ type: "thinking", thinking: "hm" }, { type: "text", text: "Done." }] } },
      { type: "user", message: { role: "user", content: [{ type: "text", text: "[Request interrupted by user]" }] } },
    ];
    writeFileSync(join(dir, "projects", "-w", "s1.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    expect(claudeCodeTurns(dir, "s1")).toEqual([{ user: "write and run", text: "Writing.Done.", tools: [{ id: "t1", name: "Write", input: { file_path: "/w/n.md" } }] }]);
  });

  it("Codex: user_message events start turns; output_text, function and custom tool calls are read", () => {
    const home = mkdtempSync(join(tmpdir(), "codex-rec-"));
    const day = join(home, "sessions", "2026", "12", "07");
    mkdirSync(day, { recursive: true });
    const lines = [
      { type: "session_meta", payload: { id: "s1" } },
      { type: "response_item", payload: { type: "message", role: "user", content: [{ type: "input_text", text: "<environment_context/>" }] } },
      { type: "event_msg", payload: { type: "user_message", message: "write and run" } },
      { type: "response_item", payload: { type: "custom_tool_call", call_id: "c1", name: "apply_patch", input: "*** Begin Patch" } },
      { type: "event_msg", payload: { type: "patch_apply_end", call_id: "c1", changes: { "/w/n.md": { type: "add", content: "x" } } } },
      { type: "response_item", payload: { type: "function_call", call_id: "c2", name: "exec_command", arguments: '{"cmd":"cat n.md","justification":"?"}' } },
      { type: "response_item", payload: { type: "message", role: "assistant", content: [{ type: "output_text", text: "Done." }] } },
    ];
    writeFileSync(join(day, "rollout-2026-12-07T20-00-00-s1.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    expect(codexTurns(home, "s1")).toEqual([
      {
        user: "write and run",
        text: "Done.",
        tools: [
          { id: "c1", name: "apply_patch", input: { changes: { "/w/n.md": { type: "add", content: "x" } } } },
          { id: "c2", name: "exec_command", input: { command: "cat n.md" } },
        ],
      },
    ]);
  });
});
