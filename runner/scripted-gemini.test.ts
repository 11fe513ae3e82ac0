import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScriptedModel, type ScriptedModel } from "./scripted-model.ts";
import { sampleFor } from "./scripted-gemini.ts";

let model: ScriptedModel;
beforeAll(async () => {
  model = await startScriptedModel({ chunkDelayMs: 0, slowChunkDelayMs: 1, slowChunks: 20 });
});
afterAll(async () => {
  await model.close();
});

const tools = [{ functionDeclarations: [{ name: "write_file" }, { name: "run_shell_command" }, { name: "read_file" }] }];
const context = { role: "user", parts: [{ text: "<session_context>\n- **Workspace Directories:**\n  - /work/ws\n</session_context>" }] };
type Chunk = { candidates?: { content: { parts: Record<string, unknown>[] }; finishReason?: string }[]; usageMetadata?: unknown; error?: unknown };

async function turn(contents: unknown[]): Promise<{ status: number; chunks: Chunk[] }> {
  const r = await fetch(`${model.url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ contents, tools }) });
  const text = await r.text();
  return { status: r.status, chunks: text.split("\n\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as Chunk) };
}
const parts = (chunks: Chunk[]) => chunks.flatMap((c) => c.candidates?.[0]?.content.parts ?? []);

describe("scripted model: Gemini API", () => {
  it("streams text parts; the last chunk carries finishReason and usage", async () => {
    const { status, chunks } = await turn([{ role: "user", parts: [...context.parts, { text: "hello" }] }]);
    expect(status).toBe(200);
    expect(parts(chunks).map((p) => p.text).join("")).toContain("**scripted** answer");
    expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP");
    expect(chunks.at(-1)?.usageMetadata).toBeDefined();
    expect(chunks.slice(0, -1).every((c) => !c.candidates?.[0]?.finishReason)).toBe(true);
  });

  it("plays a write then a shell call as functionCall parts in Gemini CLI's names, then quotes the last result", async () => {
    const user = { role: "user", parts: [...context.parts, { text: "please write notes.md and then run bash" }] };
    const first = parts((await turn([user])).chunks).find((p) => p.functionCall);
    expect(first?.functionCall).toEqual({ name: "write_file", args: { file_path: "/work/ws/notes.md", content: expect.stringContaining("Hello from the scripted model") } });
    const wrote = [user, { role: "model", parts: [first] }, { role: "user", parts: [{ functionResponse: { name: "write_file", response: { output: "wrote it" } } }] }];
    const second = parts((await turn(wrote)).chunks).find((p) => p.functionCall);
    expect(second?.functionCall).toMatchObject({ name: "run_shell_command", args: { command: "cat notes.md && ls -la" } });
    const ran = [...wrote, { role: "model", parts: [second] }, { role: "user", parts: [{ functionResponse: { name: "run_shell_command", response: { output: "notes.md listed" } } }] }];
    expect(parts((await turn(ran)).chunks).map((p) => p.text).join("")).toContain("notes.md listed");
  });

  it("answers generateContent side requests in the shape their schema asks for, and counts tokens", async () => {
    const schema = { type: "OBJECT", properties: { complexity_reasoning: { type: "STRING" }, complexity_score: { type: "INTEGER" } } };
    const r = await fetch(`${model.url}/v1beta/models/flash-lite:generateContent`, { method: "POST", body: JSON.stringify({ contents: [], generationConfig: { responseJsonSchema: schema } }) });
    const body = (await r.json()) as Chunk;
    expect(JSON.parse(String(body.candidates?.[0]?.content.parts[0]?.text))).toEqual({ complexity_reasoning: "scripted", complexity_score: 1 });
    expect(sampleFor({ type: "object", properties: { next_speaker: { type: "string", enum: ["model", "user"] }, unproductive_state_confidence: { type: "number" } } })).toEqual({ next_speaker: "user", unproductive_state_confidence: 0 });
    const c = await fetch(`${model.url}/v1beta/models/x:countTokens`, { method: "POST", body: JSON.stringify({ contents: [] }) });
    expect(((await c.json()) as { totalTokens: number }).totalTokens).toBeGreaterThan(0);
  });

  it("an error prompt is a 400 in Gemini's error shape; a bad body is refused", async () => {
    const { status } = await turn([{ role: "user", parts: [{ text: "please error" }] }]);
    expect(status).toBe(400);
    const r = await fetch(`${model.url}/v1beta/models/x:streamGenerateContent?alt=sse`, { method: "POST", body: "{" });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { status: string } }).error.status).toBe("INVALID_ARGUMENT");
  });
});
