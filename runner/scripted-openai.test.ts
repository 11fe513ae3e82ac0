import { describe, expect, it } from "vitest";
import { addFilePatch, responsesActions, type ResponseItem } from "./scripted-openai.ts";

const opts = { chunkDelayMs: 0, slowChunkDelayMs: 0, slowChunks: 10, requestId: 1 };
const tools = [{ type: "function", name: "exec_command" }, { type: "custom", name: "apply_patch" }, { type: "function", name: "update_plan" }];
const user = (text: string): ResponseItem => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const env = user("<environment_context>\n  <cwd>/w</cwd>\n</environment_context>");

describe("scripted OpenAI Responses", () => {
  it("plays a canned run in Codex's tools: the patch first, the shell call next (escalated), then the closing text", () => {
    const prompt = user("please write notes.md and then run bash");
    const first = responsesActions({ input: [env, prompt], tools }, opts);
    expect(first.step).toBe(0);
    expect(first.tools.get("write")).toEqual({ name: "apply_patch", type: "custom" });
    expect(first.actions.find((a) => a.kind === "tool")).toMatchObject({ name: "write", args: { filePath: "/w/notes.md" } });
    const afterPatch: ResponseItem[] = [env, prompt, { type: "message", role: "assistant", content: [{ type: "output_text", text: "I'll create it." }] }, { type: "custom_tool_call", name: "apply_patch", call_id: "c1" }, { type: "custom_tool_call_output", call_id: "c1", output: "Success." }];
    const second = responsesActions({ input: afterPatch, tools }, opts);
    expect(second.step).toBe(1);
    expect(second.actions.find((a) => a.kind === "tool")).toMatchObject({ name: "bash" });
    // Codex's context messages after the prompt are not the user's words.
    const third = responsesActions({ input: [...afterPatch, env, { type: "function_call", name: "exec_command", call_id: "c2" }, { type: "function_call_output", call_id: "c2", output: "Output:\nnotes.md" }], tools }, opts);
    expect(third.step).toBe(2);
    expect(third.actions).toEqual([{ kind: "text", text: expect.stringMatching(/^Done\. The last tool reported:[\s\S]*notes\.md/) }]);
  });

  it("a later prompt starts its own run", () => {
    const r = responsesActions({ input: [env, user("write a.txt"), { type: "function_call", name: "apply_patch", call_id: "c" }, { type: "function_call_output", call_id: "c", output: "ok" }, user("hello")], tools }, opts);
    expect(r.step).toBe(0);
    expect(r.script).toBe("default");
  });

  it("a new file is an Add File patch", () => {
    expect(addFilePatch("/w/a.txt", "one\ntwo\n")).toBe("*** Begin Patch\n*** Add File: /w/a.txt\n+one\n+two\n*** End Patch\n");
  });
});
